//! The orders API: `POST /orders` (idempotent, the order commits with the idempotency record)
//! and `GET /orders/{id}` (ETag, 304), with problem+json errors and 404/405 routing. With a JWT
//! caller, the order is the caller's (see `ownership`). The store of the idempotency records is
//! DynamoDB (the same table) or Redis; see `orders_store` for how each writes the order.

use crate::orders_store::{OrderStore, OrderWrite};
use crate::ownership::{OWNER_ATTRIBUTE, Owner, customer_from_caller};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use oncely::dynamodb::call_config;
use oncely::{
    Caller, CallerError, Completion, DynamoDbPersistence, HandlerError, Idempotency, IdempotencyConfig, Outcome,
    Problem, RedisPersistence,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// `Cache-Control` of `GET /orders/{id}` (orders do not change once created).
pub const ORDER_CACHE_CONTROL: &str = "private, max-age=60";
/// The route that POSTs are scoped to in the key hash.
pub const ORDERS_ROUTE: &str = "/orders";
/// Request header asking `POST /orders` to work this many milliseconds after its claim (honoured
/// only up to `ORDERS_SIMULATED_WORK_MAX_MS`, which is 0, off, by default).
pub const SIMULATE_WORK_HEADER: &str = "x-simulate-work-ms";

/// A validated `POST /orders` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub item: String,
    pub quantity: u32,
    pub customer: Option<String>,
}

/// An order as returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub item: String,
    pub quantity: u32,
    pub customer: Option<String>,
    pub status: String,
    pub created_at: String,
}

/// Validates a `POST /orders` body: `{"item": 1..100 chars, "quantity": 1..1000, "customer"?: string}`.
pub fn parse_new_order(body: &[u8]) -> Result<NewOrder, Problem> {
    let bad = |title: &str| Problem::new(StatusCode::BAD_REQUEST, "invalid-order", title);
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad("The body must be valid JSON").with_detail(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| bad("The body must be a JSON object with `item` and `quantity`"))?;
    let item = match object.get("item") {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => return Err(bad("`item` is required: a string of 1 to 100 characters")),
        Some(_) => return Err(bad("`item` must be a string of 1 to 100 characters")),
    };
    let chars = item.chars().count();
    if !(1..=100).contains(&chars) || item.trim().is_empty() {
        return Err(bad("`item` must be 1 to 100 characters long and not blank")
            .with_detail(format!("it has {chars} characters")));
    }
    let quantity = match object.get("quantity") {
        None | Some(serde_json::Value::Null) => return Err(bad("`quantity` is required: an integer from 1 to 1000")),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(q) if (1..=1000).contains(&q) => q as u32,
            _ => return Err(bad("`quantity` must be an integer from 1 to 1000").with_detail(format!("got {n}"))),
        },
        Some(_) => {
            return Err(bad(
                "`quantity` must be an integer from 1 to 1000, not a string or other type",
            ));
        }
    };
    let customer = match object.get("customer") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.chars().count() <= 200 => Some(s.clone()),
        Some(serde_json::Value::String(_)) => return Err(bad("`customer` must be at most 200 characters")),
        Some(_) => return Err(bad("`customer` must be a string when present")),
    };
    Ok(NewOrder {
        item,
        quantity,
        customer,
    })
}

/// The table key of an order.
pub fn order_item_id(id: &str) -> String {
    format!("order#{id}")
}

/// The strong ETag of a representation.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    )
}

/// Whether `If-None-Match` matches `etag` (weak comparison, `*` matches anything).
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || bare(tag) == bare(etag))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The orders API over one DynamoDB table of orders, with its idempotency records in the same
/// table (the default) or in Redis (`OrdersApi<RedisPersistence>`).
pub struct OrdersApi<P: OrderStore = DynamoDbPersistence> {
    idempotency: Idempotency<P>,
    client: Client,
    table: String,
    simulated_work_max: std::time::Duration,
}

impl OrdersApi {
    /// The API over `table` with `config`, its records in the same table.
    pub fn new(client: Client, table: impl Into<String>, config: IdempotencyConfig) -> Self {
        let table = table.into();
        let persistence = DynamoDbPersistence::new(client.clone(), table.clone(), config.ttl_attribute.clone());
        OrdersApi {
            idempotency: Idempotency::new(config, persistence),
            client,
            table,
            simulated_work_max: std::time::Duration::ZERO,
        }
    }
}

