//! What Lambda puts in a function's environment for its AWS clients, read in one place for the
//! DynamoDB client (`sdk`) and the secrets reader (`secrets`): the region, the credentials, and
//! an endpoint override per service (an emulator's). An empty variable counts as unset.

use aws_credential_types::Credentials;

/// A variable of the process environment, unset when empty.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub(crate) fn region(lookup: &impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup("AWS_REGION").or_else(|| lookup("AWS_DEFAULT_REGION"))
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`), when both are set.
pub(crate) fn credentials(lookup: &impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let (id, secret) = (lookup("AWS_ACCESS_KEY_ID")?, lookup("AWS_SECRET_ACCESS_KEY")?);
    Some(Credentials::new(
        id,
        secret,
        lookup("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    ))
}

/// The endpoint override for one service: `AWS_ENDPOINT_URL_{SERVICE}` (e.g. `DYNAMODB`), else
/// `AWS_ENDPOINT_URL`.
pub(crate) fn endpoint(lookup: &impl Fn(&str) -> Option<String>, service: &str) -> Option<String> {
    lookup(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| lookup("AWS_ENDPOINT_URL"))
}
