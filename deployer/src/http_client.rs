//! The HTTP client the SDK clients of a command share: the SDK's default (hyper, rustls on
//! aws-lc, the proxy from the environment), except that TLS is set up on the first `https`
//! request, so a command against an emulator at an `http://` endpoint never reads the platform's
//! root certificates. Without it each of a command's SDK clients built its own TLS connector when
//! it was created: about a fifth of the CPU of a `plan` or `stages` against moto (debug build).

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A client for every SDK client of one command (one connection pool per scheme and timeout
/// settings).
pub fn shared() -> SharedHttpClient {
    SharedHttpClient::new(ByScheme {
        plain: hyper_client(false),
        tls: hyper_client(true),
    })
}

/// What the SDK's default client builds (`default_https_client` in aws-smithy-runtime), with or
/// without TLS. Each keeps one connector per timeout settings, made on first use.
fn hyper_client(tls: bool) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default();
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        if tls {
            connector.tls_provider(Provider::Rustls(CryptoMode::AwsLc)).build()
        } else {
            connector.build_http()
        }
    })
}

/// Hands each request to the plain client or, for any other scheme, to the TLS one.
#[derive(Debug)]
struct ByScheme {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
}

impl HttpClient for ByScheme {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(SchemeConnector {
            plain: self.plain.http_connector(settings, components),
            tls: self.tls.clone(),
            settings: settings.clone(),
            components: components.clone(),
        })
    }
}

/// The connector of one request attempt: the plain one, or the TLS client's for these settings
/// (built on its first request, then taken from that client's cache).
#[derive(Debug)]
struct SchemeConnector {
    plain: SharedHttpConnector,
    tls: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl HttpConnector for SchemeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if is_plain_http(request.uri()) {
            self.plain.call(request)
        } else {
            self.tls.http_connector(&self.settings, &self.components).call(request)
        }
    }
}

/// Whether `uri` is a plain `http` URI (the scheme is case-insensitive).
fn is_plain_http(uri: &str) -> bool {
    uri.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    use tokio::io::AsyncReadExt as _;

    /// The first bytes an SDK client using [`shared`] sends to a server at `scheme://127.0.0.1:port`.
    async fn first_bytes(scheme: &str) -> [u8; 4] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .endpoint_url(format!("{scheme}://{}", listener.local_addr().unwrap()))
            .retry_config(RetryConfig::disabled())
            .http_client(shared())
            .build();
        let client = aws_sdk_sts::Client::from_conf(config);
        let call = tokio::spawn(async move { client.get_caller_identity().send().await });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0; 4];
        socket.read_exact(&mut first).await.unwrap();
        drop(socket);
        assert!(call.await.unwrap().is_err(), "the server closed without answering");
        first
    }

    #[tokio::test]
    async fn an_http_endpoint_gets_a_plain_request_and_an_https_one_a_tls_handshake() {
        assert_eq!(&first_bytes("http").await, b"POST");
        let hello = first_bytes("https").await;
        // A TLS record of type handshake (22), protocol major version 3.
        assert_eq!(hello[..2], [0x16, 0x03], "{hello:?}");
    }

    #[test]
    fn only_http_uris_skip_tls() {
        assert!(is_plain_http("http://127.0.0.1:5000/"));
        assert!(is_plain_http("HTTP://localhost:4566"));
        assert!(!is_plain_http("https://dynamodb.eu-west-1.amazonaws.com/"));
        assert!(!is_plain_http("http:/"));
        assert!(!is_plain_http(""));
    }
}
