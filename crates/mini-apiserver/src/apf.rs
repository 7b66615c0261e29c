//! API Priority and Fairness, reduced to one priority level: at most `max_inflight`
//! requests execute at once, up to `queue_length` more wait, and a waiting request is
//! given the next free seat fairly between flows (one flow per user, served in turn),
//! as kube's fair queuing does between the flows of a priority level. A request that
//! finds the queue full is rejected (429). Watches do not take seats, as long-running
//! requests do not on the real server.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::controls::Apf;

#[derive(Debug, Default)]
struct State {
    executing: usize,
    queued: usize,
    waiting: BTreeMap<String, VecDeque<oneshot::Sender<()>>>,
    /// The flow served last, so that the next seat goes to the flow after it.
    last_flow: Option<String>,
    limits: Apf,
}

/// The seats of the priority level.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    state: Mutex<State>,
}

/// A seat held by an executing request; dropping it frees the seat.
pub(crate) struct Seat {
    limiter: Arc<Limiter>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

impl Limiter {
    pub(crate) fn new(limits: Apf) -> Limiter {
        Limiter {
            state: Mutex::new(State {
                limits,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the limits; waiting requests get the seats that become free.
    pub(crate) fn set_limits(&self, limits: Apf) {
        let mut st = self.lock();
        st.limits = limits;
        while st.executing < st.limits.max_inflight && Self::hand_over(&mut st) {}
    }

    /// Waits for a seat; `None` when the queue is full (answer 429).
    pub(crate) async fn acquire(self: &Arc<Self>, flow: &str) -> Option<Seat> {
        let rx = {
            let mut st = self.lock();
            if st.executing < st.limits.max_inflight {
                st.executing += 1;
                return Some(Seat {
                    limiter: Arc::clone(self),
                });
            }
            if st.queued >= st.limits.queue_length {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            st.waiting
                .entry(flow.to_string())
                .or_default()
                .push_back(tx);
            st.queued += 1;
            rx
        };
        // The seat is counted for us by whoever hands it over.
        let seat = Seat {
            limiter: Arc::clone(self),
        };
        match rx.await {
            Ok(()) => Some(seat),
            Err(_) => {
                // Never handed over (the limiter is gone): do not free a seat we lack.
                std::mem::forget(seat);
                None
            }
        }
    }

    fn release(&self) {
        let mut st = self.lock();
        if st.executing > st.limits.max_inflight || !Self::hand_over(&mut st) {
            st.executing = st.executing.saturating_sub(1);
        }
    }

    /// Gives a seat to the next waiting request of the next flow in turn (the seat
    /// count does not change); false when nobody waits.
    fn hand_over(st: &mut State) -> bool {
        loop {
            let flows: Vec<String> = st
                .waiting
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(f, _)| f.clone())
                .collect();
            if flows.is_empty() {
                st.waiting.clear();
                return false;
            }
            let next = st
                .last_flow
                .as_ref()
                .and_then(|last| flows.iter().find(|f| *f > last))
                .unwrap_or(&flows[0])
                .clone();
            let Some(tx) = st.waiting.get_mut(&next).and_then(VecDeque::pop_front) else {
                continue;
            };
            st.queued -= 1;
            st.last_flow = Some(next);
            if tx.send(()).is_ok() {
                return true;
            }
            // That request went away while waiting: try the next one.
        }
    }

    /// (executing, waiting)
    pub(crate) fn load(&self) -> (usize, usize) {
        let st = self.lock();
        (st.executing, st.queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seats_queue_and_fairness() {
        let l = Arc::new(Limiter::new(Apf {
            max_inflight: 1,
            queue_length: 3,
        }));
        let first = l.acquire("a").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for flow in ["a", "a", "b"] {
            let l = Arc::clone(&l);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let seat = l.acquire(flow).await;
                order.lock().unwrap().push(flow);
                tokio::task::yield_now().await;
                drop(seat);
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(l.load(), (1, 3));
        // the queue is full
        assert!(l.acquire("c").await.is_none());
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        // "b" is served before the second "a": flows take turns
        assert_eq!(*order.lock().unwrap(), vec!["a", "b", "a"]);
        assert_eq!(l.load(), (0, 0));
    }
}
