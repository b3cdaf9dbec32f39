//! https:// servers: the system's CA certificates, a private CA given with `--ca-cert` /
//! `MW_CA_CERT` or `SSL_CERT_FILE`, and what an untrusted or missing CA file says. The real
//! server sits behind a TLS front whose certificate a CA made for each test signed.

mod common;

use std::time::{Duration, Instant};

use common::tls::{self, TlsFront};
use common::{Server, stdout_json};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

const REPO: &str = "https://github.com/acme/shop";

/// The server with a linked repo, and its TLS front.
fn https_server() -> (Server, TlsFront) {
    let server = Server::start();
    server.link(REPO);
    let front = tls::start(&server.url, server.dir.path()).expect("TLS front");
    (server, front)
}

/// `mwctl deploy record` of one successful run to `front`, with the admin key.
fn record(server: &Server, front: &TlsFront) -> assert_cmd::Command {
    let mut cmd = server.mwctl();
    cmd.env("MW_URL", &front.url).args([
        "deploy",
        "record",
        "--status",
        "success",
        "--started-at",
        "2025-05-01T12:00:00Z",
        "--repo",
        REPO,
        "--branch",
        "main",
        "--run-id",
        "tls-1",
        "-o",
        "json",
    ]);
    cmd
}

#[test]
fn a_private_ca_given_with_mw_ca_cert_is_trusted_for_deploys_and_admin_calls() {
    let (server, front) = https_server();

    let out = record(&server, &front)
        .env("MW_CA_CERT", &front.ca_pem)
        .arg("--strict")
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["outcome"], "accepted");
    server.wait_processed();
    let runs = server.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].workflow_run_unique_id, "tls-1");

    // The flag does the same for the admin API.
    server
        .mwctl()
        .env("MW_URL", &front.url)
        .arg("--ca-cert")
        .arg(&front.ca_pem)
        .args(["repos", "list"])
        .assert()
        .code(0)
        .stdout(contains("acme/shop"));
}

#[test]
fn ssl_cert_file_replaces_the_system_certificates() {
    let (server, front) = https_server();
    record(&server, &front)
        .env("SSL_CERT_FILE", &front.ca_pem)
        .arg("--strict")
        .assert()
        .code(0);
    server.wait_processed();
    assert_eq!(server.runs().len(), 1);
}

#[test]
fn a_server_signed_by_an_unknown_ca_is_refused_at_once_and_nothing_is_sent() {
    let (server, front) = https_server();
    // Trust another CA only (not the system's: which CAs they hold is not up to the test).
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let other = tls::start(&server.url, elsewhere.path()).expect("second TLS front");

    // Not retried until the deadline (10 s by default): another attempt cannot help.
    let started = Instant::now();
    record(&server, &front)
        .env("SSL_CERT_FILE", &other.ca_pem)
        .arg("--strict")
        .assert()
        .code(1)
        .stderr(
            contains("TLS certificate is not trusted")
                .and(contains("UnknownIssuer"))
                .and(contains("--ca-cert")),
        );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    // A pipeline step still passes without --strict, with the warning.
    record(&server, &front)
        .env("SSL_CERT_FILE", &other.ca_pem)
        .assert()
        .code(0)
        .stderr(contains("could not report the deployment").and(contains("MW_CA_CERT")));
    server
        .mwctl()
        .env("MW_URL", &front.url)
        .env("SSL_CERT_FILE", &other.ca_pem)
        .args(["repos", "list"])
        .assert()
        .code(1)
        .stderr(contains("not trusted").and(contains("--ca-cert")));
    assert!(server.events().is_empty(), "nothing reached the server");
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_says_what_to_give() {
    let (server, front) = https_server();
    let missing = server.dir.path().join("no-such-ca.pem");
    server
        .mwctl()
        .env("MW_URL", &front.url)
        .env("MW_CA_CERT", &missing)
        .args(["repos", "list"])
        .assert()
        .code(1)
        .stderr(contains("cannot read the CA certificates file").and(contains("no-such-ca.pem")));

    let not_pem = server.write("not-a-ca.pem", "just some text\n");
    server
        .mwctl()
        .env("MW_URL", &front.url)
        .env("MW_CA_CERT", &not_pem)
        .args(["repos", "list"])
        .assert()
        .code(1)
        .stderr(contains("holds no certificate").and(contains("BEGIN CERTIFICATE")));

    // A deploy step warns and exits 0 (1 with --strict), like any other reason not to report.
    record(&server, &front)
        .env("MW_CA_CERT", &not_pem)
        .assert()
        .code(0)
        .stderr(contains("holds no certificate"));
    record(&server, &front)
        .env("MW_CA_CERT", &not_pem)
        .arg("--strict")
        .assert()
        .code(1);
    assert!(server.events().is_empty());
}

#[test]
fn an_empty_mw_ca_cert_counts_as_not_given() {
    let server = Server::start();
    server
        .mwctl()
        .env("MW_CA_CERT", "")
        .args(["repos", "list"])
        .assert()
        .code(0);
}
