//! The floor: the DynamoDB calls Oncely's design needs, with no idempotency logic around them. A
//! new key is a conditional PutItem (the claim, with Oncely's very condition) and a TransactWriteItems of two items (the
//! completed record and the order); a replay is one PutItem whose failed condition returns the
//! record (`ALL_OLD`). A warm cache needs no call at all, so it has no floor.

use anyhow::{bail, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};

use crate::workload::{BODY, Mode, Run, run_concurrent};

/// A stored response about the size of Oncely's (status, headers, the order's JSON).
const RESPONSE: &str = concat!(
    r#"{"id":"00000000-0000-4000-8000-000000000000","item":"book","quantity":2,"customer":"ann","status":"created","#,
    r#""created_at":"2026-01-01T00:00:00Z"}"#,
);

#[derive(Clone)]
pub struct Floor {
    client: Client,
    table: String,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl Floor {
    pub fn new(client: &Client, table: &str) -> Floor {
        Floor {
            client: client.clone(),
            table: table.to_string(),
        }
    }

    /// The claim's PutItem of `key`, with Oncely's condition (no record, or one that expired
    /// before TTL deleted it, or a claim whose invocation's deadline passed: the takeovers the
    /// design needs, and what Powertools' claim checks too); `ALL_OLD` when it fails. With
    /// `attribute_not_exists(id)` alone the call is cheaper for DynamoDB Local, and that floor
    /// would measure a design that cannot take over a dead claim.
    fn claim(&self, key: &str) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", s(key))
            .item("status", s("INPROGRESS"))
            .item("expiration", n(1_900_000_000))
            .item("in_progress_expiration", n(1_900_000_000_000))
            .item("fingerprint", s(BODY))
            .item("claim", s(key))
            .condition_expression(
                "attribute_not_exists(id) OR #ttl <= :now_s OR (#status = :inprogress AND \
                in_progress_expiration <= :now_ms)",
            )
            .expression_attribute_names("#ttl", "expiration")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now_s", n(oncely::now_ms() / 1000))
            .expression_attribute_values(":now_ms", n(oncely::now_ms()))
            .expression_attribute_values(":inprogress", s("INPROGRESS"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// A new key: the claim, then the completed record and the order in one transaction.
    async fn create(&self, key: String) -> anyhow::Result<()> {
        self.claim(&key).send().await?;
        let record = Put::builder()
            .table_name(&self.table)
            .item("id", s(&key))
            .item("status", s("COMPLETED"))
            .item("expiration", n(1_900_000_000))
            .item("in_progress_expiration", n(1_900_000_000_000))
            .item("fingerprint", s(BODY))
            .item("claim", s(&key))
            .item("response_status", n(201))
            .item("response_body", s(RESPONSE))
            .condition_expression("claim = :claim")
            .expression_attribute_values(":claim", s(&key))
            .build()?;
        let order = Put::builder()
            .table_name(&self.table)
            .item("id", s(&format!("order#{key}")))
            .item("order_id", s(&key))
            .item("item", s("book"))
            .item("quantity", n(2))
            .item("customer", s("ann"))
            .item("status", s("created"))
            .item("created_at", s("2026-01-01T00:00:00Z"))
            .build()?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build())
            .transact_items(TransactWriteItem::builder().put(order).build())
            .send()
            .await?;
        Ok(())
    }

    /// A replay: the claim fails and returns the completed record.
    async fn replay(&self, key: String) -> anyhow::Result<()> {
        match self.claim(&key).send().await {
            Ok(_) => bail!("the floor's replay of {key} found no record"),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => {
                    ensure!(e.item().is_some(), "the failed claim returned no record");
                    Ok(())
                }
                _ => Err(err.into()),
            },
        }
    }

    /// Creates `keys` (the setup of the replay mode), one at a time.
    pub async fn create_all(&self, keys: &[String]) -> anyhow::Result<()> {
        for key in keys {
            self.create(key.clone()).await?;
        }
        Ok(())
    }

    /// One run of `keys` in `mode` ([`Mode::Fresh`] or [`Mode::Replay`]).
    pub async fn run(&self, mode: Mode, keys: &[String]) -> anyhow::Result<Run> {
        let floor = self.clone();
        let fresh = mode == Mode::Fresh;
        run_concurrent(keys.to_vec(), move |key| {
            let floor = floor.clone();
            async move {
                if fresh {
                    floor.create(key).await
                } else {
                    floor.replay(key).await
                }
            }
        })
        .await
    }
}
