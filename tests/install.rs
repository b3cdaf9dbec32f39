//! Release packaging (scripts/package.sh, what the release workflow runs) on the host target,
//! and install.sh against a loopback server laid out like a GitHub release: a verified
//! install, a checksum mismatch, a release that does not exist, and a server that hangs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::release::{self, ReleaseServer, VERSION, host_target};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = text(bytes).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).expect("copies");
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("reads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn package_sh_archives_both_binaries_with_predictable_names_and_sha256sums() {
    let work = tempfile::tempdir().expect("tempdir");
    let bins = work.path().join("bin");
    release::host_binaries(&bins);
    let out = work.path().join("dist");
    let target = host_target();

    let packaged = release::package(&target, &bins, &out, "v0.1.0");
    assert_eq!(
        packaged.status.code(),
        Some(0),
        "{}",
        text(&packaged.stderr)
    );
    let mwctl = format!("mwctl-v0.1.0-{target}");
    let server = format!("mwctl-server-v0.1.0-{target}");
    assert_eq!(
        listing(&out),
        [
            "SHA256SUMS".to_owned(),
            format!("{server}.tar.gz"),
            format!("{mwctl}.tar.gz"),
        ]
    );

    for (name, bin) in [(&mwctl, "mwctl"), (&server, "mwctl-server")] {
        let archive = out.join(format!("{name}.tar.gz"));
        let listed = run(Command::new("tar").arg("-tzf").arg(&archive));
        assert_eq!(
            sorted_lines(&listed.stdout),
            [
                format!("{name}/"),
                format!("{name}/README.md"),
                format!("{name}/{bin}"),
            ]
        );
        let unpacked = work.path().join(format!("unpacked-{bin}"));
        std::fs::create_dir(&unpacked).expect("mkdir");
        let untar = run(Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&unpacked));
        assert_eq!(untar.status.code(), Some(0));
        let exe = unpacked.join(name).join(bin);
        let mode = std::fs::metadata(&exe)
            .expect("unpacked")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{bin} is executable: {mode:o}");
        let version = run(Command::new(&exe).arg("--version"));
        assert_eq!(version.status.code(), Some(0), "{bin} runs");
        assert_eq!(text(&version.stdout).trim(), format!("{bin} {VERSION}"));
    }

    let check = run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out));
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(
        sorted_lines(&check.stdout),
        [
            format!("{server}.tar.gz: OK"),
            format!("{mwctl}.tar.gz: OK"),
        ]
    );

    // Windows: .exe inside a .zip. Packaged into the same directory, as the release job
    // gathers every target's archives, SHA256SUMS then covers all four.
    let win_bins = work.path().join("win");
    std::fs::create_dir(&win_bins).expect("mkdir");
    for bin in ["mwctl", "mwctl-server"] {
        link_or_copy(&bins.join(bin), &win_bins.join(format!("{bin}.exe")));
    }
    let win = "x86_64-pc-windows-msvc";
    let packaged = release::package(win, &win_bins, &out, "0.1.0");
    assert_eq!(
        packaged.status.code(),
        Some(0),
        "{}",
        text(&packaged.stderr)
    );
    let zip = out.join(format!("mwctl-v0.1.0-{win}.zip"));
    let listed = run(Command::new("unzip").arg("-Z1").arg(&zip));
    assert_eq!(
        sorted_lines(&listed.stdout),
        [
            format!("mwctl-v0.1.0-{win}/"),
            format!("mwctl-v0.1.0-{win}/README.md"),
            format!("mwctl-v0.1.0-{win}/mwctl.exe"),
        ]
    );
    let check = run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&out));
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(
        text(&check.stdout).lines().count(),
        4,
        "{}",
        text(&check.stdout)
    );

    // A changed archive no longer verifies: the sums are of the bytes published.
    std::fs::write(&zip, b"not the archive").expect("overwrites");
    let check = run(Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&out));
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn package_sh_refuses_a_missing_binary_and_a_bad_version() {
    let work = tempfile::tempdir().expect("tempdir");
    let bins = work.path().join("bin");
    std::fs::create_dir(&bins).expect("mkdir");
    link_or_copy(Path::new(env!("CARGO_BIN_EXE_mwctl")), &bins.join("mwctl"));
    let out = work.path().join("dist");

    let missing = release::package(&host_target(), &bins, &out, "0.1.0");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("mwctl-server: build it first"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!out.join("SHA256SUMS").exists());

    let bad = release::package(&host_target(), &bins, &out, "latest");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("VERSION must look like 1.2.3"));
}

/// install.sh with a clean environment: `sh install.sh ARGS` with MW_RELEASE_URL.
fn install_sh(release_url: &str, args: &[&str]) -> Output {
    run(Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("MW_RELEASE_URL", release_url))
}

