//! Parts of the function's configuration with their own rules: the VPC config (sent, read back
//! and shown) and the environment, whose secret variable a plan shows only as a fingerprint.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::types::{FunctionConfiguration, VpcConfig};

use crate::config::VpcSettings;
use crate::report::{AttrDiff, diff_attr};
use crate::secret::fingerprint;
use crate::stack::Stack;

/// What UpdateFunctionConfiguration sends: the config's subnets and groups, or empty lists, which
/// take the function out of a VPC.
pub fn vpc_config(stack: &Stack) -> VpcConfig {
    let vpc = stack.config.function.vpc.as_ref();
    VpcConfig::builder()
        .set_subnet_ids(Some(vpc.map(|v| v.subnet_ids.clone()).unwrap_or_default()))
        .set_security_group_ids(Some(vpc.map(|v| v.security_group_ids.clone()).unwrap_or_default()))
        .build()
}

/// The live function's VPC settings (`None` outside a VPC); lists sorted, as their order means nothing.
pub fn live_vpc(c: &FunctionConfiguration) -> Option<VpcSettings> {
    let v = c.vpc_config()?;
    let mut subnet_ids = v.subnet_ids().to_vec();
    let mut security_group_ids = v.security_group_ids().to_vec();
    if subnet_ids.is_empty() && security_group_ids.is_empty() {
        return None;
    }
    subnet_ids.sort();
    security_group_ids.sort();
    Some(VpcSettings {
        subnet_ids,
        security_group_ids,
    })
}

/// How a plan shows a VPC setting.
pub fn show_vpc(vpc: Option<&VpcSettings>) -> String {
    match vpc {
        None => "(none)".into(),
        Some(v) => format!(
            "subnets {}; security groups {}",
            v.subnet_ids.join(", "),
            v.security_group_ids.join(", ")
        ),
    }
}

/// The config's VPC settings in the order [`live_vpc`] reads them back.
pub fn wanted_vpc(stack: &Stack) -> Option<VpcSettings> {
    stack.config.function.vpc.clone().map(|mut v| {
        v.subnet_ids.sort();
        v.security_group_ids.sort();
        v
    })
}

/// A variable's value as a plan shows it.
pub fn shown_env(stack: &Stack, name: &str, value: &str) -> String {
    if stack.secret_env() == Some(name) {
        fingerprint(value)
    } else {
        value.to_string()
    }
}

/// The `environment.NAME` attributes of a new function.
pub fn env_attrs(stack: &Stack, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (format!("environment.{k}"), shown_env(stack, k, v)))
        .collect()
}

/// Differences between the live and wanted variables. The secret is compared only when this run
/// has it (`plan` without it cannot tell; `up` refuses to run without it).
pub fn env_diffs(
    stack: &Stack,
    live: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    d: &mut Vec<AttrDiff>,
) {
    let keys: BTreeSet<&String> = live.keys().chain(want.keys()).collect();
    for k in keys {
        if stack.secret_env() == Some(k.as_str()) && stack.redis_url.is_none() {
            continue;
        }
        let from = live.get(k).map(|v| shown_env(stack, k, v));
        let to = want.get(k).map(|v| shown_env(stack, k, v));
        diff_attr(d, &format!("environment.{k}"), from.as_ref(), to.as_ref());
    }
}
