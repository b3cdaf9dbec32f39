//! A loopback server laid out like a GitHub release (`/vVERSION/<archive>`, `SHA256SUMS`,
//! `install.sh`), with archives built from the host binaries by scripts/package.sh; and one
//! that accepts connections and never answers, for the timeouts.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;

pub const VERSION: &str = "0.1.0";

/// The target triple install.sh picks on this machine (Linux: the static musl build). The
/// host's own binary is packaged under that name.
pub fn host_target() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "linux" => format!("{arch}-unknown-linux-musl"),
        "macos" => format!("{arch}-apple-darwin"),
        os => panic!("these tests run on Linux or macOS, not {os}"),
    }
}

/// A directory with `mwctl` and `mwctl-server`: the binaries under test, without their debug
/// information (as release builds are), so that archives stay small and quick to make.
pub fn host_binaries(dir: &Path) {
    std::fs::create_dir_all(dir).expect("bin dir");
    for (bin, from) in [
        ("mwctl", Path::new(env!("CARGO_BIN_EXE_mwctl"))),
        ("mwctl-server", super::server_bin()),
    ] {
        let to = dir.join(bin);
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&to)
            .arg(from)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(from, &to).expect("copies the binary");
        }
    }
}

/// scripts/package.sh TARGET BINARY_DIR OUT_DIR VERSION.
pub fn package(target: &str, bin_dir: &Path, out: &Path, version: &str) -> std::process::Output {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package.sh"))
        .args([target, &bin_dir.display().to_string()])
        .arg(out)
        .arg(version)
        .output()
        .expect("package.sh runs")
}

/// A release tree `ROOT/vVERSION/…` for the host target, with install.sh beside the archives.
pub fn release_tree() -> TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let bins = root.path().join("bin");
    host_binaries(&bins);
    let out = root.path().join(format!("v{VERSION}"));
    let packaged = package(&host_target(), &bins, &out, VERSION);
    assert!(
        packaged.status.success(),
        "package.sh: {}",
        String::from_utf8_lossy(&packaged.stderr)
    );
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh"),
        out.join("install.sh"),
    )
    .expect("copies install.sh");
    std::fs::remove_dir_all(&bins).expect("removes the staging binaries");
    root
}

/// The host archive's path in a release tree.
pub fn host_archive(root: &Path) -> PathBuf {
    root.join(format!(
        "v{VERSION}/mwctl-v{VERSION}-{}.tar.gz",
        host_target()
    ))
}

/// Serves files under a directory, or hangs; counts the requests it gets.
pub struct ReleaseServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl ReleaseServer {
    pub fn serve(root: &Path) -> ReleaseServer {
        Self::start(Some(root.to_owned()))
    }

    /// Accepts connections and reads requests, never answers.
    pub fn hanging() -> ReleaseServer {
        Self::start(None)
    }

    /// How many requests (of any path) it has received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn start(root: Option<PathBuf>) -> ReleaseServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                let counter = counter.clone();
                std::thread::spawn(move || answer(stream, root.as_deref(), &counter));
            }
        });
        ReleaseServer { url, requests }
    }
}

fn answer(stream: TcpStream, root: Option<&Path>, counter: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clones"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    counter.fetch_add(1, Ordering::SeqCst);
    let Some(root) = root else {
        // Hold the connection open until the client gives up.
        std::thread::sleep(Duration::from_secs(600));
        return;
    };
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let file = (!path.contains(".."))
        .then(|| root.join(path.trim_start_matches('/')))
        .filter(|f| f.is_file());
    let mut stream = stream;
    let _ = match file.and_then(|f| std::fs::read(f).ok()) {
        Some(body) => stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|()| stream.write_all(&body)),
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found",
        ),
    };
}

/// The system's PATH without any mwctl or cargo, as on a runner (or in an image) that has
/// neither.
pub fn bare_path() -> std::ffi::OsString {
    let dirs = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| !d.join("mwctl").exists() && !d.join("cargo").exists())
        .collect::<Vec<PathBuf>>();
    std::env::join_paths(dirs).expect("PATH joins")
}
