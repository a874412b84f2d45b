//! The ACM certificate of `api.domain`: never requested, imported or deleted by the deployer, only
//! looked up. The config's `certificate_arn` is checked (issued, in the stack's region, covering
//! the name); without one, the issued certificates of the region are searched for one covering the
//! name (an exact name before a wildcard), and `plan`/`up` say which was chosen.

use aws_sdk_acm::types::CertificateStatus;
use serde::Serialize;

use crate::context::Context;
use crate::error::{DeployError, Result, aws, is_not_found};
use crate::stack::Stack;

/// The certificate `up` would give the domain name, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// The ARN to use, when there is one that will do.
    pub arn: Option<String>,
    /// Whether the deployer found it (no `certificate_arn` in the config).
    pub found: bool,
    /// Why no certificate will do, and what to do about it.
    pub problem: Option<String>,
}

/// Whether a certificate for `cert_name` (a name or `*.` wildcard) serves `name`.
pub fn covers(cert_name: &str, name: &str) -> bool {
    let (cert_name, name) = (cert_name.to_ascii_lowercase(), name.to_ascii_lowercase());
    match cert_name.strip_prefix("*.") {
        Some(parent) => name.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => cert_name == name,
    }
}

/// Looks the certificate up (`None` without `api.domain`).
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Option<Certificate>> {
    let (Some(domain), Some(name)) = (stack.config.api.domain.as_ref(), stack.config.domain_name()) else {
        return Ok(None);
    };
    let certificate = match &domain.certificate_arn {
        Some(arn) => given(ctx, stack, arn, &name).await?,
        None => search(ctx, stack, &name).await?,
    };
    if let Some(arn) = certificate.arn.as_ref().filter(|_| certificate.found) {
        ctx.progress.info(format!(
            "{name}: using certificate {arn}, issued in {} and covering it",
            stack.region
        ));
    }
    Ok(Some(certificate))
}

/// The config's certificate: it exists in the stack's region, is issued and covers `name`.
async fn given(ctx: &Context, stack: &Stack, arn: &str, name: &str) -> Result<Certificate> {
    let refuse = |why: String| Certificate {
        arn: None,
        found: false,
        problem: Some(why),
    };
    if arn.split(':').nth(3) != Some(stack.region.as_str()) {
        return Ok(refuse(format!(
            "certificate {arn} is not in {}: a regional domain name needs a certificate of its own region",
            stack.region
        )));
    }
    let detail = match ctx.acm.describe_certificate().certificate_arn(arn).send().await {
        Ok(out) => out.certificate,
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(aws("DescribeCertificate", format!("certificate {arn}"), e)),
    };
    let Some(detail) = detail else {
        return Ok(refuse(format!("certificate {arn} does not exist in {}", stack.region)));
    };
    let status = detail.status().map_or("unknown", CertificateStatus::as_str);
    if detail.status() != Some(&CertificateStatus::Issued) {
        return Ok(refuse(format!(
            "certificate {arn} is {status}, not ISSUED: finish its validation first"
        )));
    }
    if !names_of(&detail).iter().any(|n| covers(n, name)) {
        return Ok(refuse(format!(
            "certificate {arn} does not cover {name} (it covers {})",
            names_of(&detail).join(", ")
        )));
    }
    Ok(Certificate {
        arn: Some(arn.to_string()),
        found: false,
        problem: None,
    })
}

/// Every name a certificate serves: its domain name and its alternative names.
fn names_of(detail: &aws_sdk_acm::types::CertificateDetail) -> Vec<String> {
    let mut names: Vec<String> = detail.domain_name().into_iter().map(str::to_string).collect();
    for n in detail.subject_alternative_names() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// An issued certificate of the region covering `name`: one for the exact name before a
/// wildcard, and among equals the first ACM lists.
async fn search(ctx: &Context, stack: &Stack, name: &str) -> Result<Certificate> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = ctx
            .acm
            .list_certificates()
            .certificate_statuses(CertificateStatus::Issued)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ListCertificates", format!("the certificates of {}", stack.region), e))?;
        // Only a certificate whose listed names may cover `name` is described: the list names
        // its domain and up to 100 alternative names, and says when there are more.
        arns.extend(
            out.certificate_summary_list()
                .iter()
                .filter(|c| {
                    c.has_additional_subject_alternative_names() == Some(true)
                        || c.domain_name()
                            .into_iter()
                            .chain(c.subject_alternative_name_summaries().iter().map(String::as_str))
                            .any(|n| covers(n, name))
                })
                .filter_map(|c| c.certificate_arn().map(str::to_string)),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    // Each candidate is described: its full list of names, and its status now.
    let mut best: Option<(bool, String)> = None;
    for arn in arns {
        let out = ctx
            .acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .map_err(|e| aws("DescribeCertificate", format!("certificate {arn}"), e))?;
        let Some(detail) = out.certificate() else { continue };
        let names = names_of(detail);
        let exact = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        let usable = detail.status() == Some(&CertificateStatus::Issued) && names.iter().any(|n| covers(n, name));
        if usable && best.as_ref().is_none_or(|(was_exact, _)| exact && !was_exact) {
            best = Some((exact, arn));
        }
    }
    Ok(match best {
        Some((_, arn)) => Certificate {
            arn: Some(arn),
            found: true,
            problem: None,
        },
        None => Certificate {
            arn: None,
            found: false,
            problem: Some(format!(
                "no issued ACM certificate in {region} covers {name}: request one with `aws acm request-certificate \
                 --region {region} --domain-name {name} --validation-method DNS`, validate it, then run this \
                 again (or name one in api.domain.certificate_arn)",
                region = stack.region
            )),
        },
    })
}

/// The certificate will do; else what is wrong, before anything is changed.
pub fn check(certificate: Option<&Certificate>) -> Result<()> {
    match certificate.and_then(|c| c.problem.as_ref()) {
        Some(problem) => Err(DeployError::Other(format!(
            "api.domain cannot be served; nothing was changed: {problem}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wildcard_covers_one_label_only() {
        assert!(covers("api.example.com", "API.example.com"));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.api.example.com"));
        assert!(!covers("api.example.com", "www.example.com"));
    }
}
