//! Export of v3 resources: one etcd key and value in, the object the source release's
//! calicoctl would print out, or the reason it is skipped. The value is read into that
//! release's Go types and written back ([`super::gotypes`]), then named, defaulted and
//! rewritten as that release's client and calicoctl do ([`super::versions`]).

use serde_json::{Map, Value};

use super::gotypes::{TypeError, reencode};
use super::nodes::NodeMap;
use super::versions::{PolicyRead, Release, Rule};
use crate::kinds::{CalicoKind, Naming, RESOURCE_PREFIX, Role};

/// Annotation the etcd backend writes on policies (v3.30+), holding their v3 name.
pub const METADATA_ANNOTATION: &str = "projectcalico.org/metadata";
/// Label of a policy's tier.
pub const TIER_LABEL: &str = "projectcalico.org/tier";

/// What export knows besides the object itself.
#[derive(Clone, Copy, Debug)]
pub struct ExportContext<'a> {
    pub nodes: &'a NodeMap,
    /// The source's release (ClusterInformation `calicoVersion`).
    pub release: Release,
    /// Keep what the release's calicoctl would drop (fields and kinds it does not know) and
    /// apply this tool's fixes (node references, IPv6 tunnel handles): a file for this tool.
    pub full: bool,
}

/// Something export changed or noticed about one object, for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Renamed {
        from: String,
        to: String,
    },
    /// A node reference renamed (with `--full`).
    NodeReference {
        field: &'static str,
        from: String,
        to: String,
    },
    /// A node reference calicoctl leaves with the etcd node name (without `--full`).
    NodeReferenceKept {
        field: &'static str,
        name: String,
        kubernetes: String,
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
    /// A field the release's types do not have: dropped as calicoctl drops it, or kept with
    /// `--full`.
    UnknownField {
        path: String,
        kept: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// `knp.default.*`: kube-controllers' copies of Kubernetes NetworkPolicies.
    KubernetesNetworkPolicy,
    /// `kanp.adminnetworkpolicy.*` / `kbanp.baselineadminnetworkpolicy.*` (v3.29–3.31).
    AdminNetworkPolicy,
    /// A Node the user chose not to migrate (`--node-map NAME=`).
    NodeNotMigrated,
    /// The key does not have the shape of a v3 resource key; calicoctl ignores it too.
    UnexpectedKey,
    /// The value is not a JSON object; calicoctl ignores it too.
    Unparseable,
    /// A namespaced object outside `default` of a kind calicoctl lists in `default` only.
    OutsideDefaultNamespace,
    /// The value does not fit the release's Go types (a string where a number belongs...):
    /// calicoctl cannot read it either.
    DoesNotFit,
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
            SkipReason::OutsideDefaultNamespace => {
                "objects outside namespace default, which calicoctl does not export (export --full keeps them)"
            }
            SkipReason::DoesNotFit => "values the source release's types cannot read",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExportOutcome {
    Exported {
        object: Value,
        notes: Vec<Note>,
    },
    Skipped(SkipReason),
    /// Skipped because Go could not read it; the name (as stored) and why.
    Unreadable {
        name: String,
        error: TypeError,
    },
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
) -> ExportOutcome {
    let Some((namespace, key_name)) = parse_resource_key(kind, key) else {
        return ExportOutcome::Skipped(SkipReason::UnexpectedKey);
    };
    if namespace.is_some_and(|ns| ns != "default")
        && !ctx.full
        && !ctx.release.has(kind.kind, Rule::AllNamespaces)
    {
        return ExportOutcome::Skipped(SkipReason::OutsideDefaultNamespace);
    }
    let stored: Value = match serde_json::from_slice(raw) {
        Ok(value @ Value::Object(_)) => value,
        _ => return ExportOutcome::Skipped(SkipReason::Unparseable),
    };
    let stored_name = stored
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(key_name)
        .to_string();
    let mut notes = Vec::new();
    // What the release's Go types make of the value (a kind the release does not have at all
    // is only exported with --full, as it is).
    let mut object = match reencode(ctx.release.types(), &stored, ctx.full) {
        Some(Ok(reencoded)) => {
            notes.extend(
                reencoded
                    .unknown
                    .into_iter()
                    .map(|path| Note::UnknownField {
                        path,
                        kept: ctx.full,
                    }),
            );
            reencoded.value
        }
        Some(Err(error)) => {
            return ExportOutcome::Unreadable {
                name: stored_name,
                error,
            };
        }
        None => stored,
    };

    let name = match kind.naming {
        Naming::Policy => match policy_v3_name(&mut object, &stored_name, kind, ctx.release) {
            Ok(name) => name,
            Err(error) => {
                return ExportOutcome::Unreadable {
                    name: stored_name,
                    error,
                };
            }
        },
        Naming::PerNode => per_node_name(&stored_name, ctx.nodes),
        Naming::Plain if kind.role == Role::Node => match ctx.nodes.get(&stored_name) {
            Some(k8s) => k8s.to_string(),
            None if ctx.nodes.is_dropped(&stored_name) => {
                return ExportOutcome::Skipped(SkipReason::NodeNotMigrated);
            }
            None => stored_name.clone(),
        },
        Naming::Plain => stored_name.clone(),
    };
    if let Some(reason) = skip_by_name(kind, &name, ctx.release) {
        return ExportOutcome::Skipped(reason);
    }
    if name != stored_name {
        notes.push(Note::Renamed {
            from: stored_name,
            to: name.clone(),
        });
    }
    if kind.naming == Naming::Policy {
        apply_tier_defaults(&mut object, &name, kind, ctx.release, &mut notes);
    }

    match kind.kind {
        "HostEndpoint" => {
            node_reference(&mut object, ctx, &mut notes);
            note_user_profiles(&object, &mut notes);
        }
        "BGPPeer" => node_reference(&mut object, ctx, &mut notes),
        "FelixConfiguration" => title_case_iptables_actions(&mut object, &mut notes),
        _ => {}
    }
    super::defaults::on_read(&mut object, kind.kind, ctx.release);
    clean_metadata(&mut object, &name);
    ExportOutcome::Exported { object, notes }
}

/// Metadata as calicoctl's export leaves it (docs/design.md §12.3): no uid, resourceVersion,
/// deletion fields, and a null creationTimestamp; name, namespace, labels, annotations and the rest
/// kept.
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

/// `spec.tier` of a policy, empty when unset.
fn spec_tier(object: &Value) -> &str {
    object
        .pointer("/spec/tier")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The v3 name of a stored policy, as the release reads it; the metadata annotation is
/// removed where the release takes the name from it.
fn policy_v3_name(
    object: &mut Value,
    stored: &str,
    kind: &CalicoKind,
    release: Release,
) -> Result<String, TypeError> {
    let read = release
        .policy_read(kind.kind)
        .unwrap_or(PolicyRead::AnnotationOrTrimDefault);
    let from_annotation = |object: &mut Value| -> Result<Option<String>, TypeError> {
        let Some(text) = take_metadata_annotation(object) else {
            return Ok(None);
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(meta)) => Ok(Some(
                meta.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            _ => Err(TypeError {
                path: format!("metadata.annotations.{METADATA_ANNOTATION}"),
                message: "is not a JSON object".into(),
            }),
        }
    };
    Ok(match read {
        PolicyRead::StripFirstSegment => {
            if stored.starts_with("knp.") || stored.starts_with("ossg.") {
                stored.to_string()
            } else {
                stored
                    .split_once('.')
                    .map_or(stored, |(_, rest)| rest)
                    .to_string()
            }
        }
        PolicyRead::Stored => stored.to_string(),
        PolicyRead::AnnotationOrStored => {
            from_annotation(object)?.unwrap_or_else(|| stored.to_string())
        }
        PolicyRead::AnnotationOrTrimDefault => match from_annotation(object)? {
            Some(name) => name,
            None if matches!(spec_tier(object), "" | "default") => stored
                .strip_prefix("default.")
                .unwrap_or(stored)
                .to_string(),
            None => stored.to_string(),
        },
    })
}

/// The tier label and `spec.tier` the release's client adds to a policy it reads.
fn apply_tier_defaults(
    object: &mut Value,
    name: &str,
    kind: &CalicoKind,
    release: Release,
    notes: &mut Vec<Note>,
) {
    if release.has(kind.kind, Rule::DefaultTierLabel)
        && let Some(metadata) = super::metadata_mut(object)
    {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if labels.is_null() {
            *labels = Value::Object(Map::new());
        }
        if let Value::Object(labels) = labels
            && !labels.contains_key(TIER_LABEL)
        {
            labels.insert(TIER_LABEL.into(), Value::String("default".into()));
            notes.push(Note::TierLabelAdded {
                tier: "default".into(),
            });
        }
    }
    if release.has(kind.kind, Rule::TierFromName)
        && spec_tier(object).is_empty()
        && !name.is_empty()
        && let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("tier".into(), Value::String(tier_from_policy_name(name)));
    }
}

/// `names.TierFromPolicyName` (v3.29–v3.31): the tier a policy name implies.
pub fn tier_from_policy_name(name: &str) -> String {
    if name.starts_with("knp.default.") {
        return "default".into();
    }
    if name.starts_with("kanp.adminnetworkpolicy.") {
        return "adminnetworkpolicy".into();
    }
    if name.starts_with("kbanp.baselineadminnetworkpolicy.") {
        return "baselineadminnetworkpolicy".into();
    }
    match name.split_once('.') {
        Some((tier, _)) => tier.to_string(),
        None => "default".into(),
    }
}

/// Removes `projectcalico.org/metadata` from the annotations (dropping an emptied map) and
/// returns its text.
fn take_metadata_annotation(object: &mut Value) -> Option<String> {
    let metadata = object.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let text = annotations
        .get(METADATA_ANNOTATION)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())?
        .to_string();
    annotations.shift_remove(METADATA_ANNOTATION);
    if annotations.is_empty() {
        metadata.shift_remove("annotations");
    }
    Some(text)
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

fn skip_by_name(kind: &CalicoKind, name: &str, release: Release) -> Option<SkipReason> {
    let prefix = release
        .skipped_prefixes(kind.kind)
        .into_iter()
        .find(|p| name.starts_with(p))?;
    Some(if prefix.starts_with("knp.") {
        SkipReason::KubernetesNetworkPolicy
    } else {
        SkipReason::AdminNetworkPolicy
    })
}

/// A HostEndpoint's or BGPPeer's `spec.node` that names an etcd node the Kubernetes datastore
/// calls otherwise: renamed with `--full`, otherwise left as calicoctl leaves it and noted.
fn node_reference(object: &mut Value, ctx: ExportContext<'_>, notes: &mut Vec<Note>) {
    let Some(slot) = object.pointer_mut("/spec/node") else {
        return;
    };
    let Some(current) = slot.as_str() else { return };
    let Some(k8s) = ctx.nodes.get(current).filter(|k8s| *k8s != current) else {
        return;
    };
    if ctx.full {
        notes.push(Note::NodeReference {
            field: "spec.node",
            from: current.to_string(),
            to: k8s.to_string(),
        });
        *slot = Value::String(k8s.to_string());
    } else {
        notes.push(Note::NodeReferenceKept {
            field: "spec.node",
            name: current.to_string(),
            kubernetes: k8s.to_string(),
        });
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

/// FelixConfiguration iptables actions, lower-cased then title-cased (docs/design.md §12.3).
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
    use crate::convert::version::CalicoVersion;
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

    fn release(version: &str) -> Release {
        Release::of(CalicoVersion::parse(version))
    }

    fn export_as(
        kind_name: &str,
        object: Value,
        nodes: &NodeMap,
        version: &str,
        full: bool,
    ) -> ExportOutcome {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let ctx = ExportContext {
            nodes,
            release: release(version),
            full,
        };
        export_resource(
            kind(kind_name),
            &key(kind_name, ns.as_deref(), &name),
            object.to_string().as_bytes(),
            ctx,
        )
    }

    fn export(kind_name: &str, object: Value, nodes: &NodeMap, version: &str) -> ExportOutcome {
        export_as(kind_name, object, nodes, version, false)
    }

    /// A plain policy of `kind_name` (no tier, no metadata annotation), exported as `version`.
    fn export_policy(kind_name: &str, name: &str, version: &str) -> ExportOutcome {
        let object = policy(kind_name, name, None, None);
        export(kind_name, object, &NodeMap::default(), version)
    }

    fn exported(outcome: ExportOutcome) -> (Value, Vec<Note>) {
        match outcome {
            ExportOutcome::Exported { object, notes } => (object, notes),
            other => panic!("not exported: {other:?}"),
        }
    }

    fn policy(kind_name: &str, name: &str, tier: Option<&str>, annotation: Option<&str>) -> Value {
        let mut spec = json!({"selector": "all()"});
        if let Some(t) = tier {
            spec["tier"] = json!(t);
        }
        let mut meta = json!({"name": name, "creationTimestamp": "2024-05-01T10:00:00Z"});
        if let Some(a) = annotation {
            meta["annotations"] = json!({METADATA_ANNOTATION: a});
        }
        if kind_name.ends_with("NetworkPolicy") && !kind_name.contains("Global") {
            meta["namespace"] = json!("shop");
        }
        json!({"kind": kind_name, "apiVersion": "projectcalico.org/v3", "metadata": meta, "spec": spec})
    }

    fn name_of(outcome: ExportOutcome) -> String {
        exported(outcome).0["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn metadata_is_cleaned_like_calicoctl() {
        let object = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "p", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2024-05-01T10:00:00Z",
                         "deletionTimestamp": "2024-06-01T10:00:00Z", "deletionGracePeriodSeconds": 30,
                         "labels": {"a": "b"}, "annotations": {"c": "d"}, "generation": 3},
            "spec": {"cidr": "10.0.0.0/16"}});
        let (object, notes) = exported(export("IPPool", object, &NodeMap::default(), "v3.28.0"));
        assert_eq!(
            object["metadata"],
            json!({"name": "p", "generation": 3, "creationTimestamp": null, "labels": {"a": "b"}, "annotations": {"c": "d"}})
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn values_are_read_into_the_source_release_types() {
        // natOutgoing: false vanishes (omitempty), assignmentMode is unknown to v3.28.0, and the
        // client's read defaults fill the rest.
        let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "p"},
            "spec": {"cidr": "fd00:10::/48", "natOutgoing": false, "assignmentMode": "Automatic"}});
        let (object, notes) = exported(export(
            "IPPool",
            pool.clone(),
            &NodeMap::default(),
            "v3.28.0",
        ));
        assert_eq!(
            object["spec"],
            json!({"cidr": "fd00:10::/48", "vxlanMode": "Never", "ipipMode": "Never", "blockSize": 122,
                   "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]})
        );
        assert_eq!(
            notes,
            [Note::UnknownField {
                path: "spec.assignmentMode".into(),
                kept: false
            }]
        );
        // With --full the unknown field stays; v3.30 knows it and defaults it.
        let (full, _) = exported(export_as(
            "IPPool",
            pool.clone(),
            &NodeMap::default(),
            "v3.28.0",
            true,
        ));
        assert_eq!(full["spec"]["assignmentMode"], "Automatic");
        let mut bare = pool;
        bare["spec"]
            .as_object_mut()
            .unwrap()
            .remove("assignmentMode");
        let (newer, _) = exported(export("IPPool", bare, &NodeMap::default(), "v3.30.0"));
        assert_eq!(newer["spec"]["assignmentMode"], "Automatic");
    }

    #[test]
    fn values_the_types_cannot_read_are_skipped_with_the_reason() {
        let pool = json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/8", "blockSize": "26"}});
        match export("IPPool", pool, &NodeMap::default(), "v3.28.0") {
            ExportOutcome::Unreadable { name, error } => {
                assert_eq!(name, "p");
                assert_eq!(
                    error.to_string(),
                    "spec.blockSize: expected an integer, found a string"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn up_to_3_28_policy_names_lose_their_first_segment() {
        let nodes = NodeMap::default();
        let gnp = |name, tier| policy("GlobalNetworkPolicy", name, tier, None);
        for version in ["v3.26.0", "v3.28.0", "v3.28.5"] {
            assert_eq!(
                name_of(export(
                    "GlobalNetworkPolicy",
                    gnp("default.allow-dns", Some("default")),
                    &nodes,
                    version
                )),
                "allow-dns"
            );
            // The tier prefix goes whatever the tier: calicoctl v3.28.0 writes block-x.
            assert_eq!(
                name_of(export(
                    "GlobalNetworkPolicy",
                    gnp("security.block-x", Some("security")),
                    &nodes,
                    version
                )),
                "block-x"
            );
            assert_eq!(
                name_of(export(
                    "GlobalNetworkPolicy",
                    gnp("ossg.default.sg1", None),
                    &nodes,
                    version
                )),
                "ossg.default.sg1"
            );
        }
        // No tier label and no spec.tier: v3.28 has neither.
        let (o, notes) = exported(export(
            "GlobalNetworkPolicy",
            gnp("default.x", Some("default")),
            &nodes,
            "v3.28.0",
        ));
        assert!(o["metadata"].get("labels").is_none());
        assert!(o["spec"].get("tier").is_none());
        assert!(notes.contains(&Note::UnknownField {
            path: "spec.tier".into(),
            kept: false
        }));
    }

    #[test]
    fn v3_29_policies_keep_their_stored_name_and_gain_tier_label_and_tier() {
        let (o, notes) = exported(export_policy(
            "GlobalNetworkPolicy",
            "default.allow-dns",
            "v3.29.2",
        ));
        assert_eq!(o["metadata"]["name"], "default.allow-dns");
        assert_eq!(o["metadata"]["labels"][TIER_LABEL], "default");
        assert_eq!(o["spec"]["tier"], "default");
        assert!(notes.contains(&Note::TierLabelAdded {
            tier: "default".into()
        }));
        let (o, _) = exported(export_policy("NetworkPolicy", "sec.x", "v3.29.2"));
        assert_eq!(o["spec"]["tier"], "sec", "the tier comes from the name");
    }

    #[test]
    fn later_policy_names_come_from_the_annotation_or_lose_default() {
        let nodes = NodeMap::default();
        for version in ["v3.29.4", "v3.30.1", "v3.31.0", "v3.32.1"] {
            let read = |name, tier, annotation| {
                name_of(export(
                    "GlobalNetworkPolicy",
                    policy("GlobalNetworkPolicy", name, tier, annotation),
                    &nodes,
                    version,
                ))
            };
            assert_eq!(
                read("default.allow-dns", None, None),
                "allow-dns",
                "{version}"
            );
            assert_eq!(
                read(
                    "default.allow-dns",
                    None,
                    Some(r#"{"name":"default.allow-dns"}"#)
                ),
                "default.allow-dns"
            );
            assert_eq!(
                read("default.foo", Some("default"), Some(r#"{"name":"foo"}"#)),
                "foo"
            );
            assert_eq!(read("sec.block-x", Some("sec"), None), "sec.block-x");
            assert_eq!(read("default.default.x", None, None), "default.x");
        }
        // v3.30.0 took the annotation's name, else the stored one.
        let (o, _) = exported(export_policy(
            "GlobalNetworkPolicy",
            "default.allow-dns",
            "v3.30.0",
        ));
        assert_eq!(o["metadata"]["name"], "default.allow-dns");
        // The annotation is removed; other annotations stay.
        let mut p = policy(
            "GlobalNetworkPolicy",
            "default.y",
            None,
            Some(r#"{"name":"y"}"#),
        );
        p["metadata"]["annotations"]["note"] = json!("keep me");
        let (o, _) = exported(export("GlobalNetworkPolicy", p, &nodes, "v3.32.1"));
        assert_eq!(o["metadata"]["annotations"], json!({"note": "keep me"}));
        // An existing tier label is kept.
        let mut p = policy("GlobalNetworkPolicy", "sec.z", Some("sec"), None);
        p["metadata"]["labels"] = json!({TIER_LABEL: "sec", "team": "a"});
        let (o, notes) = exported(export("GlobalNetworkPolicy", p, &nodes, "v3.32.1"));
        assert_eq!(
            o["metadata"]["labels"],
            json!({TIER_LABEL: "sec", "team": "a"})
        );
        assert!(
            !notes
                .iter()
                .any(|n| matches!(n, Note::TierLabelAdded { .. }))
        );
    }

    #[test]
    fn namespaced_policies_keep_their_namespace_and_knp_copies_are_skipped() {
        let nodes = NodeMap::default();
        let (o, _) = exported(export_policy(
            "NetworkPolicy",
            "default.allow-frontend",
            "v3.28.0",
        ));
        assert_eq!(o["metadata"]["name"], "allow-frontend");
        assert_eq!(o["metadata"]["namespace"], "shop");
        for version in ["v3.28.0", "v3.32.1"] {
            assert_eq!(
                export_policy("NetworkPolicy", "knp.default.deny-all", version),
                ExportOutcome::Skipped(SkipReason::KubernetesNetworkPolicy)
            );
        }
        // calicoctl lists staged policies in namespace default only; --full keeps the others.
        let staged = policy("StagedNetworkPolicy", "default.trial", None, None);
        assert_eq!(
            export("StagedNetworkPolicy", staged.clone(), &nodes, "v3.31.0"),
            ExportOutcome::Skipped(SkipReason::OutsideDefaultNamespace)
        );
        let (o, _) = exported(export_as(
            "StagedNetworkPolicy",
            staged,
            &nodes,
            "v3.31.0",
            true,
        ));
        assert_eq!(o["metadata"]["name"], "trial");
        assert_eq!(o["metadata"]["namespace"], "shop");
    }

    #[test]
    fn admin_network_policy_copies_are_skipped_on_3_29_to_3_31() {
        let nodes = NodeMap::default();
        let gnp = |name: &str| {
            policy(
                "GlobalNetworkPolicy",
                name,
                Some("adminnetworkpolicy"),
                Some(&format!("{{\"name\":\"{name}\"}}")),
            )
        };
        for version in ["v3.29.0", "v3.30.2", "v3.31.0"] {
            assert_eq!(
                export(
                    "GlobalNetworkPolicy",
                    gnp("kanp.adminnetworkpolicy.a"),
                    &nodes,
                    version
                ),
                ExportOutcome::Skipped(SkipReason::AdminNetworkPolicy),
                "{version}"
            );
        }
        assert!(matches!(
            export(
                "GlobalNetworkPolicy",
                gnp("kbanp.baselineadminnetworkpolicy.b"),
                &nodes,
                "v3.29.3"
            ),
            ExportOutcome::Exported { .. }
        ));
        assert_eq!(
            export(
                "GlobalNetworkPolicy",
                gnp("kbanp.baselineadminnetworkpolicy.b"),
                &nodes,
                "v3.30.0"
            ),
            ExportOutcome::Skipped(SkipReason::AdminNetworkPolicy)
        );
        for version in ["v3.28.0", "v3.32.1"] {
            assert!(matches!(
                export(
                    "GlobalNetworkPolicy",
                    gnp("kanp.adminnetworkpolicy.a"),
                    &nodes,
                    version
                ),
                ExportOutcome::Exported { .. }
            ));
        }
    }

    #[test]
    fn nodes_and_per_node_configs_follow_the_node_map() {
        // Upstream's test: node5 maps onto node4; node.node5 configs follow.
        let nodes = NodeMap::from_pairs([("node4", "node4"), ("node5", "node4")]);
        let node5 = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "node5"},
            "spec": {"orchRefs": [{"nodeName": "node4", "orchestrator": "k8s"}]}});
        let (o, notes) = exported(export("Node", node5, &nodes, "v3.28.0"));
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
            let (o, _) = exported(export(kind_name, config, &nodes, "v3.28.0"));
            assert_eq!(o["metadata"]["name"], "node.node4");
            let unmapped = json!({"kind": kind_name, "apiVersion": "projectcalico.org/v3", "metadata": {"name": "node.elsewhere"}, "spec": {}});
            let (o, _) = exported(export(kind_name, unmapped, &nodes, "v3.28.0"));
            assert_eq!(o["metadata"]["name"], "node.elsewhere");
        }
    }

    #[test]
    fn fqdn_node_references_are_renamed_only_in_full_exports() {
        let nodes = NodeMap::from_pairs([("worker-1.example.com", "worker-1")]);
        let hep = json!({"kind": "HostEndpoint", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "w1-eth0"},
            "spec": {"node": "worker-1.example.com", "interfaceName": "eth0", "profiles": ["kns.default", "my-hosts", "projectcalico-default-allow"]}});
        let (o, notes) = exported(export_as(
            "HostEndpoint",
            hep.clone(),
            &nodes,
            "v3.28.0",
            true,
        ));
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
        // As calicoctl: left alone, and said.
        let (o, notes) = exported(export("HostEndpoint", hep, &nodes, "v3.28.0"));
        assert_eq!(o["spec"]["node"], "worker-1.example.com");
        assert!(notes.contains(&Note::NodeReferenceKept {
            field: "spec.node",
            name: "worker-1.example.com".into(),
            kubernetes: "worker-1".into()
        }));
        let peer = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "tor"},
            "spec": {"node": "worker-1.example.com", "peerIP": "10.0.0.1", "asNumber": 64513}});
        let (o, _) = exported(export_as("BGPPeer", peer, &nodes, "v3.28.0", true));
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
            export("Node", node, &nodes, "v3.28.0"),
            ExportOutcome::Skipped(SkipReason::NodeNotMigrated)
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
            "v3.32.1",
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
            "v3.32.1",
        ));
        assert_eq!(o["spec"]["defaultEndpointToHostAction"], "Accept");
        assert!(
            o["spec"].get("iptablesFilterAllowAction").is_none(),
            "omitempty"
        );
        assert!(notes.is_empty());
        assert_eq!(title_case("drop"), "Drop");
    }

    #[test]
    fn tiers_are_defaulted_on_read() {
        let tier = json!({"kind": "Tier", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "sec"}, "spec": {}});
        let (o, _) = exported(export("Tier", tier, &NodeMap::default(), "v3.30.0"));
        assert_eq!(
            o["spec"],
            json!({"order": 1000000, "defaultAction": "Deny"})
        );
    }

    #[test]
    fn bad_keys_and_values_are_skipped_like_calicoctl() {
        let ctx = ExportContext {
            nodes: &NodeMap::default(),
            release: release("v3.28.0"),
            full: false,
        };
        let pools = kind("IPPool");
        let good = br#"{"kind":"IPPool","metadata":{"name":"p"},"spec":{}}"#;
        assert_eq!(
            export_resource(pools, &format!("{RESOURCE_PREFIX}ippools/a/b"), good, ctx),
            ExportOutcome::Skipped(SkipReason::UnexpectedKey)
        );
        assert_eq!(
            export_resource(
                pools,
                &format!("{RESOURCE_PREFIX}ippools/p"),
                b"not json",
                ctx
            ),
            ExportOutcome::Skipped(SkipReason::Unparseable)
        );
        assert_eq!(
            export_resource(pools, &format!("{RESOURCE_PREFIX}ippools/p"), b"[1]", ctx),
            ExportOutcome::Skipped(SkipReason::Unparseable)
        );
        let sets = kind("NetworkSet");
        assert_eq!(
            export_resource(
                sets,
                &format!("{RESOURCE_PREFIX}networksets/only-name"),
                good,
                ctx
            ),
            ExportOutcome::Skipped(SkipReason::UnexpectedKey)
        );
        assert_eq!(
            parse_resource_key(sets, &format!("{RESOURCE_PREFIX}networksets/ns/n")),
            Some((Some("ns"), "n"))
        );
    }
}
