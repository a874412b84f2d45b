//! `api.domain` on moto (ACM, API Gateway v2 domain names and mappings, Route 53): the certificate
//! found (an exact name before a wildcard, a pending one never), the domain name, its mapping and
//! its alias records converged, a no-op `up` making no write, drift put back, someone else's record
//! refused, the domain removed from the config and `down` leaving nothing of ours (the zone and the
//! certificate stay). moto names no target for a domain name, so the deployer goes through a proxy
//! that answers as AWS does ([`testkit::api_gateway_domain_targets`]).

use crate::support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use support::*;
use testkit::FaultProxy;

/// The name the test stage `test` gets from `{stage}.api.example.com`.
pub const NAME: &str = "test.api.example.com";

/// What a test sets up that the deployer never makes: the hosted zone `example.com` and an
/// issued certificate for `*.api.example.com`.
pub struct Outside {
    pub zone: String,
    pub certificate: String,
}

/// Imports a self-signed certificate for `names` into moto's ACM (issued); returns its ARN.
pub async fn import_certificate(w: &World, names: &[&str]) -> String {
    let (cert, key) = testkit::self_signed(names);
    let acm = aws_sdk_acm::Client::new(&w.sdk_config());
    let out = acm
        .import_certificate()
        .certificate(aws_smithy_types::Blob::new(cert))
        .private_key(aws_smithy_types::Blob::new(key))
        .send()
        .await
        .unwrap();
    out.certificate_arn().unwrap().to_string()
}

