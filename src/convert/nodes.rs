//! Calico Node names: etcd name → Kubernetes name (docs/design.md §5), with the fixes calicoctl
//! lacks — every unmapped node listed at once, explicit mappings, and collisions detected.

use std::collections::BTreeMap;

use serde_json::Value;

/// Handle prefixes whose suffix is the Calico node name that calicoctl's export renames
/// (`ipamHandlePrefixes` in calicoctl's migrateipam.go, the same in every release).
pub const TUNNEL_HANDLE_PREFIXES: &[&str] = &[
    "ipip-tunnel-addr-",
    "vxlan-tunnel-addr-",
    "wireguard-tunnel-addr-",
];
/// The IPv6 tunnel handle prefixes, which calicoctl forgets; `export --full` renames them too.
pub const IPV6_TUNNEL_HANDLE_PREFIXES: &[&str] =
    &["vxlan-v6-tunnel-addr-", "wireguard-v6-tunnel-addr-"];

/// The mapping from etcd node names to Kubernetes node names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMap {
    to_k8s: BTreeMap<String, String>,
    /// Etcd nodes the user chose not to migrate (`--node-map NAME=`).
    dropped: Vec<String>,
}

/// Why a node map could not be built: everything wrong at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMapError {
    /// Nodes with no `k8s` orchRef (or an empty nodeName) and no explicit mapping.
    pub unmapped: Vec<String>,
    /// Kubernetes names that several etcd nodes map to, with those etcd names.
    pub collisions: Vec<(String, Vec<String>)>,
}

impl std::fmt::Display for NodeMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.unmapped.is_empty() {
            parts.push(format!(
                "{} node(s) have no 'k8s' orchestrator reference: {}",
                self.unmapped.len(),
                self.unmapped.join(", ")
            ));
        }
        for (k8s, etcd) in &self.collisions {
            parts.push(format!(
                "etcd nodes {} all map to Kubernetes node {k8s:?}; one would overwrite the other's BGP addresses",
                etcd.join(" and ")
            ));
        }
        write!(f, "{}", parts.join("; "))
    }
}

