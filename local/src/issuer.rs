//! The local OIDC issuer `up --local` runs for `api.auth: cognito`: its own RS256 key, on
//! 127.0.0.1, serving
//!
//! - `GET /.well-known/openid-configuration`, the discovery document;
//! - `GET /.well-known/jwks.json`, the key set;
//! - `POST /token` with `{"sub":"alice","ttl_s":3600}`, answering
//!   `{"access_token":"<jwt>","token_type":"Bearer","expires_in":3600}`: a token shaped like a
//!   Cognito access token (`client_id`, `token_use: access`, `username`), for the frontend and
//!   `deployer token`. CORS follows `api.cors.allow_origins` (preflights too).
//!
//! Anyone who can reach the loopback port gets a token: it is a development issuer.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::clock::now_s;
use super::cors;
use super::hosts::AllowedHosts;
use super::jwt::{SigningKey, Validator};
use super::response::{GatewayResponse, into_response};
use oncely_config::CorsSettings;

/// The app client id of the local issuer's tokens (in `client_id`, like Cognito access tokens).
pub const LOCAL_CLIENT_ID: &str = "local-client";
/// Bounds of a token's lifetime.
pub const MIN_TTL_S: u64 = 1;
/// The longest life a token of the local issuer may be given, in seconds (a day).
pub const MAX_TTL_S: u64 = 24 * 3600;
/// The longest `sub`.
pub const MAX_SUB_LEN: usize = 128;

/// Why a `sub` is refused, if it is.
pub fn check_sub(sub: &str) -> Result<(), String> {
    if sub.is_empty() || sub.chars().count() > MAX_SUB_LEN {
        return Err(format!(
            "sub must be 1..{MAX_SUB_LEN} characters, got {}",
            sub.chars().count()
        ));
    }
    if let Some(c) = sub.chars().find(|c| !(c.is_alphanumeric() || "._@+-".contains(*c))) {
        return Err(format!(
            "sub {sub:?} contains {c:?}: use letters, digits and . _ @ + - only"
        ));
    }
    Ok(())
}

/// Why a lifetime is refused, if it is.
pub fn check_ttl(ttl_s: u64) -> Result<(), String> {
    if !(MIN_TTL_S..=MAX_TTL_S).contains(&ttl_s) {
        return Err(format!(
            "ttl must be between {MIN_TTL_S} s and {MAX_TTL_S} s (24h), got {ttl_s} s"
        ));
    }
    Ok(())
}

struct State {
    url: String,
    client_id: String,
    key: SigningKey,
    cors: Option<CorsSettings>,
    hosts: AllowedHosts,
}

/// A running issuer; dropping it stops it.
pub struct Issuer {
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    /// Starts an issuer on a free port of 127.0.0.1 whose tokens carry `client_id`. Browsers
    /// from `allow_origins` may call it (none when `None`); requests whose `Host` is not in
    /// `hosts` are refused (403).
    pub async fn start(
        client_id: &str,
        allow_origins: Option<Vec<String>>,
        hosts: AllowedHosts,
    ) -> anyhow::Result<Issuer> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| anyhow::anyhow!("the local issuer cannot listen on 127.0.0.1: {e}"))?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let cors = allow_origins.map(|allow_origins| CorsSettings {
            allow_origins,
            allow_methods: vec!["GET".into(), "OPTIONS".into(), "POST".into()],
            allow_headers: vec!["content-type".into()],
            expose_headers: vec![],
            max_age_s: 600,
            allow_credentials: false,
        });
        let key = tokio::task::spawn_blocking(SigningKey::generate).await??;
        let state = Arc::new(State {
            url,
            client_id: client_id.to_string(),
            key,
            cors,
            hosts,
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Issuer { state, task })
    }

    /// `http://127.0.0.1:PORT`, the `iss` of its tokens.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The app client id tokens carry (`client_id`), the authorizer's audience.
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// A validator for its tokens, accepting `audience`.
    pub fn validator(&self, audience: Vec<String>) -> Validator {
        Validator {
            issuer: self.state.url.clone(),
            audience,
            keys: vec![self.state.key.jwk()],
        }
    }

    /// A token for `sub` valid `ttl_s` seconds from now.
    pub fn mint(&self, sub: &str, ttl_s: u64) -> anyhow::Result<String> {
        self.state.mint(sub, ttl_s)
    }

    /// Signs any claims with its key (tests use it to make invalid tokens the API must refuse).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.state.key.sign(claims)
    }
}

