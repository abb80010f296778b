//! TLS to PostgreSQL, when the URL asks for it with `sslmode=require`: rustls (the ring provider, as for
//! Port's API), the server's certificate verified against the system's roots and the certificates of
//! `OCEAN__POSTGRES__CA_FILE`, its name against the URL's host.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector for a URL that says `sslmode=require`; `None` for a plain connection (no `sslmode`,
/// `disable` or `prefer`: an unverified encryption would only look safe).
pub(crate) fn connector(
    config: &tokio_postgres::Config,
    ca_file: Option<&Path>,
) -> Result<Option<MakeRustlsConnect>, String> {
    if config.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    // The system's roots, when it has any: a private CA alone is enough.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| format!("OCEAN__POSTGRES__CA_FILE `{}`: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("OCEAN__POSTGRES__CA_FILE `{}`: no PEM certificate in it", path.display()));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("OCEAN__POSTGRES__CA_FILE `{}`: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err(
            "sslmode=require, but there is no certificate to verify the server with: set OCEAN__POSTGRES__CA_FILE"
                .into(),
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(config)))
}
