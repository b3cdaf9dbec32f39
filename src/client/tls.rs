//! Which certificates the client trusts: none for a plain-HTTP server, the system's for an
//! https:// one, plus the PEM file `--ca-cert` / `MW_CA_CERT` names (a private CA).

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, bail};
use reqwest::{Certificate, ClientBuilder};

/// Makes ring the process's TLS crypto provider, which every `reqwest::Client` needs (reqwest
/// is built without one). ring rather than reqwest's default, aws-lc-rs: the binary is 1.5 to
/// 1.9 MiB smaller and starts faster (docs/releasing.md has the numbers), and it builds for
/// every release target with a C compiler alone (no CMake or NASM). Calling it again, or after
/// a provider is installed, does nothing.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means one is installed already: the goal either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Sets up `builder`'s certificate roots for the server at `base` (a normalised URL).
pub(super) fn roots(
    builder: ClientBuilder,
    base: &str,
    ca_cert: Option<&Path>,
) -> anyhow::Result<ClientBuilder> {
    if base.starts_with("http://") {
        // Loading the system's CA certificates costs more than the rest of a pipeline step's
        // start-up; a plain-HTTP server never needs them.
        return Ok(builder.tls_certs_only(std::iter::empty()));
    }
    match ca_cert {
        Some(path) => Ok(builder.tls_certs_merge(read_pem(path)?)),
        None => Ok(builder),
    }
}

/// The certificates of a PEM file; an error when it holds none.
fn read_pem(path: &Path) -> anyhow::Result<Vec<Certificate>> {
    let shown = path.display();
    let pem = std::fs::read(path).with_context(|| {
        format!("cannot read the CA certificates file {shown} (--ca-cert / MW_CA_CERT)")
    })?;
    let certs = Certificate::from_pem_bundle(&pem).with_context(|| {
        format!("{shown} (--ca-cert / MW_CA_CERT) is not a PEM file of CA certificates")
    })?;
    if certs.is_empty() {
        bail!(
            "{shown} (--ca-cert / MW_CA_CERT) holds no certificate: give a PEM file with \
             -----BEGIN CERTIFICATE----- blocks (the CA's certificate, not the server's key)"
        );
    }
    Ok(certs)
}

/// What to do when the client cannot be set up for an https:// server: most often there are
/// no CA certificates to trust (a `FROM scratch` image).
pub(super) const SETUP_HINT: &str = "to fix: install the system's CA certificates (e.g. the \
    ca-certificates package, or copy a CA bundle to /etc/ssl/certs/ca-certificates.crt), point \
    SSL_CERT_FILE at a CA bundle, or pass --ca-cert FILE / MW_CA_CERT with the server's CA";
