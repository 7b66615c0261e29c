//! Import: the v3 objects of an export file and its IPAM entries in, the Kubernetes-datastore
//! objects to write out, as calicoctl's import would write them: into `crd.projectcalico.org/v1`
//! (the v3 object's metadata folded into an annotation) or into Calico's native
//! `projectcalico.org/v3` CRDs (the v3 object as it is), whichever [`CrdApi`] the target uses.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::gotypes::{self, reencode};
use super::ipam::{IpamEntry, IpamKey, parse_ipam_key};
use super::names::{
    block_affinity_name, canonical_cidr, cidr_to_name, handle_name, hostname_hash, policy_cr_name,
    validate_label, validate_subdomain,
};
use super::resources::METADATA_ANNOTATION;
use super::sorted;
use super::version::CalicoVersion;
use super::versions::{Release, Rule};
use crate::kinds::{CalicoKind, CrdApi, IpamKind, Role, SKIPPED_RESOURCES};
use go_compat::json as gojson;

/// The apiVersion of the objects of an export file.
const V3_API_VERSION: &str = "projectcalico.org/v3";

/// BlockAffinity labels written since v3.31.
pub const HOSTNAME_HASH_LABEL: &str = "projectcalico.org/hostname-hash";
pub const AFFINITY_TYPE_LABEL: &str = "projectcalico.org/affinity-type";
pub const IP_VERSION_LABEL: &str = "projectcalico.org/ip-version";

/// Node annotations holding Calico Node data in the Kubernetes datastore (docs/design.md §9.3).
pub const NODE_IPV4_ADDRESS: &str = "projectcalico.org/IPv4Address";
pub const NODE_IPV6_ADDRESS: &str = "projectcalico.org/IPv6Address";
pub const NODE_IPIP_TUNNEL_ADDR: &str = "projectcalico.org/IPv4IPIPTunnelAddr";
pub const NODE_AS_NUMBER: &str = "projectcalico.org/ASNumber";
pub const NODE_RR_CLUSTER_ID: &str = "projectcalico.org/RouteReflectorClusterID";
pub const NODE_VXLAN_TUNNEL_ADDR: &str = "projectcalico.org/IPv4VXLANTunnelAddr";
pub const NODE_VXLAN_MAC: &str = "projectcalico.org/VXLANTunnelMACAddr";
pub const NODE_VXLAN_V6_TUNNEL_ADDR: &str = "projectcalico.org/IPv6VXLANTunnelAddr";
pub const NODE_VXLAN_MAC_V6: &str = "projectcalico.org/VXLANTunnelMACAddrV6";
pub const NODE_WIREGUARD_IPV4: &str = "projectcalico.org/IPv4WireguardInterfaceAddr";
pub const NODE_WIREGUARD_IPV6: &str = "projectcalico.org/IPv6WireguardInterfaceAddr";
pub const NODE_WIREGUARD_KEY: &str = "projectcalico.org/WireguardPublicKey";
pub const NODE_WIREGUARD_KEY_V6: &str = "projectcalico.org/WireguardPublicKeyV6";
pub const NODE_INTERFACES: &str = "projectcalico.org/Interfaces";
pub const NODE_LABELS: &str = "projectcalico.org/labels";
pub const NODE_ANNOTATIONS: &str = "projectcalico.org/annotations";
/// Bookkeeping annotation of KDD-read Calico Nodes: the Kubernetes labels they inherited.
const NODE_KUBE_LABELS: &str = "projectcalico.org/kube-labels";

/// Plain string node annotations and the JSON pointer of their source field.
const NODE_STRING_FIELDS: &[(&str, &str)] = &[
    (NODE_IPV4_ADDRESS, "/spec/bgp/ipv4Address"),
    (NODE_IPV6_ADDRESS, "/spec/bgp/ipv6Address"),
    (NODE_IPIP_TUNNEL_ADDR, "/spec/bgp/ipv4IPIPTunnelAddr"),
    (NODE_RR_CLUSTER_ID, "/spec/bgp/routeReflectorClusterID"),
    (NODE_VXLAN_TUNNEL_ADDR, "/spec/ipv4VXLANTunnelAddr"),
    (NODE_VXLAN_MAC, "/spec/vxlanTunnelMACAddr"),
    (NODE_VXLAN_V6_TUNNEL_ADDR, "/spec/ipv6VXLANTunnelAddr"),
    (NODE_VXLAN_MAC_V6, "/spec/vxlanTunnelMACAddrV6"),
    (NODE_WIREGUARD_IPV4, "/spec/wireguard/interfaceIPv4Address"),
    (NODE_WIREGUARD_IPV6, "/spec/wireguard/interfaceIPv6Address"),
    (NODE_WIREGUARD_KEY, "/status/wireguardPublicKey"),
    (NODE_WIREGUARD_KEY_V6, "/status/wireguardPublicKeyV6"),
];

/// Every node annotation import manages, in the order of docs/design.md §9.3.
pub const NODE_MANAGED_ANNOTATIONS: &[&str] = &[
    NODE_IPV4_ADDRESS,
    NODE_IPV6_ADDRESS,
    NODE_IPIP_TUNNEL_ADDR,
    NODE_AS_NUMBER,
    NODE_RR_CLUSTER_ID,
    NODE_VXLAN_TUNNEL_ADDR,
    NODE_VXLAN_MAC,
    NODE_VXLAN_V6_TUNNEL_ADDR,
    NODE_VXLAN_MAC_V6,
    NODE_WIREGUARD_IPV4,
    NODE_WIREGUARD_IPV6,
    NODE_WIREGUARD_KEY,
    NODE_WIREGUARD_KEY_V6,
    NODE_INTERFACES,
    NODE_LABELS,
    NODE_ANNOTATIONS,
];

/// What the objects are converted for: the Calico release the target cluster runs after the
/// migration, the API group they are written to, and the time import stamps on them. (Where the
/// cluster is, is the Kubernetes side's `KubeTarget`.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRelease {
    /// The target's Calico version, when known; unknown counts as the newest.
    pub version: Option<CalicoVersion>,
    /// The release whose client and CRDs import behaves as.
    pub release: Release,
    /// RFC 3339 time stamped into the metadata annotation, as calicoctl's create path does.
    pub now: String,
    /// The API group the objects are written to.
    pub api: CrdApi,
}

impl TargetRelease {
    /// A `crd.projectcalico.org/v1` target.
    pub fn new(version: Option<CalicoVersion>, now: String) -> TargetRelease {
        TargetRelease {
            version,
            release: Release::of(version),
            now,
            api: CrdApi::V1,
        }
    }

    /// The same target, written to `api`.
    pub fn with_api(self, api: CrdApi) -> TargetRelease {
        TargetRelease { api, ..self }
    }

    fn has(&self, kind: &str, rule: Rule) -> bool {
        self.release.has(kind, rule)
    }
}

/// One object import writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    /// A custom resource of the target's API: full object (apiVersion, kind,
    /// metadata{name, namespace?, labels?, annotations?}, spec).
    Resource {
        kind: &'static CalicoKind,
        object: Value,
    },
    /// Calico Node data as annotations of the Kubernetes Node `node` (docs/design.md §9.3):
    /// annotations to set and to remove.
    NodeAnnotations {
        node: String,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

impl Desired {
    /// The namespace of a namespaced resource.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Desired::Resource { object, .. } => object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str),
            Desired::NodeAnnotations { .. } => None,
        }
    }

    /// `<Kind> <name>` or `<Kind> <namespace>/<name>`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Desired::Resource { kind, object } => {
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                match self.namespace() {
                    Some(ns) => format!("{} {ns}/{name}", kind.kind),
                    None => format!("{} {name}", kind.kind),
                }
            }
            Desired::NodeAnnotations { node, .. } => format!("Node {node}"),
        }
    }
}