impl OrdersApi<RedisPersistence> {
    /// The API over `table` with `config`, its records in Redis.
    pub fn with_redis(
        client: Client,
        table: impl Into<String>,
        config: IdempotencyConfig,
        redis: RedisPersistence,
    ) -> Self {
        OrdersApi {
            idempotency: Idempotency::new(config, redis),
            client,
            table: table.into(),
            simulated_work_max: std::time::Duration::ZERO,
        }
    }
}

impl<P: OrderStore> OrdersApi<P> {
    /// Lets requests ask for up to `max` of simulated work with the `X-Simulate-Work-Ms` header.
    pub fn with_simulated_work_max(mut self, max: std::time::Duration) -> Self {
        self.simulated_work_max = max;
        self
    }

    /// The simulated work a request asks for, capped at the configured maximum.
    fn simulated_work(&self, request: &Request) -> std::time::Duration {
        let asked = request
            .headers()
            .get(SIMULATE_WORK_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        std::time::Duration::from_millis(asked).min(self.simulated_work_max)
    }

    /// The client of the orders' table.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The orders' table.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The idempotency layer (for its key hash and configuration).
    pub fn idempotency(&self) -> &Idempotency<P> {
        &self.idempotency
    }

    /// Routes one request.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        self.handle_with_outcome(request).await.0
    }

    /// Routes one request and reports the idempotency outcome of a POST (`None` for other routes).
    pub async fn handle_with_outcome(&self, request: Request) -> (Response<Body>, Option<Outcome>) {
        let path = route_path(&request);
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let method = request.method().clone();
        match segments.as_slice() {
            ["orders"] if method == Method::POST => {
                let (response, outcome) = self.create(&request).await;
                (response, Some(outcome))
            }
            ["orders"] => (method_not_allowed("POST"), None),
            ["orders", id] if method == Method::GET || method == Method::HEAD => (self.get(&request, id).await, None),
            ["orders", _] => (method_not_allowed("GET, HEAD"), None),
            _ => (
                Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "No such route: use POST /orders or GET /orders/{id}",
                )
                .with_detail(format!("{method} {path}"))
                .into_response(),
                None,
            ),
        }
    }

    async fn create(&self, request: &Request) -> (Response<Body>, Outcome) {
        let caller = match caller_of(request) {
            Ok(caller) => caller,
            Err(err) => return (err.problem().into_response(), Outcome::Rejected),
        };
        let work = self.simulated_work(request);
        let write = |order| {
            // Both exist whenever the handler runs (the wrapper refuses the request otherwise).
            let (record_id, fingerprint) = if P::DERIVES_ORDER_IDS {
                (
                    self.idempotency
                        .record_id(&caller, request, ORDERS_ROUTE)
                        .unwrap_or_default(),
                    oncely::fingerprint::checked_fingerprint(request.body().as_ref()).unwrap_or_default(),
                )
            } else {
                Default::default()
            };
            OrderWrite {
                client: self.client.clone(),
                table: self.table.clone(),
                order,
                owner: caller.subject().map(str::to_string),
                record_id,
                fingerprint,
                deadline_ms: self.idempotency.deadline_ms(request, oncely::now_ms()),
                bounds: self.idempotency.persistence().time_bounds(),
            }
        };
        self.idempotency
            .handle_as(
                &caller,
                request,
                ORDERS_ROUTE,
                |r| customer_from_caller(parse_new_order(r.body().as_ref())?, &caller),
                move |order| {
                    let write = write(order);
                    async move {
                        if !work.is_zero() {
                            tokio::time::sleep(work).await;
                        }
                        P::create(write).await
                    }
                },
            )
            .await
    }

    async fn get(&self, request: &Request, id: &str) -> Response<Body> {
        let caller = match caller_of(request) {
            Ok(caller) => caller,
            Err(err) => return err.problem().into_response(),
        };
        let not_found = || {
            Problem::new(
                StatusCode::NOT_FOUND,
                "order-not-found",
                "No order has this id: check the id from the Location header",
            )
            .into_response()
        };
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return not_found();
        }
        // Bounded by the invocation's deadline like every store call: 503 before it, not a timeout.
        let bounds = self.idempotency.persistence().time_bounds();
        let deadline_ms = self.idempotency.deadline_ms(request, oncely::now_ms());
        let result = match call_config(&bounds, deadline_ms, bounds.answer_reserve) {
            Ok(config) => self
                .client
                .get_item()
                .table_name(&self.table)
                .key("id", AttributeValue::S(order_item_id(id)))
                .consistent_read(true)
                .customize()
                .config_override(config)
                .send()
                .await
                .map_err(|err| aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string()),
            Err(err) => Err(err.to_string()),
        };
        let item = match result {
            Ok(output) => match output.item {
                Some(item) => item,
                None => return not_found(),
            },
            Err(err) => {
                tracing::error!(error = %err, "GetItem failed");
                return Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "The order store is unavailable: retry later",
                )
                .with_retry_after(1)
                .into_response();
            }
        };
        // Another caller's order is answered exactly like a missing one.
        let owner = Owner::of_item(&item);
        if !owner.allows(&caller) {
            return not_found();
        }
        let Some(order) = order_from_item(&item) else {
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "corrupt-order",
                "The stored order could not be read: report this id",
            )
            .into_response();
        };
        let body = serde_json::to_vec(&order).expect("orders serialize");
        let tag = etag(&body);
        let matches = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| if_none_match_matches(v, &tag));
        let mut response = if matches {
            let mut r = Response::new(Body::Empty);
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            json_response(StatusCode::OK, body)
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, HeaderValue::from_str(&tag).expect("etags are ASCII"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(ORDER_CACHE_CONTROL));
        if owner != Owner::Nobody {
            // Another user of the same browser must not be served this caller's cached copy.
            headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
        }
        if request.method() == Method::HEAD {
            *response.body_mut() = Body::Empty;
        }
        response
    }
}

