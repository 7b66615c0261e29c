//! The server's adjustable behaviour: rollouts, authentication, explicit denials, the
//! CPU cost model, API Priority and Fairness limits and the deletion delay. Set at start
//! through [`crate::Options`], changed at run time through a [`Controls`] handle or the
//! `/_mini/` HTTP endpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::Options;
use crate::apf::Limiter;

/// How a rollout that never finishes is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stall {
    /// Rollouts finish.
    #[default]
    None,
    /// The status never catches up with a new generation (`observedGeneration` stays
    /// behind): `kubectl rollout status` waits for the spec update to be observed.
    Unobserved,
    /// The status follows the generation but one pod never becomes available.
    Unavailable,
}

/// Simulated rollouts of DaemonSets and Deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Time between a change and the first status update, and between two steps.
    pub delay: Duration,
    /// Pods updated per step (0: all at once).
    pub pods_per_step: u32,
    pub stall: Stall,
}

impl std::str::FromStr for Stall {
    type Err = String;

    fn from_str(s: &str) -> Result<Stall, String> {
        match s {
            "none" => Ok(Stall::None),
            "unobserved" => Ok(Stall::Unobserved),
            "unavailable" => Ok(Stall::Unavailable),
            other => Err(format!(
                "unknown stall {other:?} (none, unobserved or unavailable)"
            )),
        }
    }
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            delay: Duration::from_millis(100),
            pods_per_step: 0,
            stall: Stall::None,
        }
    }
}

/// A user the server knows by a static bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUser {
    pub token: String,
    pub user: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl TokenUser {
    pub fn new(token: &str, user: &str, groups: &[&str]) -> TokenUser {
        TokenUser {
            token: token.into(),
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// Reads users from a static token file in kube-apiserver's `--token-auth-file`
/// format: one `token,user,uid` line per user, optionally followed by a quoted,
/// comma-separated list of groups (`"g1,g2"`). Blank lines and `#` comments are
/// skipped.
pub fn parse_token_file(text: &str) -> Result<Vec<TokenUser>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, groups) = match line.split_once(",\"") {
            Some((h, g)) => (h, g.trim_end_matches('"')),
            None => (line, ""),
        };
        let fields: Vec<&str> = head.split(',').map(str::trim).collect();
        if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
            return Err(format!(
                "line {}: expected token,user,uid[,\"group1,group2\"]",
                i + 1
            ));
        }
        out.push(TokenUser {
            token: fields[0].to_string(),
            user: fields[1].to_string(),
            groups: groups
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    Ok(out)
}

/// A request refused (403) whoever makes it, and reported as denied by
/// SelfSubjectAccessReview. `"*"` matches anything; `resource` may name a
/// subresource (`nodes/status`); `namespace: None` matches every namespace and the
/// cluster scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub verb: String,
    #[serde(default)]
    pub group: String,
    pub resource: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Denial {
    pub fn new(verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> Denial {
        Denial {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.map(str::to_string),
        }
    }

    /// Does it deny this request?
    pub(crate) fn matches(&self, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
        let m = |rule: &str, v: &str| rule == "*" || rule == v;
        m(&self.verb, verb)
            && m(&self.group, group)
            && m(&self.resource, resource)
            && self.namespace.as_deref().is_none_or(|n| m(n, namespace))
    }
}

/// API Priority and Fairness: one priority level shared by every user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Apf {
    /// Requests executing at once.
    pub max_inflight: usize,
    /// Requests waiting for a seat; beyond that the server answers 429.
    pub queue_length: usize,
}

impl Default for Apf {
    /// kube's `global-default` priority level at the server's default limits: 49 seats
    /// (600 × 20/245 shares), queues of 50.
    fn default() -> Self {
        Apf {
            max_inflight: 49,
            queue_length: 50,
        }
    }
}

/// CPU spent on requests, per verb.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostStats {
    /// verb → (requests, CPU time of their handling including the added work).
    pub by_verb: BTreeMap<String, (u64, Duration)>,
}

impl CostStats {
    /// Average CPU per request of a verb.
    pub fn average(&self, verb: &str) -> Option<Duration> {
        self.by_verb
            .get(verb)
            .filter(|(n, _)| *n > 0)
            .map(|(n, d)| *d / (*n as u32))
    }
}

/// What a running server goes by: the options it started with, as [`Controls`] has
/// changed them since, and the CPU it has spent.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub options: Options,
    pub stats: CostStats,
}

