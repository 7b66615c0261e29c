//! Several entries of a file for one object of the Kubernetes datastore — two etcd nodes whose
//! orchRefs name the same Kubernetes Node (upstream's node5 → node4), their `node.<name>`
//! Felix and BGP configurations, their tunnel handles — are merged by calicoctl's rule: its
//! import applies the entries in file order, each one replacing the previous, so the last one
//! wins. Import and verify keep only the last entry of each object (`source::file::Group`), and
//! say so with a [`Merge`].

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_says_what_was_taken() {
        let merge = Merge {
            object: "Node node4".into(),
            entries: 3,
        };
        assert_eq!(
            merge.to_string(),
            "Node node4: 3 entries in the file; the last one was taken, as calicoctl's import applies them in order"
        );
    }
}
