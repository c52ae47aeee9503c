//! A DynamoDB-like table: read and write capacity as token buckets (one second of capacity
//! as burst), an eventually consistent read costing 0.5 units and a write 1 unit. A call that
//! finds the bucket empty is throttled and retried by the "SDK" with exponential backoff and
//! jitter (which lengthens the invocation, as with the real SDK) up to `max_retries` times.
//! Records AWS/DynamoDB metrics with the TableName dimension.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::config::TableConfig;
use crate::dist::scale;
use stormwatch_aws_emulator::metric_store::{MetricStore, Unit, key};

const READ_COST: f64 = 0.5;
const WRITE_COST: f64 = 1.0;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One table.
pub struct Table {
    name: String,
    config: TableConfig,
    read: Mutex<Bucket>,
    write: Mutex<Bucket>,
}

/// What one SDK call went through.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallOutcome {
    /// Retries after throttles.
    pub retries: u32,
    /// True when every attempt was throttled and the call failed.
    pub failed: bool,
    /// Time spent waiting in backoff.
    pub backoff: Duration,
}

impl CallOutcome {
    /// After a throttled attempt: fails the call when `max_retries` are spent (returns
    /// false), else waits the SDK's exponential backoff with equal jitter — at least half of
    /// `base × 2^retries` — and counts the retry.
    pub async fn back_off(
        &mut self,
        max_retries: u32,
        base: Duration,
        rng: &mut fastrand::Rng,
    ) -> bool {
        if self.retries >= max_retries {
            self.failed = true;
            return false;
        }
        // Saturating: a long base backoff doubled many times must not overflow.
        let step = base.saturating_mul(2u32.saturating_pow(self.retries));
        let wait = scale(step, 0.5 + 0.5 * rng.f64());
        tokio::time::sleep(wait).await;
        self.backoff = self.backoff.saturating_add(wait);
        self.retries += 1;
        true
    }
}

impl Table {
    /// A table with full buckets.
    pub fn new(name: &str, config: TableConfig) -> Self {
        let now = Instant::now();
        Self {
            name: name.to_string(),
            read: Mutex::new(Bucket {
                tokens: config.read_capacity,
                last: now,
            }),
            write: Mutex::new(Bucket {
                tokens: config.write_capacity,
                last: now,
            }),
            config,
        }
    }

    fn try_take(&self, write: bool, factor: f64) -> bool {
        let (bucket, capacity, cost) = if write {
            (&self.write, self.config.write_capacity, WRITE_COST)
        } else {
            (&self.read, self.config.read_capacity, READ_COST)
        };
        let capacity = capacity * factor;
        let mut b = bucket.lock().expect("table bucket poisoned");
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * capacity).min(capacity);
        b.last = now;
        if b.tokens >= cost {
            b.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// One read or write, retried on throttles; `factor` scales capacity (fault windows).
    pub async fn call(
        &self,
        write: bool,
        factor: f64,
        rng: &mut fastrand::Rng,
        metrics: &MetricStore,
        at: SystemTime,
    ) -> CallOutcome {
        let dims = [("TableName", self.name.as_str())];
        let ns = "AWS/DynamoDB";
        let mut out = CallOutcome::default();
        loop {
            if self.try_take(write, factor) {
                let (m, cost) = if write {
                    ("ConsumedWriteCapacityUnits", WRITE_COST)
                } else {
                    ("ConsumedReadCapacityUnits", READ_COST)
                };
                metrics.record(key(ns, m, &dims), Unit::Count, at, cost);
                return out;
            }
            metrics.record(key(ns, "ThrottledRequests", &dims), Unit::Count, at, 1.0);
            let ev = if write {
                "WriteThrottleEvents"
            } else {
                "ReadThrottleEvents"
            };
            metrics.record(key(ns, ev, &dims), Unit::Count, at, 1.0);
            if !out
                .back_off(self.config.max_retries, self.config.base_backoff, rng)
                .await
            {
                return out;
            }
        }
    }
}
