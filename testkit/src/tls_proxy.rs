//! [`TlsProxy`]: a TLS-terminating proxy on 127.0.0.1 in front of a plain TCP server (DynamoDB
//! Local, `redis-server`, a [`crate::FaultProxy`]), so a client talks TLS to an emulator as it
//! does to AWS: a certificate authority made for this proxy alone signs a server certificate for
//! `127.0.0.1` and `localhost`; a client trusts it through [`TlsProxy::ca_file`] (as
//! `SSL_CERT_FILE`, which rustls' platform roots honour) or [`TlsProxy::roots`]. It counts the
//! handshakes it completes, so a test sees when a client opened a connection and whether it
//! reused it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TLS proxy; it stops when dropped (its connections with it).
pub struct TlsProxy {
    addr: SocketAddr,
    certs: Certificates,
    dir: tempfile::TempDir,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// A certificate authority made for one test, and a server certificate it signed for `127.0.0.1`
/// and `localhost` (ECDSA P-256), for [`TlsProxy`] or a server's own TLS port (`redis-server
/// --tls-port`).
pub struct Certificates {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate, PEM.
    pub server_pem: String,
    /// The server's private key, PKCS#8 PEM.
    pub server_key_pem: String,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

/// A self-signed certificate for `names` (the first is its subject) and its private key, both
/// PEM: what a test imports into ACM as an issued certificate.
pub fn self_signed(names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().expect("a key");
    let mut params =
        CertificateParams::new(names.iter().map(ToString::to_string).collect::<Vec<_>>()).expect("certificate names");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    (cert.pem(), key.serialize_pem())
}

impl Certificates {
    /// New keys and certificates.
    pub fn new() -> Certificates {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "Oncely test kit CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::from_params(&ca, &ca_key);
        let server_key = KeyPair::generate().expect("a server key");
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("server names");
        server.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).expect("the server certificate");
        Certificates {
            ca_pem: ca_cert.pem(),
            server_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir`.
    pub fn write_to(&self, dir: &Path) {
        for (name, text) in [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_pem),
            ("server.key", &self.server_key_pem),
        ] {
            std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        }
    }

    /// The CA as the only root a rustls client trusts.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("the CA certificate parses");
        roots
    }
}

impl Default for Certificates {
    fn default() -> Self {
        Certificates::new()
    }
}

impl TlsProxy {
    /// Starts a proxy to `upstream` (`host:port`, or an endpoint such as `http://host:port`) on a
    /// free loopback port, with new certificates.
    pub async fn start(upstream: &str) -> TlsProxy {
        let upstream = upstream.split_once("://").map_or(upstream, |(_, rest)| rest);
        let upstream = upstream.trim_end_matches('/');
        let certs = Certificates::new();
        let dir = crate::temp_dir();
        certs.write_to(dir.path());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![certs.server_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.server_key_der.clone())),
            )
            .expect("the server certificate and key");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the TLS proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let upstream = upstream.to_string();
        let task = tokio::spawn(async move {
            let mut open = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream, counted) = (acceptor.clone(), upstream.clone(), counted.clone());
                open.spawn(async move {
                    let _ = client.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        TlsProxy {
            addr,
            certs,
            dir,
            handshakes,
            task,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Its address (`127.0.0.1:PORT`), for a URL of another scheme (`rediss://`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A PEM file holding only its CA certificate (for `SSL_CERT_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Its CA as the only root a rustls client trusts.
    pub fn roots(&self) -> rustls::RootCertStore {
        self.certs.roots()
    }

    /// How many TLS handshakes it has completed (connections a client opened).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
