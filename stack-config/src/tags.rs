//! Validation of the user's `tags:`: the rules every service the stack tags shares (DynamoDB,
//! Lambda, IAM, CloudWatch, API Gateway, Cognito, SQS), with Oncely's own keys reserved.

use std::collections::BTreeMap;

use super::raw::{TAG_KEY_MAX, TAG_VALUE_MAX, TAGS_MAX, TagValue};
use super::validate::Validator;

/// The keys Oncely sets on every resource (it finds its resources by them): a user tag may not
/// name them, nor anything under `oncely:`.
const RESERVED_KEYS: &[&str] = &["managed-by"];
const RESERVED_PREFIXES: &[&str] = &["oncely:", "aws:"];

/// Whether every character is one AWS accepts in a tag: letters, digits, spaces and `_ . : / = + - @`.
fn tag_chars(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

impl Validator {
    /// `tags:`: at most [`TAGS_MAX`], each key 1..128 and value 0..256 allowed characters, no key
    /// reserved, no two keys that differ only in case (IAM would take them for one).
    pub(super) fn tags(&mut self, tags: Option<BTreeMap<String, TagValue>>) -> BTreeMap<String, String> {
        let tags: BTreeMap<String, String> = tags
            .unwrap_or_default()
            .into_iter()
            .map(|(key, TagValue(value))| {
                let text = match value {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    _ => {
                        self.problem(
                            &format!("tags.{key}"),
                            "a tag's value is text, a number or true/false, not a list, mapping or null",
                        );
                        String::new()
                    }
                };
                (key, text)
            })
            .collect();
        if tags.len() > TAGS_MAX {
            self.problem(
                "tags",
                format!(
                    "{} tags are too many: use at most {TAGS_MAX} (AWS allows 50 per resource and \
                     Oncely's own take 3)",
                    tags.len()
                ),
            );
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (key, value) in &tags {
            let path = format!("tags.{key}");
            let lower = key.to_lowercase();
            let length = key.chars().count();
            if RESERVED_KEYS.contains(&lower.as_str()) || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
                self.problem(
                    &path,
                    format!(
                        "{key:?} is reserved: `managed-by` and keys under `oncely:` are Oncely's own, \
                         `aws:` is AWS's; choose another key"
                    ),
                );
            } else if !(1..=TAG_KEY_MAX).contains(&length) || !tag_chars(key) {
                self.problem(
                    &path,
                    format!(
                        "{key:?} is not a valid tag key: use 1..{TAG_KEY_MAX} letters, digits, spaces \
                         and _ . : / = + - @"
                    ),
                );
            } else if let Some(other) = seen.insert(lower, key) {
                self.problem(
                    &path,
                    format!("{key:?} and {other:?} differ only in case: AWS (IAM) takes them for one key"),
                );
            }
            if value.chars().count() > TAG_VALUE_MAX || !tag_chars(value) {
                self.problem(
                    &path,
                    format!(
                        "{value:?} is not a valid tag value: use 0..{TAG_VALUE_MAX} letters, digits, \
                         spaces and _ . : / = + - @"
                    ),
                );
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use crate::test_problems as problems;

    #[test]
    fn tags_are_optional_and_kept_as_written() {
        let c = crate::Config::parse("app: a\nstage: b\n").unwrap();
        assert!(c.tags.is_empty());
        let c = crate::Config::parse(
            "app: a\nstage: b\ntags:\n  team: payments\n  cost-center: 4711\n  Owner: a.b@example.com\n  empty: \"\"\n  \
             billable: true\n  rate: 1.5\n",
        )
        .unwrap();
        let tags: Vec<(&str, &str)> = c.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            tags,
            [
                ("Owner", "a.b@example.com"),
                ("billable", "true"),
                ("cost-center", "4711"),
                ("empty", ""),
                ("rate", "1.5"),
                ("team", "payments")
            ]
        );
    }

    #[test]
    fn reserved_malformed_and_case_twin_tags_are_named() {
        let long = "k".repeat(129);
        let p = problems(&format!(
            "tags:\n  managed-by: me\n  oncely:app: other\n  AWS:foo: x\n  {long}: x\n  bad,key: x\n  \
             team: \"a;b\"\n  Team: y\n"
        ));
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "tags.AWS:foo",
                "tags.bad,key",
                format!("tags.{long}").as_str(),
                "tags.managed-by",
                "tags.oncely:app",
                "tags.team",
                "tags.team",
            ]
        );
        assert!(p[0].1.contains("reserved"), "{p:?}");
        assert!(p[1].1.contains("not a valid tag key"), "{p:?}");
        assert!(p[5].1.contains("differ only in case"), "{p:?}");
        assert!(p[6].1.contains("not a valid tag value"), "{p:?}");
    }

    #[test]
    fn a_tag_value_that_is_not_a_scalar_is_refused_with_its_position() {
        let p = crate::Config::parse("app: a\nstage: b\ntags:\n  team: x\n  owners: [a, b]\n  none: ~\n").unwrap_err();
        let found: Vec<(&str, Option<usize>)> = p.iter().map(|p| (p.path.as_str(), p.line)).collect();
        assert_eq!(found, [("tags.none", Some(6)), ("tags.owners", Some(5))], "{p:?}");
        assert!(p[0].message.contains("text, a number or true/false"), "{p:?}");
    }

    #[test]
    fn at_most_forty_tags() {
        let many: String = (0..41).map(|n| format!("  t{n}: v\n")).collect();
        let p = problems(&format!("tags:\n{many}"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "tags");
        assert!(p[0].1.contains("at most 40"), "{p:?}");
    }
}
