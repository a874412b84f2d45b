//! The Route 53 alias records (A and AAAA) that point `api.domain.name` at its API Gateway target,
//! in `api.domain.hosted_zone_id`. The hosted zone is never created or deleted. Records carry no
//! tags: one is ours when it aliases a domain name of ours to an API Gateway target; any other
//! record with the name (a CNAME, an address, an alias elsewhere) is someone else's, which `up`
//! refuses to replace and `down` leaves alone.

use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneError;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsError;
use aws_sdk_route53::types::{AliasTarget, ChangeAction, ChangeBatch, ResourceRecordSet, RrType};

use super::domain::{self, TAG_HOSTED_ZONE, Target};
use crate::context::Context;
use crate::error::{DeployError, Result, aws};
use crate::report::{Action, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

pub const KIND: ResourceKind = ResourceKind::DnsRecord;
/// The record types an alias to API Gateway gets (IPv4 and IPv6).
const TYPES: [&str; 2] = ["A", "AAAA"];

/// One record with a domain name's name, as Route 53 reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub zone: String,
    /// Lowercase, without the final dot.
    pub name: String,
    pub record_type: String,
    /// Its alias target, when it is an alias.
    pub alias: Option<Target>,
    /// The whole set as read: a DELETE names it exactly.
    pub set: ResourceRecordSet,
}

impl Live {
    fn row_name(&self) -> String {
        row_name(&self.name, &self.record_type, &self.zone)
    }
}

fn row_name(name: &str, record_type: &str, zone: &str) -> String {
    format!("{name} {record_type} in {zone}")
}

/// The hosted zone of the config and the records that concern the stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    /// The config's hosted zone and its name (`None`: no such zone).
    pub zone: Option<(String, Option<String>)>,
    pub records: Vec<Live>,
}

/// `/hostedzone/Z123` and `Z123` alike: the id.
fn zone_id(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// A DNS name as compared: lowercase, without the final dot.
fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Reads the config's hosted zone (its name) and the A, AAAA and CNAME records named like the
/// config's domain name in it, and like each domain name of ours in the zone its tag names.
pub async fn read(ctx: &Context, stack: &Stack, domains: &[domain::Live]) -> Result<Records> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut zone = None;
    let config_zone = stack.config.api.domain.as_ref().and_then(|d| d.hosted_zone_id.clone());
    if let (Some(id), Some(name)) = (config_zone, stack.config.domain_name()) {
        let zone_name = match ctx.route53.get_hosted_zone().id(&id).send().await {
            Ok(out) => out.hosted_zone().map(|z| normal(z.name())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(GetHostedZoneError::is_no_such_hosted_zone) =>
            {
                None
            }
            Err(e) => return Err(aws("GetHostedZone", format!("hosted zone {id}"), e)),
        };
        if zone_name.is_some() {
            wanted.push((id.clone(), name));
        }
        zone = Some((id, zone_name));
    }
    for d in domains.iter().filter(|d| stack.owns(&d.tags)) {
        if let Some(id) = d.tags.get(TAG_HOSTED_ZONE)
            && !wanted.contains(&(id.clone(), d.name.clone()))
        {
            wanted.push((id.clone(), d.name.clone()));
        }
    }
    let mut records = Vec::new();
    for (id, name) in wanted {
        records.extend(in_zone(ctx, &id, &name).await?);
    }
    Ok(Records { zone, records })
}

/// The A, AAAA and CNAME records named `name` in zone `id` (none when the zone is gone).
async fn in_zone(ctx: &Context, id: &str, name: &str) -> Result<Vec<Live>> {
    let out = match ctx
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(id)
        .start_record_name(name)
        .max_items(10)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(ListResourceRecordSetsError::is_no_such_hosted_zone) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(aws("ListResourceRecordSets", format!("hosted zone {id}"), e)),
    };
    Ok(out
        .resource_record_sets()
        .iter()
        .filter(|s| normal(s.name()) == name && ["A", "AAAA", "CNAME"].contains(&s.r#type().as_str()))
        .map(|s| Live {
            zone: zone_id(id).to_string(),
            name: name.to_string(),
            record_type: s.r#type().as_str().to_string(),
            alias: s.alias_target().map(|a| Target {
                dns_name: normal(a.dns_name()),
                hosted_zone_id: a.hosted_zone_id().to_string(),
            }),
            set: s.clone(),
        })
        .collect())
}

/// The records of ours among `records`.
pub fn ours<'a>(
    stack: &'a Stack,
    domains: &'a [domain::Live],
    records: &'a Records,
) -> impl Iterator<Item = &'a Live> + 'a {
    ours_but(stack, domains, records, None)
}

/// The records of ours, but those `keep` names (a zone and a name).
fn ours_but<'a>(
    stack: &'a Stack,
    domains: &'a [domain::Live],
    records: &'a Records,
    keep: Option<&'a (String, String)>,
) -> impl Iterator<Item = &'a Live> + 'a {
    records.records.iter().filter(move |r| {
        keep.is_none_or(|(zone, name)| r.zone != *zone || r.name != *name) && is_ours(stack, domains, r)
    })
}

