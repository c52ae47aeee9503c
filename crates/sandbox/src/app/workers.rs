//! The queue workers: each queue's worker slots take jobs and invoke the worker function
//! on them, and a sampler records the queue gauges once a second.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::App;
use super::invoke::{Invocation, draw, request_id};
use stormwatch_aws_emulator::metric_store::{Unit, key};

impl App {
    /// Starts the job workers (each queue's concurrency) and the SQS gauge sampler; the
    /// handles are aborted at shutdown. Must be called inside a tokio runtime.
    pub fn start_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        for queue in self.jobs.all() {
            for slot in 0..queue.config.concurrency {
                let app = Arc::clone(self);
                let name = queue.name().to_string();
                tasks.push(tokio::spawn(async move { app.worker(&name, slot).await }));
            }
        }
        if self.jobs.all().next().is_some() {
            let app = Arc::clone(self);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let now = SystemTime::now();
                    for q in app.jobs.all() {
                        q.sample(&app.metrics, now);
                    }
                }
            }));
        }
        tasks
    }

    /// One worker slot: takes jobs and runs the worker function on them. A throttled worker
    /// invoke puts the job back and retries after a pause, as the SQS poller backs off.
    async fn worker(self: Arc<Self>, queue_name: &str, slot: u32) {
        let Some(queue) = self.jobs.queue(queue_name) else {
            return;
        };
        let mut rng = fastrand::Rng::with_seed(
            self.seed ^ 0x51_0000 ^ u64::from(slot) ^ (queue_name.len() as u64) << 32,
        );
        loop {
            let id = queue.take().await;
            let function = self.platform.function(&queue.config.worker);
            let invoke_at = SystemTime::now();
            let fault = self.active_fault(&queue.config.worker, None);
            let Some(lease) = function.acquire(fault.reserved_concurrency) else {
                self.metrics.record(
                    key(
                        "AWS/Lambda",
                        "Throttles",
                        &[("FunctionName", &queue.config.worker)],
                    ),
                    Unit::Count,
                    invoke_at,
                    1.0,
                );
                queue.put_back(id);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.record_invoke(&queue.config.worker, &lease, invoke_at);
            let cfg = &function.config;
            let (init, handler, errored) =
                draw(cfg, &queue.config.handler, &fault, lease.cold, &mut rng);
            let run = Invocation {
                function: queue.config.worker.clone(),
                request_id: request_id(&mut rng),
                table: None,
                stream: None,
                table_factor: 1.0,
                lease,
                at: invoke_at,
                init,
                handler,
                timeout: cfg.timeout,
                errored,
                rng_seed: rng.u64(..),
                trace: None,
            };
            let done = self.invoke_ref(run).await;
            queue.finish(id, !done.failed);
        }
    }
}
