//! A small time-bounded HTTP(S) client for JSON: reading an OIDC issuer's discovery document and
//! key set, and asking the local issuer for a token (`deployer token`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long one request (connect, send, read the whole answer) may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (discovery documents and key sets are a few kilobytes).
pub const MAX_BODY: usize = 1024 * 1024;

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{url} is not a valid URL")]
    /// Not a URL this client can fetch.
    Url {
        /// The URL.
        url: String,
    },
    #[error("cannot reach {url}: {detail}")]
    /// No connection, or it broke.
    Unreachable {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    #[error("{url} did not answer within {}s", TIMEOUT.as_secs())]
    /// No whole answer within the time bound.
    Timeout {
        /// The URL.
        url: String,
    },
    #[error("{url} answered {status}: {body}")]
    /// An answer other than `200`.
    Status {
        /// The URL.
        url: String,
        /// Its HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    #[error("{url} answered with more than {} bytes", MAX_BODY)]
    /// A body over the size bound.
    TooLarge {
        /// The URL.
        url: String,
    },
    #[error("{url} did not answer JSON: {detail}")]
    /// A body that is not JSON.
    NotJson {
        /// The URL.
        url: String,
        /// The parser's error.
        detail: String,
    },
}

/// `GET url` (or `POST url` with `body`), the answer's JSON when the status is 2xx.
pub async fn json(url: &str, body: Option<&Value>) -> Result<Value, HttpError> {
    tokio::time::timeout(TIMEOUT, send(url, body))
        .await
        .unwrap_or_else(|_| Err(HttpError::Timeout { url: url.to_string() }))
}

async fn send(url: &str, body: Option<&Value>) -> Result<Value, HttpError> {
    let unreachable = |detail: String| HttpError::Unreachable {
        url: url.to_string(),
        detail,
    };
    let uri: hyper::Uri = url.parse().map_err(|_| HttpError::Url { url: url.to_string() })?;
    let mut roots = rustls::RootCertStore::empty();
    if url.starts_with("https:") {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    // The provider is named: in a workspace build rustls may also have ring enabled (the
    // function's), and then no process-wide default exists.
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreachable(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = match body {
        Some(b) => Request::post(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(b.to_string()))),
        None => Request::get(uri).body(Full::new(Bytes::new())),
    }
    .map_err(|_| HttpError::Url { url: url.to_string() })?;
    let response = client.request(request).await.map_err(|e| {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = format!("{detail}: {s}");
            source = s.source();
        }
        unreachable(detail)
    })?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                HttpError::TooLarge { url: url.to_string() }
            } else {
                unreachable(e.to_string())
            }
        })?
        .to_bytes();
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| HttpError::NotJson {
        url: url.to_string(),
        detail: e.to_string(),
    })
}
