//! The invariants, checked at the end on what the clients saw and on the table itself (scanned
//! directly, not through the proxy).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use oncely_function::orders::order_from_item;
use oncely_function::{DynamoDbPersistence, Status};

use crate::causes::Cause;
use crate::clients::{Ending, GATEWAY_ERROR_BODY, KeyLog, Plan};

/// Every invariant, in the order they are printed.
pub const INVARIANTS: [&str; 10] = [
    "at most one order per key",
    "every 201 names an existing, equal order",
    "every replay is byte-identical to the first 201",
    "every retried key ends completed",
    "422 only for keys reused with another payload",
    "400 only for invalid bodies",
    "no status outside the documented set",
    "every retrying client gets the right answer",
    "every gateway 500 is a SIGKILL or edge timeout",
    "each deadline-edge key gets the committed answer",
];

/// Work asked for at least this long ends near the function's deadline (3 s).
pub const NEAR_DEADLINE_MS: u64 = 1500;

/// The deadline-edge keys: how many there were, how many saw an error (a 500, a 503 or no
/// answer) before their first 201, and how many of those got a replay of an execution whose
/// client had seen the error (the effect committed, the answer lost, the retry answered).
#[derive(Debug, Default)]
pub struct DeadlineEdge {
    pub keys: usize,
    pub error_first: usize,
    pub committed_then_replayed: usize,
}

/// The causes of the gateway's 500s, counted.
#[derive(Debug, Default)]
pub struct GatewayErrors {
    pub killed: usize,
    pub timed_out: usize,
    pub other: usize,
}

/// Violations by invariant, with a few examples of each.
#[derive(Debug, Default)]
pub struct Violations {
    pub counts: BTreeMap<&'static str, usize>,
    pub examples: Vec<String>,
    pub deadline_edge: DeadlineEdge,
    pub gateway_errors: GatewayErrors,
}