/// The Kubernetes name a Calico Node's `orchRefs` give: the last `k8s` entry's nodeName.
pub fn orchestrator_name(node: &Value) -> Option<String> {
    node.pointer("/spec/orchRefs")?
        .as_array()?
        .iter()
        .rfind(|r| r["orchestrator"] == "k8s")
        .and_then(|r| r["nodeName"].as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

impl NodeMap {
    /// Builds the map from every etcd node (name, Kubernetes name from orchRefs) and the user's
    /// explicit mappings (an empty target drops the node). Explicit entries win; an explicit
    /// entry onto a name that another node also maps to confirms the merge.
    pub fn build(
        nodes: impl IntoIterator<Item = (String, Option<String>)>,
        explicit: &BTreeMap<String, String>,
    ) -> Result<NodeMap, NodeMapError> {
        let mut map = NodeMap::default();
        let mut error = NodeMapError::default();
        let mut by_target: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for (etcd_name, orchestrated) in nodes {
            let (target, is_explicit) = match (explicit.get(&etcd_name), orchestrated) {
                (Some(target), _) => (target.clone(), true),
                (None, Some(target)) => (target, false),
                (None, None) => {
                    error.unmapped.push(etcd_name);
                    continue;
                }
            };
            if target.is_empty() {
                map.dropped.push(etcd_name);
                continue;
            }
            by_target
                .entry(target.clone())
                .or_default()
                .push((etcd_name.clone(), is_explicit));
            map.to_k8s.insert(etcd_name, target);
        }
        for (target, sources) in by_target {
            let confirmed = sources.iter().filter(|(_, explicit)| *explicit).count();
            if sources.len() > 1 && confirmed < sources.len() - 1 {
                error
                    .collisions
                    .push((target, sources.into_iter().map(|(n, _)| n).collect()));
            }
        }
        if error.unmapped.is_empty() && error.collisions.is_empty() {
            Ok(map)
        } else {
            Err(error)
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> NodeMap {
        NodeMap {
            to_k8s: pairs
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            dropped: Vec::new(),
        }
    }

    /// The Kubernetes name of an etcd node, if it is a known node.
    pub fn get(&self, etcd_name: &str) -> Option<&str> {
        self.to_k8s.get(etcd_name).map(String::as_str)
    }

    /// Whether the user chose not to migrate this etcd node.
    pub fn is_dropped(&self, etcd_name: &str) -> bool {
        self.dropped.iter().any(|n| n == etcd_name)
    }

    /// Pairs whose names differ (the renames), in etcd-name order.
    pub fn renames(&self) -> impl Iterator<Item = (&str, &str)> {
        self.to_k8s
            .iter()
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (a.as_str(), b.as_str()))
    }

    pub fn len(&self) -> usize {
        self.to_k8s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.to_k8s.is_empty()
    }

    /// A tunnel handle ID with its node suffix renamed, when it has one of the tunnel prefixes
    /// (with `ipv6`, the IPv6 ones too) and the suffix is a mapped node.
    pub fn rename_handle(&self, handle: &str, ipv6: bool) -> Option<String> {
        let ipv6_prefixes = if ipv6 {
            IPV6_TUNNEL_HANDLE_PREFIXES
        } else {
            &[]
        };
        TUNNEL_HANDLE_PREFIXES
            .iter()
            .chain(ipv6_prefixes)
            .find_map(|prefix| {
                let node = handle.strip_prefix(prefix)?;
                let renamed = self.get(node)?;
                (renamed != node).then(|| format!("{prefix}{renamed}"))
            })
    }
}

/// Parses `--node-map` entries (`etcd-name=k8s-name`) and node-map files (one entry per line,
/// `#` comments, blank lines ignored).
pub fn parse_node_map_entry(entry: &str) -> Result<(String, String), String> {
    let (from, to) = entry
        .split_once('=')
        .ok_or_else(|| format!("{entry:?} is not of the form etcd-name=k8s-name"))?;
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() {
        return Err(format!("{entry:?} has no etcd node name before '='"));
    }
    Ok((from.to_string(), to.to_string()))
}

pub fn parse_node_map_file(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| parse_node_map_entry(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(k8s: &[(&str, &str)]) -> Value {
        let refs: Vec<Value> = k8s
            .iter()
            .map(|(o, n)| json!({"nodeName": n, "orchestrator": o}))
            .collect();
        json!({"spec": {"orchRefs": refs}})
    }

    #[test]
    fn the_last_k8s_orchref_names_the_node() {
        assert_eq!(
            orchestrator_name(&node(&[("k8s", "a"), ("openstack", "x"), ("k8s", "b")])),
            Some("b".into())
        );
        assert_eq!(orchestrator_name(&node(&[("openstack", "x")])), None);
        assert_eq!(orchestrator_name(&node(&[("k8s", "")])), None);
        assert_eq!(orchestrator_name(&json!({"spec": {}})), None);
    }

    fn build(
        nodes: &[(&str, Option<&str>)],
        explicit: &[(&str, &str)],
    ) -> Result<NodeMap, NodeMapError> {
        NodeMap::build(
            nodes
                .iter()
                .map(|(a, b)| (a.to_string(), b.map(str::to_string))),
            &explicit
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_unmapped_node_is_listed_at_once() {
        let err = build(&[("a", None), ("b", Some("b")), ("c", None)], &[]).unwrap_err();
        assert_eq!(err.unmapped, ["a", "c"]);
        assert_eq!(
            err.to_string(),
            "2 node(s) have no 'k8s' orchestrator reference: a, c"
        );
        let map = build(
            &[("a", None), ("b", Some("b")), ("c", None)],
            &[("a", "host-a"), ("c", "")],
        )
        .unwrap();
        assert_eq!(map.get("a"), Some("host-a"));
        assert!(map.is_dropped("c"));
        assert_eq!(map.get("c"), None);
    }

    #[test]
    fn node4_and_node5_collide_unless_confirmed() {
        // Upstream's test: node5's orchRef says node4, so both map onto node4.
        let nodes = [("node4", Some("node4")), ("node5", Some("node4"))];
        let err = build(&nodes, &[]).unwrap_err();
        assert_eq!(
            err.collisions,
            [(
                "node4".to_string(),
                vec!["node4".to_string(), "node5".to_string()]
            )]
        );
        assert!(
            err.to_string()
                .contains("etcd nodes node4 and node5 all map to Kubernetes node \"node4\"")
        );
        let map = build(&nodes, &[("node5", "node4")]).unwrap();
        assert_eq!(map.get("node5"), Some("node4"));
        assert_eq!(map.renames().collect::<Vec<_>>(), [("node5", "node4")]);
    }

    #[test]
    fn tunnel_handles_follow_renames_ipv6_ones_on_request() {
        let map = NodeMap::from_pairs([("worker-1.example.com", "worker-1")]);
        for prefix in TUNNEL_HANDLE_PREFIXES {
            assert_eq!(
                map.rename_handle(&format!("{prefix}worker-1.example.com"), false),
                Some(format!("{prefix}worker-1"))
            );
        }
        for prefix in IPV6_TUNNEL_HANDLE_PREFIXES {
            let handle = format!("{prefix}worker-1.example.com");
            assert_eq!(map.rename_handle(&handle, false), None, "as calicoctl");
            assert_eq!(
                map.rename_handle(&handle, true),
                Some(format!("{prefix}worker-1"))
            );
        }
        assert_eq!(map.rename_handle("k8s-pod-network.abc", true), None);
        assert_eq!(map.rename_handle("ipip-tunnel-addr-other", true), None);
    }

    #[test]
    fn node_map_entries_and_files() {
        assert_eq!(
            parse_node_map_entry("a.example.com=a"),
            Ok(("a.example.com".into(), "a".into()))
        );
        assert_eq!(
            parse_node_map_entry("standalone="),
            Ok(("standalone".into(), "".into()))
        );
        assert!(parse_node_map_entry("novalue").is_err());
        assert!(parse_node_map_entry("=x").is_err());
        let file = "# etcd = k8s\nworker-1.example.com = worker-1\n\nhost-7= # not migrated\n";
        assert_eq!(
            parse_node_map_file(file),
            Ok(vec![
                ("worker-1.example.com".into(), "worker-1".into()),
                ("host-7".into(), "".into())
            ])
        );
        assert_eq!(
            parse_node_map_file("ok=1\nbroken\n"),
            Err("line 2: \"broken\" is not of the form etcd-name=k8s-name".into())
        );
    }
}
