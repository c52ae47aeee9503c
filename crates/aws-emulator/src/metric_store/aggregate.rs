//! One period's aggregate of one series: sum, count, min, max and, when the values differ,
//! the values themselves (exact nearest-rank percentiles, as CloudWatch's) or, past 2,048
//! distinct values, a logarithmic histogram whose percentiles are within 0.3 %; and the
//! statistics CloudWatch computes from it.

use std::collections::BTreeMap;

/// Beyond this many distinct values a period's values go into a logarithmic histogram, so a
/// busy period costs a bounded amount of memory however many invocations it holds.
const MAX_EXACT_VALUES: usize = 2048;

/// Histogram buckets per doubling: a bucket spans a factor 2^(1/128) (0.54 %), and a
/// percentile read from it (the bucket's geometric middle) is within 0.28 % of the exact
/// value — the "exact to 1 %" of an HDR histogram.
const BUCKETS_PER_DOUBLING: f64 = 128.0;

/// Histogram key of zero and negative values (percentiles of a period with a negative value
/// are not given anyway, as in CloudWatch).
const NON_POSITIVE: i32 = i32::MIN;

fn bucket_of(v: f64) -> i32 {
    if v > 0.0 {
        (v.log2() * BUCKETS_PER_DOUBLING).floor() as i32
    } else {
        NON_POSITIVE
    }
}

fn bucket_middle(k: i32) -> f64 {
    if k == NON_POSITIVE {
        0.0
    } else {
        ((f64::from(k) + 0.5) / BUCKETS_PER_DOUBLING).exp2()
    }
}

/// The values of a period whose values differ.
#[derive(Clone, Debug)]
pub(super) enum Spread {
    /// `(value, count)`, equal neighbours merged; at most [`MAX_EXACT_VALUES`] distinct
    /// values after compaction, so percentiles are exact.
    Exact(Vec<(f64, u64)>),
    /// Counts per logarithmic bucket once the period had more distinct values than that.
    Histogram(BTreeMap<i32, u64>),
    /// A statistic set with a spread arrived: its individual values are unknown, so no
    /// percentile can be given, as in CloudWatch.
    Unknown,
}

impl Spread {
    pub(super) fn add(&mut self, v: f64, count: u64) {
        match self {
            Spread::Exact(values) => {
                match values.last_mut() {
                    Some((last, n)) if last.total_cmp(&v).is_eq() => *n += count,
                    _ => values.push((v, count)),
                }
                // Unsorted appends are merged once twice the limit has accumulated, so
                // compaction (a sort) is not paid on every record.
                if values.len() > 2 * MAX_EXACT_VALUES {
                    self.compact();
                }
            }
            Spread::Histogram(buckets) => *buckets.entry(bucket_of(v)).or_insert(0) += count,
            Spread::Unknown => {}
        }
    }

    /// Sorts and merges the exact values; when they are still too many distinct ones, turns
    /// them into a histogram.
    fn compact(&mut self) {
        let Spread::Exact(values) = self else { return };
        values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        values.dedup_by(|next, kept| {
            let equal = next.0.total_cmp(&kept.0).is_eq();
            if equal {
                kept.1 += next.1;
            }
            equal
        });
        if values.len() > MAX_EXACT_VALUES {
            let mut buckets = BTreeMap::new();
            for (v, n) in values.iter() {
                *buckets.entry(bucket_of(*v)).or_insert(0) += n;
            }
            *self = Spread::Histogram(buckets);
        }
    }
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
    /// `None` while every value equals `min` (then every percentile is `min`): a period with a
    /// single value costs no allocation.
    pub(super) spread: Option<Box<Spread>>,
}

impl Aggregate {
    pub(super) fn empty() -> Self {
        Self {
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            spread: None,
        }
    }

