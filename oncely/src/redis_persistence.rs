//! The Redis/Valkey persistence layer: each record is a hash under `<prefix><key hash>` that the
//! store expires itself (PEXPIREAT at the record's expiration), and each step is one Lua script
//! (EVALSHA; the scripts are loaded once with SCRIPT LOAD, and sent again with EVAL after a
//! NOSCRIPT): a claim that answers the live record in the same round trip, a completion fenced by
//! the claim token, a release of our own claim only. A retried call recognises its own earlier
//! attempt by the claim token, so every call may be retried on a fresh connection.

use crate::persistence::{ClaimOutcome, Persistence, PersistenceError, TimeBounds};
use crate::record::{IdempotencyRecord, Status, StoredResponse};
use crate::redis_client::{Command, RedisClient, RespError, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The default prefix of record keys.
pub const DEFAULT_PREFIX: &str = "oncely:idempotency:";

/// Claims the record (KEYS[1]) unless a live one exists, which it returns (HGETALL) instead.
/// ARGV: now_ms, claim, fingerprint, in_progress_expiration_ms, expiration_s, expiration_ms.
const CLAIM: &str = r"
local now = tonumber(ARGV[1])
local cur = redis.call('HGETALL', KEYS[1])
if #cur > 0 then
  local f = {}
  for i = 1, #cur, 2 do f[cur[i]] = cur[i + 1] end
  if f['claim'] == ARGV[2] then return 1 end
  local exp = tonumber(f['expiration'])
  local ipe = tonumber(f['in_progress_expiration'])
  if exp == nil or ipe == nil then return cur end
  local dead = exp * 1000 <= now or (f['status'] == 'INPROGRESS' and ipe <= now)
  if not dead then return cur end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', 'INPROGRESS', 'claim', ARGV[2], 'fingerprint', ARGV[3],
  'in_progress_expiration', ARGV[4], 'expiration', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
";

/// Completes the record (KEYS[1]) if it is still our claim, with the handler's writes (KEYS[2..]).
/// ARGV: claim, expiration_ms, n, n field/value pairs, then per write: mode (SET or NX), value.
/// Returns 1 (done), 2 (already done by an earlier attempt), 0 (claim lost), -1-i (write i refused).
const COMPLETE: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'status', 'claim')
if cur[2] ~= ARGV[1] then return 0 end
if cur[1] == 'COMPLETED' then return 2 end
if cur[1] ~= 'INPROGRESS' then return 0 end
local n = tonumber(ARGV[3])
local w = 4 + 2 * n
for i = 2, #KEYS do
  local mode = ARGV[w + 2 * (i - 2)]
  if mode == 'NX' and redis.call('EXISTS', KEYS[i]) == 1 then return -1 - (i - 2) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, 3 + 2 * n))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[w + 2 * (i - 2) + 1])
end
return 1
";

/// Deletes the record (KEYS[1]) if it is our claim (ARGV[1]) and still in progress.
const RELEASE: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'status', 'claim')
if cur[1] == 'INPROGRESS' and cur[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

const SCRIPTS: [&str; 3] = [CLAIM, COMPLETE, RELEASE];

/// `SCRIPT LOAD` of each of [`SCRIPTS`], in their order.
fn script_loads() -> Vec<Command> {
    SCRIPTS
        .iter()
        .map(|source| Command::new("SCRIPT").arg("LOAD").arg(source))
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Script {
    Claim = 0,
    Complete = 1,
    Release = 2,
}

/// A write the handler commits in the completion's script, atomically with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisWrite {
    /// The key written.
    pub key: String,
    /// The value written.
    pub value: Vec<u8>,
    /// Refused (nothing of the completion is written) when the key already exists.
    pub only_if_absent: bool,
}

impl RedisWrite {
    /// `SET key value`.
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        RedisWrite {
            key: key.into(),
            value: value.into(),
            only_if_absent: false,
        }
    }
    /// `SET key value` only if `key` does not exist; otherwise the completion is refused.
    pub fn set_if_absent(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        RedisWrite {
            only_if_absent: true,
            ..RedisWrite::set(key, value)
        }
    }
}