#[derive(Debug)]
struct Inner {
    settings: Mutex<Settings>,
    /// Wakes the rollout controller when its settings change.
    rollout_changed: Notify,
    limiter: Arc<Limiter>,
}

/// A clonable handle on the adjustable behaviour of a running server.
#[derive(Debug, Clone)]
pub struct Controls {
    inner: Arc<Inner>,
}

impl Controls {
    pub(crate) fn new(mut options: Options) -> Controls {
        options.cost = cost_factor(options.cost);
        let limiter = Arc::new(Limiter::new(options.apf));
        Controls {
            inner: Arc::new(Inner {
                settings: Mutex::new(Settings {
                    options,
                    stats: CostStats::default(),
                }),
                rollout_changed: Notify::new(),
                limiter,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Settings> {
        self.inner
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn rollout_changed(&self) -> &Notify {
        &self.inner.rollout_changed
    }

    pub(crate) fn limiter(&self) -> &Arc<Limiter> {
        &self.inner.limiter
    }

    /// The rollout settings.
    pub fn rollout(&self) -> Rollout {
        self.lock().options.rollout
    }

    /// Changes how rollouts progress; stalled rollouts resume when the stall is lifted.
    pub fn set_rollout(&self, r: Rollout) {
        self.lock().options.rollout = r;
        self.inner.rollout_changed.notify_one();
    }

    /// Adds (or replaces, by token) a user known by a bearer token.
    pub fn add_token(&self, t: TokenUser) {
        let mut s = self.lock();
        s.options.tokens.retain(|x| x.token != t.token);
        s.options.tokens.push(t);
    }

    /// Forgets every token.
    pub fn clear_tokens(&self) {
        self.lock().options.tokens.clear();
    }

    /// When true, requests without a known token get 401; otherwise they are the admin.
    pub fn require_token(&self, on: bool) {
        self.lock().options.require_token = on;
    }

    /// Refuses a kind of request to everybody (see [`Denial`]).
    pub fn deny(&self, d: Denial) {
        self.lock().options.denials.push(d);
    }

    /// Removes every explicit denial.
    pub fn clear_denials(&self) {
        self.lock().options.denials.clear();
    }

    /// The CPU cost factor (0: off, 1: a real kube-apiserver).
    pub fn cost(&self) -> f64 {
        self.lock().options.cost
    }

    pub fn set_cost(&self, factor: f64) {
        self.lock().options.cost = cost_factor(factor);
    }

    /// CPU spent so far, per verb.
    pub fn cost_stats(&self) -> CostStats {
        self.lock().stats.clone()
    }

    pub(crate) fn record_cost(&self, verb: &str, cpu: Duration) {
        let mut s = self.lock();
        let e = s.stats.by_verb.entry(verb.to_string()).or_default();
        e.0 += 1;
        e.1 += cpu;
    }

    pub fn apf(&self) -> Apf {
        self.lock().options.apf
    }

    /// Changes the API Priority and Fairness limits.
    pub fn set_apf(&self, a: Apf) {
        self.lock().options.apf = a;
        self.inner.limiter.set_limits(a);
    }

    /// How long a deleted namespace or CRD stays Terminating (0: deleted at once).
    pub fn deletion_delay(&self) -> Duration {
        self.lock().options.deletion_delay
    }

    pub fn set_deletion_delay(&self, d: Duration) {
        self.lock().options.deletion_delay = d;
    }
}

/// A CPU cost factor as the server uses it: anything but a positive number is 0 (free).
fn cost_factor(factor: f64) -> f64 {
    if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files() {
        let users = parse_token_file("# users\nt1,alice,1\n\nt2,bob,2,\"net,ops\"\n").unwrap();
        assert_eq!(users[0], TokenUser::new("t1", "alice", &[]));
        assert_eq!(users[1], TokenUser::new("t2", "bob", &["net", "ops"]));
        assert!(
            parse_token_file("t1,alice")
                .unwrap_err()
                .starts_with("line 1")
        );
    }

    #[test]
    fn denials_match() {
        let d = Denial::new("patch", "", "nodes", None);
        assert!(d.matches("patch", "", "nodes", ""));
        assert!(!d.matches("patch", "", "nodes/status", ""));
        let d = Denial::new("*", "apps", "*", Some("kube-system"));
        assert!(d.matches("update", "apps", "deployments/scale", "kube-system"));
        assert!(!d.matches("update", "apps", "deployments", "default"));
    }
}
