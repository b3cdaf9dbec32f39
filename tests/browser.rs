//! The admin page in a real headless Chromium: runs tests/browser/admin.test.mjs (playwright-core
//! driving Debian's /usr/bin/chromium) against the real server and the real mwctl binary.
//!
//! Needs node, `npm ci --prefix tests/browser` and chromium (`apt-get install chromium`);
//! `scripts/test.sh` installs them. A missing piece fails the test, which names it; only an
//! explicit `MW_SKIP_BROWSER=1` skips it (a skipped test must never read as a pass). Screenshots
//! are kept in `target/browser/` (admin.png: the event detail with the hostile workflow name;
//! admin-metrics.png: the Metrics view, copied to docs/ for the README).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Server;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/browser`, next to the target directory's `tmp`.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("MW_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run the browser test, if anything.
fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        missing.push("node (Node.js 20 or later)".to_owned());
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        missing.push("playwright-core: run `npm ci --prefix tests/browser`".to_owned());
    }
    if !chromium().is_file() {
        missing.push(format!(
            "{}: run `apt-get install chromium` (or set MW_CHROMIUM)",
            chromium().display()
        ));
    }
    missing
}

#[test]
fn admin_page_in_headless_chromium() {
    if std::env::var("MW_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("\n!!!!!!!!!! SKIPPED the admin page browser test: MW_SKIP_BROWSER=1\n");
        return;
    }
    let missing = missing();
    assert!(
        missing.is_empty(),
        "the browser test cannot run; missing:\n  - {}\n./scripts/test.sh installs these; \
         MW_SKIP_BROWSER=1 skips the test explicitly",
        missing.join("\n  - ")
    );

    let server = Server::start();
    let work = tempfile::tempdir().expect("tempdir");
    let shots = screenshot_dir();
    let mut node = Command::new("node");
    node.arg(browser_dir().join("admin.test.mjs"))
        .current_dir(browser_dir())
        .env("MW_URL", &server.url)
        .env("MW_ADMIN_KEY", &server.admin_key)
        .env("MWCTL", env!("CARGO_BIN_EXE_mwctl"))
        .env("MW_WORK", work.path())
        .env("MW_SCREENSHOTS", &shots)
        .env("MW_CHROMIUM", chromium());
    let output = run_with_timeout(node, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    assert!(stdout.contains("PASS: admin page"), "{stdout}");
    assert!(shots.join("admin.png").is_file(), "the screenshot is kept");
    assert!(
        shots.join("admin-metrics.png").is_file(),
        "the Metrics screenshot is kept"
    );
}

/// Runs the command, killing it after `timeout` (a hung browser must not hang the suite).
fn run_with_timeout(mut command: Command, timeout: Duration) -> std::process::Output {
    use std::process::Stdio;
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let id = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(timeout).is_err() {
            // Still running: end it (by its own pid only).
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
        }
    });
    let output = child.wait_with_output().expect("node ran");
    let _ = done_tx.send(());
    let _ = watchdog.join();
    output
}
