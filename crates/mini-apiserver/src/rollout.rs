//! Simulated rollouts: the part of kube's DaemonSet and Deployment controllers that
//! clients watch. When a DaemonSet or Deployment changes (a new generation, new
//! replicas, Nodes added or removed), its `status` catches up after the configured
//! delay, all at once or a few pods per step, and `kubectl rollout status` sees it
//! progress and finish.
//!
//! - A DaemonSet wants one pod per Node its `spec.template.spec.nodeSelector`
//!   selects. Nodes created without the kubelet's well-known labels
//!   (`kubernetes.io/os`, `kubernetes.io/arch`) count as matching those keys (a real
//!   kubelet always sets them, to `linux` and the machine's architecture); every
//!   other selector key must match a Node label. Taints and tolerations are ignored.
//! - A Deployment wants `spec.replicas` pods (1 when unset).
//! - While pods are replaced, one pod is unavailable; with [`Stall::Unavailable`] one
//!   pod never becomes available, with [`Stall::Unobserved`] the status never
//!   observes a new generation.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::controls::{Rollout, Stall};
use crate::ops::now_rfc3339;
use crate::registry::{Builtin, builtin_of};
use crate::server::Server;
use crate::store::{State, meta_str};

/// Node labels a real kubelet always sets; Nodes without them count as matching.
const WELL_KNOWN: [&str; 2] = ["kubernetes.io/os", "kubernetes.io/arch"];

/// Does a DaemonSet's node selector select this Node?
fn node_selected(selector: Option<&Map<String, Value>>, node: &Value) -> bool {
    let labels = node.get("metadata").and_then(|m| m.get("labels"));
    selector.is_none_or(|sel| {
        sel.iter()
            .all(|(k, v)| match labels.and_then(|l| l.get(k)) {
                Some(actual) => actual == v,
                None => WELL_KNOWN.contains(&k.as_str()),
            })
    })
}

/// The number of pods a DaemonSet wants.
fn desired_daemon_pods<'a>(ds: &Value, nodes: impl Iterator<Item = &'a Arc<Value>>) -> i64 {
    let selector = ds
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object);
    nodes.filter(|n| node_selected(selector, n)).count() as i64
}

fn int(v: &Value, path: &[&str]) -> i64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return 0,
        }
    }
    cur.as_i64().unwrap_or(0)
}

/// Inserts the integer fields that are not zero (Go's `omitempty`).
fn put_nonzero(m: &mut Map<String, Value>, fields: &[(&str, i64)]) {
    for (k, v) in fields {
        if *v != 0 {
            m.insert(k.to_string(), json!(v));
        }
    }
}

/// Where a rollout of `want` pods stands after one more step.
struct Progress {
    updated: i64,
    available: i64,
}

fn progress(obj: &Value, want: i64, updated_field: &str, r: &Rollout) -> Option<Progress> {
    let generation = int(obj, &["metadata", "generation"]);
    let observed = int(obj, &["status", "observedGeneration"]);
    if r.stall == Stall::Unobserved && observed < generation {
        return None;
    }
    let current = if observed == generation {
        int(obj, &["status", updated_field]).min(want)
    } else {
        0
    };
    let step = if r.pods_per_step == 0 {
        want
    } else {
        i64::from(r.pods_per_step)
    };
    let updated = (current + step).min(want);
    let mut available = if updated < want {
        // One pod is being replaced at a time.
        (want - 1).max(0)
    } else {
        want
    };
    if r.stall == Stall::Unavailable && want > 0 {
        available = available.min(want - 1);
    }
    Some(Progress { updated, available })
}

/// The next status of a DaemonSet, or None when it has nothing to do.
fn next_daemonset_status(ds: &Value, want: i64, r: &Rollout) -> Option<Value> {
    let p = progress(ds, want, "updatedNumberScheduled", r)?;
    let mut s = Map::new();
    s.insert("currentNumberScheduled".into(), json!(want));
    s.insert("numberMisscheduled".into(), json!(0));
    s.insert("desiredNumberScheduled".into(), json!(want));
    s.insert("numberReady".into(), json!(p.available));
    put_nonzero(
        &mut s,
        &[
            ("observedGeneration", int(ds, &["metadata", "generation"])),
            ("updatedNumberScheduled", p.updated),
            ("numberAvailable", p.available),
            ("numberUnavailable", want - p.available),
        ],
    );
    let new = Value::Object(s);
    (ds.get("status") != Some(&new)).then_some(new)
}

