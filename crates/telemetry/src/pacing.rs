//! Our own pacing under an API's TPS quota, on top of the SDK's retries.
//!
//! The SDK's standard retry mode absorbs an occasional throttle; a collector that keeps
//! sending at full speed into a throttling API would still burn its retries and lose data.
//! So every call first takes a slot from a [`Pacer`]: slots are `1 / rate` apart, and each
//! time the interceptor reports new throttles the rate halves (down to a floor), then
//! creeps back up after a run of clean calls (AIMD, as TCP does).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    next: Instant,
    interval: Duration,
    seen_throttles: u64,
    clean: u32,
}

/// Spaces calls to one API.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    fastest: Duration,
    slowest: Duration,
}

impl Pacer {
    /// At most `per_sec` calls per second (never slower than one per 4 s).
    pub fn new(per_sec: f64) -> Self {
        let fastest = Duration::from_secs_f64(1.0 / per_sec.clamp(0.01, 10_000.0));
        Self {
            state: Mutex::new(State {
                next: Instant::now(),
                interval: fastest,
                seen_throttles: 0,
                clean: 0,
            }),
            fastest,
            slowest: fastest.max(Duration::from_secs(4)),
        }
    }

    /// Waits for the next slot. `throttles_so_far` is the running count of throttled
    /// attempts of this API: when it grew since the last call, the pace halves.
    pub async fn acquire(&self, throttles_so_far: u64) {
        let wait_until = {
            let Ok(mut s) = self.state.lock() else {
                return;
            };
            if throttles_so_far > s.seen_throttles {
                s.seen_throttles = throttles_so_far;
                s.interval = (s.interval * 2).min(self.slowest);
                s.clean = 0;
            } else {
                s.clean += 1;
                if s.clean >= 10 {
                    s.clean = 0;
                    s.interval = (s.interval.mul_f64(0.8)).max(self.fastest);
                }
            }
            let now = Instant::now();
            let slot = s.next.max(now);
            s.next = slot + s.interval;
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }

    /// The current spacing between calls.
    pub fn interval(&self) -> Duration {
        self.state.lock().map_or(self.fastest, |s| s.interval)
    }
}

/// Throttling that outlived the SDK's own retries: how many more rounds we give a call.
pub const THROTTLE_RETRIES: u32 = 6;

/// After a failed call: a throttling error waits (1, 2, 4… up to 32 s — longer than the
/// SDK's backoff, while the pacer slows down having seen the throttles) and returns `Ok`
/// so the caller tries again, until [`THROTTLE_RETRIES`]; anything else is returned.
pub async fn back_off(
    api: crate::Api,
    err: crate::TelemetryError,
    attempt: &mut u32,
) -> Result<(), crate::TelemetryError> {
    *attempt += 1;
    if !err.is_throttling() {
        return Err(err);
    }
    if *attempt > THROTTLE_RETRIES {
        return Err(crate::TelemetryError::Throttled {
            api,
            attempts: *attempt,
        });
    }
    tokio::time::sleep(std::time::Duration::from_secs(1 << (*attempt).min(5))).await;
    Ok(())
}

/// Every AWS call of the collector goes through here: wait for the API's slot from
/// `pacer`, send, and when throttling outlived the SDK's own retries, [`back_off`] and send
/// again (up to [`THROTTLE_RETRIES`] rounds). Any other failure comes back at once as a
/// [`crate::TelemetryError`] naming the API. `send` builds and sends the request anew each
/// time.
pub async fn paced<T, E, F, Fut>(
    api: crate::Api,
    pacer: &Pacer,
    stats: &crate::aws::ApiStats,
    mut send: F,
) -> Result<T, crate::TelemetryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = Result<
                T,
                aws_smithy_runtime_api::client::result::SdkError<E, crate::error::HttpResponse>,
            >,
        >,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut attempt = 0;
    loop {
        pacer.acquire(stats.throttles_of(api)).await;
        match send().await {
            Ok(r) => return Ok(r),
            Err(e) => back_off(api, crate::error::from_sdk(api, &e), &mut attempt).await?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_and_backs_off_on_throttles() {
        let p = Pacer::new(10.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            p.acquire(0).await;
        }
        // 5 slots 100 ms apart: the first is immediate.
        assert_eq!(t0.elapsed(), Duration::from_millis(400));
        p.acquire(3).await;
        assert_eq!(p.interval(), Duration::from_millis(200));
        p.acquire(7).await;
        assert_eq!(p.interval(), Duration::from_millis(400));
        for _ in 0..30 {
            p.acquire(7).await;
        }
        assert!(p.interval() < Duration::from_millis(400));
        assert!(p.interval() >= Duration::from_millis(100));
    }
}