/// Why an object cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {reason}")]
pub struct ConvertError {
    /// What the object is: `GlobalNetworkPolicy allow-dns`, `NetworkPolicy ns/name`, an IPAM key.
    pub object: String,
    pub reason: String,
}

/// Whether a label or annotation key is one Calico keeps on the CR itself.
pub fn is_calico_key(key: &str) -> bool {
    key.contains("projectcalico.org/") || key.contains("operator.tigera.io/")
}

/// A Go `map[string]string` read from a JSON field: absent or null is empty; other non-strings
/// are an error.
fn string_map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, String> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!("{field} {k:?} is not a string: {other}")),
            })
            .collect(),
        Some(other) => Err(format!("{field} is not a map: {other}")),
    }
}

fn map_value(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The `projectcalico.org/metadata` annotation: the Calico ObjectMeta as Go's json.Marshal writes
/// it (field order name, creationTimestamp, labels, annotations; map keys sorted).
fn metadata_annotation(
    name: Option<&str>,
    creation_timestamp: Value,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> String {
    let mut meta = Map::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        meta.insert("name".into(), Value::String(name.to_string()));
    }
    meta.insert("creationTimestamp".into(), creation_timestamp);
    if !labels.is_empty() {
        meta.insert("labels".into(), map_value(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), map_value(annotations));
    }
    gojson::marshal(&Value::Object(meta))
}

/// Converts one v3 object of an export file (docs/design.md §9.1, §9.3).
pub fn to_kdd(object: &Value, target: &TargetRelease) -> Result<Desired, ConvertError> {
    let root = object.as_object().ok_or_else(|| ConvertError {
        object: "object".into(),
        reason: format!("not a JSON object: {}", truncate(&object.to_string(), 80)),
    })?;
    let kind_name = root.get("kind").and_then(Value::as_str).unwrap_or("");
    let metadata = root.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let label = match (kind_name, namespace) {
        ("", _) => format!("object {name:?}"),
        (kind, _) if name.is_empty() => format!("{kind} (no name)"),
        (kind, "") => format!("{kind} {name}"),
        (kind, ns) => format!("{kind} {ns}/{name}"),
    };
    let fail = |reason: String| ConvertError {
        object: label.clone(),
        reason,
    };

    if kind_name.is_empty() {
        return Err(fail("has no kind".into()));
    }
    if let Some(api_version) = root.get("apiVersion")
        && api_version.as_str() != Some(V3_API_VERSION)
    {
        return Err(fail(format!(
            "apiVersion is {api_version}, expected {V3_API_VERSION}"
        )));
    }
    let Some(kind) = CalicoKind::by_kind(kind_name) else {
        return Err(fail(
            match SKIPPED_RESOURCES.iter().find(|(_, k, _)| *k == kind_name) {
                Some((_, _, why)) => format!("kind {kind_name} is not migrated: {why}"),
                None => format!("unknown kind {kind_name}"),
            },
        ));
    };
    let Some(metadata) = metadata else {
        return Err(fail("has no metadata".into()));
    };
    if name.is_empty() {
        return Err(fail("has no metadata.name".into()));
    }
    match kind.role {
        Role::Resource => resource_to_kdd(kind, root, metadata, name, target).map_err(fail),
        Role::Node => node_to_kdd(root, metadata, name, target).map_err(fail),
        Role::ClusterInformation => Err(fail(
            "ClusterInformation is not applied as a resource; import copies its clusterGUID and calicoVersion".into(),
        )),
        Role::Ipam(_) => Err(fail(format!("{kind_name} is imported from the IPAM section, not as a resource"))),
        Role::NotMigrated(why) => Err(fail(format!("kind {kind_name} is not migrated: {why}"))),
    }
}

fn resource_to_kdd(
    kind: &'static CalicoKind,
    root: &Map<String, Value>,
    metadata: &Map<String, Value>,
    name: &str,
    target: &TargetRelease,
) -> Result<Desired, String> {
    if let Some(other) = root.get("spec").filter(|s| !s.is_object() && !s.is_null()) {
        return Err(format!(
            "spec is not an object: {}",
            truncate(&other.to_string(), 80)
        ));
    }
    // Read into the target release's types, as calicoctl's import reads the file, and created
    // with that release's client defaults. Fields the release does not know (a full export's)
    // are kept: the target's CRD schema decides whether they stay.
    let release = target.release;
    let object = match reencode(release.types(), &Value::Object(root.clone()), true) {
        Some(Ok(reencoded)) => reencoded.value,
        Some(Err(error)) => return Err(format!("does not fit Calico {release}'s types: {error}")),
        None => {
            return Err(format!(
                "Calico {release} has no {} kind; import with --calico-version set to a release that has",
                kind.kind
            ));
        }
    };
    let mut object = object;
    super::defaults::on_create(&mut object, kind.kind, release)?;
    let spec = object.get("spec").cloned().unwrap_or_else(|| json!({}));
    // KubeControllersConfiguration's status travels too; a CRD with a status subresource
    // drops it on create.
    let status = object.get("status").cloned();
    let metadata = object
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(metadata);
    let namespace = if kind.namespaced {
        match metadata
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(ns) => {
                validate_label(ns).map_err(|m| format!("invalid namespace {ns:?}: {m}"))?;
                Some(ns.to_string())
            }
            None => {
                return Err(format!(
                    "{} is namespaced but has no metadata.namespace",
                    kind.kind
                ));
            }
        }
    } else {
        None
    };
    let labels = string_map(metadata.get("labels"), "label")?;
    let mut annotations = string_map(metadata.get("annotations"), "annotation")?;
    // The v3 API never shows this annotation; one in the file would clash with ours.
    annotations.remove(METADATA_ANNOTATION);

    let cr_name = match release.policy_storage(kind.kind) {
        Some(storage) => policy_cr_name(name, storage),
        None => name.to_string(),
    };
    validate_subdomain(&cr_name).map_err(|m| {
        if cr_name == name {
            format!("invalid name: {m}")
        } else {
            format!("invalid name {cr_name:?} once converted: {m}")
        }
    })?;

    // Calico's native v3 CRDs hold the v3 object as it is (its metadata too); the v1 backend
    // folds the metadata into the `projectcalico.org/metadata` annotation
    // (libcalico-go/lib/backend/k8s/resources/customresource.go, convertKVPairToResource).
    let (cr_labels, cr_annotations) = match target.api {
        CrdApi::V1 => v1_metadata(kind, name, labels, annotations, target),
        CrdApi::V3 => (labels, annotations),
    };

    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(cr_name));
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), Value::String(ns));
    }
    if !cr_labels.is_empty() {
        meta.insert("labels".into(), map_value(&cr_labels));
    }
    if !cr_annotations.is_empty() {
        meta.insert("annotations".into(), map_value(&cr_annotations));
    }
    let mut cr = json!({
        "apiVersion": target.api.api_version(),
        "kind": target.api.kind_name(kind),
        "metadata": Value::Object(meta),
        "spec": spec,
    });
    if let Some(status) = status {
        cr["status"] = status;
    }
    Ok(Desired::Resource { kind, object: cr })
}

