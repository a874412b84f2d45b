//! Reads the function's secrets during init: each reference of [`SECRETS_VAR`] (see
//! [`secret_ref`](crate::secret_ref)) fetched from SSM Parameter Store (`GetParameter` with
//! decryption) or Secrets Manager (`GetSecretValue`) with one SigV4-signed HTTPS call, all within
//! one time bound. It sends through the very connector and signer the DynamoDB client is built
//! on (the smithy HTTPS connector, rustls on ring; `aws-sigv4`), so a function gains a few
//! kilobytes, not an SDK client per service.
//!
//! Region, credentials and endpoints come from Lambda's environment as in [`sdk`](crate::sdk):
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, and
//! `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or `AWS_ENDPOINT_URL`) for an
//! emulator. Errors name the reference and the service's error code, never a value.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::HttpConnector as _;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use http_body_util::{BodyExt, Limited};
use std::sync::{Arc, OnceLock};

use crate::lambda_env;
use crate::secret_ref::{SECRETS_VAR, SecretRef, SecretRefError, SecretSource, parse_list};

/// The most bytes one reply may have: a Secrets Manager value is at most 64 KiB, a parameter 8 KiB.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// The variable bounding the whole read during init, in milliseconds.
pub const TIMEOUT_VAR: &str = "ONCELY_SECRETS_TIMEOUT_MS";
/// The default of [`TIMEOUT_VAR`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// A secret's value: shown by `Debug` as redacted, read with [`SecretValue::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(redacted)")
    }
}

/// The function's secrets by variable name.
#[derive(Debug, Clone, Default)]
pub struct Secrets(BTreeMap<String, SecretValue>);

impl Secrets {
    /// The value read for the variable `var`.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(SecretValue::expose)
    }
    /// How many were read.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// [`SECRETS_VAR`] does not parse.
    #[error("{SECRETS_VAR} is invalid: {0}")]
    List(#[from] SecretRefError),
    /// The environment has no region or no credentials.
    #[error("reading {reference} needs {missing} in the environment (Lambda sets it)")]
    Environment {
        /// The secret.
        reference: SecretRef,
        /// What is missing.
        missing: &'static str,
    },
    /// The parameter or secret does not exist.
    #[error("{reference} does not exist ({code})")]
    NotFound {
        /// The secret.
        reference: SecretRef,
        /// The service's error code.
        code: String,
    },
    /// The service refused or failed (by its error code).
    #[error("reading {reference} failed: {code} (HTTP {status})")]
    Service {
        /// The secret.
        reference: SecretRef,
        /// The service's error code (`AccessDeniedException`, ...).
        code: String,
        /// The HTTP status.
        status: u16,
    },
    /// The call did not complete.
    #[error("reading {reference} failed: {detail}")]
    Transport {
        /// The secret.
        reference: SecretRef,
        /// What went wrong (never the value).
        detail: String,
    },
    /// The reply is not what the service sends.
    #[error("reading {reference}: the reply {detail}")]
    Reply {
        /// The secret.
        reference: SecretRef,
        /// What is wrong with it.
        detail: String,
    },
    /// The bound passed before every secret was read.
    #[error("reading the secrets took longer than {} ms ({TIMEOUT_VAR})", within.as_millis())]
    Timeout {
        /// The bound.
        within: Duration,
    },
}

/// Reads secrets with signed calls (see the module docs).
#[derive(Clone)]
pub struct SecretsClient {
    /// Built on the first read (loading the platform's certificates costs start time that a
    /// function without secrets should not pay).
    http: Arc<OnceLock<Connector>>,
    region: Option<String>,
    credentials: Option<Credentials>,
    ssm_endpoint: Option<String>,
    secretsmanager_endpoint: Option<String>,
}

