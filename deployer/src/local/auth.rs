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
//! discovery document and `jwks_uri` at startup (time-bounded; an unreachable issuer stops
//! `up --local` with a clear error) and read again, at most once a minute, when a token names a
//! `kid` the cached set lacks.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;
use serde_json::{Map, Value, json};

use super::http_client::{self, HttpError};
use super::issuer::Issuer;
use super::jwt::{self, Jwk, Rejection, Validator};
use super::response::GatewayResponse;
use crate::config::{AuthSettings, RouteKey};

/// How often at most the key set of a `jwt` issuer is read again for an unknown `kid`.
const REFRESH_AFTER: Duration = Duration::from_secs(60);

/// Why the authorizer of a `jwt` issuer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read the discovery document of issuer {issuer}: {source}")]
    Discovery {
        issuer: String,
        #[source]
        source: HttpError,
    },
    #[error("the discovery document of issuer {issuer} {problem}")]
    BadDiscovery { issuer: String, problem: String },
    #[error("cannot read the key set of issuer {issuer}: {source}")]
    Jwks {
        issuer: String,
        #[source]
        source: HttpError,
    },
    #[error("the key set {jwks_uri} of issuer {issuer} holds no RSA signing key")]
    NoKeys { issuer: String, jwks_uri: String },
}

enum Keys {
    Fixed(Vec<Jwk>),
    Remote {
        jwks_uri: String,
        cache: tokio::sync::Mutex<(Instant, Vec<Jwk>)>,
    },
}

/// The authorizer of one local API.
pub struct Authorizer {
    public_routes: Vec<RouteKey>,
    issuer: String,
    audience: Vec<String>,
    keys: Keys,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
        let keys = fetch_keys(issuer, &jwks_uri).await?;
        Ok(Authorizer {
            public_routes: settings.public_routes.clone(),
            issuer: issuer.to_string(),
            audience: audience.to_vec(),
            keys: Keys::Remote {
                jwks_uri,
                cache: tokio::sync::Mutex::new((Instant::now(), keys)),
            },
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

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
            Keys::Remote { jwks_uri, cache } => {
                let kid = jwt::parse(token)?.kid;
                let mut cached = cache.lock().await;
                let known = kid.as_deref().is_some_and(|k| cached.1.iter().any(|j| j.kid == k));
                if !known
                    && cached.0.elapsed() > REFRESH_AFTER
                    && let Ok(keys) = fetch_keys(&self.issuer, jwks_uri).await
                {
                    *cached = (Instant::now(), keys);
                }
                let keys = cached.1.clone();
                drop(cached);
                validator(keys).validate(token, now_s())
            }
        }
    }
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
        let issuer = Issuer::start(super::super::issuer::LOCAL_CLIENT_ID, None)
            .await
            .unwrap();
        let settings = AuthSettings {
            provider: crate::config::AuthProvider::Cognito,
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

        headers.insert(
            "authorization",
            HeaderValue::from_str(&token[..token.len() - 4]).unwrap(),
        );
        let denied = auth.authorize(&post, &headers).await.unwrap_err();
        assert_eq!(
            denied.header("www-authenticate"),
            Some(r#"Bearer scope="" error="invalid_token" error_description="the token's signature is invalid""#)
        );
    }
}
