//! Several entries of a file for one object of the Kubernetes datastore — two etcd nodes whose
//! orchRefs name the same Kubernetes Node (upstream's node5 → node4), their `node.<name>`
//! Felix and BGP configurations, their tunnel handles — are merged by calicoctl's rule: its
//! import applies the entries in file order, each one replacing the previous, so the last one
//! wins. Import and verify keep only the last entry of each object, and say so.

use std::collections::HashMap;

use super::kdd::Desired;

/// What an entry writes: its kind and its name in the Kubernetes datastore.
pub fn identity(desired: &Desired) -> String {
    desired.describe()
}

/// An object the file has several entries for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Merge {
    /// `Kind name` (`Node node4`, `FelixConfiguration node.node4`).
    pub object: String,
    pub entries: u32,
}

impl std::fmt::Display for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} entries in the file; the last one was taken, as calicoctl's import applies them in order",
            self.object, self.entries
        )
    }
}

/// Counts the entries of every object (a first pass over the file), then tells, entry by
/// entry in the same order, which to keep.
#[derive(Debug, Default)]
pub struct Merger {
    /// Entries per object; during the second pass, entries still to come.
    left: HashMap<String, u32>,
    merges: Vec<Merge>,
}

impl Merger {
    /// First pass: one more entry for this object.
    pub fn count(&mut self, identity: String) {
        *self.left.entry(identity).or_default() += 1;
    }

    /// Second pass, in the same order: whether this entry is the one to write (the object's
    /// last entry).
    pub fn keep(&mut self, identity: &str) -> bool {
        let Some(left) = self.left.get_mut(identity) else {
            return true;
        };
        if *left > 1 {
            if !self.merges.iter().any(|m| m.object == identity) {
                self.merges.push(Merge {
                    object: identity.to_string(),
                    entries: *left,
                });
            }
            *left -= 1;
            return false;
        }
        true
    }

    /// The objects that had several entries, in file order of their first entry.
    pub fn merges(self) -> Vec<Merge> {
        self.merges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_entry_of_an_object_wins() {
        let order = ["Node node4", "Node worker-1", "Node node4", "Node node4"];
        let mut merger = Merger::default();
        for id in order {
            merger.count(id.to_string());
        }
        let kept: Vec<bool> = order.iter().map(|id| merger.keep(id)).collect();
        assert_eq!(kept, [false, true, false, true]);
        let merges = merger.merges();
        assert_eq!(
            merges,
            [Merge {
                object: "Node node4".into(),
                entries: 3
            }]
        );
        assert_eq!(
            merges[0].to_string(),
            "Node node4: 3 entries in the file; the last one was taken, as calicoctl's import applies them in order"
        );
    }

    #[test]
    fn objects_not_counted_are_kept() {
        let mut merger = Merger::default();
        assert!(merger.keep("IPPool p"));
        assert!(merger.merges().is_empty());
    }
}
