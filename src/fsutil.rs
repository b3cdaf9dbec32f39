//! Files written whole or not at all: the config, deploy state and send checkpoints (the
//! rejects file streams into a private temp file of its own and is renamed the same way).

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` so that a reader (or the next run after a crash) finds the old
/// file or the new one, never a part of either.
///
/// The bytes go to a temp file in the same directory (a rename is atomic only within one file
/// system), which is created owner-only and then given `mode` (Unix; ignored elsewhere), so a
/// secret is never readable by others, not even for an instant. The file is fsynced, renamed
/// over `path`, and the directory fsynced so the rename itself survives a power cut. On any
/// failure the temp file is removed and `path` is left as it was. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = dir_of(path);
    // Mode 0600 from creation on Unix; dropped (deleted) on every early return below.
    let mut tmp = tempfile::Builder::new()
        .prefix(".mwctl-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    set_mode(tmp.as_file(), mode)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// The directory `path` is in; `.` for a bare file name (whose parent is the empty path).
fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // fchmod: exactly `mode`, whatever the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes the rename durable. Best effort: some file systems cannot fsync a directory, and the
/// file itself is already complete either way.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_whole_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"first", 0o600).expect("writes");
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        write_atomic(&path, b"second, longer", 0o600).expect("replaces");
        assert_eq!(std::fs::read(&path).expect("read"), b"second, longer");
        write_atomic(&path, b"", 0o600).expect("empties");
        assert_eq!(std::fs::read(&path).expect("read"), b"");
        assert_eq!(entries(dir.path()), ["config.toml"], "no temp file left");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_exactly_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        write_atomic(&path, b"x", 0o644).expect("writes");
        assert_eq!(mode(&path), 0o644);
        // A file that was open to others is replaced by a private one, not chmodded in place.
        write_atomic(&path, b"secret", 0o600).expect("writes");
        assert_eq!(mode(&path), 0o600);
        write_atomic(&path, b"x", 0o640).expect("writes");
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The target is a directory that is not empty: the rename fails after the temp file
        // was written in full.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("inside"), b"keep").expect("writes");
        write_atomic(&target, b"new content", 0o600).expect_err("cannot replace a directory");
        assert_eq!(entries(dir.path()), ["taken"], "the temp file is gone");
        assert_eq!(std::fs::read(target.join("inside")).expect("read"), b"keep");

        // A missing directory: an error, and nothing created.
        let missing = dir.path().join("no").join("such").join("file");
        let err = write_atomic(&missing, b"x", 0o600).expect_err("no directory");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(entries(dir.path()), ["taken"]);
    }

    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("config.toml")), Path::new("."));
        assert_eq!(dir_of(Path::new("a/config.toml")), Path::new("a"));
        assert_eq!(dir_of(Path::new("/config.toml")), Path::new("/"));
    }
}
