//! Validation of the function's network (`function.vpc`): subnets and security groups within
//! Lambda's limits, well-formed, each once.

use super::VpcSettings;
use super::raw::{RawVpc, VPC_SECURITY_GROUPS_MAX, VPC_SUBNETS_MAX};
use super::validate::Validator;

impl Validator {
    /// `function.vpc`: both lists, within Lambda's limits, of well-formed ids, no repeats.
    pub(super) fn vpc(&mut self, vpc: Option<RawVpc>) -> Option<VpcSettings> {
        let vpc = vpc?;
        let subnet_ids = self.ids("function.vpc.subnet_ids", vpc.subnet_ids, "subnet-", VPC_SUBNETS_MAX);
        let security_group_ids = self.ids(
            "function.vpc.security_group_ids",
            vpc.security_group_ids,
            "sg-",
            VPC_SECURITY_GROUPS_MAX,
        );
        Some(VpcSettings {
            subnet_ids,
            security_group_ids,
        })
    }

    fn ids(&mut self, path: &str, ids: Option<Vec<String>>, prefix: &str, max: usize) -> Vec<String> {
        let ids = ids.unwrap_or_default();
        if ids.is_empty() || ids.len() > max {
            self.problem(path, format!("list 1..{max} ids such as {prefix}0123456789abcdef0"));
        }
        for (n, id) in ids.iter().enumerate() {
            let hex = id.strip_prefix(prefix).unwrap_or("");
            let well_formed = (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
            if !well_formed {
                self.problem(
                    &format!("{path}[{n}]"),
                    format!("{id:?} is not an id like {prefix}0123456789abcdef0"),
                );
            } else if ids[..n].contains(id) {
                self.problem(&format!("{path}[{n}]"), format!("{id:?} is listed twice"));
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use crate::test_problems as problems;

    #[test]
    fn bad_vpc_settings_are_named() {
        let p = problems("function: { vpc: { subnet_ids: [] } }\n");
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(paths, ["function.vpc.subnet_ids", "function.vpc.security_group_ids"]);
        let p = problems(
            "function: { vpc: { subnet_ids: [vpc-12345678, subnet-12345678, subnet-12345678], \
            security_group_ids: [sg-zz] } }\n",
        );
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "function.vpc.subnet_ids[0]",
                "function.vpc.subnet_ids[2]",
                "function.vpc.security_group_ids[0]"
            ]
        );
        assert!(p[1].1.contains("listed twice"), "{p:?}");
        let many: Vec<String> = (0..6).map(|n| format!("sg-1234567{n}")).collect();
        let p = problems(&format!(
            "function: {{ vpc: {{ subnet_ids: [subnet-12345678], security_group_ids: [{}] }} }}\n",
            many.join(", ")
        ));
        assert_eq!(p[0].0, "function.vpc.security_group_ids");
    }
}
