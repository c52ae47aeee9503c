//! Saturation: where achieved throughput stops following offered load (the knee), with a
//! Universal Scalability Law fit of throughput against concurrency and its predicted peak.
//!
//! Concurrency per second comes from Lambda's `ConcurrentExecutions` when collected, else
//! from Little's law on the client side (completed/s × mean latency).

use stormwatch_model::{Evidence, Finding, FindingKind, Severity};

use super::Context;

/// USL parameters: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UslFit {
    /// Throughput of one unit of concurrency.
    pub lambda: f64,
    /// Contention.
    pub sigma: f64,
    /// Coherency (crosstalk).
    pub kappa: f64,
}

impl UslFit {
    /// Concurrency at which throughput peaks, when κ > 0.
    pub fn peak_concurrency(&self) -> Option<f64> {
        (self.kappa > 0.0 && self.sigma < 1.0).then(|| ((1.0 - self.sigma) / self.kappa).sqrt())
    }

    /// Predicted throughput at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }
}

/// Least-squares fit of N/X = a + b(N−1) + cN(N−1) (the USL rearranged to be linear in its
/// parameters): λ = 1/a, σ = b/a, κ = c/a. Needs at least five points with distinct N.
pub fn fit_usl(points: &[(f64, f64)]) -> Option<UslFit> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| *n >= 1.0 && *x > 0.0)
        .collect();
    let mut distinct: Vec<i64> = pts.iter().map(|(n, _)| (n * 10.0) as i64).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return None;
    }
    // Normal equations for 3 unknowns.
    let mut m = [[0.0f64; 4]; 3];
    for (n, x) in &pts {
        let f = [1.0, n - 1.0, n * (n - 1.0)];
        let y = n / x;
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += f[i] * f[j];
            }
            m[i][3] += f[i] * y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..3 {
        let pivot = (col..3).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))?;
        m.swap(col, pivot);
        if m[col][col].abs() < 1e-12 {
            return None;
        }
        for row in 0..3 {
            if row != col {
                let k = m[row][col] / m[col][col];
                let pivot_row = m[col];
                for (cell, p) in m[row].iter_mut().zip(pivot_row).skip(col) {
                    *cell -= k * p;
                }
            }
        }
    }
    let (a, b, c) = (m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]);
    (a > 0.0).then(|| UslFit {
        lambda: 1.0 / a,
        sigma: (b / a).max(0.0),
        kappa: (c / a).max(0.0),
    })
}

pub fn detect(ctx: &Context<'_>) -> Vec<(Finding, f64)> {
    let mut out = Vec::new();
    // Concurrency and throughput per second for the USL fit.
    let points: Vec<(f64, f64)> = ctx
        .timeline
        .iter()
        .filter(|p| p.completed > 0)
        .filter_map(|p| {
            let n = p
                .concurrency
                .or_else(|| p.p50.map(|m| p.completed as f64 * m.0 / 1000.0))?;
            Some((n, p.completed as f64))
        })
        .collect();
    let fit = fit_usl(&points);
    for phase in ctx.phases {
        let Some(offered) = phase.offered_rate_per_sec else {
            continue;
        };
        if offered <= 0.0 || phase.requests == 0 {
            continue;
        }
        let ratio = phase.achieved_rate_per_sec / offered;
        if ratio >= 0.9 && phase.dropped == 0 {
            continue;
        }
        let mut evidence = vec![
            Evidence {
                label: "offered → achieved".into(),
                value: format!(
                    "{offered:.1}/s → {:.1}/s ({:.0} %)",
                    phase.achieved_rate_per_sec,
                    ratio * 100.0
                ),
                source: Some("scenario plan; requests/".into()),
            },
            Evidence {
                label: "dropped arrivals (max_in_flight reached)".into(),
                value: phase.dropped.to_string(),
                source: None,
            },
        ];
        if let Some(f) = fit {
            evidence.push(Evidence {
                label: "USL fit (σ contention, κ coherency)".into(),
                value: format!("σ = {:.3}, κ = {:.5}", f.sigma, f.kappa),
                source: Some("throughput vs concurrency per second".into()),
            });
            if let Some(n) = f.peak_concurrency() {
                evidence.push(Evidence {
                    label: "predicted throughput ceiling".into(),
                    value: format!("{:.0}/s at concurrency {n:.0}", f.throughput(n)),
                    source: None,
                });
            }
        }
        out.push((
            Finding {
                kind: FindingKind::Saturation,
                severity: Severity::Warning,
                title: format!(
                    "Throughput stopped following offered load in {}: {:.1}/s achieved of {offered:.1}/s offered",
                    phase.name, phase.achieved_rate_per_sec
                ),
                window: Some(phase.window),
                phase: Some(phase.name.clone()),
                evidence,
                recommendation: "The system (or the client's max_in_flight) saturated below the \
                                 offered load: look at the other findings for the limit that bound \
                                 it, and raise that limit or lower the load."
                    .into(),
            },
            (offered - phase.achieved_rate_per_sec) * phase.window.duration().as_secs_f64(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usl_fit_recovers_known_parameters() {
        let truth = UslFit {
            lambda: 100.0,
            sigma: 0.05,
            kappa: 0.001,
        };
        let pts: Vec<(f64, f64)> = (1..=64)
            .map(|n| (f64::from(n), truth.throughput(f64::from(n))))
            .collect();
        let f = fit_usl(&pts).unwrap();
        assert!((f.lambda - 100.0).abs() < 0.01, "{f:?}");
        assert!((f.sigma - 0.05).abs() < 1e-4, "{f:?}");
        assert!((f.kappa - 0.001).abs() < 1e-6, "{f:?}");
        let peak = f.peak_concurrency().unwrap();
        assert!((peak - (0.95f64 / 0.001).sqrt()).abs() < 0.1);
    }

    #[test]
    fn usl_fit_needs_enough_distinct_points() {
        assert!(fit_usl(&[(1.0, 10.0), (2.0, 19.0), (2.0, 19.0)]).is_none());
    }
}
