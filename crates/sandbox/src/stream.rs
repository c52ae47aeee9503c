//! A Kinesis-like stream: each shard accepts 1,000 records/s and 1 MiB/s of writes (token
//! buckets holding one second of capacity). A PutRecord goes to the shard its (random)
//! partition key hashes to; beyond capacity it fails with
//! `ProvisionedThroughputExceededException` and the "SDK" retries with exponential backoff
//! and jitter, as for the table, lengthening the invocation. Records AWS/Kinesis
//! `IncomingRecords` and `WriteProvisionedThroughputExceeded` with the StreamName dimension.

use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::config_services::StreamConfig;
use crate::table::CallOutcome;
use stormwatch_aws_emulator::metric_store::{MetricStore, Unit, key};

/// Records per second one shard accepts.
const SHARD_RECORDS: f64 = 1000.0;
/// Bytes per second one shard accepts.
const SHARD_BYTES: f64 = 1024.0 * 1024.0;

struct Shard {
    records: f64,
    bytes: f64,
    last: Instant,
}

/// One stream.
pub struct Stream {
    name: String,
    config: StreamConfig,
    shards: Vec<Mutex<Shard>>,
}

impl Stream {
    /// A stream with full shard buckets.
    pub fn new(name: &str, config: StreamConfig) -> Self {
        let now = Instant::now();
        Self {
            name: name.to_string(),
            shards: (0..config.shards)
                .map(|_| {
                    Mutex::new(Shard {
                        records: SHARD_RECORDS,
                        bytes: SHARD_BYTES,
                        last: now,
                    })
                })
                .collect(),
            config,
        }
    }

    /// Takes one record of `bytes` from the shard's buckets, refilled up to `now`.
    fn try_put(&self, shard: usize, bytes: usize, now: Instant) -> bool {
        let mut s = self.shards[shard].lock().expect("shard poisoned");
        let dt = now.saturating_duration_since(s.last).as_secs_f64();
        s.last = now;
        s.records = (s.records + dt * SHARD_RECORDS).min(SHARD_RECORDS);
        s.bytes = (s.bytes + dt * SHARD_BYTES).min(SHARD_BYTES);
        let b = bytes as f64;
        if s.records >= 1.0 && s.bytes >= b {
            s.records -= 1.0;
            s.bytes -= b;
            true
        } else {
            false
        }
    }

    /// One PutRecord of `bytes`, retried on throttles.
    pub async fn put_record(
        &self,
        bytes: usize,
        rng: &mut fastrand::Rng,
        metrics: &MetricStore,
        at: SystemTime,
    ) -> CallOutcome {
        let dims = [("StreamName", self.name.as_str())];
        let ns = "AWS/Kinesis";
        let shard = rng.usize(..self.shards.len());
        let mut out = CallOutcome::default();
        loop {
            if self.try_put(shard, bytes, Instant::now()) {
                metrics.record(key(ns, "IncomingRecords", &dims), Unit::Count, at, 1.0);
                return out;
            }
            metrics.record(
                key(ns, "WriteProvisionedThroughputExceeded", &dims),
                Unit::Count,
                at,
                1.0,
            );
            if !out
                .back_off(self.config.max_retries, self.config.base_backoff, rng)
                .await
            {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_shard_takes_1000_records_a_second_and_1_mib() {
        let s = Stream::new(
            "votes",
            StreamConfig {
                shards: 1,
                max_retries: 0,
                base_backoff: Duration::from_millis(1),
            },
        );
        // Time is given, not read: the counts are exact.
        let t0 = s.shards[0].lock().unwrap().last;
        let taken = (0..1100).filter(|_| s.try_put(0, 10, t0)).count();
        assert_eq!(taken, 1000);
        let later = t0 + Duration::from_millis(100);
        let taken = (0..200).filter(|_| s.try_put(0, 10, later)).count();
        assert_eq!(taken, 100, "100 ms refills 100 records");
        // Bytes: 1 MiB a second, so after one more second two 600 KB records do not fit.
        let t2 = later + Duration::from_secs(1);
        assert!(s.try_put(0, 600_000, t2));
        assert!(!s.try_put(0, 600_000, t2));
    }
}
