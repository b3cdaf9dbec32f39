//! `mwctl login`: when it fails, its advice is not "run `mwctl login`".

mod common;

use common::{Server, mwctl_isolated};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn a_refused_key_says_what_to_check_and_saves_nothing() {
    let server = Server::start();
    let home = tempfile::tempdir().expect("tempdir");
    mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url", &server.url])
        .write_stdin("mwk_not_a_key\n")
        .assert()
        .code(1)
        .stderr(contains("the server refused the API key"))
        .stderr(contains(
            "run this command again with it; nothing was saved",
        ))
        .stderr(contains("mwctl login").not());
    assert!(!home.path().join("mwctl-config.toml").exists());
}

#[test]
fn an_unreachable_server_says_how_to_save_anyway() {
    let home = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .write_stdin("mwk_some_key_0123456789\n")
        .assert()
        .code(1)
        .stderr(contains("cannot reach"))
        .stderr(contains(
            "or pass --no-verify to save the settings without checking",
        ))
        .stderr(contains("mwctl login").not());
    assert!(!home.path().join("mwctl-config.toml").exists());
}

#[test]
fn a_broken_config_says_to_fix_or_delete_it_not_to_log_in() {
    let server = Server::start();
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(home.path().join("mwctl-config.toml"), "profiles = 3").expect("writes");
    mwctl_isolated(home.path())
        .args(["login", "--api-key-stdin", "--url", &server.url])
        .write_stdin(format!("{}\n", server.admin_key))
        .assert()
        .code(1)
        .stderr(contains("is not a valid mwctl config"))
        .stderr(contains("fix it, or delete it and run this command again"))
        .stderr(contains("mwctl login").not());
}