/// Whether a record is ours: an alias to an API Gateway target, named like a domain name of ours.
fn is_ours(stack: &Stack, domains: &[domain::Live], r: &Live) -> bool {
    let aliases_api_gateway = r.alias.as_ref().is_some_and(|a| a.dns_name.contains(".execute-api."));
    aliases_api_gateway && domains.iter().any(|d| d.name == r.name && stack.owns(&d.tags))
}

/// The config's hosted zone exists and holds the domain name; else what is wrong, before any
/// change.
pub fn check(stack: &Stack, records: &Records) -> Result<()> {
    let (Some((id, zone_name)), Some(name)) = (&records.zone, stack.config.domain_name()) else {
        return Ok(());
    };
    let problem = match zone_name {
        None => format!("hosted zone {id} (api.domain.hosted_zone_id) does not exist"),
        Some(zone) if !(name == *zone || name.ends_with(&format!(".{zone}"))) => {
            format!("{name} is not in hosted zone {id} ({zone}): name the zone of its parent domain")
        }
        Some(_) => return Ok(()),
    };
    Err(DeployError::Other(format!(
        "api.domain cannot be served; nothing was changed: {problem}"
    )))
}

/// The rows: the config's two alias records to `target` (`None` while the domain name is to be
/// made), refused when someone else's record has the name; then every record of ours not wanted.
pub fn diff(stack: &Stack, domains: &[domain::Live], records: &Records, target: Option<&Target>) -> Vec<Change> {
    let mut out = Vec::new();
    let want = wanted(stack, records);
    if let Some((zone, name)) = &want {
        let to = target.map_or_else(|| domain::NEW.to_string(), Target::to_string);
        let cname = records
            .records
            .iter()
            .find(|r| r.zone == *zone && r.name == *name && r.record_type == "CNAME");
        for t in TYPES {
            let row = row_name(name, t, zone);
            let live = records
                .records
                .iter()
                .find(|r| r.zone == *zone && r.name == *name && r.record_type == t);
            out.push(match (live, cname) {
                (_, Some(_)) => Change::new(KIND, row, Action::Foreign),
                (None, None) => Change::create(KIND, row, vec![("alias", to.clone())]),
                (Some(r), None) if !is_ours(stack, domains, r) => Change::new(KIND, row, Action::Foreign),
                (Some(r), None) => {
                    let mut attrs = Vec::new();
                    diff_attr(
                        &mut attrs,
                        "alias",
                        r.alias.as_ref().map(Target::to_string).as_ref(),
                        Some(&to),
                    );
                    Change::compare(KIND, row, attrs)
                }
            });
        }
    }
    out.extend(
        ours_but(stack, domains, records, want.as_ref())
            .map(|r| Change::new(KIND, r.row_name(), Action::Delete).with_note(Note::NoLongerInConfig)),
    );
    out
}