/// The labels and annotations of a `crd.projectcalico.org/v1` CR: the metadata annotation (with
/// the v3 labels and annotations inside it where the release keeps them there) and the labels
/// and annotations that stay on the CR.
fn v1_metadata(
    kind: &CalicoKind,
    name: &str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    target: &TargetRelease,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let in_annotation = target.has(kind.kind, Rule::CalicoMetadataInAnnotation);
    let keep_name = target.has(kind.kind, Rule::NameInMetadata);
    let empty = BTreeMap::new();
    let meta_annotation = metadata_annotation(
        keep_name.then_some(name),
        Value::String(target.now.clone()),
        if in_annotation { &labels } else { &empty },
        if in_annotation { &annotations } else { &empty },
    );
    let (cr_labels, mut cr_annotations): (BTreeMap<_, _>, BTreeMap<_, _>) = if in_annotation {
        (
            labels
                .into_iter()
                .filter(|(k, _)| is_calico_key(k))
                .collect(),
            annotations
                .into_iter()
                .filter(|(k, _)| is_calico_key(k))
                .collect(),
        )
    } else {
        (labels, annotations)
    };
    cr_annotations.insert(METADATA_ANNOTATION.to_string(), meta_annotation);
    (cr_labels, cr_annotations)
}

/// numorstring.ASNumber as a decimal string, None when unset.
fn as_number(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        other => gotypes::as_number(other)
            .map(|n| Some(n.to_string()))
            .ok_or_else(|| format!("spec.bgp.asNumber is not an AS number: {value}")),
    }
}

/// The JSON of `spec.interfaces` as Go writes `[]NodeInterface` (fields `name`, `addresses`).
fn interfaces_json(value: &Value) -> Result<Option<String>, String> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) if items.is_empty() => return Ok(None),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "spec.interfaces is not a list: {}",
                truncate(&other.to_string(), 80)
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(fields) = item else {
            return Err(format!("spec.interfaces entry is not an object: {item}"));
        };
        let mut ordered = Map::new();
        for key in ["name", "addresses"] {
            if let Some(v) = fields.get(key) {
                ordered.insert(key.into(), v.clone());
            }
        }
        let mut rest: Vec<(&String, &Value)> = fields
            .iter()
            .filter(|(k, _)| *k != "name" && *k != "addresses")
            .collect();
        rest.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in rest {
            ordered.insert(k.clone(), sorted(v));
        }
        out.push(Value::Object(ordered));
    }
    Ok(Some(gojson::marshal(&Value::Array(out))))
}

fn node_to_kdd(
    root: &Map<String, Value>,
    metadata: &Map<String, Value>,
    name: &str,
    target: &TargetRelease,
) -> Result<Desired, String> {
    validate_subdomain(name).map_err(|m| format!("invalid Kubernetes node name: {m}"))?;
    let object = Value::Object(root.clone());
    let mut values: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (annotation, pointer) in NODE_STRING_FIELDS {
        let value = match object.pointer(pointer) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(format!(
                    "{} is not a string: {other}",
                    &pointer[1..].replace('/', ".")
                ));
            }
        };
        values.insert(annotation, value);
    }
    values.insert(
        NODE_AS_NUMBER,
        match object.pointer("/spec/bgp/asNumber") {
            Some(v) => as_number(v)?,
            None => None,
        },
    );
    values.insert(
        NODE_INTERFACES,
        match object.pointer("/spec/interfaces") {
            Some(v) => interfaces_json(v)?,
            None => None,
        },
    );

    // As upstream's restoreCalicoLabels: labels inherited from Kubernetes are not Calico's own.
    let mut labels = string_map(metadata.get("labels"), "label")?;
    let mut annotations = string_map(metadata.get("annotations"), "annotation")?;
    if let Some(raw) = annotations.remove(NODE_KUBE_LABELS) {
        let inherited: BTreeMap<String, String> = serde_json::from_str(&raw).map_err(|e| {
            format!("annotation {NODE_KUBE_LABELS} is not a JSON map of strings: {e}")
        })?;
        labels.retain(|k, _| !inherited.contains_key(k));
    }
    values.insert(
        NODE_LABELS,
        (!labels.is_empty()).then(|| gojson::marshal(&map_value(&labels))),
    );
    values.insert(
        NODE_ANNOTATIONS,
        (!annotations.is_empty()).then(|| gojson::marshal(&map_value(&annotations))),
    );

    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    // Releases before the interfaces annotation neither write nor remove it.
    let interfaces = target.has("Node", Rule::NodeInterfaces);
    for annotation in NODE_MANAGED_ANNOTATIONS
        .iter()
        .filter(|a| interfaces || **a != NODE_INTERFACES)
    {
        match values.remove(annotation).flatten() {
            Some(value) => {
                set.insert(annotation.to_string(), value);
            }
            None => remove.push(annotation.to_string()),
        }
    }
    Ok(Desired::NodeAnnotations {
        node: name.to_string(),
        set,
        remove,
    })
}

/// `clusterGUID` and `calicoVersion` of the export's ClusterInformation (part 2 of the file),
/// each None when absent or empty.
pub fn cluster_information_fields(value: &Value) -> (Option<String>, Option<String>) {
    let field = |name: &str| {
        value
            .get("spec")
            .and_then(|s| s.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    (field("clusterGUID"), field("calicoVersion"))
}

/// A CR of an IPAM kind with the metadata libcalico gives objects that have no Calico metadata:
/// in `crd.projectcalico.org/v1` a metadata annotation with no creation time, in
/// `projectcalico.org/v3` none.
fn ipam_cr(
    kind: IpamKind,
    name: String,
    labels: BTreeMap<String, String>,
    spec: Map<String, Value>,
    api: CrdApi,
) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(name));
    if !labels.is_empty() {
        meta.insert("labels".into(), map_value(&labels));
    }
    if api == CrdApi::V1 {
        let annotation = metadata_annotation(None, Value::Null, &labels, &BTreeMap::new());
        meta.insert(
            "annotations".into(),
            json!({ METADATA_ANNOTATION: annotation }),
        );
    }
    json!({
        "apiVersion": api.api_version(),
        "kind": api.kind_name(kind.calico_kind()),
        "metadata": Value::Object(meta),
        "spec": Value::Object(spec),
    })
}

fn bool_field(value: &Value, field: &str) -> Result<bool, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{field} is not a boolean: {other}")),
    }
}

/// Converts one IPAM entry of the export file into its CR (docs/design.md §9.4).
pub fn ipam_to_kdd(entry: &IpamEntry, target: &TargetRelease) -> Result<Value, ConvertError> {
    let fail = |reason: String| ConvertError {
        object: format!("IPAM key {}", entry.key),
        reason,
    };
    let value = &entry.value;
    if !value.is_object() {
        return Err(fail(format!(
            "value is not a JSON object: {}",
            truncate(&value.to_string(), 80)
        )));
    }
    let key = parse_ipam_key(&entry.key);
    let cr = match (entry.kind, key) {
        (IpamKind::Block, IpamKey::Block { cidr }) => block_cr(&cidr, value, target.api),
        (
            IpamKind::BlockAffinity,
            IpamKey::Affinity {
                virtual_: false,
                host,
                cidr,
                ..
            },
        ) => affinity_cr(host, &cidr, value, target),
        (IpamKind::BlockAffinity, IpamKey::Affinity { virtual_: true, .. }) => {
            Err("virtual (LoadBalancer) block affinities are not imported".to_string())
        }
        (IpamKind::Handle, IpamKey::Handle { id }) => handle_cr(id, value, target.api),
        (IpamKind::Config, IpamKey::Config) => config_cr(value, target.api),
        (kind, _) => Err(format!("not a key of an IPAM {}", kind.calico_kind().kind)),
    };
    cr.map_err(fail)
}