impl State {
    fn mint(&self, sub: &str, ttl_s: u64) -> anyhow::Result<String> {
        let now = now_s();
        self.key.sign(&json!({
            "sub": sub,
            "iss": self.url,
            "client_id": self.client_id,
            "token_use": "access",
            "scope": "openid",
            "auth_time": now,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid::Uuid::new_v4().to_string(),
            "username": sub,
        }))
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
        })
    }
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn ok_json(status: u16, body: &Value) -> GatewayResponse {
    GatewayResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Bytes::from(body.to_string()),
    }
}

fn invalid_request(why: &str) -> GatewayResponse {
    ok_json(400, &json!({"error": "invalid_request", "error_description": why}))
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let headers = req.headers().clone();
    if !state.hosts.allows(&headers) {
        return into_response(state.hosts.refusal(&headers));
    }
    let method = req.method().as_str().to_string();
    if let Some(c) = &state.cors
        && cors::is_preflight(&method, &headers)
    {
        return into_response(cors::preflight(c, &headers));
    }
    let mut answer = match (method.as_str(), req.uri().path()) {
        ("GET", "/.well-known/openid-configuration") => ok_json(200, &state.discovery()),
        ("GET", "/.well-known/jwks.json") => ok_json(200, &json!({"keys": [state.key.jwk().to_json()]})),
        ("POST", "/token") => token(state, req).await,
        _ => GatewayResponse::not_found(),
    };
    if let Some(c) = &state.cors {
        cors::decorate(c, &headers, &mut answer);
    }
    into_response(answer)
}

/// `POST /token`: `{"sub": "...", "ttl_s": N}` (`ttl_s` defaults to 3600).
async fn token(state: &State, req: Request<Incoming>) -> GatewayResponse {
    let Ok(body) = Limited::new(req.into_body(), 64 * 1024).collect().await else {
        return invalid_request("the body is not readable or larger than 64 KiB");
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return invalid_request(r#"the body must be a JSON object like {"sub":"alice","ttl_s":3600}"#);
    };
    let Some(sub) = body.get("sub").and_then(Value::as_str) else {
        return invalid_request("`sub` (a string) is required");
    };
    let ttl_s = match body.get("ttl_s") {
        None | Some(Value::Null) => 3600,
        Some(v) => match v.as_u64() {
            Some(t) => t,
            None => return invalid_request("`ttl_s` must be a whole number of seconds"),
        },
    };
    if let Err(why) = check_sub(sub).and_then(|()| check_ttl(ttl_s)) {
        return invalid_request(&why);
    }
    match state.mint(sub, ttl_s) {
        Ok(t) => ok_json(
            200,
            &json!({"access_token": t, "token_type": "Bearer", "expires_in": ttl_s}),
        ),
        Err(e) => ok_json(
            500,
            &json!({"error": "server_error", "error_description": e.to_string()}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_and_ttl_are_checked() {
        assert!(check_sub("alice").is_ok());
        assert!(check_sub("a.b+c@d-e_f").is_ok());
        assert!(check_sub("").unwrap_err().contains("1..128"));
        assert!(check_sub(&"a".repeat(129)).is_err());
        assert!(check_sub("al ice").unwrap_err().contains("' '"));
        assert!(check_ttl(1).is_ok() && check_ttl(86_400).is_ok());
        assert!(check_ttl(0).is_err() && check_ttl(86_401).is_err());
    }

    #[tokio::test]
    async fn minted_tokens_pass_its_validator() {
        let issuer = Issuer::start(LOCAL_CLIENT_ID, None, AllowedHosts::default())
            .await
            .unwrap();
        let token = issuer.mint("alice", 60).unwrap();
        let claims = issuer
            .validator(vec![LOCAL_CLIENT_ID.into()])
            .validate(&token, now_s())
            .unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["iss"], issuer.url());
        assert!(
            issuer
                .validator(vec!["other".into()])
                .validate(&token, now_s())
                .is_err()
        );
    }
}
