//! The local HTTP API's JWT authorizer, as API Gateway runs one for `api.auth`: every route not in
//! `public_routes` needs a token in the identity source `$request.header.Authorization` (the token
//! alone or prefixed with `Bearer `), checked by [`Validator`]. A refused request never reaches the
//! function and is answered as API Gateway answers it (developer guide, "Troubleshooting issues
//! with HTTP API JWT authorizers"): `401 {"message":"Unauthorized"}` with a `www-authenticate`
//! header, `Bearer scope="" error="invalid_token" error_description="..."` for a token that fails
//! a check, plain `Bearer` when there is none. An accepted token's claims go into the event at
//! `requestContext.authorizer.jwt` (`claims` as strings, `scopes` null: routes have no
//! authorization scopes).
//!
//! Keys: for `cognito`, the local issuer's; for `jwt`, the configured issuer's, read from its
//! discovery document and `jwks_uri` at startup (time-bounded, bodies capped; an unreachable
//! issuer stops `up --local` with a clear error; an `https` issuer's keys must come over `https`)
//! and read again when a token names a `kid` the cached set lacks: by one request at a time, the
//! others answered from the cached set meanwhile (nothing waits for the fetch), at most once a
//! minute after a success and once every 10 s after a failure, so that tokens with made-up `kid`s
//! cannot make the API hammer the issuer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use serde_json::{Map, Value, json};

use super::clock::now_s;
use super::http_client::{self, HttpError};
use super::issuer::Issuer;
use super::jwt::{self, Jwk, Rejection, Validator};
use super::response::GatewayResponse;
use oncely_config::{AuthSettings, RouteKey};

/// How often at most the key set of a `jwt` issuer is read again for an unknown `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// After a read that succeeded (and after startup's).
    pub after_success: Duration,
    /// After a read that failed.
    pub after_failure: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            after_success: Duration::from_secs(60),
            after_failure: Duration::from_secs(10),
        }
    }
}

/// Why the authorizer of a `jwt` issuer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read the discovery document of issuer {issuer}: {source}")]
    /// The issuer's discovery document could not be read.
    Discovery {
        /// The issuer.
        issuer: String,
        /// Why the request failed.
        #[source]
        source: HttpError,
    },
    #[error("the discovery document of issuer {issuer} {problem}")]
    /// The discovery document was read but does not say what the authorizer needs.
    BadDiscovery {
        /// The issuer.
        issuer: String,
        /// What is wrong with the document.
        problem: String,
    },
    #[error("cannot read the key set of issuer {issuer}: {source}")]
    /// The issuer's key set could not be read.
    Jwks {
        /// The issuer.
        issuer: String,
        /// Why the request failed.
        #[source]
        source: HttpError,
    },
    #[error("the key set {jwks_uri} of issuer {issuer} holds no RSA signing key")]
    /// The key set holds no RSA signing key.
    NoKeys {
        /// The issuer.
        issuer: String,
        /// Where its key set was read.
        jwks_uri: String,
    },
}

enum Keys {
    Fixed(Vec<Jwk>),
    Remote {
        jwks_uri: String,
        policy: RefreshPolicy,
        cache: Mutex<KeyCache>,
    },
}

/// The cached key set of a `jwt` issuer and when it may be read again.
struct KeyCache {
    keys: Arc<Vec<Jwk>>,
    next_read: Instant,
    reading: bool,
}

/// The authorizer of one local API.
pub struct Authorizer {
    public_routes: Vec<RouteKey>,
    issuer: String,
    audience: Vec<String>,
    keys: Keys,
}

impl Authorizer {
    /// For `cognito`: the local issuer's tokens, audience its client id.
    pub fn local(settings: &AuthSettings, issuer: &Issuer) -> Authorizer {
        let v = issuer.validator(vec![issuer.client_id().to_string()]);
        Authorizer {
            public_routes: settings.public_routes.clone(),
            issuer: v.issuer,
            audience: v.audience,
            keys: Keys::Fixed(v.keys),
        }
    }

