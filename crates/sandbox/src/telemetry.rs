//! The in-memory telemetry store: CloudWatch-style metric series keyed by namespace, metric
//! name and dimensions, with per-period aggregates (sum, count, min, max and an HDR histogram
//! for percentiles exact to 1 %). Datapoints are stamped with the invocation start, as Lambda
//! stamps them. Everything is recorded when it happens; nothing is synthesised at query time.
//! The store is sharded by series so concurrent requests rarely contend on one lock.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

const SHARDS: usize = 32;

/// CloudWatch unit of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `Count`.
    Count,
    /// `Milliseconds`.
    Milliseconds,
    /// `Seconds`.
    Seconds,
}

/// Identifies one series: namespace, metric name and dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// e.g. `AWS/Lambda`.
    pub namespace: &'static str,
    /// e.g. `Duration`.
    pub metric: &'static str,
    /// e.g. `[("FunctionName", "checkout")]`.
    pub dimensions: Vec<(&'static str, String)>,
}

/// Aggregate of one period of one series.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// Sum of values.
    pub sum: f64,
    /// Number of values (SampleCount).
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Values in thousandths of the unit, 2 significant digits (1 % exact); only for
    /// millisecond series, as CloudWatch percentiles are only asked of latencies here.
    hist: Option<Histogram<u64>>,
}

impl Aggregate {
    fn new(unit: Unit) -> Self {
        Self {
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            // Up to 1 000 000 000 thousandths (a million units): every Lambda duration in ms.
            hist: (unit == Unit::Milliseconds)
                .then(|| Histogram::new_with_bounds(1, 1_000_000_000, 2).expect("valid bounds")),
        }
    }

    fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if let Some(h) = &mut self.hist {
            h.saturating_record((v * 1000.0).max(1.0) as u64);
        }
    }

    /// Average of the period's values.
    pub fn average(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The percentile `p` (0..=100) of the period's values, within 1 %; `None` for series
    /// that keep no histogram (counts).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.hist
            .as_ref()
            .map(|h| h.value_at_percentile(p) as f64 / 1000.0)
    }
}

/// One datapoint as returned by [`MetricStore::datapoints`].
#[derive(Clone, Debug)]
pub struct Datapoint {
    /// Start of the period.
    pub timestamp: SystemTime,
    /// The period's aggregate.
    pub aggregate: Aggregate,
}

type Shard = HashMap<SeriesKey, (Unit, BTreeMap<u64, Aggregate>)>;

/// The metric store.
pub struct MetricStore {
    resolution: Duration,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl MetricStore {
    /// An empty store with the given period.
    pub fn new(resolution: Duration) -> Self {
        Self {
            resolution,
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The period length.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    fn period_of(&self, at: SystemTime) -> u64 {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let res = self.resolution.as_secs().max(1);
        secs - secs % res
    }

    fn shard(&self, key: &SeriesKey) -> &Mutex<Shard> {
        let mut h = self.hasher.build_hasher();
        key.hash(&mut h);
        &self.shards[(std::hash::Hasher::finish(&h) as usize) % SHARDS]
    }

    /// Records a value into the period containing `at`.
    pub fn record(&self, key: SeriesKey, unit: Unit, at: SystemTime, value: f64) {
        let period = self.period_of(at);
        let mut shard = self.shard(&key).lock().expect("metric shard poisoned");
        shard
            .entry(key)
            .or_insert_with(|| (unit, BTreeMap::new()))
            .1
            .entry(period)
            .or_insert_with(|| Aggregate::new(unit))
            .add(value);
    }

    /// Every series with its unit (ListMetrics).
    pub fn series(&self) -> Vec<(SeriesKey, Unit)> {
        let mut out: Vec<_> = self
            .shards
            .iter()
            .flat_map(|s| {
                let s = s.lock().expect("metric shard poisoned");
                s.iter()
                    .map(|(k, (u, _))| (k.clone(), *u))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Datapoints of one series with period start in `[from, to)`, oldest first. Periods with
    /// no recorded value are absent, as in CloudWatch.
    pub fn datapoints(&self, key: &SeriesKey, from: SystemTime, to: SystemTime) -> Vec<Datapoint> {
        let (from, to) = (
            from.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            to.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        );
        let shard = self.shard(key).lock().expect("metric shard poisoned");
        shard.get(key).map_or_else(Vec::new, |(_, periods)| {
            periods
                .range(from..to)
                .map(|(p, a)| Datapoint {
                    timestamp: UNIX_EPOCH + Duration::from_secs(*p),
                    aggregate: a.clone(),
                })
                .collect()
        })
    }
}

/// Builds a series key.
pub fn key(
    namespace: &'static str,
    metric: &'static str,
    dimensions: &[(&'static str, &str)],
) -> SeriesKey {
    let mut dimensions: Vec<_> = dimensions
        .iter()
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect();
    dimensions.sort();
    SeriesKey {
        namespace,
        metric,
        dimensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_per_period() {
        let s = MetricStore::new(Duration::from_secs(60));
        let k = key("AWS/Lambda", "Duration", &[("FunctionName", "f")]);
        let t0 = UNIX_EPOCH + Duration::from_secs(600);
        for v in 1..=100 {
            s.record(k.clone(), Unit::Milliseconds, t0, f64::from(v));
        }
        s.record(
            k.clone(),
            Unit::Milliseconds,
            t0 + Duration::from_secs(60),
            5.0,
        );
        let d = s.datapoints(&k, UNIX_EPOCH, t0 + Duration::from_secs(120));
        assert_eq!(d.len(), 2);
        let a = &d[0].aggregate;
        assert_eq!((a.count, a.min, a.max), (100, 1.0, 100.0));
        let p99 = a.percentile(99.0).unwrap();
        assert!((p99 - 99.0).abs() <= 0.99, "p99 {p99}");
        assert_eq!(d[1].aggregate.count, 1);
    }
}
