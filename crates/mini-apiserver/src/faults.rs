//! Fault injection shared between a test and the running server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A rule that makes write requests fail.
#[derive(Clone, Debug, PartialEq)]
struct FailRule {
    /// Writes fail once `writes()` has reached this count.
    from_writes: u64,
    /// How many writes still fail; `None` = every write from then on.
    remaining: Option<u64>,
    status: u16,
    retry_after_secs: Option<u64>,
}

#[derive(Debug, Default)]
struct FaultState {
    /// (requests still throttled, Retry-After seconds)
    throttle: Option<(u64, u64)>,
    fail: Option<FailRule>,
    /// (threshold on `writes()`, delay)
    delay: Option<(u64, Duration)>,
    latency: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    requests: AtomicU64,
    writes: AtomicU64,
    state: Mutex<FaultState>,
}

/// A cheap, clonable handle on the fault-injection controls and counters of a running
/// server. All clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

/// What the server must do with one write request before handling it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct WritePlan {
    /// Sleep this long first (latency plus any configured delay).
    pub sleep: Duration,
    /// Answer with this status (and optional `Retry-After`) instead of handling it.
    pub fail: Option<(u16, Option<u64>)>,
}

impl Faults {
    pub(crate) fn new(latency: Duration) -> Faults {
        let f = Faults::default();
        f.set_latency(latency);
        f
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After `n` more successful writes, answer every write with `status` (500, 503,
    /// 429...) as a proper Kubernetes `Status` body, with a `Retry-After` header when
    /// `retry_after_secs` is set. Stays in force until [`Faults::clear`].
    pub fn fail_writes_after(&self, n: u64, status: u16, retry_after_secs: Option<u64>) {
        let from = self.writes().saturating_add(n);
        self.state().fail = Some(FailRule {
            from_writes: from,
            remaining: None,
            status,
            retry_after_secs,
        });
    }

    /// The next `count` write requests fail with `status`; writes succeed again after that.
    pub fn fail_next_writes(&self, count: u64, status: u16, retry_after_secs: Option<u64>) {
        let from = self.writes();
        self.state().fail = if count == 0 {
            None
        } else {
            Some(FailRule {
                from_writes: from,
                remaining: Some(count),
                status,
                retry_after_secs,
            })
        };
    }

    /// After `n` more successful writes, every write sleeps `delay` before it is handled.
    pub fn delay_writes_after(&self, n: u64, delay: Duration) {
        let from = self.writes().saturating_add(n);
        self.state().delay = Some((from, delay));
    }

    /// Latency added to every write request (POST, PUT, PATCH, DELETE).
    pub fn set_latency(&self, d: Duration) {
        self.state().latency = d;
    }

    /// The next `count` API requests (reads and writes) are refused with 429 and
    /// `Retry-After: retry_after_secs`, exactly as API Priority and Fairness refuses
    /// requests when its queues are full.
    pub fn throttle_next_requests(&self, count: u64, retry_after_secs: u64) {
        self.state().throttle = (count > 0).then_some((count, retry_after_secs));
    }

    /// Removes every failure and delay rule and sets the latency back to zero.
    pub fn clear(&self) {
        let mut s = self.state();
        s.throttle = None;
        s.fail = None;
        s.delay = None;
        s.latency = Duration::ZERO;
    }

    /// Successful writes so far (non-dry-run POST/PUT/PATCH/DELETE answered with 2xx).
    pub fn writes(&self) -> u64 {
        self.inner.writes.load(Ordering::SeqCst)
    }

    /// All API requests so far (the `/_mini/...` control endpoints are not counted).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    pub(crate) fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_write(&self) {
        self.inner.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether this request is throttled by injection: its Retry-After seconds.
    pub(crate) fn take_throttle(&self) -> Option<u64> {
        let mut s = self.state();
        let (n, retry) = s.throttle?;
        s.throttle = (n > 1).then_some((n - 1, retry));
        Some(retry)
    }

    /// Decides what happens to a write request that is about to be handled.
    pub(crate) fn plan_write(&self) -> WritePlan {
        let writes = self.writes();
        let mut s = self.state();
        let mut plan = WritePlan {
            sleep: s.latency,
            fail: None,
        };
        if let Some((from, d)) = s.delay
            && writes >= from
        {
            plan.sleep += d;
        }
        let mut exhausted = false;
        if let Some(rule) = s.fail.as_mut()
            && writes >= rule.from_writes
        {
            match rule.remaining.as_mut() {
                None => plan.fail = Some((rule.status, rule.retry_after_secs)),
                Some(0) => exhausted = true,
                Some(n) => {
                    *n -= 1;
                    exhausted = *n == 0;
                    plan.fail = Some((rule.status, rule.retry_after_secs));
                }
            }
        }
        if exhausted {
            s.fail = None;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_after_counts_successful_writes() {
        let f = Faults::new(Duration::ZERO);
        f.fail_writes_after(2, 503, Some(3));
        assert_eq!(f.plan_write().fail, None);
        f.count_write();
        assert_eq!(f.plan_write().fail, None);
        f.count_write();
        assert_eq!(f.plan_write().fail, Some((503, Some(3))));
        assert_eq!(f.plan_write().fail, Some((503, Some(3))));
        f.clear();
        assert_eq!(f.plan_write().fail, None);
    }

    #[test]
    fn fail_next_then_recover() {
        let f = Faults::new(Duration::ZERO);
        f.fail_next_writes(2, 500, None);
        assert_eq!(f.plan_write().fail, Some((500, None)));
        assert_eq!(f.plan_write().fail, Some((500, None)));
        assert_eq!(f.plan_write().fail, None);
    }

    #[test]
    fn throttling_counts_down() {
        let f = Faults::new(Duration::ZERO);
        f.throttle_next_requests(2, 3);
        assert_eq!(f.take_throttle(), Some(3));
        assert_eq!(f.take_throttle(), Some(3));
        assert_eq!(f.take_throttle(), None);
    }

    #[test]
    fn delay_and_latency_add_up() {
        let f = Faults::new(Duration::from_millis(3));
        f.delay_writes_after(1, Duration::from_millis(10));
        assert_eq!(f.plan_write().sleep, Duration::from_millis(3));
        f.count_write();
        assert_eq!(f.plan_write().sleep, Duration::from_millis(13));
    }
}
