//! The TLS client settings the Redis client and the secrets reader share: rustls on ring (no
//! aws-lc), the default protocol versions, and the platform's root certificates.

use std::sync::Arc;

/// The platform's root certificates (those that do not parse are skipped).
pub(crate) fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

/// A client config on ring that trusts `roots`.
pub(crate) fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
