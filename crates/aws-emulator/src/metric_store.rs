//! The in-memory telemetry store: CloudWatch-style metric series keyed by namespace, metric
//! name and dimensions, with per-period aggregates (sum, count, min, max and, when the values
//! differ, the values themselves so percentiles are exact, nearest-rank as CloudWatch's; past
//! 2,048 distinct values in a period, a logarithmic histogram whose percentiles are within
//! 0.3 %, so a period's memory is bounded however busy it is).
//! Datapoints are stamped with the invocation start, as Lambda stamps them. Everything is
//! recorded when it happens (the platform through [`MetricStore::record`], publishers through
//! PutMetricData and [`MetricStore::put`]); nothing is synthesised at query time. The
//! CloudWatch API reads it back with [`MetricStore::query`]. The store is sharded by series
//! so concurrent requests rarely contend on one lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod aggregate;

#[cfg(test)]
use aggregate::Spread;
use aggregate::nearest_rank;
pub use aggregate::{Aggregate, Statistic};

const SHARDS: usize = 32;

macro_rules! units {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// CloudWatch unit of a metric (the `StandardUnit` enumeration).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Unit {
            $(#[doc = concat!("`", $name, "`.")] $variant,)*
        }

        impl Unit {
            /// The unit's CloudWatch name.
            pub fn as_str(self) -> &'static str {
                match self { $(Unit::$variant => $name,)* }
            }

            /// Parses a CloudWatch unit name.
            pub fn parse(s: &str) -> Option<Unit> {
                match s { $($name => Some(Unit::$variant),)* _ => None }
            }
        }
    };
}

units! {
    Seconds => "Seconds", Microseconds => "Microseconds", Milliseconds => "Milliseconds",
    Bytes => "Bytes", Kilobytes => "Kilobytes", Megabytes => "Megabytes",
    Gigabytes => "Gigabytes", Terabytes => "Terabytes", Bits => "Bits", Kilobits => "Kilobits",
    Megabits => "Megabits", Gigabits => "Gigabits", Terabits => "Terabits",
    Percent => "Percent", Count => "Count", BytesPerSecond => "Bytes/Second",
    KilobytesPerSecond => "Kilobytes/Second", MegabytesPerSecond => "Megabytes/Second",
    GigabytesPerSecond => "Gigabytes/Second", TerabytesPerSecond => "Terabytes/Second",
    BitsPerSecond => "Bits/Second", KilobitsPerSecond => "Kilobits/Second",
    MegabitsPerSecond => "Megabits/Second", GigabitsPerSecond => "Gigabits/Second",
    TerabitsPerSecond => "Terabits/Second", CountPerSecond => "Count/Second", None => "None",
}

/// Identifies one series: namespace, metric name and dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// e.g. `AWS/Lambda`.
    pub namespace: String,
    /// e.g. `Duration`.
    pub metric: String,
    /// e.g. `[("FunctionName", "checkout")]`.
    pub dimensions: Vec<(String, String)>,
}

/// One datapoint as returned by [`MetricStore::datapoints`].
#[derive(Clone, Debug)]
pub struct Datapoint {
    /// Start of the period.
    pub timestamp: SystemTime,
    /// The period's aggregate.
    pub aggregate: Aggregate,
}

/// One series' periods, oldest first.
struct Series {
    unit: Unit,
    /// Storage resolution in seconds (1 for high-resolution, 60 for standard, or the store's).
    resolution: u64,
    periods: Vec<(u64, Aggregate)>,
}

impl Series {
    /// The aggregate of the period starting at `p`, inserted in order if new.
    fn slot(&mut self, p: u64) -> &mut Aggregate {
        // Writes are nearly always for the newest period: check the end first.
        let i = match self.periods.last() {
            Some((last, _)) if *last == p => self.periods.len() - 1,
            Some((last, _)) if *last < p => {
                self.periods.push((p, Aggregate::empty()));
                self.periods.len() - 1
            }
            None => {
                self.periods.push((p, Aggregate::empty()));
                0
            }
            Some(_) => match self.periods.binary_search_by_key(&p, |(t, _)| *t) {
                Ok(i) => i,
                Err(i) => {
                    self.periods.insert(i, (p, Aggregate::empty()));
                    i
                }
            },
        };
        &mut self.periods[i].1
    }

    fn range(&self, from: u64, to: u64) -> &[(u64, Aggregate)] {
        let a = self.periods.partition_point(|(t, _)| *t < from);
        let b = self.periods.partition_point(|(t, _)| *t < to);
        &self.periods[a..b.max(a)]
    }
}

