//! The bench's tables: each row's runs summed up (best and median req/s, median p50 and p99),
//! its DynamoDB calls per request, and its ratios to Powertools and to the floor.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::workload::{Mode, Run};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    Oncely,
    /// Oncely with its records in Redis (orders in the table).
    OncelyRedis,
    Powertools,
    Floor,
    /// Oncely behind `up --local`.
    Http,
}

impl Row {
    pub fn label(self) -> &'static str {
        match self {
            Row::Oncely => "Oncely (in-process)",
            Row::OncelyRedis => "Oncely, records in Redis (in-process)",
            Row::Powertools => "Powertools (TypeScript, in-process)",
            Row::Floor => "floor (raw DynamoDB calls)",
            Row::Http => "Oncely via `up --local` (HTTP)",
        }
    }
}

/// A row's runs of one mode, summed up.
pub struct Summary {
    pub best: f64,
    pub median: f64,
    pub p50: Duration,
    pub p99: Duration,
}

fn median<T: Copy>(mut values: Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) -> T {
    values.sort_by(cmp);
    values[values.len() / 2]
}

impl Summary {
    pub fn of(runs: &[Run]) -> Option<Summary> {
        if runs.is_empty() {
            return None;
        }
        let rates: Vec<f64> = runs.iter().map(Run::requests_per_s).collect();
        Some(Summary {
            best: rates.iter().copied().fold(0.0, f64::max),
            median: median(rates, f64::total_cmp),
            p50: median(runs.iter().map(|r| r.quantile(0.5)).collect(), Ord::cmp),
            p99: median(runs.iter().map(|r| r.quantile(0.99)).collect(), Ord::cmp),
        })
    }
}

/// DynamoDB calls per request, counted by operation in one pass through a counting proxy.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    pub per_operation: BTreeMap<String, f64>,
}

impl Calls {
    pub fn total(&self) -> f64 {
        self.per_operation.values().sum()
    }

    /// `2 (PutItem + TransactWriteItems)`, `3 (PutItem×2 + UpdateItem)`, `0`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .per_operation
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(op, n)| {
                if (*n - 1.0).abs() < 1e-9 {
                    op.clone()
                } else {
                    format!("{op}×{}", number(*n))
                }
            })
            .collect();
        if parts.is_empty() {
            "0".into()
        } else {
            format!("{} ({})", number(self.total()), parts.join(" + "))
        }
    }
}

fn number(n: f64) -> String {
    if (n - n.round()).abs() < 1e-9 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or("—".into(), |b| format!("{:.2}x", a / b))
}

pub type Results = BTreeMap<(Row, Mode), Vec<Run>>;

/// The in-process table: every mode, Oncely (records in DynamoDB, then in Redis), Powertools and
/// the floor. Calls are DynamoDB calls: the Redis row's Redis round trips come on top.
pub fn print_in_process(results: &Results, calls: &BTreeMap<(Row, Mode), Calls>) {
    println!(
        "| mode | row | req/s best | req/s median | p50 ms | p99 ms | DynamoDB calls/request \
         | req/s vs Powertools | req/s vs floor |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|");
    for mode in Mode::ALL {
        let summary = |row| results.get(&(row, mode)).and_then(|runs| Summary::of(runs));
        let powertools = summary(Row::Powertools).map(|s| s.median);
        let floor = summary(Row::Floor).map(|s| s.median);
        for row in [Row::Oncely, Row::OncelyRedis, Row::Powertools, Row::Floor] {
            let Some(s) = summary(row) else {
                if row == Row::Floor {
                    println!(
                        "| {} | {} | — | — | — | — | 0 (nothing to call) | — | — |",
                        mode.label(),
                        row.label()
                    );
                }
                continue;
            };
            let calls = calls.get(&(row, mode)).map_or("—".into(), Calls::describe);
            println!(
                "| {} | {} | {:.0} | {:.0} | {} | {} | {calls} | {} | {} |",
                mode.label(),
                row.label(),
                s.best,
                s.median,
                ms(s.p50),
                ms(s.p99),
                ratio(s.median, powertools),
                ratio(s.median, floor),
            );
        }
    }
}

/// The HTTP table: Oncely behind `up --local` against Oncely in-process, mode by mode.
pub fn print_http(results: &Results) {
    println!("| mode | req/s best | req/s median | p50 ms | p99 ms | in-process p50 ms | p50 added by the HTTP path |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for mode in Mode::ALL {
        let summary = |row| results.get(&(row, mode)).and_then(|runs| Summary::of(runs));
        let (Some(http), Some(local)) = (summary(Row::Http), summary(Row::Oncely)) else {
            continue;
        };
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} |",
            mode.label(),
            http.best,
            http.median,
            ms(http.p50),
            ms(http.p99),
            ms(local.p50),
            ms(http.p50.saturating_sub(local.p50)),
        );
    }
}

/// The goals the in-process rows are held to, each measured side by side in this run.
pub fn print_goals(results: &Results) {
    let summary = |row, mode| results.get(&(row, mode)).and_then(|runs| Summary::of(runs));
    let met = |ok: bool| if ok { "yes" } else { "no" };
    println!("| goal | figure in this run | goal | met |");
    println!("|---|---:|---:|---|");
    if let (Some(oncely), Some(floor)) = (summary(Row::Oncely, Mode::Replay), summary(Row::Floor, Mode::Replay)) {
        let r = oncely.median / floor.median;
        println!("| replay: req/s vs the floor | {r:.2}x | ≥ 0.90x | {} |", met(r >= 0.9));
        let p = oncely.p50.as_secs_f64() / floor.p50.as_secs_f64();
        println!(
            "| replay: p50 vs the floor's | {} vs {} ms ({:+.0} %) | within 10 % | {} |",
            ms(oncely.p50),
            ms(floor.p50),
            (p - 1.0) * 100.0,
            met(p <= 1.1)
        );
    }
    if let (Some(oncely), Some(powertools)) = (
        summary(Row::Oncely, Mode::Cached),
        summary(Row::Powertools, Mode::Cached),
    ) {
        let r = oncely.median / powertools.median;
        println!(
            "| cached replay: req/s vs Powertools | {r:.1}x | ≥ 10x | {} |",
            met(r >= 10.0)
        );
    }
}
