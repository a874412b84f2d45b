//! Parts of the function's configuration with their own rules: the VPC config (sent, read back
//! and shown) and the environment.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::types::{FunctionConfiguration, VpcConfig};

use crate::config::VpcSettings;
use crate::report::{AttrDiff, diff_attr};
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

/// The function's X-Ray tracing mode as Lambda names it (`PassThrough` when it reports none).
pub fn live_tracing(c: &FunctionConfiguration) -> &str {
    c.tracing_config()
        .and_then(|t| t.mode())
        .map_or("PassThrough", aws_sdk_lambda::types::TracingMode::as_str)
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

/// The `environment.NAME` attributes of a new function (no value is secret: secrets are read by
/// the function, and only their references are in its environment).
pub fn env_attrs(env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (format!("environment.{k}"), v.clone()))
        .collect()
}

/// Differences between the live and wanted variables.
pub fn env_diffs(live: &BTreeMap<String, String>, want: &BTreeMap<String, String>, d: &mut Vec<AttrDiff>) {
    let keys: BTreeSet<&String> = live.keys().chain(want.keys()).collect();
    for k in keys {
        diff_attr(d, &format!("environment.{k}"), live.get(k), want.get(k));
    }
}
