//! How many writes to keep in flight, chosen from what the API server answers.
//!
//! A fixed concurrency is wrong on both sides: too low wastes a server that has cores to spare,
//! too high only queues requests in the server (API Priority and Fairness then answers 429). The
//! limit here follows the server: it grows while latency stays near the best seen (the server
//! has spare capacity), shrinks in proportion when latency rises (requests are queueing), and
//! halves on a 429 (the server said so). This is the gradient rule of concurrency limiters
//! used in front of services: `new = old × (best latency / recent latency) + headroom`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// The control law, without any waiting: pure, so it can be tested step by step.
#[derive(Clone, Debug)]
pub struct Gradient {
    limit: f64,
    min_limit: f64,
    max_limit: f64,
    /// The lowest latency seen recently: the server's latency with no queue.
    best: Option<Duration>,
    /// Smoothed recent latency.
    recent: Option<Duration>,
    /// The lowest latency of the current window of answers, which replaces `best` when the
    /// window ends: `best` then follows a server that got slower for good (another tenant, a
    /// larger etcd) without forgetting what an unqueued request costs.
    window_best: Option<Duration>,
    samples: u64,
}

/// How the server answered one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answered (successfully or not) after this long.
    Took(Duration),
    /// 429 Too Many Requests: the server is saturated.
    TooMany,
}

/// Latency below this many times the best counts as "no queue".
const TOLERANCE: f64 = 1.5;
/// Weight of a new sample in the smoothed latency.
const SMOOTHING: f64 = 0.1;
/// Samples after which the best latency is forgotten and learnt again.
const RELEARN_AFTER: u64 = 2_000;

impl Gradient {
    pub fn new(initial: usize, max: usize) -> Gradient {
        let max_limit = max.max(1) as f64;
        Gradient {
            limit: (initial.max(1) as f64).min(max_limit),
            min_limit: 1.0,
            max_limit,
            best: None,
            recent: None,
            window_best: None,
            samples: 0,
        }
    }

    /// The number of requests that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit.floor().max(1.0) as usize
    }

    pub fn observe(&mut self, answer: Answer) {
        let took = match answer {
            Answer::TooMany => {
                self.limit = (self.limit / 2.0).max(self.min_limit);
                return;
            }
            Answer::Took(took) => took.max(Duration::from_micros(50)),
        };
        self.samples += 1;
        self.window_best = Some(self.window_best.map_or(took, |best| best.min(took)));
        if self.samples >= RELEARN_AFTER {
            self.samples = 0;
            self.best = self.window_best.take();
        }
        self.best = Some(self.best.map_or(took, |best| best.min(took)));
        let recent = match self.recent {
            None => took,
            Some(recent) => recent.mul_f64(1.0 - SMOOTHING) + took.mul_f64(SMOOTHING),
        };
        self.recent = Some(recent);
        let best = self.best.unwrap_or(took).as_secs_f64();
        let gradient = (best * TOLERANCE / recent.as_secs_f64()).clamp(0.5, 1.0);
        let headroom = self.limit.sqrt();
        let target = self.limit * gradient + headroom;
        // Move a little towards the target on every answer.
        self.limit = (self.limit * 0.9 + target * 0.1).clamp(self.min_limit, self.max_limit);
    }
}

/// A gate in front of requests that admits as many at once as [`Gradient`] allows.
pub struct AdaptiveLimiter {
    state: Mutex<(Gradient, usize)>,
    freed: Notify,
}

/// A place in flight; report how the server answered with [`Permit::done`].
pub struct Permit<'a> {
    limiter: &'a AdaptiveLimiter,
    reported: bool,
}

impl AdaptiveLimiter {
    pub fn new(initial: usize, max: usize) -> AdaptiveLimiter {
        AdaptiveLimiter {
            state: Mutex::new((Gradient::new(initial, max), 0)),
            freed: Notify::new(),
        }
    }

    /// The current limit, for reports.
    pub fn limit(&self) -> usize {
        self.lock().0.limit()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Gradient, usize)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.lock();
                if state.1 < state.0.limit() {
                    state.1 += 1;
                    return Permit {
                        limiter: self,
                        reported: false,
                    };
                }
            }
            freed.await;
        }
    }

    fn release(&self, answer: Option<Answer>) {
        let mut state = self.lock();
        state.1 = state.1.saturating_sub(1);
        if let Some(answer) = answer {
            state.0.observe(answer);
        }
        drop(state);
        self.freed.notify_waiters();
    }
}

impl Permit<'_> {
    pub fn done(mut self, answer: Answer) {
        self.reported = true;
        self.limiter.release(Some(answer));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported {
            self.limiter.release(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Answer {
        Answer::Took(Duration::from_millis(n))
    }

    #[test]
    fn grows_while_latency_stays_low() {
        let mut g = Gradient::new(4, 64);
        for _ in 0..500 {
            g.observe(ms(5));
        }
        assert_eq!(g.limit(), 64);
    }

    #[test]
    fn settles_where_latency_starts_to_grow() {
        // A server with 4 workers and 5 ms of work per request: below 4 in flight latency is
        // 5 ms, above it requests queue and latency grows with the queue.
        let mut g = Gradient::new(1, 64);
        for _ in 0..5_000 {
            let inflight = g.limit() as u64;
            let latency = 5 * inflight.div_ceil(4).max(1);
            g.observe(ms(latency));
        }
        assert!(
            (4..=16).contains(&g.limit()),
            "limit {} should stay near the server's 4 workers",
            g.limit()
        );
    }

    #[test]
    fn halves_on_too_many_requests_and_never_drops_below_one() {
        let mut g = Gradient::new(32, 64);
        g.observe(Answer::TooMany);
        assert_eq!(g.limit(), 16);
        for _ in 0..10 {
            g.observe(Answer::TooMany);
        }
        assert_eq!(g.limit(), 1);
    }

    #[test]
    fn the_cap_holds() {
        let mut g = Gradient::new(100, 8);
        assert_eq!(g.limit(), 8);
        for _ in 0..100 {
            g.observe(ms(1));
        }
        assert_eq!(g.limit(), 8);
    }

    #[tokio::test]
    async fn admits_no_more_than_the_limit() {
        let limiter = std::sync::Arc::new(AdaptiveLimiter::new(2, 2));
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let waiting = {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let permit = limiter.acquire().await;
                permit.done(ms(1));
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        a.done(ms(1));
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("a freed place admits the waiting request")
            .unwrap();
    }
}
