//! RFC 9457 problem details (`application/problem+json`): every error response of the API.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem: a stable `type` URI, a `title` that says what to fix, and optional detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:oncely:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short sentence that tells the client what to fix.
    pub title: String,
    /// The HTTP status code, repeated in the body as RFC 9457 recommends.
    pub status: u16,
    /// More detail about this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Seconds after which a retry makes sense (sent as `Retry-After`, not in the body).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Allowed methods (sent as `Allow` with a 405).
    #[serde(skip)]
    pub allow: Option<String>,
}

impl Problem {
    /// A problem with the given status, type slug and title.
    pub fn new(status: StatusCode, slug: &str, title: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:oncely:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            retry_after: None,
            allow: None,
        }
    }

    /// Adds a detail sentence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds an `Allow` header (for 405).
    pub fn with_allow(mut self, allow: impl Into<String>) -> Self {
        self.allow = Some(allow.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `application/problem+json` response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_vec(&self).expect("a problem always serializes");
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        response
    }
}

impl From<Problem> for Response<Body> {
    fn from(problem: Problem) -> Self {
        problem.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc9457_with_headers() {
        let response = Problem::new(
            StatusCode::CONFLICT,
            "request-in-progress",
            "Wait and retry with the same key",
        )
        .with_detail("still running")
        .with_retry_after(3)
        .into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:oncely:problem:request-in-progress",
                "title": "Wait and retry with the same key",
                "status": 409,
                "detail": "still running"
            })
        );
    }

    #[test]
    fn omits_absent_detail_and_sets_allow() {
        let response = Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Use GET")
            .with_allow("GET")
            .into_response();
        assert_eq!(response.headers()[header::ALLOW], "GET");
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert!(body.get("detail").is_none());
        assert_eq!(body["status"], 405);
    }
}