    /// For `jwt`: reads the issuer's discovery document and key set.
    pub async fn discover(
        settings: &AuthSettings,
        issuer: &str,
        audience: &[String],
    ) -> Result<Authorizer, SetupError> {
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let doc = http_client::json(&url, None)
            .await
            .map_err(|source| SetupError::Discovery {
                issuer: issuer.to_string(),
                source,
            })?;
        let bad = |problem: String| SetupError::BadDiscovery {
            issuer: issuer.to_string(),
            problem,
        };
        if doc["issuer"].as_str() != Some(issuer) {
            return Err(bad(format!(
                "names issuer {} instead of {issuer:?}: `api.auth.jwt.issuer` must be exactly the `iss` of the tokens",
                doc["issuer"]
            )));
        }
        let jwks_uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| bad("has no `jwks_uri`".into()))?
            .to_string();
        check_jwks_scheme(issuer, &jwks_uri).map_err(bad)?;
        let keys = fetch_keys(issuer, &jwks_uri).await?;
        let policy = RefreshPolicy::default();
        Ok(Authorizer {
            public_routes: settings.public_routes.clone(),
            issuer: issuer.to_string(),
            audience: audience.to_vec(),
            keys: Keys::Remote {
                jwks_uri,
                policy,
                cache: Mutex::new(KeyCache {
                    keys: Arc::new(keys),
                    next_read: Instant::now() + policy.after_success,
                    reading: false,
                }),
            },
        })
    }

    /// The same with another refresh policy (tests use short ones).
    pub fn with_refresh_policy(mut self, new: RefreshPolicy) -> Authorizer {
        if let Keys::Remote { policy, cache, .. } = &mut self.keys {
            *policy = new;
            let cache = cache.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.next_read = Instant::now() + new.after_success;
        }
        self
    }

    /// The issuer tokens must name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences a token must name one of (`aud` or `client_id`).
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// `Ok(None)` for a public route, `Ok(Some(authorizer))` with the `requestContext.authorizer`
    /// of an accepted token, `Err` with API Gateway's 401.
    pub async fn authorize(&self, route: &RouteKey, headers: &HeaderMap) -> Result<Option<Value>, GatewayResponse> {
        if self.public_routes.contains(route) {
            return Ok(None);
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(jwt::bearer_token)
            .ok_or_else(|| unauthorized(Rejection::Missing))?;
        let claims = self.validate(token).await.map_err(unauthorized)?;
        Ok(Some(authorizer_context(&claims)))
    }

    async fn validate(&self, token: &str) -> Result<Map<String, Value>, Rejection> {
        let validator = |keys: Vec<Jwk>| Validator {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            keys,
        };
        match &self.keys {
            Keys::Fixed(keys) => validator(keys.clone()).validate(token, now_s()),
            Keys::Remote {
                jwks_uri,
                policy,
                cache,
            } => {
                let kid = jwt::parse(token)?.kid;
                let lock = || cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // The lock is never held across the fetch: one request reads the key set, the
                // others go on with the cached one.
                let (mut keys, read) = {
                    let mut cached = lock();
                    let known = kid.as_deref().is_some_and(|k| cached.keys.iter().any(|j| j.kid == k));
                    let read = !known && !cached.reading && Instant::now() >= cached.next_read;
                    cached.reading |= read;
                    (cached.keys.clone(), read)
                };
                if read {
                    let fetched = fetch_keys(&self.issuer, jwks_uri).await;
                    let mut cached = lock();
                    cached.reading = false;
                    match fetched {
                        Ok(fresh) => {
                            cached.keys = Arc::new(fresh);
                            cached.next_read = Instant::now() + policy.after_success;
                        }
                        Err(err) => {
                            eprintln!("[auth] {err}; the cached keys stay in use");
                            cached.next_read = Instant::now() + policy.after_failure;
                        }
                    }
                    keys = cached.keys.clone();
                }
                validator(keys.to_vec()).validate(token, now_s())
            }
        }
    }
}

/// The keys of an `https` issuer must come over `https` too (else anyone on the path could
/// replace them and sign tokens the API accepts).
fn check_jwks_scheme(issuer: &str, jwks_uri: &str) -> Result<(), String> {
    if issuer.starts_with("https://") && !jwks_uri.starts_with("https://") {
        return Err(format!(
            "names the key set {jwks_uri:?}, not an https:// URL: the keys of an https issuer \
            must not travel in the clear"
        ));
    }
    Ok(())
}

