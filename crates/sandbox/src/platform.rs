//! The Lambda-like platform: per function, a pool of execution environments. An invocation
//! takes an idle environment (warm), or starts one (cold: it waits the init duration) unless
//! the function's concurrency cap is reached (throttle). Provisioned environments exist from
//! the start and never cold start; when all are busy, invocations spill over to on-demand
//! environments. Idle on-demand environments older than the idle timeout are reaped when the
//! pool is next touched, which is observably the same as reaping them on a timer.
//! Each function has its own lock, held only to pick or return an environment. A [`Lease`]
//! gives its environment back when dropped, so an invocation that ends any way at all (even
//! cancelled) cannot keep it busy forever.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use crate::config::FunctionConfig;

/// AWS's default account concurrency, the cap when no reserved concurrency is set.
const ACCOUNT_CONCURRENCY: u32 = 1000;

/// An execution environment handed to one invocation; dropping it returns the environment.
pub struct Lease {
    /// Stable id, e.g. `checkout-env-3`.
    pub env_id: String,
    /// True when this invocation started the environment.
    pub cold: bool,
    /// True when the environment is a provisioned one.
    pub provisioned: bool,
    /// True when provisioned concurrency is configured but all of it was busy.
    pub spillover: bool,
    /// Busy environments of the function just after this one was taken.
    pub concurrent: u32,
    /// When the environment started (names its log stream).
    pub born: SystemTime,
    pool: Arc<Mutex<Pool>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("env_id", &self.env_id)
            .field("cold", &self.cold)
            .field("provisioned", &self.provisioned)
            .field("spillover", &self.spillover)
            .field("concurrent", &self.concurrent)
            .field("born", &self.born)
            .finish_non_exhaustive()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut p = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        p.busy = p.busy.saturating_sub(1);
        let env = Env {
            id: std::mem::take(&mut self.env_id),
            last_used: Instant::now(),
            born: self.born,
        };
        if self.provisioned {
            p.provisioned_idle.push(env);
        } else {
            p.idle.push(env);
        }
    }
}

struct Env {
    id: String,
    last_used: Instant,
    born: SystemTime,
}

struct Pool {
    idle: Vec<Env>,
    provisioned_idle: Vec<Env>,
    busy: u32,
    next_id: u64,
}

/// One function's environments.
pub struct Function {
    /// Name.
    pub name: String,
    /// Its config.
    pub config: FunctionConfig,
    pool: Arc<Mutex<Pool>>,
}

impl Function {
    fn new(name: &str, config: FunctionConfig) -> Self {
        let now = Instant::now();
        let born = SystemTime::now();
        let provisioned_idle = (0..config.provisioned_concurrency)
            .map(|i| Env {
                id: format!("{name}-pc-{i}"),
                last_used: now,
                born,
            })
            .collect();
        Self {
            name: name.to_string(),
            config,
            pool: Arc::new(Mutex::new(Pool {
                idle: Vec::new(),
                provisioned_idle,
                busy: 0,
                next_id: 0,
            })),
        }
    }

    /// Takes an environment, or `None` when the function is throttled. `cap` overrides the
    /// reserved concurrency (used by fault windows).
    pub fn acquire(&self, cap: Option<u32>) -> Option<Lease> {
        let now = Instant::now();
        let limit = cap
            .or(self.config.reserved_concurrency)
            .unwrap_or(ACCOUNT_CONCURRENCY);
        let mut p = self.pool.lock().expect("pool poisoned");
        if p.busy >= limit {
            return None;
        }
        if let Some(env) = p.provisioned_idle.pop() {
            p.busy += 1;
            return Some(Lease {
                env_id: env.id,
                cold: false,
                provisioned: true,
                spillover: false,
                concurrent: p.busy,
                born: env.born,
                pool: Arc::clone(&self.pool),
            });
        }
        let idle_timeout = self.config.idle_timeout;
        p.idle
            .retain(|e| now.duration_since(e.last_used) <= idle_timeout);
        let spillover = self.config.provisioned_concurrency > 0;
        p.busy += 1;
        let concurrent = p.busy;
        // Most recently used first, as Lambda tends to reuse the warmest environment.
        if let Some(env) = p.idle.pop() {
            return Some(Lease {
                env_id: env.id,
                cold: false,
                provisioned: false,
                spillover,
                concurrent,
                born: env.born,
                pool: Arc::clone(&self.pool),
            });
        }
        p.next_id += 1;
        Some(Lease {
            env_id: format!("{}-env-{}", self.name, p.next_id),
            cold: true,
            provisioned: false,
            spillover,
            concurrent,
            born: SystemTime::now(),
            pool: Arc::clone(&self.pool),
        })
    }
}

/// All functions by name.
pub struct Platform {
    functions: BTreeMap<String, Function>,
}

impl Platform {
    /// Builds the pools, pre-initialising provisioned environments.
    pub fn new(functions: &BTreeMap<String, FunctionConfig>) -> Self {
        Self {
            functions: functions
                .iter()
                .map(|(n, c)| (n.clone(), Function::new(n, c.clone())))
                .collect(),
        }
    }

    /// A function by name (routes were checked against the config).
    pub fn function(&self, name: &str) -> &Function {
        &self.functions[name]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use std::time::Duration;

    fn cfg(reserved: Option<u32>, pc: u32, idle: Duration) -> FunctionConfig {
        FunctionConfig {
            memory_mb: 128,
            init: Dist::Fixed(Duration::ZERO),
            reserved_concurrency: reserved,
            provisioned_concurrency: pc,
            idle_timeout: idle,
            ..FunctionConfig::default()
        }
    }

    #[test]
    fn caps_reuses_and_reaps() {
        let f = Function::new("f", cfg(Some(2), 0, Duration::ZERO));
        let a = f.acquire(None).unwrap();
        let b = f.acquire(None).unwrap();
        assert!(a.cold && b.cold);
        assert!(f.acquire(None).is_none());
        drop(a);
        // Idle timeout zero: the released environment is reaped as soon as time moves.
        std::thread::sleep(Duration::from_millis(2));
        assert!(f.acquire(None).unwrap().cold);
        drop(b);
    }

    #[test]
    fn provisioned_first_then_spillover() {
        let f = Function::new("f", cfg(None, 1, Duration::from_secs(60)));
        let a = f.acquire(None).unwrap();
        assert!(a.provisioned && !a.cold && !a.spillover);
        let b = f.acquire(None).unwrap();
        assert!(b.cold && b.spillover);
    }

    #[test]
    fn a_dropped_lease_returns_its_environment() {
        let f = Function::new("f", cfg(Some(1), 0, Duration::from_secs(60)));
        let a = f.acquire(None).unwrap();
        assert!(f.acquire(None).is_none());
        let id = a.env_id.clone();
        drop(a);
        let b = f
            .acquire(None)
            .expect("the dropped lease freed the environment");
        assert_eq!(b.env_id, id);
        assert!(!b.cold);
    }
}