#[test]
fn install_sh_installs_the_verified_binary_also_piped_from_curl() {
    let tree = release::release_tree();
    let releases = ReleaseServer::serve(tree.path());
    let to = tempfile::tempdir().expect("tempdir");
    let dir = to.path().join("bin");
    let dir_arg = dir.display().to_string();

    let out = install_sh(&releases.url, &["--version", "v0.1.0", "--to", &dir_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(listing(&dir), ["mwctl"], "only mwctl, no temp files");
    let version = run(Command::new(dir.join("mwctl")).arg("--version"));
    assert_eq!(text(&version.stdout).trim(), format!("mwctl {VERSION}"));
    assert!(text(&out.stderr).contains(&format!("installed mwctl {VERSION} to {dir_arg}/mwctl")));

    // The documented form, `curl -sSfL …/install.sh | sh -s -- …`, with --base-url.
    let piped_to = to.path().join("piped");
    let piped = run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sSfL {url}/v{VERSION}/install.sh | sh -s -- --version {VERSION} --to '{to}' --base-url {url}",
            url = releases.url,
            to = piped_to.display()
        ))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default()));
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
    assert!(piped_to.join("mwctl").is_file());
}

#[test]
fn install_sh_refuses_a_mismatch_and_reports_a_missing_release_and_a_hang() {
    let tree = release::release_tree();
    let archive = release::host_archive(tree.path());
    let releases = ReleaseServer::serve(tree.path());
    let to = tempfile::tempdir().expect("tempdir");
    let dir = to.path().join("bin");
    let dir_arg = dir.display().to_string();

    // Not released (404): exit 3, the "build it from source" code.
    let out = install_sh(&releases.url, &["--version", "9.9.9", "--to", &dir_arg]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("release v9.9.9 has no SHA256SUMS"));
    // Released, but not for this target.
    let out = install_sh(
        &releases.url,
        &[
            "--version",
            VERSION,
            "--to",
            &dir_arg,
            "--target",
            "riscv64gc-unknown-linux-musl",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("has no mwctl-v0.1.0-riscv64gc-unknown-linux-musl.tar.gz"));

    // One byte more than what SHA256SUMS lists: exit 4, nothing installed.
    let mut bytes = std::fs::read(&archive).expect("archive");
    bytes.push(0);
    std::fs::write(&archive, bytes).expect("tampers");
    let out = install_sh(&releases.url, &["--version", VERSION, "--to", &dir_arg]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("checksum mismatch"));
    assert!(
        !dir.exists() || listing(&dir).is_empty(),
        "nothing installed"
    );

    // A server that never answers: exit 1 within the timeout.
    let hanging = ReleaseServer::hanging();
    let began = Instant::now();
    let out = install_sh(
        &hanging.url,
        &["--version", VERSION, "--to", &dir_arg, "--timeout", "1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no answer within 1s"),
        "{}",
        text(&out.stderr)
    );
    assert!(began.elapsed() < Duration::from_secs(10));
    assert!(
        !dir.exists() || listing(&dir).is_empty(),
        "nothing installed"
    );

    // Usage mistakes: exit 2, with the way out.
    let out = install_sh(&releases.url, &["--to", &dir_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pass --version"));
    let out = install_sh(&releases.url, &["--version"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `[package.metadata.binstall]` in Cargo.toml, rendered as cargo-binstall does for `target`.
fn binstall(target: &str, suffix: &str, ext: &str) -> (String, String) {
    let manifest: toml::Table =
        toml::from_str(include_str!("../Cargo.toml")).expect("Cargo.toml is TOML");
    let meta = &manifest["package"]["metadata"]["binstall"];
    let field = |name: &str| {
        meta.get("overrides")
            .and_then(|o| o.get(target))
            .and_then(|o| o.get(name))
            .or_else(|| meta.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("binstall {name} for {target}"))
            .replace("{ name }", "mwctl")
            .replace("{ version }", VERSION)
            .replace("{ target }", target)
            .replace("{ archive-suffix }", suffix)
            .replace("{ bin }", "mwctl")
            .replace("{ binary-ext }", ext)
    };
    (field("pkg-url"), field("bin-dir"))
}

#[test]
fn cargo_binstall_metadata_names_the_released_archives() {
    let tree = release::release_tree();
    let archive = release::host_archive(tree.path());
    let archive_name = archive.file_name().expect("name").to_string_lossy();
    let listed = run(Command::new("tar").arg("-tzf").arg(&archive));
    let listed = sorted_lines(&listed.stdout);
    // This machine's own target (glibc) gets the static build; so does the musl target.
    let gnu = host_target().replace("-musl", "-gnu");
    for target in [gnu, host_target()] {
        let (url, bin_dir) = binstall(&target, ".tar.gz", "");
        assert_eq!(
            url,
            format!("https://github.com/acme/mwctl/releases/download/v{VERSION}/{archive_name}"),
            "{target}"
        );
        assert!(
            listed.contains(&bin_dir),
            "{target}: {bin_dir} in {listed:?}"
        );
    }
    let win = "x86_64-pc-windows-msvc";
    let (url, bin_dir) = binstall(win, ".zip", ".exe");
    assert!(
        url.ends_with(&format!("/v{VERSION}/mwctl-v{VERSION}-{win}.zip")),
        "{url}"
    );
    assert_eq!(bin_dir, format!("mwctl-v{VERSION}-{win}/mwctl.exe"));
}