/// What a publisher sends for one datum (PutMetricData).
#[derive(Clone, Copy, Debug)]
pub enum Sample<'a> {
    /// One value.
    Value(f64),
    /// `Values` with their `Counts` (each 1 when absent).
    Values(&'a [f64], Option<&'a [f64]>),
    /// A statistic set.
    Set {
        /// `SampleCount`.
        count: f64,
        /// `Sum`.
        sum: f64,
        /// `Minimum`.
        min: f64,
        /// `Maximum`.
        max: f64,
    },
}

/// A series as ListMetrics sees it.
#[derive(Clone, Debug)]
pub struct SeriesInfo {
    /// Its key.
    pub key: SeriesKey,
    /// Its unit.
    pub unit: Unit,
    /// Start of its newest period.
    pub last: Option<SystemTime>,
}

/// The answer to [`MetricStore::query`] for one series.
#[derive(Clone, Debug, Default)]
pub struct QueryOutcome {
    /// `(period start, value)` in time order; periods without data are absent.
    pub points: Vec<(u64, f64)>,
}

/// A period grid: buckets `[start + k*period, ...)` before `end`, all in epoch seconds.
#[derive(Clone, Copy, Debug)]
pub struct Grid {
    /// First bucket start (already aligned).
    pub start: u64,
    /// Exclusive end of the data.
    pub end: u64,
    /// Bucket length (>= 1).
    pub period: u64,
}

type Shard = HashMap<SeriesKey, Series>;

/// The metric store.
pub struct MetricStore {
    resolution: Duration,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Shard>>,
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
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

    /// The period length of what the platform records.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    fn shard(&self, key: &SeriesKey) -> std::sync::MutexGuard<'_, Shard> {
        let mut h = self.hasher.build_hasher();
        key.hash(&mut h);
        self.shards[(std::hash::Hasher::finish(&h) as usize) % SHARDS]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_slot(
        &self,
        key: SeriesKey,
        unit: Unit,
        resolution: u64,
        at: SystemTime,
        f: impl FnOnce(&mut Aggregate),
    ) {
        let mut shard = self.shard(&key);
        let series = shard.entry(key).or_insert_with(|| Series {
            unit,
            resolution,
            periods: Vec::new(),
        });
        let secs = epoch_secs(at);
        let p = secs - secs % series.resolution.max(1);
        f(series.slot(p));
    }

    /// Records a value into the period containing `at` (the platform's metrics, at the
    /// store's resolution).
    pub fn record(&self, key: SeriesKey, unit: Unit, at: SystemTime, value: f64) {
        let res = self.resolution.as_secs().max(1);
        self.with_slot(key, unit, res, at, |a| a.add(value, 1));
    }

    /// Records a published datum (PutMetricData) at `resolution` seconds (1 or 60). A series
    /// keeps the unit and resolution of its first datum. Counts are rounded to whole numbers.
    pub fn put(
        &self,
        key: SeriesKey,
        unit: Unit,
        resolution: u64,
        at: SystemTime,
        sample: Sample<'_>,
    ) {
        self.with_slot(key, unit, resolution, at, |a| match sample {
            Sample::Value(v) => a.add(v, 1),
            Sample::Values(values, counts) => {
                for (i, v) in values.iter().enumerate() {
                    let n = counts.and_then(|c| c.get(i)).copied().unwrap_or(1.0);
                    a.add(*v, n.round().max(0.0) as u64);
                }
            }
            Sample::Set {
                count,
                sum,
                min,
                max,
            } => a.add_set(count.round().max(1.0) as u64, sum, min, max),
        });
    }

    /// Every series with its unit (ListMetrics).
    pub fn series(&self) -> Vec<(SeriesKey, Unit)> {
        self.list().into_iter().map(|s| (s.key, s.unit)).collect()
    }