async fn fetch_keys(issuer: &str, jwks_uri: &str) -> Result<Vec<Jwk>, SetupError> {
    let jwks = http_client::json(jwks_uri, None)
        .await
        .map_err(|source| SetupError::Jwks {
            issuer: issuer.to_string(),
            source,
        })?;
    let keys = Jwk::set_from_json(&jwks);
    if keys.is_empty() {
        return Err(SetupError::NoKeys {
            issuer: issuer.to_string(),
            jwks_uri: jwks_uri.to_string(),
        });
    }
    Ok(keys)
}

/// API Gateway's answer to a refused request.
pub fn unauthorized(why: Rejection) -> GatewayResponse {
    let mut answer = GatewayResponse::message(401, "Unauthorized");
    let challenge = match why {
        Rejection::Missing => "Bearer".to_string(),
        other => format!(r#"Bearer scope="" error="invalid_token" error_description="{other}""#),
    };
    answer.headers.push(("www-authenticate".into(), challenge));
    answer
}

/// `requestContext.authorizer` for accepted claims.
pub fn authorizer_context(claims: &Map<String, Value>) -> Value {
    let claims: Map<String, Value> = claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(jwt::render_claim(v))))
        .collect();
    json!({"jwt": {"claims": claims, "scopes": null}})
}

