//! Export of v3 resources: one etcd key and value in, the object calicoctl would print out
//! (spec sections 2, 5, 8.2, 8.3, 10.1), or the reason it is skipped.

use serde_json::{Map, Value};

use super::nodes::NodeMap;
use super::version::CalicoVersion;
use crate::kinds::{CalicoKind, Naming, RESOURCE_PREFIX, Role};

/// Annotation the etcd backend writes on policies (v3.30+), holding their v3 name.
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
/// Label every exported policy carries.
pub const TIER_LABEL: &str = "projectcalico.org/tier";

/// What export knows besides the object itself.
#[derive(Clone, Copy, Debug)]
pub struct ExportContext<'a> {
    pub nodes: &'a NodeMap,
    /// The source's Calico version (ClusterInformation `calicoVersion`), when known.
    pub version: Option<CalicoVersion>,
}

/// Something export changed or noticed about one object, for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Renamed {
        from: String,
        to: String,
    },
    NodeReference {
        field: &'static str,
        from: String,
        to: String,
    },
    IptablesAction {
        field: &'static str,
        from: String,
        to: String,
    },
    TierLabelAdded {
        tier: String,
    },
    /// A HostEndpoint references a profile that cannot exist in the Kubernetes datastore.
    UserProfile {
        profile: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// `knp.default.*`: kube-controllers' copies of Kubernetes NetworkPolicies.
    KubernetesNetworkPolicy,
    /// `kanp.adminnetworkpolicy.*` / `kbanp.baselineadminnetworkpolicy.*` (v3.30–3.31).
    AdminNetworkPolicy,
    /// A Node the user chose not to migrate (`--node-map NAME=`).
    NodeNotMigrated,
    /// The key does not have the shape of a v3 resource key; calicoctl ignores it too.
    UnexpectedKey,
    /// The value is not a JSON object; calicoctl ignores it too.
    Unparseable,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::KubernetesNetworkPolicy => {
                "knp.default.* copies of Kubernetes NetworkPolicies (the Kubernetes datastore reads those directly)"
            }
            SkipReason::AdminNetworkPolicy => {
                "kanp./kbanp. copies of Kubernetes (Baseline)AdminNetworkPolicies"
            }
            SkipReason::NodeNotMigrated => "nodes mapped to nothing with --node-map",
            SkipReason::UnexpectedKey => "keys that are not v3 resource keys",
            SkipReason::Unparseable => "values that are not JSON objects",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Exported { object: Value, notes: Vec<Note> },
    Skipped(SkipReason),
}

/// Namespace and name of a v3 resource key, if the key has the shape calicoctl accepts.
pub fn parse_resource_key<'k>(
    kind: &CalicoKind,
    key: &'k str,
) -> Option<(Option<&'k str>, &'k str)> {
    let rest = key
        .strip_prefix(RESOURCE_PREFIX)?
        .strip_prefix(kind.plural)?
        .strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match (kind.namespaced, parts.as_slice()) {
        (false, [name]) if !name.is_empty() => Some((None, name)),
        (true, [namespace, name]) if !namespace.is_empty() && !name.is_empty() => {
            Some((Some(namespace), name))
        }
        _ => None,
    }
}

