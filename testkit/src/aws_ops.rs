//! Names of the AWS operations a proxy in front of moto sees, and whether each reads or writes:
//! shared by the deployer's interruption tests, its no-op `up` test and its timing example.

use crate::RequestView;

/// Names a request by its protocol: JSON (`X-Amz-Target`: DynamoDB, Logs), query (`Action=` in the
/// form body: IAM, STS), else REST (`METHOD /path`: Lambda, API Gateway).
pub fn classify_aws(request: &RequestView<'_>) -> String {
    if let Some(target) = request.target {
        return target.to_string();
    }
    let body = String::from_utf8_lossy(request.body);
    if let Some(action) = body.split('&').find_map(|p| p.strip_prefix("Action=")) {
        return action.to_string();
    }
    // An API's id differs from one moto to the next: named `{api}`, every run's calls read alike.
    let path = request.path.split('?').next().unwrap_or("");
    let mut segments: Vec<&str> = path.split('/').collect();
    for i in 1..segments.len() {
        if segments[i - 1] == "apis" {
            segments[i] = "{api}";
        }
    }
    format!("{} {}", request.method, segments.join("/"))
}

/// Whether an operation name reads (Describe/Get/List) rather than writes.
pub fn is_read(call: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| call.starts_with(p))
}

/// Whether an operation (as [`classify_aws`] names it) changes anything: not a Describe/Get/List,
/// and for REST not a GET.
pub fn is_mutating(operation: &str) -> bool {
    match operation.split_once(' ') {
        Some((method, _)) => method != "GET" && method != "HEAD",
        None => !is_read(operation) && operation != "Scan" && operation != "Query",
    }
}
