//! Which of the run's traced requests to fetch when there are more than `--max-traces`.
//!
//! Exact counts never need every trace: invocations and cold starts come from REPORT lines,
//! throttles and errors from metrics and the client's records. Traces are for decomposition
//! and evidence, so the budget goes, in order, to
//! 1. requests the client saw fail (4xx/5xx, throttles, transport errors) or be slow (above
//!    their phase × endpoint p99);
//! 2. requests X-Ray flagged (`GetTraceSummaries` error, fault or throttle) that the client
//!    saw succeed;
//! 3. requests a REPORT line says cold-started (its `XRAY TraceId`);
//! 4. a uniform random sample of the rest, round-robin over phase × endpoint so every
//!    stratum is represented.
//!
//! Within a tier that does not fit, the pick is uniformly random. The draw is seeded, so
//! the same inputs choose the same traces.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::target::SentTrace;

/// How the traces to fetch were chosen, for `collect.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TraceSelection {
    /// Traced requests of the run (each has a trace X-Ray may hold).
    pub traced_requests: usize,
    /// `--max-traces`.
    pub max_traces: usize,
    /// Chosen because the client saw them fail or be slow.
    pub failed_or_slow: usize,
    /// Chosen because X-Ray flagged them (error, fault, throttle).
    pub server_flagged: usize,
    /// Chosen because their REPORT line says they cold-started.
    pub cold: usize,
    /// Chosen as the uniform sample per phase × endpoint.
    pub sample: usize,
}

impl TraceSelection {
    /// Traces chosen.
    pub fn chosen(&self) -> usize {
        self.failed_or_slow + self.server_flagged + self.cold + self.sample
    }
}

/// The trace ids to fetch (at most `max`) and how they were chosen.
pub fn select<S: std::hash::BuildHasher>(
    sent: &HashMap<String, SentTrace, S>,
    flagged: &HashSet<String, S>,
    cold: &HashSet<String, S>,
    max: usize,
) -> (Vec<String>, TraceSelection) {
    let mut rng = fastrand::Rng::with_seed(0x5107_3a7c);
    let mut ids: Vec<(&String, &SentTrace)> = sent.iter().collect();
    ids.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut chosen: HashSet<&String> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    let mut tiers = [0; 3];
    for (tier, n) in tiers.iter_mut().enumerate() {
        let mut ids: Vec<&String> = ids
            .iter()
            .filter(|(id, t)| {
                !chosen.contains(id)
                    && match tier {
                        0 => t.failed_or_slow,
                        1 => flagged.contains(*id),
                        _ => cold.contains(*id),
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        rng.shuffle(&mut ids);
        ids.truncate(max.saturating_sub(out.len()));
        for id in ids {
            chosen.insert(id);
            out.push(id.clone());
            *n += 1;
        }
    }
    let [failed_or_slow, server_flagged, cold_n] = tiers;

    // The rest, shuffled per stratum, taken one per stratum in turn.
    let mut strata: BTreeMap<(u32, &str), Vec<&String>> = BTreeMap::new();
    for (id, t) in &ids {
        if !chosen.contains(id) {
            strata
                .entry((t.phase, t.endpoint.as_str()))
                .or_default()
                .push(id);
        }
    }
    for ids in strata.values_mut() {
        rng.shuffle(ids);
    }
    let mut sample = 0;
    let mut round = 0;
    while out.len() < max {
        let mut took = false;
        for ids in strata.values() {
            if out.len() >= max {
                break;
            }
            if let Some(id) = ids.get(round) {
                out.push((*id).clone());
                sample += 1;
                took = true;
            }
        }
        if !took {
            break;
        }
        round += 1;
    }
    let selection = TraceSelection {
        traced_requests: sent.len(),
        max_traces: max,
        failed_or_slow,
        server_flagged,
        cold: cold_n,
        sample,
    };
    (out, selection)
}

#[cfg(test)]
mod tests {
    use stormwatch_model::UnixNanos;

    use super::*;

    fn trace(phase: u32, endpoint: &str, failed_or_slow: bool) -> SentTrace {
        SentTrace {
            sent: UnixNanos(0),
            phase,
            endpoint: endpoint.into(),
            failed_or_slow,
        }
    }

    /// 1,000 fast successes over two phases × two endpoints (700/100/100/100), 30 failed
    /// and 10 slow in phase 0's first endpoint.
    fn run() -> HashMap<String, SentTrace> {
        let mut sent = HashMap::new();
        let mut n = 0;
        let mut add = |t: SentTrace, count: usize| {
            for _ in 0..count {
                sent.insert(format!("1-{n:08x}"), t.clone());
                n += 1;
            }
        };
        add(trace(0, "GET /a", false), 700);
        add(trace(0, "GET /b", false), 100);
        add(trace(1, "GET /a", false), 100);
        add(trace(1, "GET /b", false), 100);
        add(trace(0, "GET /a", true), 30);
        add(trace(0, "GET /a", true), 10);
        sent
    }

    #[test]
    fn the_budget_goes_to_failures_then_flags_then_cold_then_every_stratum() {
        let sent = run();
        let mut ok_ids: Vec<&String> = sent
            .iter()
            .filter(|(_, t)| !t.failed_or_slow)
            .map(|(id, _)| id)
            .collect();
        ok_ids.sort();
        let flagged: HashSet<String> = ok_ids[..5].iter().map(|s| (*s).clone()).collect();
        let cold: HashSet<String> = ok_ids[5..25].iter().map(|s| (*s).clone()).collect();
        let (ids, sel) = select(&sent, &flagged, &cold, 100);
        assert_eq!(ids.len(), 100);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 100, "no id twice");
        assert_eq!(
            (sel.failed_or_slow, sel.server_flagged, sel.cold, sel.sample),
            (40, 5, 20, 35)
        );
        assert_eq!(sel.chosen(), 100);
        for id in sent
            .iter()
            .filter(|(_, t)| t.failed_or_slow)
            .map(|(id, _)| id)
        {
            assert!(ids.contains(id), "every failed or slow request is fetched");
        }
        // The 35 sampled are spread over the four strata (9, 9, 9, 8), not 700:100:100:100.
        let sampled: Vec<&SentTrace> = ids
            .iter()
            .filter(|id| !flagged.contains(*id) && !cold.contains(*id))
            .map(|id| &sent[id])
            .filter(|t| !t.failed_or_slow)
            .collect();
        for (phase, endpoint) in [(0, "GET /a"), (0, "GET /b"), (1, "GET /a"), (1, "GET /b")] {
            let n = sampled
                .iter()
                .filter(|t| t.phase == phase && t.endpoint == endpoint)
                .count();
            assert!((8..=9).contains(&n), "{phase} {endpoint}: {n}");
        }
        // Seeded: the same inputs choose the same traces.
        assert_eq!(select(&sent, &flagged, &cold, 100).0, ids);
    }

    #[test]
    fn a_tier_larger_than_the_budget_is_cut_and_a_large_budget_takes_all() {
        let sent = run();
        let none = HashSet::new();
        let (ids, sel) = select(&sent, &none, &none, 25);
        assert_eq!((ids.len(), sel.failed_or_slow, sel.sample), (25, 25, 0));
        assert!(ids.iter().all(|id| sent[id].failed_or_slow));
        let (all, sel) = select(&sent, &none, &none, 10_000);
        assert_eq!(all.len(), sent.len());
        assert_eq!(sel.traced_requests, 1040);
        assert_eq!((sel.failed_or_slow, sel.sample), (40, 1000));
    }
}