/// Converts one stored object of a migrated kind for the export file.
pub fn export_resource(
    kind: &CalicoKind,
    key: &str,
    raw: &[u8],
    ctx: ExportContext<'_>,
) -> Outcome {
    let Some((_, key_name)) = parse_resource_key(kind, key) else {
        return Outcome::Skipped(SkipReason::UnexpectedKey);
    };
    let mut object: Value = match serde_json::from_slice(raw) {
        Ok(value @ Value::Object(_)) => value,
        _ => return Outcome::Skipped(SkipReason::Unparseable),
    };
    let mut notes = Vec::new();
    let stored_name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(key_name)
        .to_string();

    let name = match kind.naming {
        Naming::Policy => policy_v3_name(&mut object, &stored_name, &mut notes),
        Naming::PerNode => per_node_name(&stored_name, ctx.nodes),
        Naming::Plain if kind.role == Role::Node => match ctx.nodes.get(&stored_name) {
            Some(k8s) => k8s.to_string(),
            None if ctx.nodes.is_dropped(&stored_name) => {
                return Outcome::Skipped(SkipReason::NodeNotMigrated);
            }
            None => stored_name.clone(),
        },
        Naming::Plain => stored_name.clone(),
    };
    if let Some(reason) = skip_by_name(kind, &name, ctx.version) {
        return Outcome::Skipped(reason);
    }
    if name != stored_name {
        notes.push(Note::Renamed {
            from: stored_name,
            to: name.clone(),
        });
    }

    match kind.kind {
        "HostEndpoint" => {
            remap_node_reference(&mut object, "spec.node", ctx.nodes, &mut notes);
            note_user_profiles(&object, &mut notes);
        }
        "BGPPeer" => remap_node_reference(&mut object, "spec.node", ctx.nodes, &mut notes),
        "FelixConfiguration" => title_case_iptables_actions(&mut object, &mut notes),
        "Node" | "KubeControllersConfiguration" => {
            // Go always writes these status structs, empty or not.
            if let Some(root) = object.as_object_mut() {
                root.entry("status")
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        }
        _ => {}
    }
    clean_metadata(&mut object, &name);
    Outcome::Exported { object, notes }
}

/// Metadata as calicoctl's export leaves it (spec 8.2): no uid, resourceVersion, deletion
/// fields, and a null creationTimestamp; name, namespace, labels, annotations and the rest kept.
fn clean_metadata(object: &mut Value, name: &str) {
    let Some(metadata) = super::metadata_mut(object) else {
        return;
    };
    for field in [
        "uid",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        metadata.shift_remove(field);
    }
    metadata.insert("creationTimestamp".into(), Value::Null);
    metadata.insert("name".into(), Value::String(name.to_string()));
}

/// The v3 name of a stored policy (spec 10.1), removing the metadata annotation and making sure
/// the tier label is there, as the v3 client does on read.
fn policy_v3_name(object: &mut Value, stored_name: &str, notes: &mut Vec<Note>) -> String {
    let tier = object
        .pointer("/spec/tier")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("default")
        .to_string();
    let from_annotation = take_metadata_annotation(object);
    let name = match from_annotation
        .as_ref()
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
    {
        Some(name) if !name.is_empty() => name.to_string(),
        _ if tier == "default" => stored_name
            .strip_prefix("default.")
            .unwrap_or(stored_name)
            .to_string(),
        _ => stored_name.to_string(),
    };
    let labels = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .map(|m| {
            m.entry("labels")
                .or_insert_with(|| Value::Object(Map::new()))
        });
    if let Some(Value::Object(labels)) = labels
        && !labels.contains_key(TIER_LABEL)
    {
        labels.insert(TIER_LABEL.into(), Value::String(tier.clone()));
        notes.push(Note::TierLabelAdded { tier });
    }
    name
}

/// Removes `projectcalico.org/metadata` from the annotations (dropping an emptied map) and
/// returns its parsed value.
fn take_metadata_annotation(object: &mut Value) -> Option<Map<String, Value>> {
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let text = annotations.shift_remove(METADATA_ANNOTATION)?;
    if annotations.is_empty() {
        metadata.shift_remove("annotations");
    }
    match serde_json::from_str(text.as_str()?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn per_node_name(stored_name: &str, nodes: &NodeMap) -> String {
    match stored_name
        .strip_prefix("node.")
        .and_then(|node| nodes.get(node))
    {
        Some(k8s) => format!("node.{k8s}"),
        None => stored_name.to_string(),
    }
}

fn skip_by_name(
    kind: &CalicoKind,
    name: &str,
    version: Option<CalicoVersion>,
) -> Option<SkipReason> {
    match kind.kind {
        "NetworkPolicy" if name.starts_with("knp.default.") => {
            Some(SkipReason::KubernetesNetworkPolicy)
        }
        "GlobalNetworkPolicy"
            if (name.starts_with("kanp.adminnetworkpolicy.")
                || name.starts_with("kbanp.baselineadminnetworkpolicy."))
                // Only v3.30 and v3.31 kube-controllers wrote these; an unknown version is
                // treated like them, since nothing else creates such names.
                && version.is_none_or(|v| (30..=31).contains(&v.minor3())) =>
        {
            Some(SkipReason::AdminNetworkPolicy)
        }
        _ => None,
    }
}

/// Renames a node reference (`spec.node`) that calicoctl leaves alone (spec 12.2).
fn remap_node_reference(
    object: &mut Value,
    field: &'static str,
    nodes: &NodeMap,
    notes: &mut Vec<Note>,
) {
    let Some(slot) = object.pointer_mut("/spec/node") else {
        return;
    };
    let Some(current) = slot.as_str() else { return };
    if let Some(k8s) = nodes.get(current)
        && k8s != current
    {
        notes.push(Note::NodeReference {
            field,
            from: current.to_string(),
            to: k8s.to_string(),
        });
        *slot = Value::String(k8s.to_string());
    }
}

/// Profiles that exist in the Kubernetes datastore: derived from Namespaces and ServiceAccounts,
/// and the built-in default-allow profile.
fn is_kubernetes_profile(profile: &str) -> bool {
    profile.starts_with("kns.")
        || profile.starts_with("ksa.")
        || profile == "projectcalico-default-allow"
}

fn note_user_profiles(object: &Value, notes: &mut Vec<Note>) {
    let profiles = object.pointer("/spec/profiles").and_then(Value::as_array);
    for profile in profiles.into_iter().flatten().filter_map(Value::as_str) {
        if !is_kubernetes_profile(profile) {
            notes.push(Note::UserProfile {
                profile: profile.to_string(),
            });
        }
    }
}

/// FelixConfiguration iptables actions, lower-cased then title-cased (spec 8.3).
pub const IPTABLES_ACTION_FIELDS: &[&str] = &[
    "defaultEndpointToHostAction",
    "iptablesFilterAllowAction",
    "iptablesMangleAllowAction",
    "iptablesFilterDenyAction",
];

fn title_case_iptables_actions(object: &mut Value, notes: &mut Vec<Note>) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in IPTABLES_ACTION_FIELDS {
        let Some(Value::String(value)) = spec.get_mut(*field) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let cased = title_case(&value.to_lowercase());
        if &cased != value {
            notes.push(Note::IptablesAction {
                field,
                from: value.clone(),
                to: cased.clone(),
            });
            *value = cased;
        }
    }
}

/// Upper-cases the first letter of every word, as Go's `cases.Title` does for these values.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(name: &str) -> &'static CalicoKind {
        CalicoKind::by_kind(name).unwrap()
    }

    fn key(kind_name: &str, ns: Option<&str>, name: &str) -> String {
        let k = kind(kind_name);
        match ns {
            Some(ns) => format!("{RESOURCE_PREFIX}{}/{ns}/{name}", k.plural),
            None => format!("{RESOURCE_PREFIX}{}/{name}", k.plural),
        }
    }

    fn export(kind_name: &str, object: Value, nodes: &NodeMap, version: Option<&str>) -> Outcome {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let ctx = ExportContext {
            nodes,
            version: version.and_then(CalicoVersion::parse),
        };
        export_resource(
            kind(kind_name),
            &key(kind_name, ns.as_deref(), &name),
            object.to_string().as_bytes(),
            ctx,
        )
    }

    fn exported(outcome: Outcome) -> (Value, Vec<Note>) {
        match outcome {
            Outcome::Exported { object, notes } => (object, notes),
            Outcome::Skipped(reason) => panic!("skipped: {reason:?}"),
        }
    }

    #[test]
    fn metadata_is_cleaned_like_calicoctl() {
        let object = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "p", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2024-05-01T10:00:00Z",
                         "deletionTimestamp": "2024-06-01T10:00:00Z", "deletionGracePeriodSeconds": 30,
                         "labels": {"a": "b"}, "annotations": {"c": "d"}, "generation": 3},
            "spec": {"cidr": "10.0.0.0/16"}});
        let (object, notes) = exported(export("IPPool", object, &NodeMap::default(), None));
        assert_eq!(
            object["metadata"],
            json!({"name": "p", "creationTimestamp": null, "labels": {"a": "b"}, "annotations": {"c": "d"}, "generation": 3})
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn policy_names_follow_section_10() {
        let nodes = NodeMap::default();
        let policy = |name: &str, tier: Option<&str>, annotation: Option<&str>| {
            let mut spec = json!({"selector": "all()"});
            if let Some(t) = tier {
                spec["tier"] = json!(t);
            }
            let mut meta = json!({"name": name, "creationTimestamp": "2024-05-01T10:00:00Z"});
            if let Some(a) = annotation {
                meta["annotations"] = json!({METADATA_ANNOTATION: a});
            }
            json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3", "metadata": meta, "spec": spec})
        };
        // Key default.allow-dns, no annotation, no tier → allow-dns.
        let (o, notes) = exported(export(
            "GlobalNetworkPolicy",
            policy("default.allow-dns", None, None),
            &nodes,
            Some("v3.28.0"),
        ));
        assert_eq!(o["metadata"]["name"], "allow-dns");
        assert_eq!(o["metadata"]["labels"][TIER_LABEL], "default");
        assert!(notes.contains(&Note::Renamed {
            from: "default.allow-dns".into(),
            to: "allow-dns".into()
        }));
        assert!(notes.contains(&Note::TierLabelAdded {
            tier: "default".into()
        }));
        // Key default.allow-dns with annotation {"name":"default.allow-dns"} → default.allow-dns.
        let (o, _) = exported(export(
            "GlobalNetworkPolicy",
            policy(
                "default.allow-dns",
                None,
                Some(r#"{"name":"default.allow-dns"}"#),
            ),
            &nodes,
            Some("v3.30.0"),
        ));
        assert_eq!(o["metadata"]["name"], "default.allow-dns");
        assert!(
            o["metadata"].get("annotations").is_none(),
            "the annotation is removed"
        );
        // v3.30 storage: key default.foo + annotation name foo.
        let (o, _) = exported(export(
            "GlobalNetworkPolicy",
            policy("default.foo", Some("default"), Some(r#"{"name":"foo"}"#)),
            &nodes,
            None,
        ));
        assert_eq!(o["metadata"]["name"], "foo");
        // Key sec.block-x, tier sec → sec.block-x, label sec.
        let (o, _) = exported(export(
            "GlobalNetworkPolicy",
            policy("sec.block-x", Some("sec"), None),
            &nodes,
            None,
        ));
        assert_eq!(o["metadata"]["name"], "sec.block-x");
        assert_eq!(o["metadata"]["labels"][TIER_LABEL], "sec");
        // Only one leading default. is removed; an existing tier label is kept.
        let mut p = policy("default.default.x", None, None);
        p["metadata"]["labels"] = json!({TIER_LABEL: "default", "team": "a"});
        let (o, notes) = exported(export("GlobalNetworkPolicy", p, &nodes, None));
        assert_eq!(o["metadata"]["name"], "default.x");
        assert_eq!(
            o["metadata"]["labels"],
            json!({TIER_LABEL: "default", "team": "a"})
        );
        assert!(
            !notes
                .iter()
                .any(|n| matches!(n, Note::TierLabelAdded { .. }))
        );
        // Other annotations stay.
        let mut p = policy("default.y", None, Some(r#"{"name":"y"}"#));
        p["metadata"]["annotations"]["note"] = json!("keep me");
        let (o, _) = exported(export("GlobalNetworkPolicy", p, &nodes, None));
        assert_eq!(o["metadata"]["annotations"], json!({"note": "keep me"}));
    }

    #[test]
    fn namespaced_policies_keep_their_namespace_and_knp_copies_are_skipped() {
        let nodes = NodeMap::default();
        let np = |name: &str| {
            json!({"kind": "NetworkPolicy", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "namespace": "shop", "uid": "x"}, "spec": {"selector": "all()"}})
        };
        let (o, _) = exported(export(
            "NetworkPolicy",
            np("default.allow-frontend"),
            &nodes,
            None,
        ));
        assert_eq!(o["metadata"]["name"], "allow-frontend");
        assert_eq!(o["metadata"]["namespace"], "shop");
        assert_eq!(
            export("NetworkPolicy", np("knp.default.deny-all"), &nodes, None),
            Outcome::Skipped(SkipReason::KubernetesNetworkPolicy)
        );
        let snp = json!({"kind": "StagedNetworkPolicy", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "default.trial", "namespace": "team-b"}, "spec": {}});
        let (o, _) = exported(export("StagedNetworkPolicy", snp, &nodes, None));
        assert_eq!(
            (
                o["metadata"]["name"].as_str(),
                o["metadata"]["namespace"].as_str()
            ),
            (Some("trial"), Some("team-b"))
        );
    }

    #[test]
    fn admin_network_policy_copies_are_skipped_on_3_30_and_3_31_only() {
        let nodes = NodeMap::default();
        let gnp = |name: &str| {
            json!({"kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "annotations": {METADATA_ANNOTATION: format!("{{\"name\":\"{name}\"}}")}}, "spec": {"tier": "adminnetworkpolicy"}})
        };
        for version in ["v3.30.2", "v3.31.0"] {
            assert_eq!(
                export(
                    "GlobalNetworkPolicy",
                    gnp("kanp.adminnetworkpolicy.a"),
                    &nodes,
                    Some(version)
                ),
                Outcome::Skipped(SkipReason::AdminNetworkPolicy)
            );
            assert_eq!(
                export(
                    "GlobalNetworkPolicy",
                    gnp("kbanp.baselineadminnetworkpolicy.b"),
                    &nodes,
                    Some(version)
                ),
                Outcome::Skipped(SkipReason::AdminNetworkPolicy)
            );
        }
        assert!(matches!(
            export(
                "GlobalNetworkPolicy",
                gnp("kanp.adminnetworkpolicy.a"),
                &nodes,
                Some("v3.32.1")
            ),
            Outcome::Exported { .. }
        ));
    }

    #[test]
    fn nodes_and_per_node_configs_follow_the_node_map() {
        // Upstream's test: node5 maps onto node4; node.node5 configs follow.
        let nodes = NodeMap::from_pairs([("node4", "node4"), ("node5", "node4")]);
        let node5 = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "node5"},
            "spec": {"orchRefs": [{"nodeName": "node4", "orchestrator": "k8s"}]}});
        let (o, notes) = exported(export("Node", node5, &nodes, None));
        assert_eq!(o["metadata"]["name"], "node4");
        assert_eq!(o["status"], json!({}), "Go always writes the status struct");
        assert_eq!(
            notes,
            [Note::Renamed {
                from: "node5".into(),
                to: "node4".into()
            }]
        );
        for kind_name in ["FelixConfiguration", "BGPConfiguration"] {
            let config = json!({"kind": kind_name, "apiVersion": "projectcalico.org/v3", "metadata": {"name": "node.node5"}, "spec": {}});
            let (o, _) = exported(export(kind_name, config, &nodes, None));
            assert_eq!(o["metadata"]["name"], "node.node4");
            let unmapped = json!({"kind": kind_name, "apiVersion": "projectcalico.org/v3", "metadata": {"name": "node.elsewhere"}, "spec": {}});
            let (o, _) = exported(export(kind_name, unmapped, &nodes, None));
            assert_eq!(o["metadata"]["name"], "node.elsewhere");
        }
    }

    #[test]
    fn fqdn_node_references_are_remapped_where_calicoctl_forgets() {
        let nodes = NodeMap::from_pairs([("worker-1.example.com", "worker-1")]);
        let hep = json!({"kind": "HostEndpoint", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "w1-eth0"},
            "spec": {"node": "worker-1.example.com", "interfaceName": "eth0", "profiles": ["kns.default", "my-hosts", "projectcalico-default-allow"]}});
        let (o, notes) = exported(export("HostEndpoint", hep, &nodes, None));
        assert_eq!(o["spec"]["node"], "worker-1");
        assert!(notes.contains(&Note::NodeReference {
            field: "spec.node",
            from: "worker-1.example.com".into(),
            to: "worker-1".into()
        }));
        assert_eq!(
            notes
                .iter()
                .filter(|n| matches!(n, Note::UserProfile { .. }))
                .count(),
            1
        );
        assert!(notes.contains(&Note::UserProfile {
            profile: "my-hosts".into()
        }));
        let peer = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "tor"},
            "spec": {"node": "worker-1.example.com", "peerIP": "10.0.0.1", "asNumber": 64513}});
        let (o, _) = exported(export("BGPPeer", peer, &nodes, None));
        assert_eq!(o["spec"]["node"], "worker-1");
    }

    #[test]
    fn dropped_nodes_are_skipped() {
        let nodes = NodeMap::build(
            [("standalone".to_string(), None)],
            &[("standalone".to_string(), String::new())].into(),
        )
        .unwrap();
        let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "standalone"}, "spec": {}});
        assert_eq!(
            export("Node", node, &nodes, None),
            Outcome::Skipped(SkipReason::NodeNotMigrated)
        );
    }

    #[test]
    fn iptables_actions_are_title_cased() {
        let felix = json!({"kind": "FelixConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
            "spec": {"defaultEndpointToHostAction": "DROP", "iptablesFilterAllowAction": "ACCEPT",
                     "iptablesMangleAllowAction": "RETURN", "iptablesFilterDenyAction": "REJECT", "logSeverityScreen": "INFO"}});
        let (o, notes) = exported(export(
            "FelixConfiguration",
            felix,
            &NodeMap::default(),
            None,
        ));
        assert_eq!(o["spec"]["defaultEndpointToHostAction"], "Drop");
        assert_eq!(o["spec"]["iptablesFilterAllowAction"], "Accept");
        assert_eq!(o["spec"]["iptablesMangleAllowAction"], "Return");
        assert_eq!(o["spec"]["iptablesFilterDenyAction"], "Reject");
        assert_eq!(
            o["spec"]["logSeverityScreen"], "INFO",
            "other fields are untouched"
        );
        assert_eq!(notes.len(), 4);
        let already = json!({"kind": "FelixConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "x"},
            "spec": {"defaultEndpointToHostAction": "Accept", "iptablesFilterAllowAction": ""}});
        let (o, notes) = exported(export(
            "FelixConfiguration",
            already,
            &NodeMap::default(),
            None,
        ));
        assert_eq!(o["spec"]["defaultEndpointToHostAction"], "Accept");
        assert_eq!(o["spec"]["iptablesFilterAllowAction"], "");
        assert!(notes.is_empty());
        assert_eq!(title_case("drop"), "Drop");
    }

    #[test]
    fn bad_keys_and_values_are_skipped_like_calicoctl() {
        let ctx = ExportContext {
            nodes: &NodeMap::default(),
            version: None,
        };
        let pools = kind("IPPool");
        let good = br#"{"kind":"IPPool","metadata":{"name":"p"},"spec":{}}"#;
        assert_eq!(
            export_resource(pools, &format!("{RESOURCE_PREFIX}ippools/a/b"), good, ctx),
            Outcome::Skipped(SkipReason::UnexpectedKey)
        );
        assert_eq!(
            export_resource(
                pools,
                &format!("{RESOURCE_PREFIX}ippools/p"),
                b"not json",
                ctx
            ),
            Outcome::Skipped(SkipReason::Unparseable)
        );
        assert_eq!(
            export_resource(pools, &format!("{RESOURCE_PREFIX}ippools/p"), b"[1]", ctx),
            Outcome::Skipped(SkipReason::Unparseable)
        );
        let sets = kind("NetworkSet");
        assert_eq!(
            export_resource(
                sets,
                &format!("{RESOURCE_PREFIX}networksets/only-name"),
                good,
                ctx
            ),
            Outcome::Skipped(SkipReason::UnexpectedKey)
        );
        assert_eq!(
            parse_resource_key(sets, &format!("{RESOURCE_PREFIX}networksets/ns/n")),
            Some((Some("ns"), "n"))
        );
    }
}