/// The event with `requestContext.authorizer` set, when there is one.
pub fn with_authorizer(mut event: Value, authorizer: Option<Value>) -> Value {
    if let (Some(a), Some(rc)) = (
        authorizer,
        event.get_mut("requestContext").and_then(Value::as_object_mut),
    ) {
        rc.insert("authorizer".into(), a);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[tokio::test]
    async fn protected_routes_need_a_valid_token_and_public_ones_do_not() {
        let issuer = Issuer::start(crate::issuer::LOCAL_CLIENT_ID, None, Default::default())
            .await
            .unwrap();
        let settings = AuthSettings {
            provider: oncely_config::AuthProvider::Cognito,
            public_routes: vec!["GET /orders/{id}".parse().unwrap()],
        };
        let auth = Authorizer::local(&settings, &issuer);
        let post: RouteKey = "POST /orders".parse().unwrap();
        let get: RouteKey = "GET /orders/{id}".parse().unwrap();
        assert_eq!(auth.authorize(&get, &HeaderMap::new()).await, Ok(None));
        let denied = auth.authorize(&post, &HeaderMap::new()).await.unwrap_err();
        assert_eq!(
            (denied.status, &denied.body[..]),
            (401, &br#"{"message":"Unauthorized"}"#[..])
        );
        assert_eq!(denied.header("www-authenticate"), Some("Bearer"));

        let mut headers = HeaderMap::new();
        let token = issuer.mint("alice", 60).unwrap();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let a = auth.authorize(&post, &headers).await.unwrap().unwrap();
        assert_eq!(a["jwt"]["claims"]["sub"], "alice");
        assert!(a["jwt"]["claims"]["exp"].is_string());
        assert_eq!(a["jwt"]["scopes"], Value::Null);
        let event = with_authorizer(json!({"requestContext": {"routeKey": "POST /orders"}}), Some(a));
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["username"],
            "alice"
        );

        // One character in the middle of the signature changed.
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 20;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        headers.insert("authorization", HeaderValue::from_bytes(&forged).unwrap());
        let denied = auth.authorize(&post, &headers).await.unwrap_err();
        assert_eq!(
            denied.header("www-authenticate"),
            Some(r#"Bearer scope="" error="invalid_token" error_description="the token's signature is invalid""#)
        );
    }

    /// An issuer of the test's own on 127.0.0.1: discovery, and a key set whose reads it counts
    /// and can slow down or fail (the real issuers are tested in the integration tests).
    struct KeyServer {
        url: String,
        reads: Arc<std::sync::atomic::AtomicUsize>,
        mode: Arc<Mutex<(Duration, u16)>>,
        _task: tokio::task::JoinHandle<()>,
    }

    impl KeyServer {
        async fn start(keys: Value) -> KeyServer {
            use http_body_util::Full;
            use hyper::body::Bytes;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mode = Arc::new(Mutex::new((Duration::ZERO, 200)));
            let (u, r, m) = (url.clone(), reads.clone(), mode.clone());
            let task = tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let (u, r, m, keys) = (u.clone(), r.clone(), m.clone(), keys.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let (u, r, m, keys) = (u.clone(), r.clone(), m.clone(), keys.clone());
                            async move {
                                let (status, body) = if req.uri().path() == "/jwks" {
                                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    let (delay, status) = *m.lock().unwrap();
                                    tokio::time::sleep(delay).await;
                                    (status, keys.to_string())
                                } else {
                                    (200, json!({"issuer": u, "jwks_uri": format!("{u}/jwks")}).to_string())
                                };
                                let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                                *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            KeyServer {
                url,
                reads,
                mode,
                _task: task,
            }
        }

        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    fn jwt_settings() -> AuthSettings {
        AuthSettings {
            provider: oncely_config::AuthProvider::Cognito,
            public_routes: vec![],
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers
    }

    /// Tokens with a `kid` the set lacks: one read of the key set for a burst of them (not one
    /// each), none while a read is under way, and a request with a known `kid` never waits for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_kids_read_the_key_set_once_and_nothing_waits_for_it() {
        let known = jwt::SigningKey::generate().unwrap();
        let stranger = jwt::SigningKey::generate().unwrap();
        let server = KeyServer::start(json!({"keys": [known.jwk().to_json()]})).await;
        let policy = RefreshPolicy {
            after_success: Duration::ZERO,
            after_failure: Duration::from_secs(3600),
        };
        let auth = Arc::new(
            Authorizer::discover(&jwt_settings(), &server.url, &["app".into()])
                .await
                .unwrap()
                .with_refresh_policy(policy),
        );
        assert_eq!(server.reads(), 1, "startup's read");
        let claims = |sub: &str| json!({"iss": server.url, "aud": "app", "sub": sub, "exp": now_s() + 60});
        let post: RouteKey = "POST /orders".parse().unwrap();

        // A slow key set: 50 made-up kids at once make one read; a known kid is served meanwhile.
        *server.mode.lock().unwrap() = (Duration::from_secs(2), 200);
        let mut burst = Vec::new();
        for i in 0..50 {
            let (auth, token, post) = (
                auth.clone(),
                stranger.sign(&claims(&format!("s{i}"))).unwrap(),
                post.clone(),
            );
            burst.push(tokio::spawn(
                async move { auth.authorize(&post, &bearer(&token)).await },
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let good = known.sign(&claims("ann")).unwrap();
        let served = tokio::time::timeout(Duration::from_secs(1), auth.authorize(&post, &bearer(&good)))
            .await
            .expect("a known kid does not wait for the key set's read");
        assert!(served.is_ok());
        for refused in burst {
            let denied = refused.await.unwrap().unwrap_err();
            assert!(denied.header("www-authenticate").unwrap().contains("kid is not in"));
        }
        assert_eq!(server.reads(), 2, "one read for the whole burst");

        // A failed read is remembered: more made-up kids read nothing until `after_failure`.
        *server.mode.lock().unwrap() = (Duration::ZERO, 500);
        for i in 0..2 {
            let token = stranger.sign(&claims(&format!("f{i}"))).unwrap();
            assert!(auth.authorize(&post, &bearer(&token)).await.is_err());
        }
        assert_eq!(server.reads(), 3, "the failure is cached");
        assert!(
            auth.authorize(&post, &bearer(&good)).await.is_ok(),
            "the cached keys stay"
        );
    }

    /// An https issuer whose discovery names a plain-http key set is refused at startup; so is a
    /// key set larger than the cap.
    #[tokio::test]
    async fn key_sets_in_the_clear_or_too_large_are_refused() {
        let key = jwt::SigningKey::generate().unwrap();
        let server = KeyServer::start(json!({"keys": [key.jwk().to_json()]})).await;
        // No https issuer runs here: the scheme check is called as `discover` calls it.
        let err = check_jwks_scheme("https://login.example", "http://login.example/jwks").unwrap_err();
        assert!(err.contains("not an https:// URL"), "{err}");
        assert!(check_jwks_scheme("https://login.example", "https://login.example/jwks").is_ok());
        assert!(check_jwks_scheme("http://127.0.0.1:1", "http://127.0.0.1:1/jwks").is_ok());
        assert!(
            Authorizer::discover(&jwt_settings(), &server.url, &["a".into()])
                .await
                .is_ok()
        );

        let huge = json!({"keys": [key.jwk().to_json()], "padding": "x".repeat(http_client::MAX_BODY)});
        let server = KeyServer::start(huge).await;
        let err = Authorizer::discover(&jwt_settings(), &server.url, &["a".into()])
            .await
            .err()
            .expect("a key set over the cap is refused");
        assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
    }
}
