//! The small JSON files that steps keep between invocations (`deploy start` for `finish`,
//! `incident open` for `ack` and `resolve`): read leniently, written atomically and private to
//! the user, removed with their last entry.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The file's contents; the default when there is none. `what` names the file in the error
/// when it holds something else, e.g. "deploy state; delete it (deploy start writes a new one)".
pub fn load<T: DeserializeOwned + Default>(path: &Path, what: &str) -> anyhow::Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not mwctl's {what}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the file whole (a concurrent step never reads half of it), private to the user,
/// creating its directory; with no entries left (`empty`), removes it instead.
pub fn store<T: Serialize>(path: &Path, contents: &T, empty: bool) -> anyhow::Result<()> {
    if empty {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        crate::fsutil::write_atomic(path, &serde_json::to_vec(contents)?, 0o600)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