/// The path to route on: API Gateway's raw path without a named stage's leading segment
/// (HTTP API payload 2.0 puts `/prod` in `rawPath` for a stage `prod`, never `$default`),
/// without a trailing slash; the URI path for requests that did not come from API Gateway.
pub fn route_path(request: &Request) -> String {
    let raw = request.raw_http_path();
    let mut path = if raw.is_empty() {
        request.uri().path().to_string()
    } else {
        raw.to_string()
    };
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        && let Some(stage) = context.stage.as_deref().filter(|s| !s.is_empty() && *s != "$default")
    {
        let prefix = format!("/{stage}");
        if path == prefix || path.starts_with(&format!("{prefix}/")) {
            path = path[prefix.len()..].to_string();
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    if path.len() > 1 {
        path.trim_end_matches('/').to_string()
    } else {
        path
    }
}

/// The request's caller; a refusal is logged (its response is the error's `401` problem).
fn caller_of(request: &Request) -> Result<Caller, CallerError> {
    Caller::from_request(request).inspect_err(|err| {
        tracing::info!(outcome = "rejected", reason = %err, "caller refused");
    })
}

fn method_not_allowed(allow: &str) -> Response<Body> {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("This route only accepts {allow}"),
    )
    .with_allow(allow)
    .into_response()
}

/// Builds the 201 response and the order's Put (id `id`) for the completion transaction.
pub(crate) fn create_order(
    table: &str,
    id: &str,
    order: NewOrder,
    owner: Option<String>,
) -> Result<Completion<Response<Body>, TransactWriteItem>, HandlerError> {
    let (order, item) = order_item(id, order, owner)?;
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(id)")
        .build()?;
    Ok(Completion::new(created_response(&order)?).with_write(TransactWriteItem::builder().put(put).build()))
}

/// The order with id `id` created now, and its table item; `owner` (the caller's subject) is
/// stored in [`OWNER_ATTRIBUTE`], not in the representation.
pub(crate) fn order_item(
    id: &str,
    order: NewOrder,
    owner: Option<String>,
) -> Result<(Order, HashMap<String, AttributeValue>), HandlerError> {
    let id = id.to_string();
    let created_at = aws_smithy_types::DateTime::from_millis(oncely::now_ms() as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)?;
    let order = Order {
        id: id.clone(),
        item: order.item,
        quantity: order.quantity,
        customer: order.customer,
        status: "created".into(),
        created_at,
    };
    let mut item = HashMap::from([
        ("id".to_string(), AttributeValue::S(order_item_id(&id))),
        ("order_id".to_string(), AttributeValue::S(id.clone())),
        ("item".to_string(), AttributeValue::S(order.item.clone())),
        ("quantity".to_string(), AttributeValue::N(order.quantity.to_string())),
        ("status".to_string(), AttributeValue::S(order.status.clone())),
        ("created_at".to_string(), AttributeValue::S(order.created_at.clone())),
    ]);
    if let Some(customer) = &order.customer {
        item.insert("customer".into(), AttributeValue::S(customer.clone()));
    }
    if let Some(owner) = owner {
        item.insert(OWNER_ATTRIBUTE.into(), AttributeValue::S(owner));
    }
    Ok((order, item))
}

/// The 201 answer of a created order.
pub(crate) fn created_response(order: &Order) -> Result<Response<Body>, HandlerError> {
    let mut response = json_response(StatusCode::CREATED, serde_json::to_vec(order)?);
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/orders/{}", order.id))?,
    );
    Ok(response)
}

