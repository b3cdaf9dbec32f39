//! Which batches of an input the server has acknowledged, kept on disk so that `--resume` can
//! skip them after an interruption.
//!
//! One file per (server, input file, format, batch size, overrides) in
//! `<state dir>/mwctl/checkpoints/`, holding the file's size and modification time: a file that
//! changed since is not resumed. It is rewritten atomically (temp file, rename) at most a few
//! times a second and not fsynced: losing the last writes only means sending a few batches
//! again, which the server recognises by their `webhook-id` (exactly-once comes from there;
//! the checkpoint only saves time).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::input::{FileIdentity, Format, Overrides};

/// Layout version of the checkpoint file.
const VERSION: u32 = 1;
/// Least time between two writes.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// Batch indexes acknowledged: every index below `below`, and those in `above`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    below: u64,
    above: BTreeSet<u64>,
}

impl Acked {
    pub fn contains(&self, index: u64) -> bool {
        index < self.below || self.above.contains(&index)
    }

    pub fn insert(&mut self, index: u64) {
        if index < self.below {
            return;
        }
        self.above.insert(index);
        while self.above.remove(&self.below) {
            self.below += 1;
        }
    }

    pub fn len(&self) -> u64 {
        self.below + self.above.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What identifies the batches: the same values cut the input into the same batches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    server: String,
    path: PathBuf,
    format: Format,
    batch_size: u16,
    repo: Option<String>,
    workflow_name: Option<String>,
}

impl Key {
    /// The `send` options that cut the input this way.
    fn flags(&self) -> String {
        let mut flags = format!(
            "--format {} --batch-size {}",
            self.format.flag(),
            self.batch_size
        );
        if let Some(repo) = &self.repo {
            flags.push_str(&format!(" --repo {repo}"));
        }
        if let Some(name) = &self.workflow_name {
            flags.push_str(&format!(" --workflow-name '{name}'"));
        }
        flags
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(flatten)]
    key: Key,
    size: u64,
    modified_ns: u64,
    acked: Acked,
    /// Runs in the acknowledged batches.
    #[serde(default)]
    accepted_runs: u64,
    /// How the send that wrote it ended; `None` while it runs (or when it was killed).
    #[serde(default)]
    ended: Option<Ended>,
    updated_at: DateTime<Utc>,
}

/// How a send that left a checkpoint ended, for the next one to say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ended {
    /// Ctrl-C.
    Interrupted,
    /// Stopped by an error (server unreachable, a batch rejected, an invalid run...).
    Stopped { reason: String },
    /// Read to the end, with runs the server refused (set aside with --skip-invalid).
    Refused { runs: u64 },
}

/// What an earlier send of the same file left.
#[derive(Clone, Debug)]
pub struct Earlier {
    pub acked: Acked,
    pub accepted_runs: u64,
    pub ended: Option<Ended>,
    pub at: DateTime<Utc>,
}

impl Earlier {
    /// "An earlier send of this file (…) was interrupted", for the note that offers --resume.
    pub fn describe(&self) -> String {
        let at = self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let batches = self.acked.len();
        let accepted = format!(
            "{batches} {} ({} {}) accepted",
            if batches == 1 { "batch" } else { "batches" },
            self.accepted_runs,
            if self.accepted_runs == 1 {
                "run"
            } else {
                "runs"
            }
        );
        match &self.ended {
            Some(Ended::Interrupted) => {
                format!("An earlier send of this file (at {at}) was interrupted after {accepted}")
            }
            Some(Ended::Stopped { reason }) => {
                format!("An earlier send of this file (at {at}) stopped after {accepted}: {reason}")
            }
            Some(Ended::Refused { runs }) => format!(
                "An earlier send of this file (at {at}) ended with {runs} {} refused by the server; {accepted}",
                if *runs == 1 { "run" } else { "runs" }
            ),
            None => format!(
                "An earlier send of this file (at {at}) did not finish (it was killed?); {accepted}"
            ),
        }
    }
}

/// What a previous run left.
#[derive(Debug)]
pub enum Previous {
    None,
    /// Acknowledged batches of this very file.
    Found(Earlier),
    /// A checkpoint of an earlier version of the file: why it does not apply.
    Stale(String),
}

pub struct Checkpoint {
    path: PathBuf,
    stored: Stored,
    dirty: bool,
    saved_at: Option<Instant>,
}

impl Checkpoint {
    /// The checkpoint of `input` sent to `server` with these settings (not read yet).
    pub fn new(
        server: &str,
        input: &FileIdentity,
        format: Format,
        batch_size: u16,
        overrides: &Overrides,
    ) -> anyhow::Result<Checkpoint> {
        let dir = dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .context("no directory for state files (set XDG_STATE_HOME or HOME)")?
            .join("mwctl")
            .join("checkpoints");
        Ok(Checkpoint::in_dir(
            &dir, server, input, format, batch_size, overrides,
        ))
    }

