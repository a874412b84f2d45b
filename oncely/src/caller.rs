//! Who is calling: the JWT `sub` that API Gateway's JWT authorizer put into the payload 2.0
//! request context (`requestContext.authorizer.jwt.claims.sub`), or nobody (anonymous).

#[cfg(feature = "http")]
use crate::http::Problem;
#[cfg(feature = "http")]
use lambda_http::{Request, RequestExt, http::StatusCode, request::RequestContext};

/// The claim that names the caller.
pub const SUBJECT_CLAIM: &str = "sub";

/// The caller of one request, parsed once from its request context.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// No JWT authorizer ran (a stack without auth, a public route, a request not from API Gateway).
    Anonymous,
    /// The validated token's `sub` claim (never empty).
    Subject(String),
}

/// Why the request context names no usable caller (a 401: it is never treated as anonymous).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// An authorizer validated a token whose claims carry no `sub`, or an empty one.
    #[error("the token has no `sub` claim: send a token that names its subject")]
    NoSubject,
}

impl Caller {
    /// The caller of `request` (with the `http` feature).
    ///
    /// - No request context, not an HTTP API (payload 2.0) event, no authorizer, no `jwt` part, or
    ///   no claims at all → [`Caller::Anonymous`] (as API Gateway sends public routes).
    /// - Claims with a non-empty `sub` → [`Caller::Subject`].
    /// - Claims without `sub`, or with an empty one → [`CallerError::NoSubject`]: a token that does
    ///   not say who it is never shares the anonymous key space or sees anonymous-only answers.
    #[cfg(feature = "http")]
    pub fn from_request(request: &Request) -> Result<Caller, CallerError> {
        let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
            return Ok(Caller::Anonymous);
        };
        let Some(claims) = context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims)
            .filter(|claims| !claims.is_empty())
        else {
            return Ok(Caller::Anonymous);
        };
        match claims.get(SUBJECT_CLAIM) {
            Some(sub) if !sub.is_empty() => Ok(Caller::Subject(sub.clone())),
            _ => Err(CallerError::NoSubject),
        }
    }

    /// The subject, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Subject(sub) => Some(sub),
        }
    }

    /// The log name of the caller's kind (the subject itself is never logged).
    pub fn kind(&self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::Subject(_) => "subject",
        }
    }
}

#[cfg(feature = "http")]
impl CallerError {
    /// The `401` problem for this error.
    pub fn problem(&self) -> Problem {
        let slug = match self {
            CallerError::NoSubject => "token-without-subject",
        };
        Problem::new(StatusCode::UNAUTHORIZED, slug, "The token has no `sub` claim")
            .with_detail("Send a token that names its subject in `sub`: the caller is who the token says it is")
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A payload 2.0 event with this `requestContext.authorizer` (None: no authorizer).
    fn event(authorizer: Option<Value>) -> Request {
        let mut json = json!({
            "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "a.example",
                "http": {
                    "method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"
                },
                "requestId": "r", "routeKey": "POST /orders", "stage": "$default",
                "time": "10/Mar/2024:16:40:04 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        if let Some(authorizer) = authorizer {
            json["requestContext"]["authorizer"] = authorizer;
        }
        lambda_http::request::from_str(&json.to_string()).unwrap()
    }

    fn claims(claims: Value) -> Request {
        event(Some(json!({"jwt": {"claims": claims, "scopes": null}})))
    }

    #[test]
    fn no_authorizer_is_anonymous() {
        assert_eq!(Caller::from_request(&event(None)), Ok(Caller::Anonymous));
        // An authorizer of another kind (Lambda, IAM) names no JWT subject.
        let lambda = event(Some(json!({"lambda": {"sub": "alice"}})));
        assert_eq!(Caller::from_request(&lambda), Ok(Caller::Anonymous));
        // Not an API Gateway event at all (the library used directly).
        let plain = lambda_http::http::Request::builder()
            .uri("/orders")
            .body(lambda_http::Body::Empty)
            .unwrap();
        assert_eq!(Caller::from_request(&plain), Ok(Caller::Anonymous));
    }

    #[test]
    fn a_jwt_without_claims_is_anonymous() {
        assert_eq!(Caller::from_request(&claims(json!({}))), Ok(Caller::Anonymous));
        assert_eq!(Caller::from_request(&claims(Value::Null)), Ok(Caller::Anonymous));
        assert_eq!(
            Caller::from_request(&event(Some(json!({"jwt": {}})))),
            Ok(Caller::Anonymous)
        );
    }

    #[test]
    fn the_sub_claim_is_the_caller() {
        let alice = claims(json!({
            "sub": "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc", "iss": "https://issuer.example",
            "scope": "orders/write", "exp": "1710092404", "cognito:groups": "[admins users]"
        }));
        let caller = Caller::from_request(&alice).unwrap();
        assert_eq!(caller, Caller::Subject("0f1e2d3c-aaaa-4bbb-8ccc-123456789abc".into()));
        assert_eq!(caller.subject(), Some("0f1e2d3c-aaaa-4bbb-8ccc-123456789abc"));
        assert_eq!(caller.kind(), "subject");
        assert_eq!(Caller::Anonymous.subject(), None);
        assert_eq!(Caller::Anonymous.kind(), "anonymous");
    }

    #[test]
    fn claims_without_a_usable_sub_are_refused() {
        for bad in [
            json!({"iss": "https://issuer.example", "exp": "1710092404"}),
            json!({"sub": "", "iss": "https://issuer.example"}),
            json!({"Sub": "alice"}),
        ] {
            assert_eq!(
                Caller::from_request(&claims(bad.clone())),
                Err(CallerError::NoSubject),
                "{bad}"
            );
        }
        let problem = CallerError::NoSubject.problem();
        assert_eq!(problem.status, 401);
        assert!(problem.title.contains("`sub`"));
    }
}