/// Reads an order from its table item.
pub fn order_from_item(item: &HashMap<String, AttributeValue>) -> Option<Order> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(Order {
        id: s("order_id")?,
        item: s("item")?,
        quantity: item.get("quantity")?.as_n().ok()?.parse().ok()?,
        customer: s("customer"),
        status: s("status")?,
        created_at: s("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_orders() {
        assert_eq!(
            parse_new_order(br#"{"item":"book","quantity":2}"#).unwrap(),
            NewOrder {
                item: "book".into(),
                quantity: 2,
                customer: None
            }
        );
        let o = parse_new_order(br#"{"item":"b","quantity":1000,"customer":"ann"}"#).unwrap();
        assert_eq!((o.quantity, o.customer.as_deref()), (1000, Some("ann")));
        assert!(parse_new_order(format!(r#"{{"item":"{}","quantity":1}}"#, "é".repeat(100)).as_bytes()).is_ok());
    }

    #[test]
    fn invalid_orders_say_what_to_fix() {
        for (body, needle) in [
            (&b"{"[..], "valid JSON"),
            (b"[1]", "JSON object"),
            (br#"{"quantity":1}"#, "`item` is required"),
            (br#"{"item":5,"quantity":1}"#, "`item` must be a string"),
            (br#"{"item":"","quantity":1}"#, "1 to 100"),
            (br#"{"item":"b"}"#, "`quantity` is required"),
            (br#"{"item":"b","quantity":0}"#, "from 1 to 1000"),
            (br#"{"item":"b","quantity":1001}"#, "from 1 to 1000"),
            (br#"{"item":"b","quantity":1.5}"#, "integer"),
            (br#"{"item":"b","quantity":-1}"#, "integer"),
            (br#"{"item":"b","quantity":"2"}"#, "not a string"),
            (
                br#"{"item":"b","quantity":2,"customer":7}"#,
                "`customer` must be a string",
            ),
        ] {
            let problem = parse_new_order(body).unwrap_err();
            assert_eq!(problem.status, 400);
            assert!(
                problem.title.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                problem.title
            );
        }
        let long = format!(r#"{{"item":"{}","quantity":1}}"#, "x".repeat(101));
        assert!(parse_new_order(long.as_bytes()).is_err());
    }

    #[test]
    fn etags_and_if_none_match() {
        let tag = etag(b"{}");
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_ne!(tag, etag(b"{ }"));
        assert!(if_none_match_matches(&tag, &tag));
        assert!(if_none_match_matches(&format!("\"x\", W/{tag}"), &tag));
        assert!(if_none_match_matches("*", &tag));
        assert!(!if_none_match_matches("\"x\"", &tag));
    }

    #[test]
    fn route_path_strips_a_named_stage_only() {
        let event = |stage: &str, raw: &str| {
            let json = serde_json::json!({
                "version": "2.0", "routeKey": "$default", "rawPath": raw, "rawQueryString": "", "headers": {},
                "requestContext": {
                    "accountId": "1", "apiId": "a", "domainName": "a.example",
                    "http": {
                        "method": "GET", "path": raw, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"
                    },
                    "requestId": "r", "routeKey": "$default", "stage": stage, "time": "10/Mar/2024:16:40:04 +0000",
                    "timeEpoch": 0
                },
                "isBase64Encoded": false
            });
            lambda_http::request::from_str(&json.to_string()).unwrap()
        };
        assert_eq!(route_path(&event("$default", "/orders")), "/orders");
        assert_eq!(route_path(&event("prod", "/prod/orders/abc")), "/orders/abc");
        assert_eq!(route_path(&event("prod", "/production/orders")), "/production/orders");
        assert_eq!(route_path(&event("$default", "/orders/")), "/orders");
        assert_eq!(route_path(&event("prod", "/prod")), "/");
    }

    #[test]
    fn order_items_round_trip() {
        let item = HashMap::from([
            ("order_id".to_string(), AttributeValue::S("1".into())),
            ("item".to_string(), AttributeValue::S("book".into())),
            ("quantity".to_string(), AttributeValue::N("3".into())),
            ("status".to_string(), AttributeValue::S("created".into())),
            (
                "created_at".to_string(),
                AttributeValue::S("2024-01-01T00:00:00Z".into()),
            ),
        ]);
        let order = order_from_item(&item).unwrap();
        assert_eq!((order.quantity, order.customer), (3, None));
    }
}