fn block_cr(key_cidr: &str, value: &Value, api: CrdApi) -> Result<Value, String> {
    let cidr = canonical_cidr(key_cidr)?;
    let name = cidr_to_name(&cidr);
    validate_subdomain(&name).map_err(|m| format!("invalid name {name:?}: {m}"))?;
    let Some(fields) = value.as_object() else {
        return Err("value is not an object".into());
    };
    let mut spec = Map::new();
    spec.insert("cidr".into(), Value::String(cidr));
    for (from, to) in [
        ("affinity", "affinity"),
        ("affinity_claim_time", "affinityClaimTime"),
    ] {
        match fields.get(from) {
            None | Some(Value::Null) => {}
            Some(v) => {
                spec.insert(to.into(), v.clone());
            }
        }
    }
    for list in ["allocations", "unallocated"] {
        let v = match fields.get(list) {
            None | Some(Value::Null) => json!([]),
            Some(v) => v.clone(),
        };
        spec.insert(list.into(), v);
    }
    let attributes = match fields.get("attributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(convert_attribute).collect(),
        Some(other) => {
            return Err(format!(
                "attributes is not a list: {}",
                truncate(&other.to_string(), 80)
            ));
        }
    };
    spec.insert("attributes".into(), Value::Array(attributes));
    spec.insert(
        "sequenceNumber".into(),
        fields.get("sequenceNumber").cloned().unwrap_or(json!(0)),
    );
    spec.insert(
        "sequenceNumberForAllocation".into(),
        fields
            .get("sequenceNumberForAllocation")
            .map(sorted)
            .unwrap_or(Value::Null),
    );
    spec.insert("deleted".into(), Value::Bool(bool_field(value, "deleted")?));
    spec.insert("strictAffinity".into(), Value::Bool(false));
    // Fields of newer versions travel on; the target's CRD prunes what it does not know.
    const KNOWN: &[&str] = &[
        "cidr",
        "affinity",
        "affinity_claim_time",
        "allocations",
        "unallocated",
        "attributes",
        "sequenceNumber",
        "sequenceNumberForAllocation",
        "deleted",
        "strictAffinity",
        "hostAffinity",
    ];
    for (k, v) in fields {
        if !KNOWN.contains(&k.as_str()) && !v.is_null() {
            spec.insert(k.clone(), v.clone());
        }
    }
    Ok(ipam_cr(IpamKind::Block, name, BTreeMap::new(), spec, api))
}

/// One allocation attribute as the CR type writes it: null fields and empty owner maps left out
/// (omitempty), everything else kept.
fn convert_attribute(attribute: &Value) -> Value {
    let Value::Object(fields) = attribute else {
        return attribute.clone();
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let empty_map = matches!(v, Value::Object(m) if m.is_empty());
        if v.is_null() || (empty_map && (k == "secondary" || k == "alternateOwnerAttrs")) {
            continue;
        }
        out.insert(k.clone(), sorted(v));
    }
    Value::Object(out)
}

fn affinity_cr(
    host: &str,
    key_cidr: &str,
    value: &Value,
    target: &TargetRelease,
) -> Result<Value, String> {
    let cidr = canonical_cidr(key_cidr)?;
    let name = block_affinity_name(host, &cidr);
    validate_subdomain(&name).map_err(|m| format!("invalid name {name:?}: {m}"))?;
    let state = match value.get("state") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("state is not a string: {other}")),
    };
    let deleted = match value.get("deleted") {
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        _ => bool_field(value, "deleted")?,
    };
    let mut spec = Map::new();
    spec.insert("state".into(), Value::String(state));
    spec.insert("node".into(), Value::String(host.to_string()));
    if target.has("BlockAffinity", Rule::AffinityType) {
        spec.insert("type".into(), Value::String("host".into()));
    }
    spec.insert("cidr".into(), Value::String(cidr.clone()));
    // `deleted` is a string in the v1 CRD and a boolean in the v3 one
    // (libcalico-go/lib/backend/k8s/resources/ipam_affinity_v3.go, buildCRD).
    let deleted = match target.api {
        CrdApi::V1 => Value::String(deleted.to_string()),
        CrdApi::V3 => Value::Bool(deleted),
    };
    spec.insert("deleted".into(), deleted);
    let mut labels = BTreeMap::new();
    if target.has("BlockAffinity", Rule::AffinityLabels) {
        // Upstream derives the version from the CIDR, not from the key's `ipv<N>`.
        let version = if cidr.contains(':') { "6" } else { "4" };
        labels.insert(HOSTNAME_HASH_LABEL.to_string(), hostname_hash(host));
        labels.insert(AFFINITY_TYPE_LABEL.to_string(), "host".to_string());
        labels.insert(IP_VERSION_LABEL.to_string(), version.to_string());
    }
    Ok(ipam_cr(
        IpamKind::BlockAffinity,
        name,
        labels,
        spec,
        target.api,
    ))
}

fn handle_cr(id: &str, value: &Value, api: CrdApi) -> Result<Value, String> {
    let name = handle_name(id);
    validate_subdomain(&name)
        .map_err(|m| format!("invalid name {name:?} for handle {id:?}: {m}"))?;
    let block = match value.get("block") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => sorted(v),
        Some(other) => return Err(format!("block is not a map: {other}")),
    };
    let mut spec = Map::new();
    spec.insert("handleID".into(), Value::String(id.to_string()));
    spec.insert("block".into(), block);
    spec.insert("deleted".into(), Value::Bool(bool_field(value, "deleted")?));
    Ok(ipam_cr(IpamKind::Handle, name, BTreeMap::new(), spec, api))
}

fn config_cr(value: &Value, api: CrdApi) -> Result<Value, String> {
    let mut spec = Map::new();
    spec.insert(
        "strictAffinity".into(),
        Value::Bool(bool_field(value, "strict_affinity")?),
    );
    spec.insert(
        "autoAllocateBlocks".into(),
        Value::Bool(bool_field(value, "auto_allocate_blocks")?),
    );
    for field in [
        "maxBlocksPerHost",
        "kubeVirtVMAddressPersistence",
        "ipCooldownSeconds",
    ] {
        match value.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_f64() == Some(0.0) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(v) => {
                spec.insert(field.into(), v.clone());
            }
        }
    }
    Ok(ipam_cr(
        IpamKind::Config,
        "default".into(),
        BTreeMap::new(),
        spec,
        api,
    ))
}

