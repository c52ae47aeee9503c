//! The one nearest-rank percentile every stage uses: the smallest value with at least `p` %
//! of the values at or below it, as CloudWatch and Logs Insights define it.

/// The 1-based nearest rank of percentile `p` (0 < p ≤ 100) among `n` values:
/// `ceil(p/100 × n)`, in `1..=n` (`1` when `n` is 0). The product is rounded to 1e-9 first so
/// that decimal percentiles land on their exact rank (`99.9 / 100 × 1000` is
/// `999.0000000000001` in binary floating point, and must be rank 999, not 1000).
pub fn nearest_rank(p: f64, n: u64) -> u64 {
    let exact = p / 100.0 * n as f64;
    let rounded = (exact * 1e9).round() / 1e9;
    (rounded.ceil() as u64).clamp(1, n.max(1))
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of ascending `sorted` values, or `None`
/// when there are none.
pub fn percentile_of_sorted<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = nearest_rank(p, sorted.len() as u64);
    Some(sorted[rank as usize - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_definition_without_binary_rounding_errors() {
        assert_eq!(nearest_rank(50.0, 10), 5);
        assert_eq!(nearest_rank(50.0, 11), 6);
        assert_eq!(nearest_rank(99.9, 1000), 999);
        assert_eq!(nearest_rank(7.0, 100), 7);
        assert_eq!(nearest_rank(100.0, 3), 3);
        assert_eq!(nearest_rank(0.001, 3), 1);
        assert_eq!(nearest_rank(50.0, 0), 1);
    }

    #[test]
    fn percentile_of_sorted_values() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile_of_sorted(&v, 50.0), Some(50));
        assert_eq!(percentile_of_sorted(&v, 99.0), Some(99));
        assert_eq!(percentile_of_sorted(&v, 100.0), Some(100));
        assert_eq!(percentile_of_sorted(&v, 7.0), Some(7));
        let three = [10, 20, 30];
        assert_eq!(percentile_of_sorted(&three, 50.0), Some(20));
        assert_eq!(percentile_of_sorted(&three, 99.0), Some(30));
        assert_eq!(percentile_of_sorted(&three, 1.0), Some(10));
        assert_eq!(percentile_of_sorted::<u32>(&[], 50.0), None);
    }
}
