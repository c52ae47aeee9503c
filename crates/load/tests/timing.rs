//! Timing-sensitive engine checks: arrivals seen by the server, scheduling lateness, sends
//! left on time while others are dropped.
//! They are in their own test binary, and run one at a time, because cargo runs test
//! binaries one after another: no other test shares the two cores while these measure
//! how smoothly requests leave the client.

mod server;

use std::time::Duration;

use server::{Reply, run_scenario, start};

/// One test at a time in this binary.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_follows_the_planned_rate() {
    let _alone = SERIAL.lock().await;
    let srv = start(|_, _| Reply::ok("ok")).await;
    let text = r#"
[target]
url = "http://unused"
[trace]
sampling = 0.5
traceparent = true
[[flows]]
name = "f"
steps = [{ path = "/x" }]
[[phases]]
name = "ramp"
model = "open"
from = 20
to = 200
duration = "2s"
"#;
    let (out, records, _tmp) = run_scenario(text, &srv.url).await;
    // Integral of 20 -> 200 over 2 s = 220; first second 20 + 90/2... = 65.
    assert!((218..=222).contains(&records.len()), "{}", records.len());
    let start = out.manifest.phases[0].actual.unwrap().start;
    let start = stormwatch_model::UnixNanos::from_datetime(start);
    let first = records
        .iter()
        .filter(|r| r.intended.since(start).unwrap() < Duration::from_secs(1))
        .count();
    assert!((63..=67).contains(&first), "{first}");
    // W3C traceparent carries the X-Ray id; Sampled follows the configured fraction.
    let seen = srv.seen();
    for s in &seen {
        let xray = s.header("x-amzn-trace-id").unwrap();
        let root = &xray[5..40];
        let tp = s.header("traceparent").expect("traceparent requested");
        assert_eq!(&tp[3..35], root[2..].replace('-', ""), "{tp} vs {xray}");
        assert_eq!(tp.ends_with("-01"), xray.ends_with("Sampled=1"));
    }
    let sampled = records.iter().filter(|r| r.sampled).count();
    assert!(
        (60..=160).contains(&sampled),
        "{sampled} of {} sampled at 0.5",
        records.len()
    );
    let lateness = out.lateness[0];
    assert!(lateness.max < Duration::from_millis(100), "{lateness:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_at_1000_per_second_are_smooth_at_the_server() {
    let _alone = SERIAL.lock().await;
    let text = r#"
[target]
url = "http://unused"
[[flows]]
name = "f"
steps = [{ path = "/x" }]
[[phases]]
name = "steady"
model = "open"
rate = 1000
duration = "1s"
"#;
    // A pacer that bursts does so on every run; a loaded 2-core machine that stalls the test
    // process now and then does not stall three runs in a row. So up to three runs, and the
    // first smooth one passes.
    let mut worst_of_runs = Vec::new();
    for _ in 0..3 {
        let srv = start(|_, _| Reply::ok("ok")).await;
        let (_out, records, _tmp) = run_scenario(text, &srv.url).await;
        assert_eq!(records.len(), 1000);
        let seen = srv.seen();
        let first = seen.iter().map(|s| s.at).min().unwrap();
        let mut bins = [0u32; 120];
        for s in &seen {
            let bin = (s.at - first).as_millis() as usize / 10;
            bins[bin.min(bins.len() - 1)] += 1;
        }
        // Ideal: 10 per 10 ms bin; the issue allows at most 3×.
        let worst = *bins.iter().max().unwrap();
        if worst <= 30 {
            return;
        }
        worst_of_runs.push((worst, bins));
    }
    panic!("every run had a 10 ms bin of more than 30 requests: {worst_of_runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_max_in_flight_are_dropped_and_counted_not_delayed() {
    let _alone = SERIAL.lock().await;
    let srv = start(|_, _| {
        let mut r = Reply::ok("ok");
        r.delay = Duration::from_millis(200);
        r
    })
    .await;
    let text = r#"
[target]
url = "http://unused"
[[flows]]
name = "f"
steps = [{ path = "/x" }]
[[phases]]
name = "capped"
model = "open"
rate = 200
duration = "1s"
max_in_flight = 5
"#;
    let (out, records, _tmp) = run_scenario(text, &srv.url).await;
    let dropped = out.manifest.phases[0].dropped;
    // 5 in flight × 200 ms each: about 25 sent, the rest dropped.
    assert_eq!(records.len() as u64 + dropped, 200);
    assert!(dropped >= 150, "dropped {dropped}");
    // Sent ones were not delayed: each left on time (raw ≈ corrected).
    for r in &records {
        let wait = r.sent.since(r.intended).unwrap();
        assert!(wait < Duration::from_millis(50), "{wait:?}");
    }
}
