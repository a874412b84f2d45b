//! The CloudWatch alarms on the function (`alarms:`, on by default), each `{app}-{stage}-{suffix}`:
//! `errors` (AWS/Lambda Errors), `failed` (the handler's `Failed` outcomes, namespace Oncely) and
//! `throttles` (AWS/Lambda Throttles); Sum >= 1 over one 60 s period, missing data not breaching.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, StandardUnit, Statistic, Tag};
use serde::Serialize;

use crate::context::Context;
use crate::error::{Result, aws, is_not_found};
use crate::report::{Action, AttrDiff, Change, Note, ResourceKind, diff_attr};
use crate::stack::Stack;

const KIND: ResourceKind = ResourceKind::Alarm;
const PERIOD_S: i32 = 60;
const EVALUATION_PERIODS: i32 = 1;
const THRESHOLD: f64 = 1.0;
const COMPARISON: &str = "GreaterThanOrEqualToThreshold";
const STATISTIC: &str = "Sum";
const TREAT_MISSING_DATA: &str = "notBreaching";

/// One alarm the deployer keeps: its name's suffix and the metric it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub suffix: &'static str,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub unit: Option<&'static str>,
    pub description: &'static str,
}

/// The alarms, in the order they are created.
pub const SPECS: [Spec; 3] = [
    Spec {
        suffix: "errors",
        namespace: "AWS/Lambda",
        metric: "Errors",
        unit: None,
        description: "the function failed (crash, timeout, out of memory)",
    },
    Spec {
        suffix: "failed",
        namespace: "Oncely",
        metric: "Failed",
        unit: Some("Count"),
        description: "a request's handler failed (the `failed` idempotency outcome)",
    },
    Spec {
        suffix: "throttles",
        namespace: "AWS/Lambda",
        metric: "Throttles",
        unit: None,
        description: "Lambda throttled invocations of the function",
    },
];

/// An alarm as CloudWatch reports it, with its settings as comparable text.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub name: String,
    pub arn: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    pub settings: BTreeMap<&'static str, String>,
    pub tags: BTreeMap<String, String>,
}

/// An alarm's name and state, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmState {
    pub name: String,
    pub state: String,
}

fn settings_of(a: &MetricAlarm) -> BTreeMap<&'static str, String> {
    let dims: Vec<String> = a
        .dimensions()
        .iter()
        .map(|d| format!("{}={}", d.name().unwrap_or_default(), d.value().unwrap_or_default()))
        .collect();
    BTreeMap::from([
        ("namespace", a.namespace().unwrap_or_default().to_string()),
        ("metric", a.metric_name().unwrap_or_default().to_string()),
        ("dimensions", dims.join(",")),
        (
            "statistic",
            a.statistic().map(Statistic::as_str).unwrap_or_default().to_string(),
        ),
        ("period", a.period().unwrap_or_default().to_string()),
        (
            "evaluation_periods",
            a.evaluation_periods().unwrap_or_default().to_string(),
        ),
        ("threshold", a.threshold().unwrap_or_default().to_string()),
        (
            "comparison",
            a.comparison_operator()
                .map(ComparisonOperator::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        (
            "treat_missing_data",
            a.treat_missing_data().unwrap_or_default().to_string(),
        ),
        ("actions", a.alarm_actions().join(",")),
        ("ok_actions", a.ok_actions().join(",")),
    ])
}

/// What an alarm must be, as the same comparable text.
fn want(stack: &Stack, spec: &Spec) -> BTreeMap<&'static str, String> {
    let actions = stack.config.alarms.actions.join(",");
    BTreeMap::from([
        ("namespace", spec.namespace.to_string()),
        ("metric", spec.metric.to_string()),
        ("dimensions", format!("FunctionName={}", stack.function_name())),
        ("statistic", STATISTIC.to_string()),
        ("period", PERIOD_S.to_string()),
        ("evaluation_periods", EVALUATION_PERIODS.to_string()),
        ("threshold", THRESHOLD.to_string()),
        ("comparison", COMPARISON.to_string()),
        ("treat_missing_data", TREAT_MISSING_DATA.to_string()),
        ("actions", actions.clone()),
        ("ok_actions", actions),
    ])
}