/// Records in Redis or Valkey (one hash per record, expired by the store).
#[derive(Clone)]
pub struct RedisPersistence {
    client: Arc<RedisClient>,
    prefix: String,
    bounds: TimeBounds,
    shas: Arc<OnceLock<[String; 3]>>,
}

impl std::fmt::Debug for RedisPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPersistence")
            .field("url", self.client.url())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisPersistence {
    /// A persistence layer over `client`, with keys under [`DEFAULT_PREFIX`].
    pub fn new(client: RedisClient) -> Self {
        RedisPersistence {
            client: Arc::new(client),
            prefix: DEFAULT_PREFIX.to_string(),
            bounds: TimeBounds::default(),
            shas: Arc::new(OnceLock::new()),
        }
    }

    /// The same with record keys under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The same with other time bounds.
    pub fn with_time_bounds(mut self, bounds: TimeBounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// The time bounds of its calls.
    pub fn time_bounds(&self) -> TimeBounds {
        self.bounds
    }

    /// The client.
    pub fn client(&self) -> &RedisClient {
        &self.client
    }

    /// The key of the record with this key hash.
    pub fn key(&self, key_hash: &str) -> String {
        format!("{}{key_hash}", self.prefix)
    }

    /// Runs `script` within the time `deadline_ms` leaves (a claim or completion keeps time for
    /// the release after it; a release keeps the answer's reserve and takes at most
    /// `release_max`): attempts on fresh connections after connection trouble, while the time lasts.
    async fn eval(
        &self,
        script: Script,
        keys: &[&[u8]],
        args: &[Vec<u8>],
        deadline_ms: u64,
    ) -> Result<Value, PersistenceError> {
        let now = crate::record::now_ms();
        let call = match script {
            Script::Release => self.bounds.release_call(deadline_ms, now),
            Script::Claim | Script::Complete => self.bounds.call(deadline_ms, self.keep_for_release(), now),
        };
        let (operation, attempt) =
            call.ok_or_else(|| PersistenceError::Unavailable("no time left before the invocation's deadline".into()))?;
        let started = Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            let left = operation.saturating_sub(started.elapsed());
            let result = self.eval_once(script, keys, args, attempt.min(left)).await;
            let retry = match &result {
                Err(err) => err.is_transient(),
                // A failover demoted the server these connections reach: connect afresh.
                Ok(Value::Error { code, .. }) if code == "READONLY" => {
                    self.client.reset();
                    true
                }
                Ok(Value::Error { code, .. }) => {
                    matches!(code.as_str(), "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN")
                }
                Ok(_) => false,
            };
            let left = operation.saturating_sub(started.elapsed());
            if !retry || left < Duration::from_millis(20) {
                return match result {
                    Ok(Value::Error { code, message }) => Err(PersistenceError::Unavailable(format!(
                        "Redis refused the {script:?} script ({code}): {message}"
                    ))),
                    Ok(value) => Ok(value),
                    Err(err) => Err(PersistenceError::Unavailable(err.to_string())),
                };
            }
            tokio::time::sleep(Duration::from_millis(10 * tries).min(left / 4)).await;
        }
    }

    /// One attempt: EVALSHA (EVAL after NOSCRIPT); the first one also loads the scripts, in the
    /// same round trip.
    async fn eval_once(
        &self,
        script: Script,
        keys: &[&[u8]],
        args: &[Vec<u8>],
        timeout: Duration,
    ) -> Result<Value, RespError> {
        let call = |name: &str, first: &str| {
            let mut command = Command::new(name).arg(first).arg(keys.len().to_string());
            for key in keys {
                command = command.arg(key);
            }
            for arg in args {
                command = command.arg(arg);
            }
            command
        };
        let started = Instant::now();
        let eval = call("EVAL", SCRIPTS[script as usize]);
        let Some(shas) = self.shas.get() else {
            let mut commands = script_loads();
            commands.push(eval);
            let mut replies = self.client.pipeline(&commands, timeout).await?;
            let result = replies.pop().unwrap_or(Value::Nil);
            // A refused load leaves the digests unknown: the next call loads them again.
            let _ = self.remember_shas(replies);
            return Ok(result);
        };
        let reply = self
            .client
            .pipeline(&[call("EVALSHA", &shas[script as usize])], timeout)
            .await?
            .pop()
            .unwrap_or(Value::Nil);
        match reply {
            // The server lost its script cache (a restart, a failover, SCRIPT FLUSH): EVAL loads it again.
            Value::Error { code, .. } if code == "NOSCRIPT" => {
                let left = timeout.saturating_sub(started.elapsed());
                Ok(self.client.pipeline(&[eval], left).await?.pop().unwrap_or(Value::Nil))
            }
            other => Ok(other),
        }
    }

    /// Keeps the scripts' digests from the replies to [`script_loads`], when all three came;
    /// else the first refusal.
    fn remember_shas(&self, replies: Vec<Value>) -> Result<(), PersistenceError> {
        let mut shas = Vec::with_capacity(SCRIPTS.len());
        for reply in replies {
            match reply {
                Value::Bulk(sha) => shas.extend(String::from_utf8(sha).ok()),
                Value::Error { code, message } => {
                    return Err(PersistenceError::Unavailable(format!(
                        "Redis refused SCRIPT LOAD ({code}): {message}"
                    )));
                }
                _ => {}
            }
        }
        let shas = <[String; 3]>::try_from(shas)
            .map_err(|_| PersistenceError::Unavailable("Redis did not return the scripts' digests".into()))?;
        let _ = self.shas.set(shas);
        Ok(())
    }

    /// One command of an operator (no invocation deadline): bounded by `operation_max`.
    async fn operator_call(&self, command: Command) -> Result<Value, PersistenceError> {
        let reply = self
            .client
            .pipeline(&[command], self.bounds.operation_max)
            .await
            .map_err(|err| PersistenceError::Unavailable(err.to_string()))?;
        match reply.into_iter().next() {
            Some(Value::Error { code, message }) => Err(PersistenceError::Unavailable(format!(
                "Redis refused the command ({code}): {message}"
            ))),
            Some(value) => Ok(value),
            None => Err(PersistenceError::Unavailable("Redis sent no reply".into())),
        }
    }

    /// The keep of a claim or a completion: time to release after it, then to answer.
    fn keep_for_release(&self) -> Duration {
        self.bounds.answer_reserve + self.bounds.release_reserve
    }
}

