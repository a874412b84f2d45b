//! The HTTP answers of the idempotency layer that are not the handler's: RFC 9457 problems for a
//! bad key, an inexact JSON body, a reused key, a request in progress, a store down, a failure.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::problem::Problem;
use crate::engine::RunError;
use crate::key::KeyError;
use crate::persistence::PersistenceError;
use crate::record::MAX_RECORD_BYTES;

/// The answer to an execution that gave no result of the handler's.
pub(super) fn error_answer(err: &RunError) -> Response<Body> {
    match err {
        RunError::InProgress { retry_after_s } => in_progress(*retry_after_s),
        RunError::Store(PersistenceError::Busy) => in_progress(1),
        RunError::Mismatch => mismatch(),
        RunError::Store(PersistenceError::ClaimLost) => Problem::new(
            StatusCode::CONFLICT,
            "claim-lost",
            "This request ran past its deadline and another request took over its key: retry with the same key",
        )
        .with_retry_after(1)
        .into_response(),
        RunError::Store(PersistenceError::WriteRejected { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "write-conflict",
            "The operation conflicts with the current state of the resource: check it and retry",
        )
        .into_response(),
        RunError::Store(_) => unavailable(),
        RunError::TooLarge { .. } => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "response-too-large",
            format!(
                "The response is larger than an idempotency record holds ({} KB), so it was not stored and \
                nothing was written",
                MAX_RECORD_BYTES / 1024
            ),
        )
        .into_response(),
        RunError::Handler(_)
        | RunError::Panicked(_)
        | RunError::Payload(_)
        | RunError::NoKey(_)
        | RunError::Decode(_) => internal_error(),
    }
}

/// A bad or missing key: `400`, its title the key error's sentence.
pub(super) fn key_problem(err: &KeyError) -> Problem {
    let slug = match err {
        KeyError::Missing { .. } => "missing-idempotency-key",
        KeyError::MissingField { .. } | KeyError::NoKeyPath => "missing-idempotency-field",
        KeyError::Repeated { .. } | KeyError::Invalid { .. } => "invalid-idempotency-key",
    };
    let title = err.to_string();
    let mut title_chars = title.chars();
    let title = match title_chars.next() {
        Some(first) => first.to_uppercase().chain(title_chars).collect(),
        None => title,
    };
    Problem::new(StatusCode::BAD_REQUEST, slug, title)
}

/// A body JCS cannot canonicalise without loss: `400`, with the JSON pointer of the place.
pub(super) fn lossy_json(lossy: &crate::jcs::LossyJson) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "inexact-json",
        format!(
            "The JSON body has no exact canonical form (RFC 8785): {lossy}; send each member once, \
            numbers an IEEE 754 double holds exactly, and valid Unicode strings"
        ),
    )
    .with_detail(format!("JSON pointer: {}", lossy.pointer))
}

/// The key came back with another payload: `422`.
fn mismatch() -> Response<Body> {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "This idempotency key was used with a different payload: use a new key for a new request",
    )
    .into_response()
}

/// Another request with this key runs: `409` with `Retry-After`.
fn in_progress(retry_after_s: u64) -> Response<Body> {
    Problem::new(
        StatusCode::CONFLICT,
        "request-in-progress",
        "A request with this idempotency key is still being processed: retry later with the same key",
    )
    .with_retry_after(retry_after_s)
    .into_response()
}

/// The store did not answer in time: `503` with `Retry-After: 1`.
fn unavailable() -> Response<Body> {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store-unavailable",
        "The idempotency store is unavailable: retry later with the same key",
    )
    .with_retry_after(1)
    .into_response()
}

/// The handler failed or panicked; nothing was recorded: `500`.
fn internal_error() -> Response<Body> {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "The request failed and was not recorded: retry with the same key",
    )
    .into_response()
}
