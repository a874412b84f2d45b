//! The invariants, checked at the end on what the clients saw and on the table itself (scanned
//! directly, not through the proxy).

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use oncely_function::orders::order_from_item;
use oncely_function::{DynamoDbPersistence, Status};

use crate::clients::{Ending, GATEWAY_ERROR_BODY, KeyLog, Plan};

/// Every invariant, in the order they are printed.
pub const INVARIANTS: [&str; 8] = [
    "at most one order per key",
    "every 201 names an existing, equal order",
    "every replay is byte-identical to the first 201",
    "every retried key ends completed",
    "422 only for keys reused with another payload",
    "400 only for invalid bodies",
    "no status outside the documented set",
    "every retrying client gets the right answer",
];

/// Violations by invariant, with a few examples of each.
#[derive(Debug, Default)]
pub struct Violations {
    pub counts: BTreeMap<&'static str, usize>,
    pub examples: Vec<String>,
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

/// Checks every invariant over what the clients saw (`logs`) and the table's `items`.
pub fn check(
    table: &str,
    logs: &HashMap<String, KeyLog>,
    items: &[Item],
    persistence: &DynamoDbPersistence,
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