impl fmt::Debug for SecretsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsClient")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SecretsClient {
    /// A client configured from the environment (see the module docs).
    pub fn from_env() -> Self {
        Self::from_lookup(lambda_env::var)
    }

    /// A client configured through `lookup` (the environment, or a stand-in for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        SecretsClient {
            http: Arc::default(),
            region: lambda_env::region(&lookup),
            credentials: lambda_env::credentials(&lookup),
            ssm_endpoint: lambda_env::endpoint(&lookup, "SSM"),
            secretsmanager_endpoint: lambda_env::endpoint(&lookup, "SECRETS_MANAGER"),
        }
    }

    /// Reads every secret [`SECRETS_VAR`] names through `lookup` (unset: none, and no call), within
    /// the bound [`TIMEOUT_VAR`] gives (default [`DEFAULT_TIMEOUT`]).
    pub async fn read_listed(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Secrets, SecretError> {
        let list = parse_list(&lookup(SECRETS_VAR).unwrap_or_default())?;
        let within = lookup(TIMEOUT_VAR)
            .and_then(|ms| ms.parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        self.read_all(&list, within).await
    }

    /// Reads each `(variable, reference)` of `list`, all within `within`.
    pub async fn read_all(&self, list: &[(String, SecretRef)], within: Duration) -> Result<Secrets, SecretError> {
        let reads = async {
            let mut out = BTreeMap::new();
            for (name, reference) in list {
                out.insert(name.clone(), self.read(reference).await?);
            }
            Ok(Secrets(out))
        };
        tokio::time::timeout(within, reads)
            .await
            .map_err(|_| SecretError::Timeout { within })?
    }

    fn connector(&self) -> &Connector {
        self.http.get_or_init(|| {
            Connector::builder()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build()
        })
    }

    /// Reads one secret.
    pub async fn read(&self, reference: &SecretRef) -> Result<SecretValue, SecretError> {
        let missing = |missing| SecretError::Environment {
            reference: reference.clone(),
            missing,
        };
        let region = self.region.as_deref().ok_or_else(|| missing("AWS_REGION"))?;
        let credentials = self.credentials.clone().ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let (service, endpoint, target, body, field) = match reference.source {
            SecretSource::Ssm => (
                "ssm",
                &self.ssm_endpoint,
                "AmazonSSM.GetParameter",
                serde_json::json!({ "Name": reference.name, "WithDecryption": true }),
                "/Parameter/Value",
            ),
            SecretSource::SecretsManager => (
                "secretsmanager",
                &self.secretsmanager_endpoint,
                "secretsmanager.GetSecretValue",
                serde_json::json!({ "SecretId": reference.name }),
                "/SecretString",
            ),
        };
        let uri = match endpoint {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("https://{service}.{region}.amazonaws.com/"),
        };
        let transport = |detail: String| SecretError::Transport {
            reference: reference.clone(),
            detail,
        };
        let request = signed(&uri, target, body.to_string(), service, region, credentials).map_err(transport)?;
        let response = self
            .connector()
            .call(request)
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| transport(format!("the reply was not read: {e}")))?
            .to_bytes();
        let reply: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| SecretError::Reply {
            reference: reference.clone(),
            detail: format!("is not JSON (HTTP {status}, {} bytes)", bytes.len()),
        })?;
        if status != 200 {
            // `__type` is the error code, sometimes after a namespace and `#`.
            let code = reply["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(if code == "ParameterNotFound" || code == "ResourceNotFoundException" {
                SecretError::NotFound {
                    reference: reference.clone(),
                    code,
                }
            } else {
                SecretError::Service {
                    reference: reference.clone(),
                    code,
                    status,
                }
            });
        }
        match reply.pointer(field).and_then(serde_json::Value::as_str) {
            Some(value) => Ok(SecretValue(value.to_string())),
            None => Err(SecretError::Reply {
                reference: reference.clone(),
                detail: format!("has no {} (a binary secret is not supported)", &field[1..]),
            }),
        }
    }
}

/// A POST of an awsJson 1.1 `target` with `body`, signed with SigV4 for `service` in `region`.
fn signed(
    uri: &str,
    target: &str,
    body: String,
    service: &str,
    region: &str,
    credentials: Credentials,
) -> Result<HttpRequest, String> {
    let host = uri
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        .ok_or_else(|| format!("{uri:?} is not an endpoint URL"))?
        .to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        "POST",
        uri,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    let mut request = http::Request::post(uri);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut request = request.body(SdkBody::from(body)).map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    HttpRequest::try_from(request).map_err(|e| e.to_string())
}
