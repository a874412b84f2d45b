//! The deployer's typed errors, and the one place that turns AWS SDK errors into sentences that
//! name the operation, the resource and the fix (classified by error code, never by message).

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),

    #[error("{operation} on {resource} failed: {detail}")]
    Aws {
        operation: &'static str,
        resource: String,
        code: Option<String>,
        detail: String,
    },

    #[error(
        "no AWS credentials were found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), \
        run `aws sso login` for an SSO profile, or try the stack without an account with `cargo run -- up --local`"
    )]
    NoCredentials(#[source] Box<dyn std::error::Error + Send + Sync>),

    #[error("no AWS region is set: add `region:` to the config, set AWS_REGION, or give the profile a region")]
    NoRegion,

    #[error(
        "{kind} {name} exists but is not managed by oncely (it lacks the tags managed-by=oncely, oncely:app={app}, \
        oncely:stage={stage}); refusing to adopt it. Delete or rename it, or choose another app/stage in the config"
    )]
    Foreign {
        kind: crate::report::ResourceKind,
        name: String,
        app: String,
        stage: String,
    },

    #[error("{0}")]
    Conflict(String),

    #[error(transparent)]
    Package(#[from] crate::package::PackageError),

    #[error(
        "timed out after {waited_s}s waiting for {what}; it may still finish: \
        re-run the command to pick up where it stopped"
    )]
    Timeout { what: String, waited_s: u64 },

    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, DeployError>;

impl DeployError {
    /// The AWS error code, when this is a service error.
    pub fn code(&self) -> Option<&str> {
        match self {
            DeployError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// What to do about an error code that can happen on any call.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "AuthorizationError"
        | "UnauthorizedException" => {
            "the credentials in use are not allowed to do this: pick a profile with the permissions listed in \
            docs/deploying.md (\"Permissions\") via AWS_PROFILE"
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => {
            "the credentials were rejected (unknown, expired or mistyped): refresh them (`aws sso login`, new keys) \
            or pick another AWS_PROFILE"
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "LimitExceededException" => {
            "AWS is throttling this account: wait a minute and re-run; `up` continues where it stopped"
        }
        _ => return None,
    })
}

/// Whether an SDK error says that the thing asked about does not exist, by its code (each service
/// has its own: `ResourceNotFoundException` for Lambda, DynamoDB, CloudWatch Logs and Cognito,
/// `NotFoundException` for API Gateway, `NoSuchEntity` for IAM, `ResourceNotFound` for
/// CloudWatch alarms).
pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| {
            matches!(
                code,
                "ResourceNotFoundException" | "NotFoundException" | "NoSuchEntity" | "ResourceNotFound"
            )
        })
}

/// Turns an SDK error into a [`DeployError::Aws`] naming the operation and the resource.
pub fn aws<E, R>(operation: &'static str, resource: impl Into<String>, err: SdkError<E, R>) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    let resource = resource.into();
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_string);
            let mut detail = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                // A modeled error without metadata still names its type in its Display.
                (None, _) => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
            };
            if let Some(h) = code.as_deref().and_then(hint) {
                detail.push_str("; ");
                detail.push_str(h);
            }
            DeployError::Aws {
                operation,
                resource,
                code,
                detail,
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => DeployError::Aws {
            operation,
            resource,
            code: None,
            detail: format!(
                "could not reach the AWS endpoint ({}): check AWS_REGION (is it a real region?), \
                AWS_ENDPOINT_URL and the network, or run the stack locally with `cargo run -- up --local`",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        },
        _ => DeployError::Aws {
            operation,
            resource,
            code: None,
            detail: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        },
    }
}
