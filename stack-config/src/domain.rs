//! Validation of `api.domain`: the API's own domain name (a DNS name, `{stage}` allowed so that
//! every stage gets its own), the ACM certificate's ARN and the Route 53 hosted zone's id.

use super::DomainSettings;
use super::raw::{RawDomain, STAGE_MAX};
use super::validate::Validator;

/// What `{stage}` in `api.domain.name` stands for.
pub const STAGE_PLACEHOLDER: &str = "{stage}";

impl Validator {
    /// `api.domain`: a name that is a DNS name for any stage, a regional ACM certificate's ARN and
    /// a hosted zone's id, each well formed.
    pub(super) fn domain(&mut self, d: RawDomain) -> DomainSettings {
        let name = d.name.unwrap_or_default().to_ascii_lowercase();
        // The longest stage a `--stage` may name, so that every stage's name fits.
        let longest = name.replace(STAGE_PLACEHOLDER, &"s".repeat(STAGE_MAX));
        if let Some(why) = dns_name_problem(&longest) {
            self.problem(
                "api.domain.name",
                format!("{name:?} is not a domain name for every stage: {why}"),
            );
        }
        if let Some(arn) = &d.certificate_arn
            && !is_certificate_arn(arn)
        {
            self.problem(
                "api.domain.certificate_arn",
                format!("{arn:?} is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"),
            );
        }
        if let Some(zone) = &d.hosted_zone_id
            && !is_hosted_zone_id(zone)
        {
            self.problem(
                "api.domain.hosted_zone_id",
                format!("{zone:?} is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ"),
            );
        }
        DomainSettings {
            name,
            certificate_arn: d.certificate_arn,
            hosted_zone_id: d.hosted_zone_id,
        }
    }
}

/// Why `name` is not a fully qualified DNS name of at least two labels (no wildcard, no trailing
/// dot): `None` when it is one.
fn dns_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty (use a name such as api.example.com)".into());
    }
    if name.len() > 253 {
        return Some(format!("it is {} characters long, more than 253", name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("it needs at least two labels, such as api.example.com".into());
    }
    for label in labels {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Some(format!(
                "{label:?} is not a label of 1..63 characters of a-z, 0-9 and - (not at either end)"
            ));
        }
    }
    None
}

/// `arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`.
fn is_certificate_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "acm", region, account, resource]
        if partition.starts_with("aws")
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("certificate/").is_some_and(|id| !id.is_empty()))
}

/// Up to 32 of A-Z and 0-9 (Route 53's ids, such as Z0123456789ABCDEFGHIJ).
fn is_hosted_zone_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::test_problems as problems;

    #[test]
    fn a_domain_is_parsed_and_its_stage_filled_in() {
        let c = Config::parse(
            "app: shop\nstage: prod\napi:\n  domain:\n    name: \"{stage}.API.example.com\"\n    \
             certificate_arn: arn:aws:acm:eu-west-1:111122223333:certificate/abc\n    \
             hosted_zone_id: Z0123456789ABC\n",
        )
        .unwrap();
        let d = c.api.domain.as_ref().unwrap();
        assert_eq!(d.name_for("prod"), "prod.api.example.com");
        assert_eq!(c.domain_name().as_deref(), Some("prod.api.example.com"));
        assert_eq!(
            c.with_stage("pr-7").unwrap().domain_name().as_deref(),
            Some("pr-7.api.example.com")
        );
        let plain = Config::parse("app: shop\nstage: prod\napi: { domain: { name: api.example.com } }\n").unwrap();
        assert_eq!(plain.domain_name().as_deref(), Some("api.example.com"));
        assert_eq!(plain.api.domain.as_ref().unwrap().certificate_arn, None);
        assert_eq!(Config::parse("app: a\nstage: b\n").unwrap().domain_name(), None);
    }

    #[test]
    fn bad_domains_are_named() {
        for (name, why) in [
            ("example", "at least two labels"),
            ("*.example.com", "\"*\""),
            ("api..example.com", "\"\""),
            ("-api.example.com", "\"-api\""),
            ("api.example.com.", "\"\""),
        ] {
            let p = problems(&format!("api: {{ domain: {{ name: \"{name}\" }} }}\n"));
            assert_eq!(p.len(), 1, "{name}: {p:?}");
            assert_eq!(p[0].0, "api.domain.name");
            assert!(p[0].1.contains(why), "{name}: {p:?}");
        }
        // A stage as long as `--stage` allows must still fit in one label.
        let long = format!("{{stage}}{}.example.com", "x".repeat(50));
        let p = problems(&format!("api: {{ domain: {{ name: \"{long}\" }} }}\n"));
        assert_eq!(p[0].0, "api.domain.name");
        let p = problems("api: { domain: {} }\n");
        assert!(p[0].1.contains("empty"), "{p:?}");
        let p = problems(
            "api: { domain: { name: api.example.com, certificate_arn: arn:aws:iam::111122223333:role/x, \
             hosted_zone_id: z123 } }\n",
        );
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["api.domain.certificate_arn", "api.domain.hosted_zone_id"]);
    }
}
