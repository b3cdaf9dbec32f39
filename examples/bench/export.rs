//! Synthetic exports: realistic runs (about 360 bytes of JSON each) over a few repositories
//! and workflows, as one JSON array, or as request bodies of `batch` runs for the baseline.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// The repositories the runs belong to (linked on the server before sending).
pub const REPOS: &[&str] = &[
    "https://github.com/bench-org/checkout",
    "https://github.com/bench-org/payments",
    "https://github.com/bench-org/search",
    "https://github.com/bench-org/catalog",
    "https://github.com/bench-org/accounts",
    "https://github.com/bench-org/shipping",
    "https://github.com/bench-org/pricing",
    "https://github.com/bench-org/notifications",
];

/// 2024-01-01T00:00:00Z.
const START: i64 = 1_704_067_200;
const STATUSES: &[&str] = &["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE", "CANCELLED"];
const ACTORS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

/// Run `i` as JSON. Runs are in time order, one every 30 seconds from 2024-01-01, as exports
/// list them (the server's indexes see what a real backfill gives them).
fn run(out: &mut impl Write, i: u64) -> std::io::Result<()> {
    let repo = REPOS[(i % REPOS.len() as u64) as usize];
    let at = START + i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(30);
    let at = chrono::DateTime::from_timestamp(at, 0).unwrap_or_default();
    write!(
        out,
        r#"{{"workflow_name":"deploy-{}","repo_urls":["{repo}"],"event_actor":"{}","head_branch":"main","workflow_run_unique_id":"run-{i}","status":"{}","workflow_run_conducted_at":"{}","duration":{},"html_url":"{repo}/actions/runs/{i}","commit_sha":"{:040x}"}}"#,
        i % 3,
        ACTORS[(i % ACTORS.len() as u64) as usize],
        STATUSES[(i % STATUSES.len() as u64) as usize],
        at.format("%Y-%m-%dT%H:%M:%SZ"),
        60 + i % 900,
        u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834),
    )
}

/// Runs `first..first + count` as one JSON array; its size in bytes.
pub fn write_array(path: &Path, first: u64, count: u64) -> anyhow::Result<u64> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"[")?;
    for i in first..first + count {
        if i > first {
            out.write_all(b",\n")?;
        }
        run(&mut out, i)?;
    }
    out.write_all(b"]\n")?;
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The same runs as request bodies of `batch` runs, one file each, in `dir`.
pub fn write_batches(dir: &Path, first: u64, count: u64, batch: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut start = first;
    while start < first + count {
        let end = (start + batch).min(first + count);
        let path = dir.join(format!("{start:012}.json"));
        let mut out = BufWriter::new(File::create(&path)?);
        out.write_all(b"{\"workflow_runs\":[")?;
        for i in start..end {
            if i > start {
                out.write_all(b",")?;
            }
            run(&mut out, i)?;
        }
        out.write_all(b"]}")?;
        out.flush()?;
        start = end;
    }
    Ok(())
}