/// Reads the stack's alarms (those with our names) and their tags.
pub async fn read(ctx: &Context, stack: &Stack) -> Result<Vec<Live>> {
    let names: Vec<String> = SPECS.iter().map(|s| stack.alarm_name(s.suffix)).collect();
    let out = ctx
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.clone()))
        .send()
        .await
        .map_err(|e| aws("DescribeAlarms", format!("alarms {}", names.join(", ")), e))?;
    let mut live = Vec::new();
    for a in out.metric_alarms() {
        let name = a.alarm_name().unwrap_or_default().to_string();
        if !names.contains(&name) {
            continue;
        }
        let arn = a.alarm_arn().unwrap_or_default().to_string();
        let tags = ctx
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws("ListTagsForResource", format!("alarm {name}"), e))?
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        live.push(Live {
            state: a.state_value().map(|s| s.as_str().to_string()).unwrap_or_default(),
            settings: settings_of(a),
            name,
            arn,
            tags,
        });
    }
    Ok(live)
}

/// The alarms' states, in [`SPECS`] order (only those that exist).
pub fn states(stack: &Stack, live: &[Live]) -> Vec<AlarmState> {
    SPECS
        .iter()
        .filter_map(|s| live.iter().find(|l| l.name == stack.alarm_name(s.suffix)))
        .map(|l| AlarmState {
            name: l.name.clone(),
            state: l.state.clone(),
        })
        .collect()
}

/// One row per alarm: created or updated while `alarms.enabled`, deleted once disabled.
pub fn diff(stack: &Stack, live: &[Live]) -> Vec<Change> {
    let enabled = stack.config.alarms.enabled;
    let mut out = Vec::new();
    for spec in &SPECS {
        let name = stack.alarm_name(spec.suffix);
        let want = want(stack, spec);
        match (live.iter().find(|l| l.name == name), enabled) {
            (None, true) => out.push(Change::create(
                KIND,
                name,
                want.iter().map(|(k, v)| (*k, v.clone())).collect(),
            )),
            (None, false) => {}
            (Some(l), true) if !stack.owns(&l.tags) => out.push(Change::new(KIND, name, Action::Foreign)),
            (Some(l), false) if !stack.owns(&l.tags) => {
                out.push(Change::new(KIND, name, Action::Unchanged).with_note(Note::LeftAlone));
            }
            (Some(l), true) => {
                let mut d: Vec<AttrDiff> = Vec::new();
                for (k, v) in &want {
                    diff_attr(&mut d, k, l.settings.get(k), Some(v));
                }
                super::diff_tags(&mut d, stack, &l.tags);
                out.push(Change::compare(KIND, name, d));
            }
            (Some(_), false) => out.push(Change::new(KIND, name, Action::Delete).with_note(Note::AlarmsDisabled)),
        }
    }
    out
}

/// Puts the alarms that rows create or update (PutMetricAlarm replaces an alarm whole, so a
/// retried put is harmless; it ignores the tags of an alarm that exists, which TagResource and
/// UntagResource change), and deletes those the rows delete.
pub async fn apply(ctx: &Context, stack: &Stack, live: &[Live], changes: &[Change]) -> Result<()> {
    let rows: Vec<&Change> = changes.iter().filter(|c| c.resource == KIND).collect();
    for c in rows
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
    {
        let Some(spec) = SPECS.iter().find(|s| stack.alarm_name(s.suffix) == c.name) else {
            continue;
        };
        if c.action == Action::Create || c.attributes.iter().any(|a| a.attribute != "tags") {
            put(ctx, stack, spec, c.action).await?;
        }
        if let Some(l) = live.iter().find(|l| l.name == c.name).filter(|_| c.touches("tags")) {
            retag(ctx, stack, l).await?;
        }
    }
    let doomed: Vec<String> = rows
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.name.clone())
        .collect();
    delete(ctx, &doomed).await
}