/// Creates the hosted zone `name`; returns its id.
pub async fn create_zone(w: &World, name: &str) -> String {
    let out = w
        .ctx()
        .route53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("{name}-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    out.hosted_zone().unwrap().id().rsplit('/').next().unwrap().to_string()
}

/// Writes the small stack's config with `api.domain` in `zone` (and the certificate unnamed).
pub fn with_domain(w: &World, zone: &str) {
    let domain = format!("  domain: {{ name: \"{{stage}}.api.example.com\", hosted_zone_id: {zone} }}\n");
    let throttle = "  throttle: { burst: 100, rate: 50 }\n";
    w.write_config(&config_yaml(&w.app, &w.env_file()).replace(throttle, &format!("{throttle}{domain}")));
}

/// Sends the deployer through a proxy that gives moto's domain names their AWS targets; the
/// returned list fills with its mutating calls.
pub async fn aws_like_proxy(w: &mut World) -> (FaultProxy, Arc<Mutex<Vec<String>>>) {
    let proxy = FaultProxy::start_with(&w.moto.endpoint(), Arc::new(testkit::classify_aws)).await;
    proxy.rewrite(testkit::api_gateway_domain_targets(REGION));
    let writes = Arc::new(Mutex::new(Vec::new()));
    let seen = writes.clone();
    proxy.observe(Arc::new(move |op: &str| {
        if testkit::is_mutating(op) {
            seen.lock().unwrap().push(op.to_string());
        }
    }));
    w.deployer_endpoint = Some(proxy.endpoint());
    (proxy, writes)
}

/// The zone's records named `name`: type -> alias target (DNS name, zone) or values.
pub async fn records(w: &World, zone: &str, name: &str) -> BTreeMap<String, String> {
    let out = w
        .ctx()
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    out.resource_record_sets()
        .iter()
        .filter(|s| s.name().trim_end_matches('.') == name)
        .map(|s| {
            let what = match s.alias_target() {
                Some(a) => format!("alias {} {}", a.dns_name().trim_end_matches('.'), a.hosted_zone_id()),
                None => s
                    .resource_records()
                    .iter()
                    .map(aws_sdk_route53::types::ResourceRecord::value)
                    .collect::<Vec<_>>()
                    .join(","),
            };
            (s.r#type().as_str().to_string(), what)
        })
        .collect()
}

/// The stack's domain name is exactly the config's: the certificate, regional TLS 1.2, our tags
/// and the zone's, one mapping to our API's `$default` stage, and the A and AAAA aliases.
pub async fn assert_domain_converged(w: &World, outside: &Outside, k: &str) {
    let ctx = w.ctx();
    let names = ctx.apigw.get_domain_names().send().await.unwrap();
    let names: Vec<&str> = names.items().iter().filter_map(|d| d.domain_name()).collect();
    assert_eq!(names, [NAME], "{k}");
    let d = ctx.apigw.get_domain_name().domain_name(NAME).send().await.unwrap();
    let c = &d.domain_name_configurations()[0];
    assert_eq!(c.certificate_arn(), Some(outside.certificate.as_str()), "{k}");
    assert_eq!(
        c.endpoint_type().map(aws_sdk_apigatewayv2::types::EndpointType::as_str),
        Some("REGIONAL"),
        "{k}"
    );
    assert_eq!(
        c.security_policy()
            .map(aws_sdk_apigatewayv2::types::SecurityPolicy::as_str),
        Some("TLS_1_2"),
        "{k}"
    );
    let mut want = expected_tags(&w.app, &[]);
    want.insert("oncely:hosted-zone".into(), outside.zone.clone());
    let tags: BTreeMap<String, String> = d.tags().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(tags, want, "{k}");
    let api_id = support::auth::api_id(&ctx).await;
    let mappings = ctx.apigw.get_api_mappings().domain_name(NAME).send().await.unwrap();
    let mappings: Vec<(&str, &str, &str)> = mappings
        .items()
        .iter()
        .map(|m| {
            (
                m.api_id().unwrap(),
                m.stage().unwrap(),
                m.api_mapping_key().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(mappings, [(api_id.as_str(), "$default", "")], "{k}");
    let (target, zone) = testkit::api_gateway_domain_target(NAME, REGION);
    let alias = format!("alias {target} {zone}");
    assert_eq!(
        records(w, &outside.zone, NAME).await,
        BTreeMap::from([("A".to_string(), alias.clone()), ("AAAA".to_string(), alias)]),
        "{k}"
    );
}

/// No domain name is left, and the zone holds no record of the name; the zone and the
/// certificate are still there.
pub async fn assert_no_domain(w: &World, outside: &Outside, k: &str) {
    let ctx = w.ctx();
    let names = ctx.apigw.get_domain_names().send().await.unwrap();
    assert!(names.items().is_empty(), "{k}: {names:?}");
    assert!(records(w, &outside.zone, NAME).await.is_empty(), "{k}");
    ctx.route53.get_hosted_zone().id(&outside.zone).send().await.unwrap();
    let acm = aws_sdk_acm::Client::new(&w.sdk_config());
    acm.describe_certificate()
        .certificate_arn(&outside.certificate)
        .send()
        .await
        .unwrap();
}

/// What a row of `resource` sets `attribute` to.
fn attr_to(report: &serde_json::Value, resource: &str, attribute: &str) -> String {
    let row = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == resource);
    let attrs = row
        .and_then(|c| c["attributes"].as_array())
        .cloned()
        .unwrap_or_default();
    let a = attrs.iter().find(|a| a["attribute"] == attribute);
    a.and_then(|a| a["to"].as_str()).unwrap_or_default().to_string()
}

async fn upsert(w: &World, zone: &str, set: ResourceRecordSet) {
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(set)
        .build()
        .unwrap();
    w.ctx()
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_domain_converges_is_kept_and_goes_with_down() {
    let mut w = World::new("dom");
    let (_proxy, writes) = aws_like_proxy(&mut w).await;
    let zip = w.zip("v1");
    let zip = zip.to_str().unwrap();
    let zone = create_zone(&w, "example.com").await;
    with_domain(&w, &zone);

    // No certificate covers the name (a pending one does not count): refused, nothing made.
    let acm = aws_sdk_acm::Client::new(&w.sdk_config());
    acm.request_certificate().domain_name(NAME).send().await.unwrap();
    let out = w.run(&["up", "--zip", zip]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("no issued ACM certificate in {REGION} covers {NAME}")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "aws acm request-certificate --region {REGION} --domain-name {NAME}"
        )),
        "{err}"
    );
    assert!(writes.lock().unwrap().is_empty(), "{:?}", writes.lock().unwrap());

    // A certificate for another name is not taken; a wildcard is; an exact one before it.
    import_certificate(&w, &["www.example.com"]).await;
    let wildcard = import_certificate(&w, &["*.api.example.com"]).await;
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(attr_to(&plan, "domain name", "certificate_arn"), wildcard, "{plan:#}");
    let exact = import_certificate(&w, &[NAME]).await;
    let out = w.run(&["plan", "--zip", zip, "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(attr_to(&plan, "domain name", "certificate_arn"), exact, "{plan:#}");
    // The deployer says which certificate it found.
    let said = format!("{NAME}: using certificate {exact}, issued in {REGION} and covering it");
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    assert_eq!(attr_to(&plan, "api mapping", "api_id"), "(new)", "{plan:#}");
    let outside = Outside {
        zone: zone.clone(),
        certificate: exact.clone(),
    };

    // A zone that does not hold the name is refused.
    let other = create_zone(&w, "example.org").await;
    with_domain(&w, &other);
    let out = w.run(&["plan", "--zip", zip]);
    assert!(
        stderr(&out).contains(&format!("{NAME} is not in hosted zone {other} (example.org)")),
        "{}",
        stderr(&out)
    );
    with_domain(&w, &zone);

    // Someone else's CNAME of the name: `up` refuses to replace it and makes nothing.
    let cname = ResourceRecordSet::builder()
        .name(NAME)
        .r#type(RrType::Cname)
        .ttl(300)
        .resource_records(
            ResourceRecord::builder()
                .value("elsewhere.example.net")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    upsert(&w, &zone, cname.clone()).await;
    let out = w.run(&["up", "--zip", zip]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("dns record"), "{}", stderr(&out));
    assert!(writes.lock().unwrap().is_empty(), "{:?}", writes.lock().unwrap());
    let delete = Change::builder()
        .action(ChangeAction::Delete)
        .resource_record_set(cname)
        .build()
        .unwrap();
    w.ctx()
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(ChangeBatch::builder().changes(delete).build().unwrap())
        .send()
        .await
        .unwrap();

    // Up: the domain name, its mapping and the records; the endpoint is the domain's.
    let report = w.json(&["up", "--zip", zip]);
    let (target, _) = testkit::api_gateway_domain_target(NAME, REGION);
    assert_eq!(report["endpoint"], format!("https://{NAME}"), "{report:#}");
    assert_eq!(report["domain_target"], target, "{report:#}");
    assert_domain_converged(&w, &outside, "after up").await;
    let env = std::fs::read_to_string(w.env_file()).unwrap();
    assert!(env.contains(&format!("https://{NAME}")), "{env}");
    let status = w.json(&["status"]);
    assert_eq!(status["endpoint"], format!("https://{NAME}"), "{status:#}");

    // Nothing to do: no write at all.
    writes.lock().unwrap().clear();
    let again = w.json(&["up", "--zip", zip]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");
    assert!(writes.lock().unwrap().is_empty(), "{:?}", writes.lock().unwrap());

    // Drift put back: the mapping deleted and the A record pointed elsewhere by hand.
    let ctx = w.ctx();
    let mappings = ctx.apigw.get_api_mappings().domain_name(NAME).send().await.unwrap();
    let id = mappings.items()[0].api_mapping_id().unwrap();
    ctx.apigw
        .delete_api_mapping()
        .domain_name(NAME)
        .api_mapping_id(id)
        .send()
        .await
        .unwrap();
    let stray = AliasTarget::builder()
        .dns_name(format!("d-0000000000.execute-api.{REGION}.amazonaws.com"))
        .hosted_zone_id("Z1UJRXOUMOOFQ8")
        .evaluate_target_health(false)
        .build()
        .unwrap();
    let a = ResourceRecordSet::builder()
        .name(NAME)
        .r#type(RrType::A)
        .alias_target(stray)
        .build()
        .unwrap();
    upsert(&w, &zone, a).await;
    let plan = w.json(&["plan", "--zip", zip]);
    assert_eq!(
        planned(&plan),
        ["create api mapping api_id,stage", "update dns record alias"],
        "{plan:#}"
    );
    assert_eq!(
        rows(&plan, "update"),
        [format!("dns record {NAME} A in {zone}")],
        "{plan:#}"
    );
    w.json(&["up", "--zip", zip]);
    assert_domain_converged(&w, &outside, "after drift").await;

    // The domain taken out of the config: its records, mapping and itself go; the API stays.
    w.write_config(&config_yaml(&w.app, &w.env_file()));
    let report = w.json(&["up", "--zip", zip]);
    assert_eq!(
        counts(&report).2,
        4,
        "two records, the mapping, the domain name: {report:#}"
    );
    assert_no_domain(&w, &outside, "domain removed").await;
    assert!(
        report["endpoint"].as_str().unwrap().contains("execute-api"),
        "{report:#}"
    );

    // Back in, then `down`: nothing of ours is left; the zone and the certificate stay.
    with_domain(&w, &zone);
    w.json(&["up", "--zip", zip]);
    assert_domain_converged(&w, &outside, "back").await;
    let down = w.json(&["down", "--yes", "--delete-data"]);
    assert!(
        rows(&down, "delete").iter().any(|r| r.starts_with("domain name")),
        "{down:#}"
    );
    assert_no_domain(&w, &outside, "after down").await;
}