    /// Adds `count` copies of `v`.
    #[expect(
        clippy::float_cmp,
        reason = "equal values are merged exactly, as CloudWatch does"
    )]
    pub(super) fn add(&mut self, v: f64, count: u64) {
        if count == 0 {
            return;
        }
        let was_uniform = self.count == 0 || (self.min == self.max && self.spread.is_none());
        let (old_min, old_count) = (self.min, self.count);
        self.sum += v * count as f64;
        self.count += count;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if was_uniform && self.min == self.max {
            return;
        }
        self.spread
            .get_or_insert_with(|| Box::new(Spread::Exact(vec![(old_min, old_count)])))
            .add(v, count);
    }

    /// Adds a statistic set (`SampleCount`, `Sum`, `Minimum`, `Maximum`).
    #[expect(
        clippy::float_cmp,
        reason = "a set with Minimum == Maximum holds one known value"
    )]
    pub(super) fn add_set(&mut self, count: u64, sum: f64, min: f64, max: f64) {
        if count == 0 {
            return;
        }
        // CloudWatch keeps percentiles for a set only when its values are known: one value,
        // or all equal.
        if min == max && (sum - min * count as f64).abs() <= 1e-9 * sum.abs().max(1.0) {
            self.add(min, count);
            return;
        }
        self.sum += sum;
        self.count += count;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        self.spread = Some(Box::new(Spread::Unknown));
    }

    fn percentiles_known(&self) -> bool {
        self.count > 0 && !matches!(self.spread.as_deref(), Some(Spread::Unknown))
    }

    /// Pushes the period's `(value, count)` pairs (a histogram's as bucket middles, the
    /// outermost as min and max); false when they are unknown.
    pub(super) fn samples_into(&self, out: &mut Vec<(f64, u64)>) -> bool {
        match self.spread.as_deref() {
            None if self.count > 0 => out.push((self.min, self.count)),
            None => {}
            Some(Spread::Exact(values)) => out.extend_from_slice(values),
            Some(Spread::Histogram(buckets)) => {
                // The outermost buckets hold the exact min and max; the others their middle.
                let last = buckets.len().saturating_sub(1);
                out.extend(buckets.iter().enumerate().map(|(i, (k, n))| {
                    let v = match i {
                        0 => self.min,
                        _ if i == last => self.max,
                        _ => bucket_middle(*k).clamp(self.min, self.max),
                    };
                    (v, *n)
                }));
            }
            Some(Spread::Unknown) => return false,
        }
        true
    }

    /// Average of the period's values.
    pub fn average(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The percentile `p` (0..=100) of the period's values (nearest rank); `None` when the
    /// values are unknown (statistic sets with a spread) or any is negative, as in CloudWatch.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if !self.percentiles_known() || self.min < 0.0 {
            return None;
        }
        let mut v = Vec::new();
        self.samples_into(&mut v);
        Some(nearest_rank(&mut v, p))
    }
}

/// Nearest-rank percentile of weighted values (sorts `values`).
pub(super) fn nearest_rank(values: &mut [(f64, u64)], p: f64) -> f64 {
    values.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = values.iter().map(|(_, n)| n).sum();
    let rank = stormwatch_model::percentile::nearest_rank(p, total);
    let mut seen = 0;
    for (v, n) in values.iter() {
        seen += n;
        if seen >= rank {
            return *v;
        }
    }
    values.last().map_or(0.0, |(v, _)| *v)
}

/// A statistic CloudWatch computes per period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Statistic {
    /// `Sum`.
    Sum,
    /// `Average`.
    Average,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
    /// `SampleCount`.
    SampleCount,
    /// `pNN` / `pNN.NN`.
    Percentile(f64),
}

impl Statistic {
    /// Parses `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, `p99`, `p99.9`, `p99.99`.
    pub fn parse(s: &str) -> Option<Statistic> {
        Some(match s {
            "Sum" => Statistic::Sum,
            "Average" => Statistic::Average,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            "SampleCount" => Statistic::SampleCount,
            _ => {
                let n = s.strip_prefix('p')?;
                let (int, frac) = n.split_once('.').unwrap_or((n, ""));
                let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
                if int.is_empty() || int.len() > 3 || !digits(int) || !digits(frac) {
                    return None;
                }
                if frac.len() > 2 || (n.contains('.') && frac.is_empty()) {
                    return None;
                }
                let p: f64 = n.parse().ok()?;
                if !(0.0..=100.0).contains(&p) {
                    return None;
                }
                Statistic::Percentile(p)
            }
        })
    }
}
