//! `scripts/bench`: Oncely's orders API in-process (records in the table, and in a local
//! `redis-server`) next to the same handler written with Powertools for AWS Lambda (TypeScript)
//! and the raw DynamoDB floor, then behind `up --local`, all on one DynamoDB Local, in interleaved
//! rounds. Prints markdown tables; never asserts.
//!
//! Usage (from the workspace root): `bench [--rounds N] [--requests N] [--deployer PATH]
//! [--powertools DIR] [--fingerprint-only] [--steps-only]`. Without `--deployer` the HTTP path is skipped; the
//! fingerprint table (1 MB bodies) comes last, or alone with `--fingerprint-only`.

mod fingerprint;
mod floor;
mod http;
mod oncely;
mod powertools;
mod report;
mod steps;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use testkit::FaultProxy;

use crate::floor::Floor;
use crate::http::Stack;
use crate::oncely::Oncely;
use crate::powertools::Powertools;
use crate::report::{Calls, Results, Row};
use crate::workload::{Mode, Run, keys, replay_keys};
use ::oncely::RedisPersistence;

/// DynamoDB Local keeps tables per access key id: every in-process row uses this one.
const KEY_ID: &str = testkit::TEST_KEY_ID;
const ONCELY_TABLE: &str = "bench-oncely";
const POWERTOOLS_TABLE: &str = "bench-powertools";
const FLOOR_TABLE: &str = "bench-floor";
const REDIS_ORDERS_TABLE: &str = "bench-oncely-redis";

struct Args {
    rounds: usize,
    requests: usize,
    deployer: Option<PathBuf>,
    powertools: PathBuf,
    /// Only the fingerprint table: no emulators, no rows.
    fingerprint_only: bool,
    /// Only the steps of a cached replay: no emulators, no rows.
    steps_only: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        rounds: 3,
        requests: 256,
        deployer: None,
        powertools: PathBuf::from("bench/powertools"),
        fingerprint_only: false,
        steps_only: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = || given.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rounds" => args.rounds = value()?.parse().context("--rounds: a whole number")?,
            "--requests" => args.requests = value()?.parse().context("--requests: a whole number")?,
            "--deployer" => args.deployer = Some(PathBuf::from(value()?)),
            "--powertools" => args.powertools = PathBuf::from(value()?),
            "--fingerprint-only" => args.fingerprint_only = true,
            "--steps-only" => args.steps_only = true,
            _ => {
                bail!(
                    "unknown argument {arg}: bench [--rounds N] [--requests N] [--deployer PATH] [--powertools DIR] \
                    [--fingerprint-only] [--steps-only]"
                )
            }
        }
    }
    if args.rounds == 0 || args.requests < workload::REPLAY_KEYS {
        bail!(
            "--rounds must be at least 1 and --requests at least {}",
            workload::REPLAY_KEYS
        );
    }
    Ok(args)
}

/// Every row, over one DynamoDB endpoint.
struct Rows {
    oncely: Oncely,
    /// The same API with its records in Redis (a local `redis-server`).
    oncely_redis: Oncely<RedisPersistence>,
    floor: Floor,
    /// Oncely behind `up --local`: local cache off, and on.
    http: Option<(Stack, Stack)>,
}

impl Rows {
    fn new(client: &aws_sdk_dynamodb::Client, redis_url: &str) -> anyhow::Result<Rows> {
        Ok(Rows {
            oncely: Oncely::new(client, ONCELY_TABLE),
            oncely_redis: Oncely::on_redis(client, REDIS_ORDERS_TABLE, redis_url)?,
            floor: Floor::new(client, FLOOR_TABLE),
            http: None,
        })
    }

    /// One run of `row` in `mode`; `None` for a row without that mode.
    async fn run(
        &self,
        node: &mut Powertools,
        endpoint: &str,
        row: Row,
        mode: Mode,
        keys: &[String],
    ) -> anyhow::Result<Option<Run>> {
        Ok(Some(match (row, mode) {
            (Row::Oncely, _) => self.oncely.run(mode, keys).await?,
            (Row::OncelyRedis, _) => self.oncely_redis.run(mode, keys).await?,
            (Row::Powertools, _) => node.run(endpoint, KEY_ID, POWERTOOLS_TABLE, mode, keys).await?,
            (Row::Floor, Mode::Cached) => return Ok(None),
            (Row::Floor, _) => self.floor.run(mode, keys).await?,
            (Row::Http, _) => match &self.http {
                None => return Ok(None),
                Some((plain, cached)) => if mode == Mode::Cached { cached } else { plain }.run(keys).await?,
            },
        }))
    }