/// The pod-template-hash kube would give a Deployment's ReplicaSet.
fn template_hash(d: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let text = d
        .get("spec")
        .and_then(|s| s.get("template"))
        .map(Value::to_string)
        .unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn condition(old: Option<&Value>, typ: &str, status: &str, reason: &str, message: &str) -> Value {
    let same = old.and_then(|c| c.as_array()).and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(typ))
    });
    let unchanged = same.is_some_and(|c| {
        c.get("status").and_then(Value::as_str) == Some(status)
            && c.get("reason").and_then(Value::as_str) == Some(reason)
            && c.get("message").and_then(Value::as_str) == Some(message)
    });
    if unchanged {
        return same.cloned().unwrap_or(Value::Null);
    }
    let now = now_rfc3339();
    let transitioned = same
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or(json!(now));
    json!({"type": typ, "status": status, "lastUpdateTime": now, "lastTransitionTime": transitioned, "reason": reason, "message": message})
}

/// The next status of a Deployment, or None when it has nothing to do.
fn next_deployment_status(d: &Value, r: &Rollout) -> Option<Value> {
    let want = d
        .get("spec")
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let p = progress(d, want, "updatedReplicas", r)?;
    let mut s = Map::new();
    put_nonzero(
        &mut s,
        &[
            ("observedGeneration", int(d, &["metadata", "generation"])),
            ("replicas", want),
            ("updatedReplicas", p.updated),
            ("readyReplicas", p.available),
            ("availableReplicas", p.available),
            ("unavailableReplicas", want - p.available),
        ],
    );
    let old = d.get("status").and_then(|s| s.get("conditions"));
    // maxUnavailable 25% of the replicas, rounded down
    let minimum = want - want / 4;
    let available = if p.available >= minimum {
        condition(
            old,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        condition(
            old,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let rs = format!("{}-{}", meta_str(d, "name"), template_hash(d));
    let progressing = if p.updated == want && p.available == want {
        condition(
            old,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs}\" has successfully progressed."),
        )
    } else {
        condition(
            old,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs}\" is progressing."),
        )
    };
    s.insert("conditions".into(), json!([available, progressing]));
    let new = Value::Object(s);
    (d.get("status") != Some(&new)).then_some(new)
}

/// The status the object moves to next, if any.
fn next_status(st: &State, b: Builtin, obj: &Value, r: &Rollout) -> Option<Value> {
    match b {
        Builtin::DaemonSet => {
            let nodes = st
                .collection(&builtin_of(Builtin::Node).collection())
                .values();
            next_daemonset_status(obj, desired_daemon_pods(obj, nodes), r)
        }
        Builtin::Deployment => next_deployment_status(obj, r),
        _ => None,
    }
}