    fn in_dir(
        dir: &Path,
        server: &str,
        input: &FileIdentity,
        format: Format,
        batch_size: u16,
        overrides: &Overrides,
    ) -> Checkpoint {
        let key = Key {
            server: server.to_owned(),
            path: input.path.clone(),
            format,
            batch_size,
            repo: overrides.repo.clone(),
            workflow_name: overrides.workflow_name.clone(),
        };
        let digest = Sha256::digest(serde_json::to_vec(&key).unwrap_or_default());
        let name = hex::encode(&digest[..12]);
        Checkpoint {
            path: dir.join(format!("{name}.json")),
            stored: Stored {
                version: VERSION,
                key,
                size: input.size,
                modified_ns: input.modified_ns,
                acked: Acked::default(),
                accepted_runs: 0,
                ended: None,
                updated_at: Utc::now(),
            },
            dirty: false,
            saved_at: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what a previous run of the same command left, if anything.
    pub fn previous(&self) -> Previous {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Previous::None;
        };
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            return Previous::Stale(format!("{} is unreadable", self.path.display()));
        };
        if stored.version != VERSION || stored.key != self.stored.key {
            return Previous::Stale("it was written for other settings".to_owned());
        }
        if stored.size != self.stored.size || stored.modified_ns != self.stored.modified_ns {
            return Previous::Stale(format!(
                "the file changed since (size or modification time differ from {})",
                stored
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        Previous::Found(Earlier {
            acked: stored.acked,
            accepted_runs: stored.accepted_runs,
            ended: stored.ended,
            at: stored.updated_at,
        })
    }

    /// The options of other checkpoints of this file for this server (written with another
    /// batch size, format or overrides), each as the flags that would resume it.
    pub fn other_settings(&self) -> Vec<String> {
        let Some(dir) = self.path.parent() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mine = &self.stored.key;
        let mut found: Vec<String> = entries
            .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
            .filter_map(|bytes| serde_json::from_slice::<Stored>(&bytes).ok())
            .filter(|other| {
                let key = &other.key;
                key.server == mine.server && key.path == mine.path && key != mine
            })
            .map(|other| other.key.flags())
            .collect();
        found.sort();
        found
    }

    /// Starts from what an earlier run acknowledged.
    pub fn resume_from(&mut self, earlier: &Earlier) {
        self.stored.acked = earlier.acked.clone();
        self.stored.accepted_runs = earlier.accepted_runs;
    }

    pub fn acked(&self) -> &Acked {
        &self.stored.acked
    }

    /// Batch `index`, of `runs` runs, was acknowledged.
    pub fn insert(&mut self, index: u64, runs: u64) {
        if !self.stored.acked.contains(index) {
            self.stored.accepted_runs += runs;
        }
        self.stored.acked.insert(index);
        self.dirty = true;
    }

    /// Records how the send ended (saved with the next [`Checkpoint::save`]).
    pub fn set_ended(&mut self, ended: Ended) {
        self.stored.ended = Some(ended);
        self.dirty = true;
    }

    /// Writes the checkpoint if it changed and the last write is old enough.
    pub fn save_if_due(&mut self) -> anyhow::Result<()> {
        if self.dirty && self.saved_at.is_none_or(|at| at.elapsed() >= SAVE_EVERY) {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the checkpoint now, atomically.
    pub fn save(&mut self) -> anyhow::Result<()> {
        self.stored.updated_at = Utc::now();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let write = || -> std::io::Result<()> {
            let mut bytes = serde_json::to_vec(&self.stored)?;
            bytes.push(b'\n');
            crate::fsutil::write_atomic(&self.path, &bytes, 0o600)
        };
        write().with_context(|| format!("cannot write the checkpoint {}", self.path.display()))?;
        self.dirty = false;
        self.saved_at = Some(Instant::now());
        Ok(())
    }

    /// Deletes the checkpoint: the whole input was delivered.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(size: u64) -> FileIdentity {
        FileIdentity {
            path: PathBuf::from("/data/runs.json"),
            size,
            modified_ns: 7,
        }
    }

    fn checkpoint(dir: &Path, size: u64, batch_size: u16) -> Checkpoint {
        Checkpoint::in_dir(
            dir,
            "http://mw",
            &identity(size),
            Format::Json,
            batch_size,
            &Overrides::default(),
        )
    }

    #[test]
    fn acked_sets_compact_their_prefix() {
        let mut acked = Acked::default();
        for i in [1, 0, 3, 2, 6, 0] {
            acked.insert(i);
        }
        assert_eq!(acked.below, 4);
        assert_eq!(acked.above.iter().copied().collect::<Vec<_>>(), [6]);
        assert!(acked.contains(0) && acked.contains(3) && acked.contains(6));
        assert!(!acked.contains(4) && !acked.contains(7));
        assert_eq!(acked.len(), 5);
    }

    #[test]
    fn saved_checkpoints_are_found_for_the_same_file_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut first = checkpoint(dir.path(), 100, 500);
        assert!(matches!(first.previous(), Previous::None));
        first.insert(0, 500);
        first.insert(2, 10);
        first.insert(2, 10);
        first.set_ended(Ended::Refused { runs: 1 });
        first.save().expect("saves");

        match checkpoint(dir.path(), 100, 500).previous() {
            Previous::Found(earlier) => {
                assert!(earlier.acked.contains(2) && !earlier.acked.contains(1));
                assert_eq!(earlier.accepted_runs, 510);
                let said = earlier.describe();
                assert!(
                    said.contains(
                        "ended with 1 run refused by the server; 2 batches (510 runs) accepted"
                    ),
                    "{said}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Appended to since: not resumed.
        assert!(matches!(
            checkpoint(dir.path(), 120, 500).previous(),
            Previous::Stale(_)
        ));
        // Other batches: another checkpoint altogether.
        assert!(matches!(
            checkpoint(dir.path(), 100, 100).previous(),
            Previous::None
        ));
        // ... whose settings are named for resuming.
        assert_eq!(
            checkpoint(dir.path(), 100, 100).other_settings(),
            ["--format json --batch-size 500"]
        );
        assert!(first.other_settings().is_empty());
        first.remove();
        assert!(matches!(first.previous(), Previous::None));
    }
}