/// At most `max` characters of `text`, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-08-01T12:00:00Z";

    /// Why a conversion was refused.
    fn reason<T: std::fmt::Debug>(result: Result<T, ConvertError>) -> String {
        result.unwrap_err().reason
    }
    fn target(version: &str) -> TargetRelease {
        TargetRelease::new(CalicoVersion::parse(version), NOW.into())
    }

    fn resource(desired: Desired) -> Value {
        match desired {
            Desired::Resource { object, .. } => object,
            other => panic!("not a resource: {other:?}"),
        }
    }

    fn meta_annotation(object: &Value) -> &str {
        object["metadata"]["annotations"][METADATA_ANNOTATION]
            .as_str()
            .unwrap()
    }

    #[test]
    fn an_ippool_keeps_its_spec_and_gets_a_metadata_annotation_with_the_creation_time() {
        let pool = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
            "metadata": {"name": "default-ipv4-ippool", "uid": "u-1", "creationTimestamp": null,
                         "generation": 3, "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "y"}],
                         "finalizers": ["f"]},
            "spec": {"cidr": "10.65.0.0/16", "blockSize": 26, "ipipMode": "Always", "natOutgoing": true}});
        let object = resource(to_kdd(&pool, &target("v3.32.1")).unwrap());
        assert_eq!(
            object,
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                "metadata": {"name": "default-ipv4-ippool",
                             "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":\"2026-08-01T12:00:00Z\"}"}},
                "spec": {"cidr": "10.65.0.0/16", "ipipMode": "Always", "natOutgoing": true, "blockSize": 26,
                         "allowedUses": ["Workload", "Tunnel"], "nodeSelector": "all()", "vxlanMode": "Never",
                         "assignmentMode": "Automatic"}})
        );
        // v3.28.0's client has no assignmentMode, and its types drop natOutgoing: false.
        let mut pool = pool;
        pool["spec"]["natOutgoing"] = json!(false);
        let object = resource(to_kdd(&pool, &target("v3.28.0")).unwrap());
        assert_eq!(
            object["spec"],
            json!({"cidr": "10.65.0.0/16", "ipipMode": "Always", "blockSize": 26,
                   "allowedUses": ["Workload", "Tunnel"], "nodeSelector": "all()", "vxlanMode": "Never"})
        );
    }

    #[test]
    fn a_policy_keeps_its_name_and_tier_label_in_the_annotation() {
        let gnp = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "allow-dns", "creationTimestamp": null, "labels": {"projectcalico.org/tier": "default"}},
            "spec": {"tier": "default", "selector": "all()", "types": ["Egress"]}});
        for (version, cr_name) in [
            ("v3.32.1", "allow-dns"),
            ("v3.31.0", "default.allow-dns"),
            ("v3.30.2", "default.allow-dns"),
            ("", "allow-dns"),
        ] {
            let object = resource(to_kdd(&gnp, &target(version)).unwrap());
            assert_eq!(object["metadata"]["name"], cr_name, "{version}");
            assert_eq!(
                meta_annotation(&object),
                r#"{"name":"allow-dns","creationTimestamp":"2026-08-01T12:00:00Z","labels":{"projectcalico.org/tier":"default"}}"#
            );
            assert_eq!(
                object["metadata"]["labels"],
                json!({"projectcalico.org/tier": "default"})
            );
        }
        // Before v3.29.4 the name was not kept: the CR name was the only name.
        for version in ["v3.29.3", "v3.28.2"] {
            let object = resource(to_kdd(&gnp, &target(version)).unwrap());
            assert_eq!(object["metadata"]["name"], "default.allow-dns");
            assert_eq!(
                meta_annotation(&object),
                r#"{"creationTimestamp":"2026-08-01T12:00:00Z","labels":{"projectcalico.org/tier":"default"}}"#
            );
        }
    }

    #[test]
    fn namespaced_policies_of_other_tiers() {
        let np = json!({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": "sec.block-x", "namespace": "prod", "labels": {"projectcalico.org/tier": "sec"}},
            "spec": {"tier": "sec", "selector": "all()"}});
        for version in ["v3.32.1", "v3.30.0", "v3.29.0"] {
            let object = resource(to_kdd(&np, &target(version)).unwrap());
            assert_eq!(object["metadata"]["name"], "sec.block-x");
            assert_eq!(object["metadata"]["namespace"], "prod");
        }
        let staged = json!({"kind": "StagedNetworkPolicy", "metadata": {"name": "p", "namespace": "prod"}, "spec": {}});
        let object = resource(to_kdd(&staged, &target("v3.31.0")).unwrap());
        assert_eq!(object["metadata"]["name"], "default.p");
        assert_eq!(
            meta_annotation(&object),
            r#"{"name":"p","creationTimestamp":"2026-08-01T12:00:00Z"}"#
        );
        // StagedKubernetesNetworkPolicy is not a tiered policy.
        let sknp = json!({"kind": "StagedKubernetesNetworkPolicy", "metadata": {"name": "p", "namespace": "prod"}, "spec": {}});
        let object = resource(to_kdd(&sknp, &target("v3.31.0")).unwrap());
        assert_eq!(object["metadata"]["name"], "p");
        assert_eq!(
            meta_annotation(&object),
            r#"{"creationTimestamp":"2026-08-01T12:00:00Z"}"#
        );
    }

    #[test]
    fn only_calico_labels_and_annotations_go_on_the_cr() {
        let set = json!({"kind": "GlobalNetworkSet",
            "metadata": {"name": "nets", "labels": {"role": "db", "projectcalico.org/x": "1", "operator.tigera.io/y": "2"},
                         "annotations": {"note": "<a&b>", "projectcalico.org/z": "3", "projectcalico.org/metadata": "{\"bogus\":1}"}},
            "spec": {"nets": ["10.0.0.0/8"]}});
        let object = resource(to_kdd(&set, &target("v3.32.1")).unwrap());
        assert_eq!(
            object["metadata"]["labels"],
            json!({"operator.tigera.io/y": "2", "projectcalico.org/x": "1"})
        );
        assert_eq!(
            object["metadata"]["annotations"],
            json!({"projectcalico.org/metadata": "{\"creationTimestamp\":\"2026-08-01T12:00:00Z\",\"labels\":{\"operator.tigera.io/y\":\"2\",\"projectcalico.org/x\":\"1\",\"role\":\"db\"},\"annotations\":{\"note\":\"\\u003ca\\u0026b\\u003e\",\"projectcalico.org/z\":\"3\"}}",
                   "projectcalico.org/z": "3"})
        );
        // Before v3.28 every label and annotation was on the CR itself.
        let object = resource(to_kdd(&set, &target("v3.27.3")).unwrap());
        assert_eq!(
            object["metadata"]["labels"],
            json!({"operator.tigera.io/y": "2", "projectcalico.org/x": "1", "role": "db"})
        );
        assert_eq!(object["metadata"]["annotations"]["note"], "<a&b>");
        assert_eq!(
            meta_annotation(&object),
            r#"{"creationTimestamp":"2026-08-01T12:00:00Z"}"#
        );
    }

    #[test]
    fn bad_objects_are_rejected_with_kind_name_and_reason() {
        let t = target("v3.32.1");
        let err = |v: Value| to_kdd(&v, &t).unwrap_err().to_string();
        assert_eq!(
            err(json!({"metadata": {"name": "x"}, "spec": {}})),
            "object \"x\": has no kind"
        );
        assert_eq!(
            err(json!({"kind": "IPPool", "spec": {}})),
            "IPPool (no name): has no metadata"
        );
        assert_eq!(
            err(json!({"kind": "IPPool", "metadata": {}, "spec": {}})),
            "IPPool (no name): has no metadata.name"
        );
        // A kind the target release does not have cannot be written.
        assert_eq!(
            to_kdd(
                &json!({"kind": "Tier", "metadata": {"name": "t"}, "spec": {}}),
                &target("v3.28.0")
            )
            .unwrap_err()
            .to_string(),
            "Tier t: Calico v3.28.0 has no Tier kind; import with --calico-version set to a release that has"
        );
        assert_eq!(
            err(json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": {"blockSize": "26"}})),
            "IPPool p: does not fit Calico v3.32.1's types: spec.blockSize: expected an integer, found a string"
        );
        assert_eq!(
            err(json!({"kind": "IPPool", "metadata": {"name": "p"}, "spec": 3})),
            "IPPool p: spec is not an object: 3"
        );
        assert!(
            err(json!({"kind": "Profile", "metadata": {"name": "kns.a"}, "spec": {}})).starts_with(
                "Profile kns.a: kind Profile is not migrated: derived from Namespaces"
            )
        );
        assert!(err(json!({"kind": "WorkloadEndpoint", "metadata": {"name": "w", "namespace": "a"}, "spec": {}})).starts_with("WorkloadEndpoint a/w: kind WorkloadEndpoint is not migrated"));
        assert!(
            err(json!({"kind": "ClusterInformation", "metadata": {"name": "default"}, "spec": {}}))
                .starts_with("ClusterInformation default: ClusterInformation is not applied")
        );
        assert!(
            err(json!({"kind": "CalicoNodeStatus", "metadata": {"name": "s"}, "spec": {}}))
                .contains("is not migrated")
        );
        assert!(
            err(json!({"kind": "IPAMBlock", "metadata": {"name": "s"}, "spec": {}}))
                .contains("IPAM section")
        );
        assert_eq!(
            err(json!({"kind": "Bogus", "metadata": {"name": "s"}})),
            "Bogus s: unknown kind Bogus"
        );
        assert!(
            err(
                json!({"kind": "IPPool", "apiVersion": "v1", "metadata": {"name": "p"}, "spec": {}})
            )
            .contains("apiVersion is \"v1\"")
        );
        let upper = err(
            json!({"kind": "IPPool", "metadata": {"name": "Pool"}, "spec": {"cidr": "10.0.0.0/8"}}),
        );
        assert!(
            upper.starts_with("IPPool Pool: invalid name: a lowercase RFC 1123 subdomain"),
            "{upper}"
        );
        let np = err(json!({"kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": {}}));
        assert_eq!(
            np,
            "NetworkPolicy p: NetworkPolicy is namespaced but has no metadata.namespace"
        );
        let long = "a".repeat(250);
        let converted = to_kdd(
            &json!({"kind": "GlobalNetworkPolicy", "metadata": {"name": long}, "spec": {}}),
            &target("v3.30.0"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            converted.contains("once converted: must be no more than 253 characters"),
            "{converted}"
        );
        assert!(
            err(
                json!({"kind": "IPPool", "metadata": {"name": "p", "labels": {"a": 1}}, "spec": {}})
            )
            .contains("metadata.labels.a: expected a string, found a number")
        );
        assert!(to_kdd(&json!([1]), &t).is_err());
    }

    #[test]
    fn missing_spec_is_the_zero_spec() {
        let object = resource(
            to_kdd(
                &json!({"kind": "GlobalNetworkSet", "metadata": {"name": "n"}}),
                &target(""),
            )
            .unwrap(),
        );
        assert_eq!(object["spec"], json!({}));
    }

    fn node() -> Value {
        json!({"apiVersion": "projectcalico.org/v3", "kind": "Node",
            "metadata": {"name": "worker-1", "labels": {"zone": "a", "kubernetes.io/os": "linux"},
                         "annotations": {"note": "x"}},
            "spec": {
                "bgp": {"asNumber": 64512, "ipv4Address": "10.0.0.11/24", "ipv6Address": "fd00::11/64",
                        "ipv4IPIPTunnelAddr": "10.65.79.1", "routeReflectorClusterID": "224.0.0.1"},
                "ipv4VXLANTunnelAddr": "10.65.79.2", "vxlanTunnelMACAddr": "66:00:00:00:00:01",
                "ipv6VXLANTunnelAddr": "fd00:65::1", "vxlanTunnelMACAddrV6": "66:00:00:00:00:02",
                "wireguard": {"interfaceIPv4Address": "10.65.79.3", "interfaceIPv6Address": "fd00:65::3"},
                "interfaces": [{"addresses": ["10.0.0.11"], "name": "eth0"}],
                "orchRefs": [{"nodeName": "worker-1", "orchestrator": "k8s"}],
                "addresses": [{"address": "10.0.0.11/24", "type": "CalicoNodeIP"}]},
            "status": {"wireguardPublicKey": "key4", "wireguardPublicKeyV6": "key6", "podCIDRs": ["10.65.79.0/24"]}})
    }

    #[test]
    fn node_data_becomes_annotations_of_the_kubernetes_node() {
        let Desired::NodeAnnotations { node, set, remove } =
            to_kdd(&node(), &target("v3.32.1")).unwrap()
        else {
            panic!("not node annotations")
        };
        assert_eq!(node, "worker-1");
        let expected: BTreeMap<String, String> = [
            ("projectcalico.org/IPv4Address", "10.0.0.11/24"),
            ("projectcalico.org/IPv6Address", "fd00::11/64"),
            ("projectcalico.org/IPv4IPIPTunnelAddr", "10.65.79.1"),
            ("projectcalico.org/ASNumber", "64512"),
            ("projectcalico.org/RouteReflectorClusterID", "224.0.0.1"),
            ("projectcalico.org/IPv4VXLANTunnelAddr", "10.65.79.2"),
            ("projectcalico.org/VXLANTunnelMACAddr", "66:00:00:00:00:01"),
            ("projectcalico.org/IPv6VXLANTunnelAddr", "fd00:65::1"),
            (
                "projectcalico.org/VXLANTunnelMACAddrV6",
                "66:00:00:00:00:02",
            ),
            ("projectcalico.org/IPv4WireguardInterfaceAddr", "10.65.79.3"),
            ("projectcalico.org/IPv6WireguardInterfaceAddr", "fd00:65::3"),
            ("projectcalico.org/WireguardPublicKey", "key4"),
            ("projectcalico.org/WireguardPublicKeyV6", "key6"),
            (
                "projectcalico.org/Interfaces",
                r#"[{"name":"eth0","addresses":["10.0.0.11"]}]"#,
            ),
            (
                "projectcalico.org/labels",
                r#"{"kubernetes.io/os":"linux","zone":"a"}"#,
            ),
            ("projectcalico.org/annotations", r#"{"note":"x"}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(set, expected);
        assert!(remove.is_empty());
    }

    #[test]
    fn releases_before_3_31_leave_the_interfaces_annotation_alone() {
        let Desired::NodeAnnotations { set, remove, .. } =
            to_kdd(&node(), &target("v3.30.7")).unwrap()
        else {
            panic!("not node annotations")
        };
        assert!(!set.contains_key(NODE_INTERFACES));
        assert!(!remove.contains(&NODE_INTERFACES.to_string()));
        assert_eq!(set.len(), NODE_MANAGED_ANNOTATIONS.len() - 1);
    }

    #[test]
    fn empty_node_fields_remove_their_annotations() {
        let bare = json!({"kind": "Node", "metadata": {"name": "worker-2"}, "spec": {"bgp": {"ipv4Address": "10.0.0.12/24", "ipv6Address": ""}}});
        let Desired::NodeAnnotations { set, remove, .. } =
            to_kdd(&bare, &target("v3.32.1")).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            set.keys().collect::<Vec<_>>(),
            ["projectcalico.org/IPv4Address"]
        );
        assert_eq!(remove.len(), NODE_MANAGED_ANNOTATIONS.len() - 1);
        assert!(remove.contains(&"projectcalico.org/IPv6Address".to_string()));
        assert!(remove.contains(&"projectcalico.org/labels".to_string()));
        assert!(remove.contains(&"projectcalico.org/Interfaces".to_string()));
    }

    #[test]
    fn as_numbers_are_written_as_decimal_strings() {
        for (input, expected) in [
            (json!(65000), "65000"),
            (json!("4200000000"), "4200000000"),
            (json!("1.10"), "65546"),
        ] {
            let mut n = node();
            n["spec"]["bgp"]["asNumber"] = input;
            let Desired::NodeAnnotations { set, .. } = to_kdd(&n, &target("")).unwrap() else {
                panic!()
            };
            assert_eq!(set[NODE_AS_NUMBER], expected);
        }
        let mut n = node();
        n["spec"]["bgp"]["asNumber"] = json!("AS1");
        assert!(reason(to_kdd(&n, &target(""))).contains("not an AS number"));
    }

    #[test]
    fn inherited_kubernetes_labels_are_not_copied() {
        let mut n = node();
        n["metadata"]["annotations"]["projectcalico.org/kube-labels"] =
            json!(r#"{"kubernetes.io/os":"linux"}"#);
        let Desired::NodeAnnotations { set, .. } = to_kdd(&n, &target("")).unwrap() else {
            panic!()
        };
        assert_eq!(set[NODE_LABELS], r#"{"zone":"a"}"#);
        assert_eq!(set[NODE_ANNOTATIONS], r#"{"note":"x"}"#);
    }

    #[test]
    fn blocks_use_crd_field_names_and_always_strict_affinity_false() {
        let block = IpamEntry::new(
            IpamKind::Block,
            "/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26",
            json!({"cidr": "10.65.79.0/26", "affinity": "host:worker-1", "affinity_claim_time": "2026-01-01T00:00:00Z",
                   "allocations": [0, null, 1], "unallocated": [3, 4],
                   "attributes": [{"handle_id": "ipip-tunnel-addr-worker-1", "secondary": {"type": "ipipTunnelAddress", "node": "worker-1"}},
                                  {"handle_id": null, "secondary": null, "alternateOwnerAttrs": {}, "releasedAt": "2026-02-01T00:00:00Z"}],
                   "sequenceNumber": 7, "sequenceNumberForAllocation": {"2": 5, "0": 3}, "deleted": false, "hostAffinity": null}),
        );
        let cr = ipam_to_kdd(&block, &target("v3.32.1")).unwrap();
        assert_eq!(
            cr,
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
                "metadata": {"name": "10-65-79-0-26", "annotations": {"projectcalico.org/metadata": "{\"creationTimestamp\":null}"}},
                "spec": {"cidr": "10.65.79.0/26", "affinity": "host:worker-1", "affinityClaimTime": "2026-01-01T00:00:00Z",
                         "allocations": [0, null, 1], "unallocated": [3, 4],
                         "attributes": [{"handle_id": "ipip-tunnel-addr-worker-1", "secondary": {"node": "worker-1", "type": "ipipTunnelAddress"}},
                                        {"releasedAt": "2026-02-01T00:00:00Z"}],
                         "sequenceNumber": 7, "sequenceNumberForAllocation": {"0": 3, "2": 5}, "deleted": false, "strictAffinity": false}})
        );
        let keys: Vec<&String> = cr["spec"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "cidr",
                "affinity",
                "affinityClaimTime",
                "allocations",
                "unallocated",
                "attributes",
                "sequenceNumber",
                "sequenceNumberForAllocation",
                "deleted",
                "strictAffinity"
            ]
        );
    }

    #[test]
    fn v3_28_blocks_with_null_affinity_and_ipv6_names() {
        let block = IpamEntry::new(
            IpamKind::Block,
            "/calico/ipam/v2/assignment/ipv6/block/fd00::-122",
            json!({"cidr": "fd00::/122", "affinity": null, "allocations": [], "unallocated": [], "attributes": null,
                   "sequenceNumber": 0, "sequenceNumberForAllocation": null, "deleted": false}),
        );
        let cr = ipam_to_kdd(&block, &target("v3.28.0")).unwrap();
        assert_eq!(cr["metadata"]["name"], "fd00---122");
        assert!(cr["spec"].get("affinity").is_none());
        assert_eq!(cr["spec"]["attributes"], json!([]));
        assert_eq!(cr["spec"]["strictAffinity"], false);
    }

    #[test]
    fn affinities_have_deleted_as_a_string_and_labels_from_3_31() {
        let affinity = IpamEntry::new(
            IpamKind::BlockAffinity,
            "/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26",
            json!({"state": "confirmed", "deleted": false}),
        );
        let cr = ipam_to_kdd(&affinity, &target("v3.31.0")).unwrap();
        let hash = "CPU5J3TPSNHFA66J45DG4Z5C3PSJAZ36LD46JZLYEGZSTAWBUCUA";
        assert_eq!(
            cr,
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
                "metadata": {"name": "worker-1-10-65-79-0-26",
                             "labels": {"projectcalico.org/affinity-type": "host", "projectcalico.org/hostname-hash": hash, "projectcalico.org/ip-version": "4"},
                             "annotations": {"projectcalico.org/metadata": format!("{{\"creationTimestamp\":null,\"labels\":{{\"projectcalico.org/affinity-type\":\"host\",\"projectcalico.org/hostname-hash\":\"{hash}\",\"projectcalico.org/ip-version\":\"4\"}}}}")}},
                "spec": {"state": "confirmed", "node": "worker-1", "type": "host", "cidr": "10.65.79.0/26", "deleted": "false"}})
        );
        let old = ipam_to_kdd(&affinity, &target("v3.30.0")).unwrap();
        assert!(old["metadata"].get("labels").is_none());
        assert_eq!(
            old["metadata"]["annotations"][METADATA_ANNOTATION],
            "{\"creationTimestamp\":null}"
        );
        let deleted = IpamEntry::new(
            IpamKind::BlockAffinity,
            "/calico/ipam/v2/host/worker-1/ipv6/block/fd00::-122",
            json!({"state": "", "deleted": true}),
        );
        let cr = ipam_to_kdd(&deleted, &target("")).unwrap();
        assert_eq!(cr["spec"]["deleted"], "true");
        assert_eq!(cr["metadata"]["name"], "worker-1-fd00---122");
        assert_eq!(cr["metadata"]["labels"][IP_VERSION_LABEL], "6");
        let upper = IpamEntry::new(
            IpamKind::BlockAffinity,
            "/calico/ipam/v2/host/Worker-1/ipv4/block/10.65.79.0-26",
            json!({}),
        );
        assert!(reason(ipam_to_kdd(&upper, &target(""))).contains("RFC 1123"));
        let virt = IpamEntry::new(
            IpamKind::BlockAffinity,
            "/calico/ipam/v2/virtual/lb/ipv4/block/10.0.0.0-26",
            json!({}),
        );
        assert!(ipam_to_kdd(&virt, &target("")).is_err());
    }

    #[test]
    fn handles_are_lower_cased_with_the_original_id_in_the_spec() {
        let handle = IpamEntry::new(
            IpamKind::Handle,
            "/calico/ipam/v2/handle/k8s-pod-network.ABC123",
            json!({"block": {"10.65.79.0/26": 1, "10.65.78.0/26": 2}, "deleted": false}),
        );
        let cr = ipam_to_kdd(&handle, &target("")).unwrap();
        assert_eq!(cr["metadata"]["name"], "k8s-pod-network.abc123");
        assert_eq!(
            cr["spec"],
            json!({"handleID": "k8s-pod-network.ABC123", "block": {"10.65.78.0/26": 2, "10.65.79.0/26": 1}, "deleted": false})
        );
        let bad = IpamEntry::new(
            IpamKind::Handle,
            "/calico/ipam/v2/handle/k8s-pod-network.x\r\neth0",
            json!({"block": {}}),
        );
        assert!(reason(ipam_to_kdd(&bad, &target(""))).contains("invalid name"));
    }

    #[test]
    fn ipam_config_field_names() {
        let minimal = IpamEntry::new(
            IpamKind::Config,
            "/calico/ipam/v2/config",
            json!({"strict_affinity": true}),
        );
        let cr = ipam_to_kdd(&minimal, &target("")).unwrap();
        assert_eq!(cr["metadata"]["name"], "default");
        assert_eq!(cr["kind"], "IPAMConfig");
        assert_eq!(
            cr["spec"],
            json!({"strictAffinity": true, "autoAllocateBlocks": false})
        );
        let full = IpamEntry::new(
            IpamKind::Config,
            "/calico/ipam/v2/config",
            json!({"strict_affinity": false, "auto_allocate_blocks": true, "maxBlocksPerHost": 4,
                   "kubeVirtVMAddressPersistence": "Enabled", "ipCooldownSeconds": 30}),
        );
        assert_eq!(
            ipam_to_kdd(&full, &target("")).unwrap()["spec"],
            json!({"strictAffinity": false, "autoAllocateBlocks": true, "maxBlocksPerHost": 4,
                   "kubeVirtVMAddressPersistence": "Enabled", "ipCooldownSeconds": 30})
        );
    }

    #[test]
    fn ipam_entries_must_match_their_key() {
        let wrong = IpamEntry::new(IpamKind::Handle, "/calico/ipam/v2/config", json!({}));
        assert!(ipam_to_kdd(&wrong, &target("")).is_err());
        let not_object = IpamEntry::new(IpamKind::Config, "/calico/ipam/v2/config", json!("x"));
        assert!(ipam_to_kdd(&not_object, &target("")).is_err());
    }

    #[test]
    fn cluster_information_fields_are_read_from_the_spec() {
        let info = json!({"kind": "ClusterInformation", "spec": {"clusterGUID": "abc", "calicoVersion": "v3.28.0", "clusterType": "k8s,bgp"}});
        assert_eq!(
            cluster_information_fields(&info),
            (Some("abc".into()), Some("v3.28.0".into()))
        );
        assert_eq!(
            cluster_information_fields(&json!({"spec": {"clusterGUID": ""}})),
            (None, None)
        );
        assert_eq!(cluster_information_fields(&Value::Null), (None, None));
    }

    fn v3_target() -> TargetRelease {
        target("v3.32.1").with_api(CrdApi::V3)
    }

    #[test]
    fn native_v3_objects_keep_their_metadata_as_it_is() {
        let gnp = json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "allow-dns", "uid": "u", "creationTimestamp": null,
                         "labels": {"team": "net"}, "annotations": {"owner": "me", METADATA_ANNOTATION: "{}"}},
            "spec": {"selector": "all()", "egress": [{"action": "Allow"}]}});
        let object = resource(to_kdd(&gnp, &v3_target()).unwrap());
        assert_eq!(
            object,
            json!({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                "metadata": {"name": "allow-dns",
                             "labels": {"team": "net", "projectcalico.org/tier": "default"},
                             "annotations": {"owner": "me"}},
                "spec": {"selector": "all()", "egress": [{"action": "Allow", "source": {}, "destination": {}}],
                         "types": ["Egress"]}})
        );
        let np = json!({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "shop"}, "spec": {"tier": "sec", "selector": "all()"}});
        let object = resource(to_kdd(&np, &v3_target()).unwrap());
        assert_eq!(object["metadata"]["namespace"], "shop");
        assert_eq!(
            object["metadata"]["labels"]["projectcalico.org/tier"],
            "sec"
        );
        assert!(object["metadata"].get("annotations").is_none());
    }

    #[test]
    fn native_v3_ipam_objects() {
        let t = v3_target();
        let affinity = ipam_to_kdd(
            &IpamEntry::new(
                IpamKind::BlockAffinity,
                "/calico/ipam/v2/host/worker-1/ipv4/block/10.65.79.0-26",
                json!({"state": "confirmed", "deleted": false}),
            ),
            &t,
        )
        .unwrap();
        assert_eq!(affinity["apiVersion"], "projectcalico.org/v3");
        assert_eq!(affinity["spec"]["deleted"], false, "a boolean in v3");
        assert_eq!(affinity["spec"]["type"], "host");
        assert_eq!(affinity["metadata"]["labels"][IP_VERSION_LABEL], "4");
        assert!(affinity["metadata"].get("annotations").is_none());
        let config = ipam_to_kdd(
            &IpamEntry::new(IpamKind::Config,
                "/calico/ipam/v2/config",
                json!({"strict_affinity": true, "auto_allocate_blocks": true, "maxBlocksPerHost": 4}),
            ),
            &t,
        )
        .unwrap();
        assert_eq!(
            config,
            json!({"apiVersion": "projectcalico.org/v3", "kind": "IPAMConfiguration",
                   "metadata": {"name": "default"},
                   "spec": {"strictAffinity": true, "autoAllocateBlocks": true, "maxBlocksPerHost": 4}})
        );
        let handle = ipam_to_kdd(
            &IpamEntry::new(
                IpamKind::Handle,
                "/calico/ipam/v2/handle/IPIP-tunnel-addr-Worker-1",
                json!({"block": {"10.65.79.0/26": 1}, "deleted": false}),
            ),
            &t,
        )
        .unwrap();
        assert_eq!(
            handle["metadata"],
            json!({"name": "ipip-tunnel-addr-worker-1"})
        );
        assert_eq!(handle["spec"]["handleID"], "IPIP-tunnel-addr-Worker-1");
        let block = ipam_to_kdd(
            &IpamEntry::new(IpamKind::Block,
                "/calico/ipam/v2/assignment/ipv4/block/10.65.79.0-26",
                json!({"cidr": "10.65.79.0/26", "allocations": [null], "unallocated": [0], "attributes": [], "deleted": false}),
            ),
            &t,
        )
        .unwrap();
        assert_eq!(block["kind"], "IPAMBlock");
        assert_eq!(block["spec"]["strictAffinity"], false);
        // The native v3 CRDs accept what the conversion writes.
        for (plural, object) in [
            ("blockaffinities", &affinity),
            ("ipamconfigs", &config),
            ("ipamhandles", &handle),
            ("ipamblocks", &block),
        ] {
            let schema = crate::convert::crds::newest_schema(CrdApi::V3, plural);
            assert_eq!(schema.validate(object), vec![], "{plural}");
        }
    }
}