impl Violations {
    fn add(&mut self, invariant: &'static str, example: String) {
        *self.counts.entry(invariant).or_default() += 1;
        if self.examples.len() < 20 {
            self.examples.push(format!("{invariant}: {example}"));
        }
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

type Item = HashMap<String, AttributeValue>;

/// Every item of `table`, read with consistent scans.
pub async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn order_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(value.get("id")?.as_str()?.to_string())
}

/// Checks every invariant over what the clients saw (`logs`), the table's `items` and the causes
/// of the gateway's 500s (`causes`, from the stack's log).
pub fn check(
    table: &str,
    logs: &HashMap<String, KeyLog>,
    items: &[Item],
    persistence: &DynamoDbPersistence,
    causes: &HashMap<String, Cause>,
) -> Violations {
    let mut v = Violations::default();
    let id = |item: &Item| item.get("id").and_then(|a| a.as_s().ok()).cloned().unwrap_or_default();
    let orders: HashMap<String, &Item> = items
        .iter()
        .filter_map(|i| Some((id(i).strip_prefix("order#")?.to_string(), i)))
        .collect();
    let records: HashMap<String, &Item> = items
        .iter()
        .filter(|i| !id(i).starts_with("order#"))
        .map(|i| (id(i), i))
        .collect();

    // Orders no completed record names: an execution that committed twice, or half.
    let mut named = HashSet::new();
    for item in records.values() {
        if let Ok(record) = persistence.from_item(item)
            && let Some(response) = &record.response
            && let Some(order) = order_id(&response.body)
        {
            named.insert(order);
        }
    }
    for order in orders.keys().filter(|o| !named.contains(*o)) {
        v.add(
            INVARIANTS[0],
            format!("order {order} is named by no idempotency record"),
        );
    }

    let mut keys: Vec<&String> = logs.keys().collect();
    keys.sort();
    for key in keys {
        let log = &logs[key];
        let created: Vec<_> = log.attempts.iter().filter(|a| a.status == Some(201)).collect();
        let ids: HashSet<_> = created.iter().filter_map(|a| order_id(&a.body)).collect();
        let fresh = created.iter().filter(|a| !a.replayed).count();
        if ids.len() > 1 || fresh > 1 {
            v.add(
                INVARIANTS[0],
                format!("key {key}: {} order ids, {fresh} non-replayed 201s", ids.len()),
            );
        }
        for attempt in &created {
            let body: Option<serde_json::Value> = serde_json::from_slice(&attempt.body).ok();
            let stored = order_id(&attempt.body)
                .and_then(|o| orders.get(&o).copied())
                .and_then(order_from_item)
                .and_then(|o| serde_json::to_value(o).ok());
            if body.is_none() || stored != body {
                v.add(
                    INVARIANTS[1],
                    format!("key {key}: 201 body {:?} has no equal order", attempt.body),
                );
            }
        }
        if let Some(first) = created.first() {
            for attempt in &created[1..] {
                if attempt.body != first.body {
                    v.add(
                        INVARIANTS[2],
                        format!("key {key}: {:?} then {:?}", first.body, attempt.body),
                    );
                }
            }
        }
        let hash = oncely_function::key::key_hash(table, "POST", "/orders", key);
        let record = records.get(&hash).and_then(|i| persistence.from_item(i).ok());
        if log.plan != Plan::Invalid {
            let completed = record
                .as_ref()
                .filter(|r| r.status == Status::Completed && r.response.is_some());
            match (completed, created.first()) {
                (Some(r), Some(first)) => {
                    let stored = r.response.as_ref().map(|s| s.body.as_slice());
                    if stored != Some(&first.body[..]) {
                        v.add(
                            INVARIANTS[2],
                            format!("key {key}: the stored response differs from the first 201"),
                        );
                    }
                }
                (r, _) => v.add(
                    INVARIANTS[3],
                    format!(
                        "key {key}: record {:?}, {} 201s seen",
                        r.map(|r| r.status),
                        created.len()
                    ),
                ),
            }
        }
        for attempt in &log.attempts {
            match attempt.status {
                Some(422) if !(log.plan == Plan::Reused && attempt.payload == 1) => {
                    v.add(
                        INVARIANTS[4],
                        format!("key {key} ({:?}): 422 {:?}", log.plan, attempt.body),
                    );
                }
                Some(400) if log.plan != Plan::Invalid => {
                    v.add(
                        INVARIANTS[5],
                        format!("key {key} ({:?}): 400 {:?}", log.plan, attempt.body),
                    );
                }
                Some(201 | 400 | 409 | 422 | 503) | None => {}
                Some(500) if attempt.body == GATEWAY_ERROR_BODY => {}
                Some(s) => v.add(INVARIANTS[6], format!("key {key}: {s} {:?}", attempt.body)),
            }
        }
        let near_deadline = log.work_ms.is_some_and(|ms| ms >= NEAR_DEADLINE_MS);
        for attempt in log
            .attempts
            .iter()
            .filter(|a| a.status == Some(500) && a.body == GATEWAY_ERROR_BODY)
        {
            let cause = attempt.gateway_id.as_ref().and_then(|id| causes.get(id));
            match cause {
                Some(Cause::Killed) => v.gateway_errors.killed += 1,
                Some(Cause::TimedOut) if near_deadline => v.gateway_errors.timed_out += 1,
                _ => {
                    v.gateway_errors.other += 1;
                    v.add(
                        INVARIANTS[8],
                        format!(
                            "key {key} (work {:?} ms): a 500 ({:?}) caused by {cause:?}",
                            log.work_ms, attempt.gateway_id
                        ),
                    );
                }
            }
        }
        if near_deadline && log.plan != Plan::Invalid {
            v.deadline_edge.keys += 1;
            let first_201 = log.attempts.iter().position(|a| a.status == Some(201));
            let before = &log.attempts[..first_201.unwrap_or(log.attempts.len())];
            if before.iter().any(|a| matches!(a.status, Some(500..=599) | None)) {
                v.deadline_edge.error_first += 1;
                // One client: a replay it was first to get names an execution it saw fail.
                if log.plan == Plan::Plain && first_201.is_some_and(|i| log.attempts[i].replayed) {
                    v.deadline_edge.committed_then_replayed += 1;
                }
            }
            let stored = record
                .as_ref()
                .and_then(|r| r.response.as_ref())
                .map(|r| r.body.as_slice());
            let last = log
                .attempts
                .iter()
                .rev()
                .find(|a| a.payload == 0 && a.status == Some(201));
            if stored.is_none() || last.map(|a| &a.body[..]) != stored {
                v.add(
                    INVARIANTS[9],
                    format!("key {key}: ended {:?}, stored {stored:?}", log.endings),
                );
            }
        }
        for (payload, ending) in &log.endings {
            let right = match (log.plan, payload) {
                (Plan::Invalid, _) => 400,
                (Plan::Reused, 1) => 422,
                _ => 201,
            };
            if *ending != Ending::Final(right) {
                v.add(
                    INVARIANTS[7],
                    format!("key {key} ({:?}): wanted {right}, ended {ending:?}", log.plan),
                );
            }
        }
    }
    v
}
