//! The invariants, checked at the end on what the clients saw and on the table itself (scanned
//! directly, not through the proxy).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use oncely::{DynamoDbPersistence, IdempotencyRecord, Status};
use orders::orders::order_from_item;

use crate::causes::Cause;
use crate::clients::{Attempt, Ending, GATEWAY_ERROR_BODY, KeyLog, Plan};

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
    orders_are_named_by_records(&orders, &records, persistence, &mut v);

    let mut keys: Vec<&String> = logs.keys().collect();
    keys.sort();
    for key in keys {
        let log = &logs[key];
        let hash = oncely::key::key_hash(table, "POST", "/orders", key);
        let k = KeyCheck {
            key,
            log,
            created: log.attempts.iter().filter(|a| a.status == Some(201)).collect(),
            record: records.get(&hash).and_then(|i| persistence.from_item(i).ok()),
        };
        k.one_execution(&mut v);
        k.created_bodies_are_orders(&orders, &mut v);
        k.replays_are_identical(&mut v);
        k.ends_completed(&mut v);
        k.statuses_are_documented(&mut v);
        k.gateway_errors_are_explained(causes, &mut v);
        k.deadline_edge(&mut v);
        k.endings_are_right(&mut v);
    }
    v
}

/// Orders no completed record names: an execution that committed twice, or half.
fn orders_are_named_by_records(
    orders: &HashMap<String, &Item>,
    records: &HashMap<String, &Item>,
    persistence: &DynamoDbPersistence,
    v: &mut Violations,
) {
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
}

/// One key: what its clients saw, its `201`s, and its idempotency record in the table.
struct KeyCheck<'a> {
    key: &'a str,
    log: &'a KeyLog,
    created: Vec<&'a Attempt>,
    record: Option<IdempotencyRecord>,
}

impl KeyCheck<'_> {
    /// At most one order: one order id among the `201`s, one of them not a replay.
    fn one_execution(&self, v: &mut Violations) {
        let key = self.key;
        let ids: HashSet<_> = self.created.iter().filter_map(|a| order_id(&a.body)).collect();
        let fresh = self.created.iter().filter(|a| !a.replayed).count();
        if ids.len() > 1 || fresh > 1 {
            v.add(
                INVARIANTS[0],
                format!("key {key}: {} order ids, {fresh} non-replayed 201s", ids.len()),
            );
        }
    }

    /// Every `201` body is an order of the table, equal to it.
    fn created_bodies_are_orders(&self, orders: &HashMap<String, &Item>, v: &mut Violations) {
        let key = self.key;
        for attempt in &self.created {
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
    }

    /// Every `201` after the first is byte-identical to it.
    fn replays_are_identical(&self, v: &mut Violations) {
        let key = self.key;
        if let Some(first) = self.created.first() {
            for attempt in &self.created[1..] {
                if attempt.body != first.body {
                    v.add(
                        INVARIANTS[2],
                        format!("key {key}: {:?} then {:?}", first.body, attempt.body),
                    );
                }
            }
        }
    }

    /// A valid key ends with a completed record whose response is the first `201`.
    fn ends_completed(&self, v: &mut Violations) {
        let key = self.key;
        if self.log.plan == Plan::Invalid {
            return;
        }
        let completed = self
            .record
            .as_ref()
            .filter(|r| r.status == Status::Completed && r.response.is_some());
        match (completed, self.created.first()) {
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
                    self.created.len()
                ),
            ),
        }
    }

    /// `422` only for a reused key's other payload, `400` only for invalid bodies, and no status
    /// outside the documented set.
    fn statuses_are_documented(&self, v: &mut Violations) {
        let (key, log) = (self.key, self.log);
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
    }

    fn near_deadline(&self) -> bool {
        self.log.work_ms.is_some_and(|ms| ms >= NEAR_DEADLINE_MS)
    }

    /// Every gateway `500` is an environment SIGKILLed, or a timeout of work near the deadline.
    fn gateway_errors_are_explained(&self, causes: &HashMap<String, Cause>, v: &mut Violations) {
        let (key, log) = (self.key, self.log);
        let near_deadline = self.near_deadline();
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
    }

    /// A key whose work ends near the deadline gets the committed answer (counted apart: those
    /// that saw an error first, and those whose replay names an execution they saw fail).
    fn deadline_edge(&self, v: &mut Violations) {
        let (key, log) = (self.key, self.log);
        if !self.near_deadline() || log.plan == Plan::Invalid {
            return;
        }
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
        let stored = self
            .record
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

    /// Every retrying client ends with the right answer: `400` for an invalid body, `422` for a
    /// reused key's other payload, else `201`.
    fn endings_are_right(&self, v: &mut Violations) {
        let (key, log) = (self.key, self.log);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};

    fn attempt(status: u16, body: &[u8]) -> Attempt {
        Attempt {
            payload: 0,
            status: Some(status),
            replayed: false,
            body: bytes::Bytes::copy_from_slice(body),
            gateway_id: None,
        }
    }

    /// The invariants `check` reports for one key's made-up history over an empty table.
    fn reported(log: KeyLog) -> Vec<usize> {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .build();
        let persistence = DynamoDbPersistence::new(aws_sdk_dynamodb::Client::from_conf(config), "t", "expiration");
        let logs = HashMap::from([("k".to_string(), log)]);
        let v = check("t", &logs, &[], &persistence, &HashMap::new());
        (0..INVARIANTS.len())
            .filter(|n| v.counts.contains_key(INVARIANTS[*n]))
            .collect()
    }

    #[test]
    fn a_broken_history_breaks_exactly_its_invariants() {
        // Two fresh 201s naming different orders the table lacks, a 422 and a 418 for a key used
        // once, and a client that ended on the 422.
        let log = KeyLog {
            plan: Plan::Plain,
            work_ms: None,
            attempts: vec![
                attempt(201, br#"{"id":"a"}"#),
                attempt(201, br#"{"id":"b"}"#),
                attempt(422, b"{}"),
                attempt(418, b"{}"),
            ],
            endings: vec![(0, Ending::Final(422))],
        };
        assert_eq!(reported(log), [0, 1, 2, 3, 4, 6, 7]);

        // Work near the deadline, a gateway 500 nothing in the stack's log explains, no record.
        let log = KeyLog {
            plan: Plan::Plain,
            work_ms: Some(NEAR_DEADLINE_MS),
            attempts: vec![attempt(500, GATEWAY_ERROR_BODY), attempt(400, b"{}")],
            endings: vec![(0, Ending::Final(201))],
        };
        assert_eq!(reported(log), [3, 5, 8, 9]);
    }
}
