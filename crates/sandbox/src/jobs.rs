//! The async job queues: an SQS-like queue per `[queues.NAME]`. A submit route enqueues a
//! job (its status is `queued`); worker slots (the event source mapping's maximum
//! concurrency) take jobs oldest first (`processing`) and run the worker function on them
//! (`completed` or `failed`). A sampler records AWS/SQS `ApproximateNumberOfMessagesVisible`
//! and `ApproximateAgeOfOldestMessage` (seconds) once a second, as SQS reports them, with the
//! QueueName dimension; `NumberOfMessagesSent` counts enqueues. Finished jobs beyond the
//! newest [`KEEP_FINISHED`] are forgotten so memory stays flat.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use tokio::sync::Notify;

use crate::config_services::QueueConfig;
use stormwatch_aws_emulator::metric_store::{MetricStore, Unit, key};

/// Finished jobs remembered per queue for status queries.
pub const KEEP_FINISHED: usize = 100_000;

/// A job's state, as the status route answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting in the queue.
    Queued,
    /// A worker is running it.
    Processing,
    /// The worker succeeded.
    Completed,
    /// The worker failed (error or timeout).
    Failed,
}

impl JobStatus {
    /// The status word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

#[derive(Default)]
struct State {
    pending: VecDeque<(String, Instant)>,
    status: HashMap<String, JobStatus>,
    finished: VecDeque<String>,
}

/// One queue.
pub struct Queue {
    /// Its config.
    pub config: QueueConfig,
    name: String,
    state: Mutex<State>,
    ready: Notify,
}

impl Queue {
    fn new(name: &str, config: QueueConfig) -> Self {
        Self {
            config,
            name: name.to_string(),
            state: Mutex::default(),
            ready: Notify::new(),
        }
    }

    /// Queue name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a job.
    pub fn enqueue(&self, id: String, metrics: &MetricStore, at: SystemTime) {
        {
            let mut s = self.state.lock().expect("queue poisoned");
            s.status.insert(id.clone(), JobStatus::Queued);
            s.pending.push_back((id, Instant::now()));
        }
        metrics.record(
            key(
                "AWS/SQS",
                "NumberOfMessagesSent",
                &[("QueueName", &self.name)],
            ),
            Unit::Count,
            at,
            1.0,
        );
        self.ready.notify_one();
    }

    /// Waits for the oldest job and marks it processing.
    pub async fn take(&self) -> String {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.state.lock().expect("queue poisoned");
                if let Some((id, _)) = s.pending.pop_front() {
                    s.status.insert(id.clone(), JobStatus::Processing);
                    return id;
                }
            }
            notified.await;
        }
    }

    /// Puts a job back at the head (the worker was throttled; SQS makes it visible again).
    pub fn put_back(&self, id: String) {
        {
            let mut s = self.state.lock().expect("queue poisoned");
            s.status.insert(id.clone(), JobStatus::Queued);
            s.pending.push_front((id, Instant::now()));
        }
        self.ready.notify_one();
    }

    /// Records a job's outcome.
    pub fn finish(&self, id: String, ok: bool) {
        let mut s = self.state.lock().expect("queue poisoned");
        let status = if ok {
            JobStatus::Completed
        } else {
            JobStatus::Failed
        };
        s.status.insert(id.clone(), status);
        s.finished.push_back(id);
        while s.finished.len() > KEEP_FINISHED {
            if let Some(old) = s.finished.pop_front() {
                s.status.remove(&old);
            }
        }
    }

    /// A job's status; `None` for an unknown (or long forgotten) job.
    pub fn status(&self, id: &str) -> Option<JobStatus> {
        self.state
            .lock()
            .expect("queue poisoned")
            .status
            .get(id)
            .copied()
    }

    /// Records the SQS gauges for now.
    pub fn sample(&self, metrics: &MetricStore, at: SystemTime) {
        let (visible, oldest) = {
            let s = self.state.lock().expect("queue poisoned");
            let oldest = s
                .pending
                .iter()
                .map(|(_, t)| t.elapsed())
                .max()
                .unwrap_or_default();
            (s.pending.len(), oldest)
        };
        let dims = [("QueueName", self.name.as_str())];
        metrics.record(
            key("AWS/SQS", "ApproximateNumberOfMessagesVisible", &dims),
            Unit::Count,
            at,
            visible as f64,
        );
        metrics.record(
            key("AWS/SQS", "ApproximateAgeOfOldestMessage", &dims),
            Unit::Seconds,
            at,
            oldest.as_secs() as f64,
        );
    }
}

/// All queues by name.
pub struct Jobs {
    queues: BTreeMap<String, Queue>,
}

impl Jobs {
    /// Empty queues for the config.
    pub fn new(config: &BTreeMap<String, QueueConfig>) -> Self {
        Self {
            queues: config
                .iter()
                .map(|(n, c)| (n.clone(), Queue::new(n, c.clone())))
                .collect(),
        }
    }

    /// A queue by name (routes were checked against the config).
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(name)
    }

    /// Every queue.
    pub fn all(&self) -> impl Iterator<Item = &Queue> {
        self.queues.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use std::time::Duration;

    #[tokio::test]
    async fn lifecycle_and_gauges() {
        let q = Queue::new(
            "q",
            QueueConfig {
                worker: "w".into(),
                handler: Dist::Fixed(Duration::ZERO),
                concurrency: 1,
            },
        );
        let m = MetricStore::new(Duration::from_secs(1));
        let at = SystemTime::now();
        q.enqueue("a".into(), &m, at);
        q.enqueue("b".into(), &m, at);
        assert_eq!(q.status("a"), Some(JobStatus::Queued));
        q.sample(&m, at);
        let k = key(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &[("QueueName", "q")],
        );
        let d = m.datapoints(&k, at - Duration::from_secs(2), at + Duration::from_secs(2));
        assert!((d[0].aggregate.max - 2.0).abs() < f64::EPSILON);
        let id = q.take().await;
        assert_eq!(id, "a");
        assert_eq!(q.status("a"), Some(JobStatus::Processing));
        q.finish(id, true);
        assert_eq!(q.status("a"), Some(JobStatus::Completed));
        assert_eq!(q.status("zzz"), None);
    }
}