/// The config's zone and name, when its records are wanted and the zone exists.
fn wanted(stack: &Stack, records: &Records) -> Option<(String, String)> {
    let (id, zone_name) = records.zone.as_ref()?;
    zone_name.as_ref()?;
    Some((zone_id(id).to_string(), stack.config.domain_name()?))
}

/// Points the config's records at `target` (one UPSERT of both, repeatable) when a row says so.
pub async fn apply(ctx: &Context, stack: &Stack, records: &Records, changes: &[Change], target: &Target) -> Result<()> {
    let Some((zone, name)) = wanted(stack, records) else {
        return Ok(());
    };
    let mine = |c: &&Change| c.resource == KIND && TYPES.iter().any(|t| c.name == row_name(&name, t, &zone));
    if !changes
        .iter()
        .filter(mine)
        .any(|c| matches!(c.action, Action::Create | Action::Update))
    {
        return Ok(());
    }
    let mut batch = Vec::new();
    for t in TYPES {
        let alias = AliasTarget::builder()
            .dns_name(&target.dns_name)
            .hosted_zone_id(&target.hosted_zone_id)
            .evaluate_target_health(false)
            .build()
            .map_err(|e| DeployError::Other(format!("building the alias of {name}: {e}")))?;
        let set = ResourceRecordSet::builder()
            .name(&name)
            .r#type(RrType::from(t))
            .alias_target(alias)
            .build()
            .map_err(|e| DeployError::Other(format!("building the record {name} {t}: {e}")))?;
        batch.push((ChangeAction::Upsert, set));
    }
    let step = ctx.progress.step(format!("pointing {name} (A, AAAA) at {target}"));
    change(ctx, &zone, batch).await?;
    step.done("pointed");
    Ok(())
}

/// Deletes the records of ours that `keep` (a zone and name) does not name, one batch per zone.
pub async fn destroy(
    ctx: &Context,
    stack: &Stack,
    domains: &[domain::Live],
    records: &Records,
    keep: Option<&(String, String)>,
) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let gone: Vec<&Live> = ours_but(stack, domains, records, keep).collect();
    let mut zones: Vec<&str> = gone.iter().map(|r| r.zone.as_str()).collect();
    zones.sort_unstable();
    zones.dedup();
    for zone in zones {
        let sets: Vec<&Live> = gone.iter().copied().filter(|r| r.zone == zone).collect();
        let step = ctx
            .progress
            .step(format!("deleting {} alias record(s) in {zone}", sets.len()));
        change(
            ctx,
            zone,
            sets.iter().map(|r| (ChangeAction::Delete, r.set.clone())).collect(),
        )
        .await?;
        step.done("deleted");
        out.extend(sets.iter().map(|r| Change::new(KIND, r.row_name(), Action::Delete)));
    }
    Ok(out)
}

/// Deletes what `up` no longer wants of ours (the config's own records kept).
pub async fn remove(ctx: &Context, stack: &Stack, domains: &[domain::Live], records: &Records) -> Result<()> {
    destroy(ctx, stack, domains, records, wanted(stack, records).as_ref())
        .await
        .map(drop)
}

/// One ChangeResourceRecordSets of `batch` in `zone`; record names go without their final dot.
async fn change(ctx: &Context, zone: &str, batch: Vec<(ChangeAction, ResourceRecordSet)>) -> Result<()> {
    let mut changes = Vec::new();
    for (action, mut set) in batch {
        set.name = normal(&set.name);
        let c = aws_sdk_route53::types::Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(|e| DeployError::Other(format!("building a change of zone {zone}: {e}")))?;
        changes.push(c);
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .build()
        .map_err(|e| DeployError::Other(format!("building a change of zone {zone}: {e}")))?;
    ctx.route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| aws("ChangeResourceRecordSets", format!("hosted zone {zone}"), e))?;
    Ok(())
}
