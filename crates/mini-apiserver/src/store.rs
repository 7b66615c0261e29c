//! The in-memory storage: collections of objects, one global resourceVersion counter,
//! and a change log that serves watches and consistent paged lists.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::registry::CrdRuntime;

/// How many changes are kept for watches and continued lists (like etcd's history
/// before compaction).
pub(crate) const LOG_CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One write.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub collection: String,
    pub key: String,
    pub typ: EventType,
    /// The new object (for a deletion: the last state, with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before the change.
    pub prev: Option<Arc<Value>>,
}

pub(crate) struct State {
    pub rv: u64,
    pub collections: HashMap<String, BTreeMap<String, Arc<Value>>>,
    log: VecDeque<Arc<Change>>,
    /// Changes with a resourceVersion up to this one are no longer in the log.
    pub compacted_rv: u64,
    pub crds: BTreeMap<String, CrdRuntime>,
    pub events: broadcast::Sender<Arc<Change>>,
}

/// The storage key of an object.
pub(crate) fn object_key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

pub(crate) fn set_meta(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert(key.to_string(), v);
    }
}

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A consistent view of one collection at some resourceVersion.
pub(crate) struct Snapshot<'a> {
    current: &'a BTreeMap<String, Arc<Value>>,
    /// Keys changed after the snapshot's RV, with their value at that RV.
    overrides: BTreeMap<String, Option<Arc<Value>>>,
}

impl Snapshot<'_> {
    /// The objects in key order, starting after `after` (exclusive).
    pub(crate) fn iter_from(&self, after: Option<&str>) -> Vec<(String, Arc<Value>)> {
        use std::ops::Bound;
        let lower = match after {
            Some(k) => Bound::Excluded(k.to_string()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        let mut cur = self
            .current
            .range::<String, _>((lower.clone(), Bound::Unbounded))
            .peekable();
        let mut ovr = self
            .overrides
            .range::<String, _>((lower, Bound::Unbounded))
            .peekable();
        loop {
            match (cur.peek(), ovr.peek()) {
                (None, None) => break,
                (Some((ck, cv)), None) => {
                    out.push(((*ck).clone(), Arc::clone(cv)));
                    cur.next();
                }
                (None, Some((ok, ov))) => {
                    if let Some(v) = ov {
                        out.push(((*ok).clone(), Arc::clone(v)));
                    }
                    ovr.next();
                }
                (Some((ck, cv)), Some((ok, ov))) => {
                    if ck < ok {
                        out.push(((*ck).clone(), Arc::clone(cv)));
                        cur.next();
                    } else {
                        if let Some(v) = ov {
                            out.push(((*ok).clone(), Arc::clone(v)));
                        }
                        if ck == ok {
                            cur.next();
                        }
                        ovr.next();
                    }
                }
            }
        }
        out
    }
}

static EMPTY: BTreeMap<String, Arc<Value>> = BTreeMap::new();

impl State {
    pub(crate) fn new() -> State {
        let (events, _) = broadcast::channel(65_536);
        State {
            rv: 0,
            collections: HashMap::new(),
            log: VecDeque::new(),
            compacted_rv: 0,
            crds: BTreeMap::new(),
            events,
        }
    }

    pub(crate) fn collection(&self, coll: &str) -> &BTreeMap<String, Arc<Value>> {
        self.collections.get(coll).unwrap_or(&EMPTY)
    }

    pub(crate) fn get(&self, coll: &str, key: &str) -> Option<Arc<Value>> {
        self.collections.get(coll).and_then(|c| c.get(key)).cloned()
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.log.push_back(Arc::clone(&change));
        while self.log.len() > LOG_CAPACITY {
            if let Some(old) = self.log.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        let _ = self.events.send(change);
    }

    /// Stores an object under a new resourceVersion and returns it.
    pub(crate) fn put(&mut self, coll: &str, key: &str, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        set_meta(&mut obj, "resourceVersion", json!(rv.to_string()));
        let obj = Arc::new(obj);
        let prev = self
            .collections
            .entry(coll.to_string())
            .or_default()
            .insert(key.to_string(), Arc::clone(&obj));
        let typ = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Change {
            rv,
            collection: coll.to_string(),
            key: key.to_string(),
            typ,
            object: Arc::clone(&obj),
            prev,
        });
        obj
    }

    /// Removes an object; returns its last state with the deletion's resourceVersion.
    pub(crate) fn remove(&mut self, coll: &str, key: &str) -> Option<Arc<Value>> {
        let prev = self.collections.get_mut(coll)?.remove(key)?;
        self.rv += 1;
        let rv = self.rv;
        let mut last = (*prev).clone();
        set_meta(&mut last, "resourceVersion", json!(rv.to_string()));
        let last = Arc::new(last);
        self.record(Change {
            rv,
            collection: coll.to_string(),
            key: key.to_string(),
            typ: EventType::Deleted,
            object: Arc::clone(&last),
            prev: Some(prev),
        });
        Some(last)
    }

    /// The changes after `rv`, or None when some of them are no longer kept.
    pub(crate) fn changes_since(&self, rv: u64) -> Option<Vec<Arc<Change>>> {
        if rv < self.compacted_rv {
            return None;
        }
        let start = self.log.partition_point(|c| c.rv <= rv);
        Some(self.log.range(start..).cloned().collect())
    }

    /// A view of a collection as it was at `rv`, or None when that is too old.
    pub(crate) fn snapshot(&self, coll: &str, rv: u64) -> Option<Snapshot<'_>> {
        let current = self.collection(coll);
        let mut overrides = BTreeMap::new();
        if rv < self.rv {
            if rv < self.compacted_rv {
                return None;
            }
            let start = self.log.partition_point(|c| c.rv <= rv);
            for c in self.log.range(start..) {
                if c.collection == coll && !overrides.contains_key(&c.key) {
                    overrides.insert(c.key.clone(), c.prev.clone());
                }
            }
        }
        Some(Snapshot { current, overrides })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> Value {
        json!({"metadata":{"name":name}})
    }

    #[test]
    fn snapshots_see_the_past() {
        let mut s = State::new();
        s.put("c", "a", obj("a"));
        s.put("c", "b", obj("b"));
        let rv = s.rv;
        s.put("c", "aa", obj("aa"));
        s.remove("c", "b");
        s.put("c", "a", json!({"metadata":{"name":"a"},"x":1}));
        let snap = s.snapshot("c", rv).unwrap();
        let items = snap.iter_from(None);
        let names: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert!(items[0].1.get("x").is_none());
        let after: Vec<String> = snap
            .iter_from(Some("a"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(after, vec!["b"]);
        let now: Vec<String> = s
            .snapshot("c", s.rv)
            .unwrap()
            .iter_from(None)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(now, vec!["a", "aa"]);
        assert_eq!(s.changes_since(rv).unwrap().len(), 3);
    }
}
