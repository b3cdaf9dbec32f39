//! An https:// front for the companion server, which speaks plain HTTP: a private CA made for
//! the occasion (rcgen), a certificate for `localhost` and `127.0.0.1` signed by it, and a
//! TLS listener on a free loopback port that passes each connection's bytes on to the server.
//! mwctl and curl trust the CA the way a user would: its PEM file, passed as an option.
//!
//! Shared by `bench_deploy --https` and the e2e tests (`tests/common/mod.rs` includes it with
//! `#[path]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The front, running on its own thread until the process ends.
pub struct TlsFront {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The CA's certificate (PEM), for `--ca-cert` / curl's `--cacert`.
    pub ca_pem: PathBuf,
}

/// Starts a TLS front for the plain-HTTP server at `backend` (`http://127.0.0.1:PORT`),
/// writing the CA's certificate to `dir/ca.pem`.
pub fn start(backend: &str, dir: &Path) -> anyhow::Result<TlsFront> {
    let backend: SocketAddr = backend
        .strip_prefix("http://")
        .with_context(|| format!("{backend} is not an http:// URL"))?
        .parse()
        .with_context(|| format!("{backend} is not http://IP:PORT"))?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let url = format!("https://{address}");
    // A CA name of its own: two fronts' CAs must not pass for each other.
    let (ca_pem, config) = certificates(&format!("mwctl test CA {address}"))?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_pem).context("writing ca.pem")?;

    let acceptor = TlsAcceptor::from(Arc::new(config));
    std::thread::Builder::new()
        .name("tls-front".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the TLS front");
            runtime.block_on(serve(listener, acceptor, backend));
        })
        .context("starting the TLS front's thread")?;
    Ok(TlsFront {
        url,
        ca_pem: ca_path,
    })
}

async fn serve(listener: std::net::TcpListener, acceptor: TlsAcceptor, backend: SocketAddr) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    while let Ok((client, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A failed handshake (an untrusted CA, on the client's side) just ends it.
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            let Ok(mut server) = TcpStream::connect(backend).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
        });
    }
}

/// A fresh CA named `ca_name` (PEM) and a server configuration whose certificate, for `localhost` and
/// `127.0.0.1`, that CA signed. HTTP/1.1 only: the server behind speaks nothing else.
fn certificates(ca_name: &str) -> anyhow::Result<(String, ServerConfig)> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;

    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_cert.pem(), config))
}
