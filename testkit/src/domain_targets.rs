//! What moto leaves out of API Gateway's custom domain names: AWS answers CreateDomainName,
//! GetDomainName and GetDomainNames with each configuration's target, `apiGatewayDomainName`
//! (`d-<id>.execute-api.<region>.amazonaws.com`) and `hostedZoneId` (API Gateway's regional zone),
//! which Route 53 alias records point at; moto 5 echoes the configuration it was sent. A
//! [`FaultProxy`](crate::FaultProxy) in front of moto with this rewrite answers as AWS does.

use std::sync::Arc;

use serde_json::Value;

use crate::fault_proxy::Rewrite;

/// API Gateway's regional hosted zone ids (AWS's published table), for the regions tests use.
fn regional_zone(region: &str) -> &'static str {
    match region {
        "us-east-1" => "Z1UJRXOUMOOFQ8",
        "us-west-2" => "Z2OJLYMUO9EFXC",
        "eu-west-1" => "ZLY8HYME6SFDD",
        "eu-central-1" => "Z1U9ULNL0V5AJ3",
        _ => "Z20JF4UZKIW1U8",
    }
}

/// The target AWS gives the domain name `name` in `region` (stable per name: a hash of it).
pub fn api_gateway_domain_target(name: &str, region: &str) -> (String, String) {
    // FNV-1a, written out in base 36: ten characters like AWS's ids.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let id: String = (0..10)
        .map(|i| digits[((hash >> (i * 6)) % 36) as usize] as char)
        .collect();
    (
        format!("d-{id}.execute-api.{region}.amazonaws.com"),
        regional_zone(region).to_string(),
    )
}

/// A rewrite that adds the missing targets to moto's domain names (operations as
/// [`crate::classify_aws`] names them: `POST /v2/domainnames`, `GET /v2/domainnames[/{name}]`).
pub fn api_gateway_domain_targets(region: &str) -> Rewrite {
    let region = region.to_string();
    Arc::new(move |operation: &str, body: &[u8]| {
        let path = operation.split_once(' ')?.1;
        if !path.starts_with("/v2/domainnames") || path.contains("/apimappings") {
            return None;
        }
        let mut json: Value = serde_json::from_slice(body).ok()?;
        match json.get_mut("items").and_then(Value::as_array_mut) {
            Some(items) => items.iter_mut().for_each(|d| fill(d, &region)),
            None => fill(&mut json, &region),
        }
        serde_json::to_vec(&json).ok()
    })
}

fn fill(domain: &mut Value, region: &str) {
    let Some(name) = domain.get("domainName").and_then(Value::as_str).map(str::to_string) else {
        return;
    };
    let (dns_name, zone) = api_gateway_domain_target(&name, region);
    let Some(configs) = domain.get_mut("domainNameConfigurations").and_then(Value::as_array_mut) else {
        return;
    };
    for c in configs.iter_mut().filter_map(Value::as_object_mut) {
        c.entry("apiGatewayDomainName")
            .or_insert_with(|| dns_name.clone().into());
        c.entry("hostedZoneId").or_insert_with(|| zone.clone().into());
        c.entry("domainNameStatus").or_insert_with(|| "AVAILABLE".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_s_domain_names_get_the_targets_aws_gives() {
        let rewrite = api_gateway_domain_targets("eu-west-1");
        let body = br#"{"domainName":"api.example.com","domainNameConfigurations":[{"certificateArn":"c"}]}"#;
        let out: Value = serde_json::from_slice(&rewrite("POST /v2/domainnames", body).unwrap()).unwrap();
        let c = &out["domainNameConfigurations"][0];
        let (dns, zone) = api_gateway_domain_target("api.example.com", "eu-west-1");
        assert_eq!(
            (c["apiGatewayDomainName"].as_str(), c["hostedZoneId"].as_str()),
            (Some(dns.as_str()), Some(zone.as_str()))
        );
        assert!(
            dns.starts_with("d-") && dns.ends_with(".execute-api.eu-west-1.amazonaws.com"),
            "{dns}"
        );
        assert_eq!(c["certificateArn"], "c");
        let list = br#"{"items":[{"domainName":"a.example.com","domainNameConfigurations":[{}]}]}"#;
        let out: Value = serde_json::from_slice(&rewrite("GET /v2/domainnames", list).unwrap()).unwrap();
        assert!(out["items"][0]["domainNameConfigurations"][0]["apiGatewayDomainName"].is_string());
        assert!(rewrite("GET /v2/domainnames/a.example.com/apimappings", list).is_none());
        assert!(rewrite("GET /v2/apis", list).is_none());
        assert_ne!(dns, api_gateway_domain_target("b.example.com", "eu-west-1").0);
    }
}