    /// Creates the 16 replay keys in every row and warms the caches (untimed).
    async fn prepare(&self, node: &mut Powertools, endpoint: &str) -> anyhow::Result<()> {
        let replay = replay_keys();
        for row in [Row::Oncely, Row::OncelyRedis, Row::Powertools, Row::Http] {
            self.run(node, endpoint, row, Mode::Replay, &replay).await?;
            self.run(node, endpoint, row, Mode::Cached, &replay).await?;
        }
        self.floor.create_all(&replay).await?;
        // Each of the HTTP path's environments has its own cache: a few more passes warm them.
        if let Some((_, cached)) = &self.http {
            for _ in 0..4 {
                cached.run(&replay).await?;
            }
        }
        Ok(())
    }
}

/// DynamoDB calls per request of each in-process row and mode, through a counting proxy.
async fn count_calls(proxy: &FaultProxy, node: &mut Powertools) -> anyhow::Result<BTreeMap<(Row, Mode), Calls>> {
    let client = testkit::dynamodb_client(&proxy.endpoint(), KEY_ID, None);
    let rows = Rows::new(&client, &testkit::redis_url())?;
    let endpoint = proxy.endpoint();
    // Warms the counting instances' caches (the keys exist already).
    for row in [Row::Oncely, Row::OncelyRedis, Row::Powertools] {
        rows.run(node, &endpoint, row, Mode::Cached, &replay_keys()).await?;
    }
    let mut calls = BTreeMap::new();
    for mode in Mode::ALL {
        let keys = keys(mode, "count", workload::REPLAY_KEYS);
        for row in [Row::Oncely, Row::OncelyRedis, Row::Powertools, Row::Floor] {
            let before = proxy.counts();
            if rows.run(node, &endpoint, row, mode, &keys).await?.is_none() {
                continue;
            }
            let mut counted = Calls::default();
            for ((kind, operation), n) in proxy.counts() {
                let new = n - before.get(&(kind.clone(), operation.clone())).copied().unwrap_or(0);
                if kind == "pass" && new > 0 {
                    *counted.per_operation.entry(operation).or_default() += new as f64 / keys.len() as f64;
                }
            }
            calls.insert((row, mode), counted);
        }
    }
    Ok(calls)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if args.fingerprint_only {
        fingerprint::print(9);
        return Ok(());
    }
    if args.steps_only {
        steps::print(oncely::FUNCTION_NAME, None);
        return Ok(());
    }
    let dynamodb = testkit::dynamodb_local();
    let endpoint = dynamodb.endpoint();
    let client = testkit::dynamodb_client(&endpoint, KEY_ID, None);
    for table in [ONCELY_TABLE, REDIS_ORDERS_TABLE, POWERTOOLS_TABLE, FLOOR_TABLE] {
        testkit::create_table(&client, table).await;
    }
    let mut node = Powertools::start(&args.powertools).await?;
    let mut rows = Rows::new(&client, &testkit::redis_url())?;
    if let Some(deployer) = &args.deployer {
        eprintln!("starting two `up --local` stacks (local cache off, on)...");
        rows.http = Some((
            Stack::start(deployer, "bench-plain", 0, &endpoint)?,
            Stack::start(deployer, "bench-cached", 256, &endpoint)?,
        ));
    }
    rows.prepare(&mut node, &endpoint).await?;
    let cached_whole_ns = rows.oncely.cached_request_ns().await?;
    let all = [Row::Oncely, Row::OncelyRedis, Row::Powertools, Row::Floor, Row::Http];
    // Untimed: connections, JIT (node, DynamoDB Local's JVM) and allocators warm up alike.
    for mode in Mode::ALL {
        for row in all {
            rows.run(&mut node, &endpoint, row, mode, &keys(mode, "warm", args.requests / 4))
                .await?;
        }
    }
    let mut results = Results::new();
    for round in 0..args.rounds {
        eprintln!("round {} of {}...", round + 1, args.rounds);
        for mode in Mode::ALL {
            // Rows take turns, in the other order every other round.
            let mut order = all.to_vec();
            if round % 2 == 1 {
                order.reverse();
            }
            for row in order {
                let keys = keys(mode, &format!("r{round}"), args.requests);
                if let Some(run) = rows.run(&mut node, &endpoint, row, mode, &keys).await? {
                    results.entry((row, mode)).or_default().push(run);
                }
            }
        }
    }
    let proxy = FaultProxy::start(&endpoint).await;
    let calls = count_calls(&proxy, &mut node).await?;
    println!(
        "{} rounds, {} requests per run, {} in flight, one DynamoDB Local ({})",
        args.rounds,
        args.requests,
        workload::CONCURRENCY,
        endpoint
    );
    println!();
    report::print_in_process(&results, &calls);
    println!();
    report::print_goals(&results);
    if rows.http.is_some() {
        println!();
        report::print_http(&results);
    }
    println!();
    steps::print(oncely::FUNCTION_NAME, Some(cached_whole_ns));
    println!();
    fingerprint::print(9);
    Ok(())
}