async fn put(ctx: &Context, stack: &Stack, spec: &Spec, action: Action) -> Result<()> {
    let name = stack.alarm_name(spec.suffix);
    let verb = if action == Action::Create {
        "creating"
    } else {
        "updating"
    };
    let step = ctx.progress.step(format!("{verb} alarm {name}"));
    let actions = &stack.config.alarms.actions;
    let tags = cloudwatch_tags(stack.tags());
    let dimension = Dimension::builder()
        .name("FunctionName")
        .value(stack.function_name())
        .build();
    ctx.cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .alarm_description(format!("oncely {}: {}", stack.name, spec.description))
        .namespace(spec.namespace)
        .metric_name(spec.metric)
        .dimensions(dimension)
        .statistic(Statistic::from(STATISTIC))
        .set_unit(spec.unit.map(StandardUnit::from))
        .period(PERIOD_S)
        .evaluation_periods(EVALUATION_PERIODS)
        .threshold(THRESHOLD)
        .comparison_operator(ComparisonOperator::from(COMPARISON))
        .treat_missing_data(TREAT_MISSING_DATA)
        .set_alarm_actions(Some(actions.clone()))
        .set_ok_actions(Some(actions.clone()))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws("PutMetricAlarm", format!("alarm {name}"), e))?;
    step.done(if action == Action::Create { "created" } else { "updated" });
    Ok(())
}

/// Makes an alarm's tags the stack's: TagResource for those missing or different, UntagResource
/// for the rest (each repeatable).
async fn retag(ctx: &Context, stack: &Stack, live: &Live) -> Result<()> {
    let what = format!("alarm {}", live.name);
    let untag = |keys| async {
        let call = ctx
            .cloudwatch
            .untag_resource()
            .resource_arn(&live.arn)
            .set_tag_keys(Some(keys));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("UntagResource", what.clone(), e))
    };
    let tag = |tags| async {
        let call = ctx
            .cloudwatch
            .tag_resource()
            .resource_arn(&live.arn)
            .set_tags(Some(cloudwatch_tags(tags)));
        call.send()
            .await
            .map(drop)
            .map_err(|e| aws("TagResource", what.clone(), e))
    };
    super::send_retag(ctx, &what, super::Retag::new(stack, &live.tags), untag, tag).await
}

fn cloudwatch_tags(tags: BTreeMap<String, String>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// DeleteAlarms for `names` (none: no call); alarms already gone are success.
async fn delete(ctx: &Context, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let step = ctx.progress.step(format!("deleting alarms {}", names.join(", ")));
    match ctx
        .cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(aws("DeleteAlarms", format!("alarms {}", names.join(", ")), e)),
    }
    step.done("deleted");
    Ok(())
}

/// `down`: deletes the alarms that are ours (one call), leaves foreign ones alone.
pub async fn destroy(ctx: &Context, stack: &Stack, live: &[Live]) -> Result<Vec<Change>> {
    let mut rows = Vec::new();
    let mut doomed = Vec::new();
    for spec in &SPECS {
        let name = stack.alarm_name(spec.suffix);
        let found = live.iter().find(|l| l.name == name);
        match super::ours(ctx, stack, KIND, &name, found, |l| &l.tags) {
            super::Ownership::Ours(_) => {
                doomed.push(name.clone());
                rows.push(Change::new(KIND, name, Action::Delete));
            }
            super::Ownership::Skip(row) => rows.push(row),
        }
    }
    delete(ctx, &doomed).await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn stack(yaml: &str) -> Stack {
        Stack {
            config: Config::parse(&format!("app: a\nstage: b\n{yaml}")).unwrap(),
            name: "a-b".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            secret_arns: vec![],
        }
    }

    fn live_of(stack: &Stack) -> Vec<Live> {
        SPECS
            .iter()
            .map(|s| Live {
                name: stack.alarm_name(s.suffix),
                arn: format!(
                    "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:{}",
                    stack.alarm_name(s.suffix)
                ),
                state: "OK".into(),
                settings: want(stack, s),
                tags: stack.tags(),
            })
            .collect()
    }

    #[test]
    fn converged_alarms_are_unchanged_and_drift_or_disabling_shows() {
        let s = stack("");
        let mut live = live_of(&s);
        assert!(diff(&s, &live).iter().all(|c| c.action == Action::Unchanged));
        live[1].settings.insert("threshold", "5".into());
        let rows = diff(&s, &live);
        assert_eq!(rows[1].action, Action::Update);
        assert_eq!(rows[1].attributes[0].attribute, "threshold");
        let off = stack("alarms: { enabled: false }\n");
        assert!(diff(&off, &live).iter().all(|c| c.action == Action::Delete));
        assert!(diff(&off, &[]).is_empty());
        assert_eq!(diff(&s, &[]).len(), 3);
    }
}