/// The controller: runs until the server shuts down.
pub(crate) async fn run(srv: Arc<Server>) {
    let kinds = [Builtin::DaemonSet, Builtin::Deployment];
    let colls: Vec<(Builtin, String)> = kinds
        .iter()
        .map(|b| (*b, builtin_of(*b).collection()))
        .collect();
    let nodes = builtin_of(Builtin::Node).collection();
    let mut rx = srv.lock().events.subscribe();
    let mut shutdown = srv.shutdown.clone();
    let mut pending: HashMap<(Builtin, String), Instant> = HashMap::new();
    let schedule_all =
        |pending: &mut HashMap<(Builtin, String), Instant>, only: Option<Builtin>, at: Instant| {
            let st = srv.lock();
            for (b, coll) in &colls {
                if only.is_some_and(|o| o != *b) {
                    continue;
                }
                for key in st.collection(coll).keys() {
                    pending.entry((*b, key.clone())).or_insert(at);
                }
            }
        };
    loop {
        let delay = srv.controls.rollout().delay;
        let next_due = pending.values().min().copied();
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = srv.controls.rollout_changed().notified() => {
                schedule_all(&mut pending, None, Instant::now());
            }
            ev = rx.recv() => match ev {
                Ok(change) => {
                    if change.collection == nodes {
                        schedule_all(&mut pending, Some(Builtin::DaemonSet), Instant::now() + delay);
                    } else if let Some((b, _)) = colls.iter().find(|(_, c)| *c == change.collection) {
                        pending.entry((*b, change.key.clone())).or_insert(Instant::now() + delay);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    schedule_all(&mut pending, None, Instant::now() + delay);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = sleep_until(next_due) => {
                let now = Instant::now();
                let due: Vec<(Builtin, String)> = pending
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                let r = srv.controls.rollout();
                let mut st = srv.lock();
                for (b, key) in due {
                    pending.remove(&(b, key.clone()));
                    let coll = builtin_of(b).collection();
                    let Some(obj) = st.get(&coll, &key) else { continue };
                    if let Some(status) = next_status(&st, b, &obj, &r) {
                        let mut updated = (*obj).clone();
                        if let Some(m) = updated.as_object_mut() {
                            m.insert("status".into(), status);
                        }
                        st.put(&coll, &key, updated);
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(generation: i64, status: Value) -> Value {
        json!({"metadata":{"name":"calico-node","generation":generation},
            "spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/os":"linux"}}}},"status":status})
    }

    #[test]
    fn daemonset_steps() {
        let r = Rollout {
            pods_per_step: 1,
            ..Rollout::default()
        };
        let s1 = next_daemonset_status(&ds(1, json!({})), 2, &r).unwrap();
        assert_eq!(
            s1,
            json!({"currentNumberScheduled":2,"numberMisscheduled":0,"desiredNumberScheduled":2,"numberReady":1,
                "observedGeneration":1,"updatedNumberScheduled":1,"numberAvailable":1,"numberUnavailable":1})
        );
        let s2 = next_daemonset_status(&ds(1, s1), 2, &r).unwrap();
        assert_eq!(s2["numberAvailable"], 2);
        assert!(s2.get("numberUnavailable").is_none());
        assert!(next_daemonset_status(&ds(1, s2.clone()), 2, &r).is_none());
        // a new generation starts over
        let s3 = next_daemonset_status(&ds(2, s2.clone()), 2, &r).unwrap();
        assert_eq!(s3["updatedNumberScheduled"], 1);
        let stuck = Rollout {
            stall: Stall::Unobserved,
            ..r
        };
        assert!(next_daemonset_status(&ds(2, s2), 2, &stuck).is_none());
    }

    #[test]
    fn node_selection() {
        let sel = json!({"kubernetes.io/os":"linux"});
        let sel = sel.as_object();
        assert!(node_selected(sel, &json!({"metadata":{"name":"a"}})));
        assert!(node_selected(
            sel,
            &json!({"metadata":{"labels":{"kubernetes.io/os":"linux"}}})
        ));
        assert!(!node_selected(
            sel,
            &json!({"metadata":{"labels":{"kubernetes.io/os":"windows"}}})
        ));
        let other = json!({"role":"x"});
        assert!(!node_selected(
            other.as_object(),
            &json!({"metadata":{"name":"a"}})
        ));
    }

    #[test]
    fn deployment_stays_short_when_stalled() {
        let d = json!({"metadata":{"name":"kc","generation":3},"spec":{"replicas":2}});
        let r = Rollout {
            stall: Stall::Unavailable,
            ..Rollout::default()
        };
        let s = next_deployment_status(&d, &r).unwrap();
        assert_eq!(s["updatedReplicas"], 2);
        assert_eq!(s["availableReplicas"], 1);
        assert_eq!(s["unavailableReplicas"], 1);
        assert_eq!(s["observedGeneration"], 3);
        let zero = json!({"metadata":{"name":"kc","generation":4},"spec":{"replicas":0}});
        let s = next_deployment_status(&zero, &Rollout::default()).unwrap();
        assert_eq!(s["observedGeneration"], 4);
        assert!(s.get("replicas").is_none());
        assert_eq!(s["conditions"][0]["status"], "True");
    }
}