    /// Every series with its unit and newest period, sorted by key.
    pub fn list(&self) -> Vec<SeriesInfo> {
        let mut out: Vec<_> = self
            .shards
            .iter()
            .flat_map(|s| {
                let s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                s.iter()
                    .map(|(k, series)| SeriesInfo {
                        key: k.clone(),
                        unit: series.unit,
                        last: series
                            .periods
                            .last()
                            .map(|(p, _)| UNIX_EPOCH + Duration::from_secs(*p)),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Datapoints of one series with period start in `[from, to)`, oldest first. Periods with
    /// no recorded value are absent, as in CloudWatch.
    pub fn datapoints(&self, key: &SeriesKey, from: SystemTime, to: SystemTime) -> Vec<Datapoint> {
        let shard = self.shard(key);
        shard.get(key).map_or_else(Vec::new, |series| {
            series
                .range(epoch_secs(from), epoch_secs(to))
                .iter()
                .map(|(p, a)| Datapoint {
                    timestamp: UNIX_EPOCH + Duration::from_secs(*p),
                    aggregate: a.clone(),
                })
                .collect()
        })
    }

    /// The unit and storage resolution (seconds) of a series, if it exists.
    pub fn describe(&self, key: &SeriesKey) -> Option<(Unit, u64)> {
        self.shard(key).get(key).map(|s| (s.unit, s.resolution))
    }

    /// One statistic of one series over a grid: stored periods starting in
    /// `[grid.start, grid.end)` are merged into the grid's buckets. Buckets with no data, and
    /// percentile buckets whose values are unknown or negative, are absent.
    pub fn query(&self, key: &SeriesKey, grid: Grid, stat: Statistic) -> QueryOutcome {
        let shard = self.shard(key);
        let Some(series) = shard.get(key) else {
            return QueryOutcome::default();
        };
        let period = grid.period.max(1);
        let mut points = Vec::new();
        let mut scratch = Vec::new();
        let mut bucket: Option<(u64, Aggregate, bool)> = None;
        let flush = |b: Option<(u64, Aggregate, bool)>,
                     scratch: &mut Vec<(f64, u64)>,
                     points: &mut Vec<(u64, f64)>| {
            let Some((t, agg, known)) = b else { return };
            let v = match stat {
                Statistic::Sum => Some(agg.sum),
                Statistic::Average => Some(agg.average()),
                Statistic::Minimum => Some(agg.min),
                Statistic::Maximum => Some(agg.max),
                Statistic::SampleCount => Some(agg.count as f64),
                Statistic::Percentile(p) => {
                    (known && agg.min >= 0.0).then(|| nearest_rank(scratch, p))
                }
            };
            scratch.clear();
            if let Some(v) = v {
                points.push((t, v));
            }
        };
        let want_samples = matches!(stat, Statistic::Percentile(_));
        for (p, a) in series.range(grid.start, grid.end) {
            let t = grid.start + (p - grid.start) / period * period;
            if bucket.as_ref().is_none_or(|(bt, _, _)| *bt != t) {
                flush(bucket.take(), &mut scratch, &mut points);
                bucket = Some((t, Aggregate::empty(), true));
            }
            if let Some((_, agg, known)) = bucket.as_mut() {
                agg.sum += a.sum;
                agg.count += a.count;
                agg.min = agg.min.min(a.min);
                agg.max = agg.max.max(a.max);
                if want_samples && *known {
                    *known = a.samples_into(&mut scratch);
                }
            }
        }
        flush(bucket, &mut scratch, &mut points);
        QueryOutcome { points }
    }
}

/// Builds a series key (dimensions sorted by name).
pub fn key(namespace: &str, metric: &str, dimensions: &[(&str, &str)]) -> SeriesKey {
    let mut dimensions: Vec<_> = dimensions
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    dimensions.sort();
    SeriesKey {
        namespace: namespace.to_string(),
        metric: metric.to_string(),
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
        assert_eq!(a.percentile(99.0), Some(99.0));
        assert_eq!(a.percentile(50.0), Some(50.0));
        assert_eq!(a.percentile(100.0), Some(100.0));
        assert_eq!(d[1].aggregate.count, 1);
        assert_eq!(d[1].aggregate.percentile(99.9), Some(5.0));
    }

    #[test]
    fn query_merges_periods_into_buckets() {
        let s = MetricStore::new(Duration::from_secs(1));
        let k = key("App", "Latency", &[]);
        let t0 = 1_700_000_040; // a whole minute
        for i in 0..120u64 {
            let at = UNIX_EPOCH + Duration::from_secs(t0 + i);
            s.put(
                k.clone(),
                Unit::Milliseconds,
                1,
                at,
                Sample::Value(i as f64),
            );
        }
        let grid = Grid {
            start: t0,
            end: t0 + 120,
            period: 60,
        };
        let sum = s.query(&k, grid, Statistic::Sum).points;
        assert_eq!(sum, [(t0, 1770.0), (t0 + 60, 5370.0)]);
        let p50 = s.query(&k, grid, Statistic::Percentile(50.0)).points;
        assert_eq!(p50, [(t0, 29.0), (t0 + 60, 89.0)]);
        let n = s.query(&k, grid, Statistic::SampleCount).points;
        assert_eq!(n, [(t0, 60.0), (t0 + 60, 60.0)]);
    }

    #[test]
    fn statistic_sets_hide_percentiles_unless_values_are_known() {
        let s = MetricStore::new(Duration::from_secs(60));
        let k = key("App", "Set", &[]);
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_040);
        let set = |count, sum, min, max| Sample::Set {
            count,
            sum,
            min,
            max,
        };
        s.put(k.clone(), Unit::Count, 60, at, set(4.0, 8.0, 2.0, 2.0));
        let a = &s.datapoints(&k, UNIX_EPOCH, at + Duration::from_secs(60))[0].aggregate;
        assert_eq!(a.percentile(90.0), Some(2.0));
        s.put(k.clone(), Unit::Count, 60, at, set(2.0, 4.0, 1.0, 3.0));
        let a = &s.datapoints(&k, UNIX_EPOCH, at + Duration::from_secs(60))[0].aggregate;
        assert_eq!((a.count, a.sum, a.min, a.max), (6, 12.0, 1.0, 3.0));
        assert_eq!(a.percentile(90.0), None);
    }

    #[test]
    fn busy_periods_switch_to_a_histogram_within_one_percent() {
        let store = MetricStore::new(Duration::from_secs(60));
        let k = key("AWS/Lambda", "Duration", &[("FunctionName", "f")]);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_040);
        // 200,000 distinct values 0.01 .. 2000 ms, in a scrambled order.
        let n = 200_000u64;
        let value = |i: u64| ((i * 7_919) % n + 1) as f64 / 100.0;
        for i in 0..n {
            store.record(k.clone(), Unit::Milliseconds, t0, value(i));
        }
        let points = store.datapoints(&k, UNIX_EPOCH, t0 + Duration::from_secs(60));
        let a = &points[0].aggregate;
        assert_eq!(a.count, n);
        assert!(
            matches!(a.spread.as_deref(), Some(Spread::Histogram(buckets)) if buckets.len() < 4_000),
            "a busy period is kept as a bounded histogram"
        );
        for p in [50.0, 90.0, 99.0, 99.9] {
            let exact = (p / 100.0 * n as f64).ceil() / 100.0;
            let got = a.percentile(p).unwrap();
            assert!(
                (got - exact).abs() <= exact * 0.01,
                "p{p}: {got} vs exact {exact}"
            );
        }
        assert_eq!(a.percentile(100.0), Some(2000.0), "max stays exact");
        assert!(
            (a.percentile(0.0).unwrap() - 0.01).abs() < 1e-12,
            "min stays exact"
        );
    }

    #[test]
    fn repeated_values_stay_exact() {
        // 100,000 samples over 2,000 distinct values (up to the documented 2,048),
        // alternating: compaction keeps them exact instead of switching to the histogram.
        let s = MetricStore::new(Duration::from_secs(60));
        let k = key("App", "Latency", &[]);
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_040);
        for i in 0..100_000u64 {
            s.record(k.clone(), Unit::Milliseconds, at, ((i % 2000) + 1) as f64);
        }
        let a = &s.datapoints(&k, UNIX_EPOCH, at + Duration::from_secs(60))[0].aggregate;
        assert!(matches!(a.spread.as_deref(), Some(Spread::Exact(_))));
        assert_eq!(a.percentile(99.0), Some(1980.0));
        assert_eq!(a.percentile(50.0), Some(1000.0));
    }

    #[test]
    fn parses_statistics() {
        assert_eq!(Statistic::parse("p99"), Some(Statistic::Percentile(99.0)));
        assert_eq!(Statistic::parse("p99.9"), Some(Statistic::Percentile(99.9)));
        assert_eq!(
            Statistic::parse("p99.99"),
            Some(Statistic::Percentile(99.99))
        );
        for bad in ["p", "p101", "p99.", "p9.999", "px", "avg", "P99", "p-1"] {
            assert_eq!(Statistic::parse(bad), None, "{bad}");
        }
        assert_eq!(Unit::parse("Count/Second"), Some(Unit::CountPerSecond));
        assert_eq!(Unit::Bytes.as_str(), "Bytes");
    }
}