/// The hash fields that store `record` (all but the key hash, which names the key).
pub fn record_fields(record: &IdempotencyRecord) -> Vec<(&'static str, Vec<u8>)> {
    let mut fields = vec![
        ("status", record.status.as_str().as_bytes().to_vec()),
        ("claim", record.claim.as_bytes().to_vec()),
        ("fingerprint", record.fingerprint.as_bytes().to_vec()),
        (
            "in_progress_expiration",
            record.in_progress_expiration_ms.to_string().into_bytes(),
        ),
        ("expiration", record.expiration_s.to_string().into_bytes()),
    ];
    if let Some(response) = &record.response {
        fields.push(("response_status", response.status.to_string().into_bytes()));
        fields.push(("response_headers", encode_headers(&response.headers)));
        fields.push(("response_body", response.body.clone()));
    }
    fields
}

/// Headers as one binary value: per header, its name and its value, each after its length (u32 BE).
fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        for part in [name.as_bytes(), value.as_slice()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

fn decode_headers(mut data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let part = |data: &mut &[u8]| -> Option<Vec<u8>> {
        let (len, rest) = data.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        let value = rest.get(..len)?.to_vec();
        *data = &rest[len..];
        Some(value)
    };
    let mut headers = Vec::new();
    while !data.is_empty() {
        let name = String::from_utf8(part(&mut data)?).ok()?;
        headers.push((name, part(&mut data)?));
    }
    Some(headers)
}

/// Reads a record from its hash (HGETALL's flat field/value array).
pub fn record_from_hash(key_hash: &str, items: Vec<Value>) -> Result<IdempotencyRecord, PersistenceError> {
    let corrupt = |what: &str| PersistenceError::Corrupt(format!("Redis record {key_hash}: {what}"));
    let mut fields = HashMap::new();
    let mut items = items.into_iter();
    while let (Some(Value::Bulk(name)), Some(Value::Bulk(value))) = (items.next(), items.next()) {
        fields.insert(String::from_utf8_lossy(&name).into_owned(), value);
    }
    let s = |name: &str| {
        fields
            .get(name)
            .and_then(|v| String::from_utf8(v.clone()).ok())
            .ok_or_else(|| corrupt(&format!("`{name}` is missing or not text")))
    };
    let n = |name: &str| {
        s(name)?
            .parse::<u64>()
            .map_err(|_| corrupt(&format!("`{name}` is not a number")))
    };
    let status = Status::parse(&s("status")?).ok_or_else(|| corrupt("unknown `status`"))?;
    let response = match status {
        Status::InProgress => None,
        Status::Completed => Some(StoredResponse {
            status: u16::try_from(n("response_status")?).map_err(|_| corrupt("bad `response_status`"))?,
            headers: decode_headers(fields.get("response_headers").map_or(&[][..], Vec::as_slice))
                .ok_or_else(|| corrupt("`response_headers` is not length-prefixed pairs"))?,
            body: fields.get("response_body").cloned().unwrap_or_default(),
        }),
    };
    Ok(IdempotencyRecord {
        key_hash: key_hash.to_string(),
        status,
        expiration_s: n("expiration")?,
        in_progress_expiration_ms: n("in_progress_expiration")?,
        fingerprint: s("fingerprint")?,
        claim: s("claim")?,
        response,
    })
}

fn unexpected(script: &str, value: &Value) -> PersistenceError {
    PersistenceError::Unavailable(format!("unexpected reply to the {script} script: {value:?}"))
}

impl Persistence for RedisPersistence {
    type Write = RedisWrite;

    /// Connects (TCP, TLS, AUTH, SELECT) and loads the scripts in one round trip, so the first
    /// claim finds an open connection and sends EVALSHA alone.
    async fn warm_up(&self, within: Duration) -> Result<(), PersistenceError> {
        let replies = self
            .client
            .pipeline(&script_loads(), within)
            .await
            .map_err(|err| PersistenceError::Unavailable(err.to_string()))?;
        self.remember_shas(replies)
    }

    async fn claim(&self, record: &IdempotencyRecord, now_ms: u64) -> Result<ClaimOutcome, PersistenceError> {
        let key = self.key(&record.key_hash);
        let args = vec![
            now_ms.to_string().into_bytes(),
            record.claim.as_bytes().to_vec(),
            record.fingerprint.as_bytes().to_vec(),
            record.in_progress_expiration_ms.to_string().into_bytes(),
            record.expiration_s.to_string().into_bytes(),
            record.expiration_s.saturating_mul(1000).to_string().into_bytes(),
        ];
        let reply = self
            .eval(
                Script::Claim,
                &[key.as_bytes()],
                &args,
                record.in_progress_expiration_ms,
            )
            .await?;
        match reply {
            Value::Int(1) => Ok(ClaimOutcome::Claimed),
            Value::Array(items) => Ok(ClaimOutcome::Existing(record_from_hash(&record.key_hash, items)?)),
            other => Err(unexpected("claim", &other)),
        }
    }

    async fn complete(&self, record: &IdempotencyRecord, writes: Vec<RedisWrite>) -> Result<(), PersistenceError> {
        let key = self.key(&record.key_hash);
        let mut keys: Vec<&[u8]> = vec![key.as_bytes()];
        keys.extend(writes.iter().map(|w| w.key.as_bytes()));
        let fields = record_fields(record);
        let mut args = vec![
            record.claim.as_bytes().to_vec(),
            record.expiration_s.saturating_mul(1000).to_string().into_bytes(),
            fields.len().to_string().into_bytes(),
        ];
        for (name, value) in fields {
            args.push(name.as_bytes().to_vec());
            args.push(value);
        }
        for write in &writes {
            args.push(if write.only_if_absent {
                b"NX".to_vec()
            } else {
                b"SET".to_vec()
            });
            args.push(write.value.clone());
        }
        let reply = self
            .eval(Script::Complete, &keys, &args, record.in_progress_expiration_ms)
            .await?;
        match reply {
            Value::Int(1 | 2) => Ok(()),
            Value::Int(0) => Err(PersistenceError::ClaimLost),
            Value::Int(n) if n < 0 => {
                let index = (-1 - n) as usize;
                Err(PersistenceError::WriteRejected {
                    index,
                    reason: format!("key `{}` already exists", writes.get(index).map_or("?", |w| &w.key)),
                })
            }
            other => Err(unexpected("complete", &other)),
        }
    }

    async fn read(&self, key_hash: &str) -> Result<Option<IdempotencyRecord>, PersistenceError> {
        let get = Command::new("HGETALL").arg(self.key(key_hash));
        let reply = self.operator_call(get).await?;
        match reply {
            Value::Array(items) if items.is_empty() => Ok(None),
            Value::Array(items) => record_from_hash(key_hash, items).map(Some),
            other => Err(unexpected("read", &other)),
        }
    }

    async fn delete(&self, key_hash: &str) -> Result<bool, PersistenceError> {
        match self.operator_call(Command::new("DEL").arg(self.key(key_hash))).await? {
            Value::Int(n) => Ok(n > 0),
            other => Err(unexpected("delete", &other)),
        }
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<(), PersistenceError> {
        let key = self.key(&record.key_hash);
        let reply = self
            .eval(
                Script::Release,
                &[key.as_bytes()],
                &[record.claim.as_bytes().to_vec()],
                record.in_progress_expiration_ms,
            )
            .await?;
        match reply {
            // 0: gone, completed, or another request's claim: nothing of ours is left to release.
            Value::Int(0 | 1) => Ok(()),
            other => Err(unexpected("release", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_hash_fields() {
        let mut record = IdempotencyRecord {
            key_hash: "h".into(),
            status: Status::Completed,
            expiration_s: 10,
            in_progress_expiration_ms: 20,
            fingerprint: "json:x".into(),
            claim: "c".into(),
            response: Some(StoredResponse {
                status: 201,
                headers: vec![("location".into(), b"/x".to_vec()), ("x".into(), vec![])],
                body: vec![0, 159, 146, 150],
            }),
        };
        let hash = |r: &IdempotencyRecord| {
            record_fields(r)
                .into_iter()
                .flat_map(|(k, v)| [Value::Bulk(k.as_bytes().to_vec()), Value::Bulk(v)])
                .collect::<Vec<_>>()
        };
        assert_eq!(record_from_hash("h", hash(&record)).unwrap(), record);
        record.status = Status::InProgress;
        record.response = None;
        assert_eq!(record_from_hash("h", hash(&record)).unwrap(), record);
        let broken = vec![Value::Bulk(b"status".to_vec()), Value::Bulk(b"WEIRD".to_vec())];
        assert!(matches!(
            record_from_hash("h", broken),
            Err(PersistenceError::Corrupt(_))
        ));
    }
}
