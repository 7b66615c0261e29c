//! The resources the server knows: the built-in kinds and those of CustomResourceDefinitions.

use std::sync::{Arc, LazyLock};

use serde_json::{Value, json};

use crate::errors::{BadValue, FieldError, FieldErrorType};
use crate::schema::{self, Schema, SchemaProblems};
use crate::validation::dns1123_label;

/// The built-in kinds with server-side behaviour of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Builtin {
    Namespace,
    ConfigMap,
    Secret,
    Node,
    ServiceAccount,
    Service,
    Crd,
    DaemonSet,
    Deployment,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
    PodDisruptionBudget,
    ValidatingWebhookConfiguration,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    MutatingAdmissionPolicy,
    MutatingAdmissionPolicyBinding,
    /// Not stored: answered from the caller's permissions.
    SelfSubjectAccessReview,
}

/// A column of a CRD's `additionalPrinterColumns`.
#[derive(Debug, Clone)]
pub(crate) struct PrinterColumn {
    pub name: String,
    pub typ: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One resource in one served version.
#[derive(Debug)]
pub(crate) struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `status` subresource.
    pub status: bool,
    /// Has a `scale` subresource (served as `autoscaling/v1` Scale).
    pub scale: bool,
    pub builtin: Option<Builtin>,
    pub schema: Arc<Schema>,
    /// The version objects are stored in (only apiVersion differs between versions).
    pub storage_version: String,
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceInfo {
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub(crate) fn storage_api_version(&self) -> String {
        if self.group.is_empty() {
            self.storage_version.clone()
        } else {
            format!("{}/{}", self.group, self.storage_version)
        }
    }

    /// The key of the object collection (shared by all versions).
    pub(crate) fn collection(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub(crate) fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }

    pub(crate) fn verbs(&self) -> Vec<&'static str> {
        match self.builtin {
            Some(Builtin::SelfSubjectAccessReview) => vec!["create"],
            Some(Builtin::Namespace) => {
                vec![
                    "create", "delete", "get", "list", "patch", "update", "watch",
                ]
            }
            None => vec![
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ],
            _ => vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
        }
    }

    /// The name rule for objects of this resource.
    pub(crate) fn name_rule(&self) -> crate::validation::NameRule {
        use crate::validation::NameRule;
        match self.builtin {
            Some(Builtin::Namespace) => NameRule::Label,
            Some(
                Builtin::ClusterRole
                | Builtin::ClusterRoleBinding
                | Builtin::Role
                | Builtin::RoleBinding,
            ) => NameRule::PathSegment,
            _ => NameRule::Subdomain,
        }
    }

    /// Whether the server keeps `metadata.generation` for this resource (bumped on
    /// every change of the object outside `metadata` and `status`).
    pub(crate) fn tracks_generation(&self) -> bool {
        !matches!(
            self.builtin,
            Some(
                Builtin::Namespace
                    | Builtin::ConfigMap
                    | Builtin::Secret
                    | Builtin::Node
                    | Builtin::ServiceAccount
                    | Builtin::Service
                    | Builtin::ClusterRole
                    | Builtin::ClusterRoleBinding
                    | Builtin::Role
                    | Builtin::RoleBinding
                    | Builtin::SelfSubjectAccessReview
            )
        )
    }

    /// Field selectors the resource supports besides metadata.name/namespace.
    pub(crate) fn extra_field(&self, field: &str) -> bool {
        matches!(
            (self.builtin, field),
            (Some(Builtin::Secret), "type")
                | (Some(Builtin::Node), "spec.unschedulable")
                | (Some(Builtin::Namespace), "status.phase")
        )
    }
}

fn parse_builtin_schema(v: Value) -> Arc<Schema> {
    let mut p = SchemaProblems::default();
    let s = schema::parse(&v, "builtin", &mut p);
    debug_assert!(p.decode.is_empty() && p.invalid.is_empty());
    Arc::new(s)
}

fn string_map() -> Value {
    json!({"type":"object","additionalProperties":{"type":"string"}})
}

/// One row of the built-in table.
struct Row {
    b: Builtin,
    /// group, version, plural, singular, kind
    names: [&'static str; 5],
    namespaced: bool,
    short: &'static [&'static str],
    /// Subresources: "status", "scale".
    subresources: &'static [&'static str],
    schema: Value,
}

impl Row {
    fn info(self) -> Arc<ResourceInfo> {
        let [group, version, plural, singular, kind] = self.names;
        let categories: &[&str] = match self.b {
            Builtin::Crd => &["api-extensions"],
            Builtin::Service | Builtin::DaemonSet | Builtin::Deployment => &["all"],
            Builtin::ValidatingWebhookConfiguration
            | Builtin::ValidatingAdmissionPolicy
            | Builtin::ValidatingAdmissionPolicyBinding
            | Builtin::MutatingAdmissionPolicy
            | Builtin::MutatingAdmissionPolicyBinding => &["api-extensions"],
            _ => &[],
        };
        Arc::new(ResourceInfo {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: singular.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            namespaced: self.namespaced,
            short_names: self.short.iter().map(|s| s.to_string()).collect(),
            categories: categories.iter().map(|s| s.to_string()).collect(),
            status: self.subresources.contains(&"status"),
            scale: self.subresources.contains(&"scale"),
            builtin: Some(self.b),
            schema: parse_builtin_schema(self.schema),
            storage_version: version.into(),
            printer_columns: vec![],
        })
    }
}

/// The built-in resources: one row per resource. Kinds whose content the server does
/// not interpret keep their `spec` (and `status`) as they are sent, unknown top-level
/// fields are dropped.
pub(crate) static BUILTINS: LazyLock<Vec<Arc<ResourceInfo>>> = LazyLock::new(|| {
    let meta = json!({"type":"object"});
    let preserve = json!({"type":"object","x-kubernetes-preserve-unknown-fields":true});
    let preserve_list = json!({"type":"array","items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}});
    let strings = json!({"type":"array","items":{"type":"string"}});
    // apiVersion, kind and metadata, plus the given top-level fields.
    let object = |fields: Value| {
        let mut props =
            json!({"apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta});
        if let (Some(p), Value::Object(f)) = (props.as_object_mut(), fields) {
            p.extend(f);
        }
        json!({"type":"object","properties":props})
    };
    let spec_status = object(json!({"spec":preserve,"status":preserve}));
    let spec_only = object(json!({"spec":preserve}));
    let rbac_role = object(json!({"rules":preserve_list,"aggregationRule":preserve}));
    let rbac_binding = object(json!({"subjects":preserve_list,"roleRef":preserve}));
    const RBAC: &str = "rbac.authorization.k8s.io";
    const ADM: &str = "admissionregistration.k8s.io";
    let rows = vec![
        Row {
            b: Builtin::Namespace,
            names: ["", "v1", "namespaces", "namespace", "Namespace"],
            namespaced: false,
            short: &["ns"],
            subresources: &["status"],
            schema: object(json!({
                "spec":{"type":"object","properties":{"finalizers":strings}},
                "status":{"type":"object","properties":{"phase":{"type":"string"},"conditions":preserve_list}}
            })),
        },
        Row {
            b: Builtin::ConfigMap,
            names: ["", "v1", "configmaps", "configmap", "ConfigMap"],
            namespaced: true,
            short: &["cm"],
            subresources: &[],
            schema: object(json!({
                "immutable":{"type":"boolean"},
                "data":string_map(),
                "binaryData":string_map()
            })),
        },
        Row {
            b: Builtin::Secret,
            names: ["", "v1", "secrets", "secret", "Secret"],
            namespaced: true,
            short: &[],
            subresources: &[],
            schema: object(json!({
                "immutable":{"type":"boolean"},
                "data":string_map(),
                "stringData":string_map(),
                "type":{"type":"string"}
            })),
        },
        Row {
            b: Builtin::Node,
            names: ["", "v1", "nodes", "node", "Node"],
            namespaced: false,
            short: &["no"],
            subresources: &["status"],
            schema: object(json!({
                "spec":{"type":"object","properties":{
                    "podCIDR":{"type":"string"},
                    "podCIDRs":strings,
                    "providerID":{"type":"string"},
                    "unschedulable":{"type":"boolean"},
                    "taints":{"type":"array","items":{"type":"object","properties":{
                        "key":{"type":"string"},"value":{"type":"string"},
                        "effect":{"type":"string"},"timeAdded":{"type":"string"}}}},
                    "configSource":preserve,
                    "externalID":{"type":"string"}
                }},
                "status":{"type":"object","properties":{
                    "capacity":{"type":"object","additionalProperties":{"x-kubernetes-int-or-string":true}},
                    "allocatable":{"type":"object","additionalProperties":{"x-kubernetes-int-or-string":true}},
                    "phase":{"type":"string"},
                    "conditions":preserve_list,
                    "addresses":{"type":"array","items":{"type":"object","properties":{
                        "type":{"type":"string"},"address":{"type":"string"}}}},
                    "daemonEndpoints":preserve,
                    "nodeInfo":preserve,
                    "images":preserve_list,
                    "volumesInUse":strings,
                    "volumesAttached":preserve_list,
                    "config":preserve,
                    "runtimeHandlers":preserve_list,
                    "features":preserve
                }}
            })),
        },
        Row {
            b: Builtin::ServiceAccount,
            names: [
                "",
                "v1",
                "serviceaccounts",
                "serviceaccount",
                "ServiceAccount",
            ],
            namespaced: true,
            short: &["sa"],
            subresources: &[],
            schema: object(json!({
                "secrets":preserve_list,
                "imagePullSecrets":preserve_list,
                "automountServiceAccountToken":{"type":"boolean"}
            })),
        },
        Row {
            b: Builtin::Service,
            names: ["", "v1", "services", "service", "Service"],
            namespaced: true,
            short: &["svc"],
            subresources: &["status"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::Crd,
            names: [
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "customresourcedefinition",
                "CustomResourceDefinition",
            ],
            namespaced: false,
            short: &["crd", "crds"],
            subresources: &["status"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::DaemonSet,
            names: ["apps", "v1", "daemonsets", "daemonset", "DaemonSet"],
            namespaced: true,
            short: &["ds"],
            subresources: &["status"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::Deployment,
            names: ["apps", "v1", "deployments", "deployment", "Deployment"],
            namespaced: true,
            short: &["deploy"],
            subresources: &["status", "scale"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::ClusterRole,
            names: [RBAC, "v1", "clusterroles", "clusterrole", "ClusterRole"],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: rbac_role.clone(),
        },
        Row {
            b: Builtin::ClusterRoleBinding,
            names: [
                RBAC,
                "v1",
                "clusterrolebindings",
                "clusterrolebinding",
                "ClusterRoleBinding",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: rbac_binding.clone(),
        },
        Row {
            b: Builtin::Role,
            names: [RBAC, "v1", "roles", "role", "Role"],
            namespaced: true,
            short: &[],
            subresources: &[],
            schema: rbac_role,
        },
        Row {
            b: Builtin::RoleBinding,
            names: [RBAC, "v1", "rolebindings", "rolebinding", "RoleBinding"],
            namespaced: true,
            short: &[],
            subresources: &[],
            schema: rbac_binding,
        },
        Row {
            b: Builtin::PodDisruptionBudget,
            names: [
                "policy",
                "v1",
                "poddisruptionbudgets",
                "poddisruptionbudget",
                "PodDisruptionBudget",
            ],
            namespaced: true,
            short: &["pdb"],
            subresources: &["status"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::ValidatingWebhookConfiguration,
            names: [
                ADM,
                "v1",
                "validatingwebhookconfigurations",
                "validatingwebhookconfiguration",
                "ValidatingWebhookConfiguration",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: object(json!({"webhooks":preserve_list})),
        },
        Row {
            b: Builtin::ValidatingAdmissionPolicy,
            names: [
                ADM,
                "v1",
                "validatingadmissionpolicies",
                "validatingadmissionpolicy",
                "ValidatingAdmissionPolicy",
            ],
            namespaced: false,
            short: &[],
            subresources: &["status"],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::ValidatingAdmissionPolicyBinding,
            names: [
                ADM,
                "v1",
                "validatingadmissionpolicybindings",
                "validatingadmissionpolicybinding",
                "ValidatingAdmissionPolicyBinding",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: spec_only.clone(),
        },
        Row {
            b: Builtin::MutatingAdmissionPolicy,
            names: [
                ADM,
                "v1beta1",
                "mutatingadmissionpolicies",
                "mutatingadmissionpolicy",
                "MutatingAdmissionPolicy",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: spec_status.clone(),
        },
        Row {
            b: Builtin::MutatingAdmissionPolicyBinding,
            names: [
                ADM,
                "v1beta1",
                "mutatingadmissionpolicybindings",
                "mutatingadmissionpolicybinding",
                "MutatingAdmissionPolicyBinding",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: spec_only,
        },
        Row {
            b: Builtin::SelfSubjectAccessReview,
            names: [
                "authorization.k8s.io",
                "v1",
                "selfsubjectaccessreviews",
                "",
                "SelfSubjectAccessReview",
            ],
            namespaced: false,
            short: &[],
            subresources: &[],
            schema: spec_status,
        },
    ];
    rows.into_iter().map(Row::info).collect()
});

pub(crate) fn builtin_by(group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
    BUILTINS
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .cloned()
}

pub(crate) fn builtin_of(b: Builtin) -> Arc<ResourceInfo> {
    BUILTINS
        .iter()
        .find(|r| r.builtin == Some(b))
        .cloned()
        .expect("every builtin is registered")
}

/// What the server keeps about one CRD.
#[derive(Debug, Clone)]
pub(crate) struct CrdRuntime {
    pub uid: String,
    pub group: String,
    pub plural: String,
    pub established: bool,
    /// Served versions, in the CRD's order.
    pub versions: Vec<Arc<ResourceInfo>>,
}

impl CrdRuntime {
    pub(crate) fn version(&self, v: &str) -> Option<Arc<ResourceInfo>> {
        self.versions.iter().find(|r| r.version == v).cloned()
    }
}

/// Kubernetes version priority (`v1` > `v1beta2` > `v1beta1` > `v1alpha1` > others).
pub(crate) fn version_priority_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (kind, n) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((kind, major, n.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x).then(std::cmp::Ordering::Equal),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(x) => cur = x,
            None => return vec![],
        }
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Applies the CRD defaults of apiextensions.k8s.io/v1 (in place).
pub(crate) fn default_crd(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.contains_key("conversion") {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    if let Some(false) = spec.get("preserveUnknownFields").and_then(Value::as_bool) {
        spec.remove("preserveUnknownFields");
    }
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if names
            .get("singular")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && !kind.is_empty()
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && !kind.is_empty()
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
}

/// Result of reading a CRD: the runtime, or decoding problems (400) / field errors (422).
pub(crate) struct CrdCompiled {
    pub runtime: Option<CrdRuntime>,
    pub decode: Vec<String>,
    pub invalid: Vec<FieldError>,
}

/// Reads and validates a (defaulted) CRD object.
pub(crate) fn compile_crd(crd: &Value, uid: &str) -> CrdCompiled {
    let mut invalid = Vec::new();
    let mut problems = SchemaProblems::default();
    let name = str_at(crd, &["metadata", "name"]);
    let group = str_at(crd, &["spec", "group"]);
    let plural = str_at(crd, &["spec", "names", "plural"]);
    let singular = str_at(crd, &["spec", "names", "singular"]);
    let kind = str_at(crd, &["spec", "names", "kind"]);
    let list_kind = str_at(crd, &["spec", "names", "listKind"]);
    let scope = str_at(crd, &["spec", "scope"]);

    if !name.is_empty() && name != format!("{plural}.{group}") {
        invalid.push(FieldError::invalid_str(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        invalid.push(FieldError::required("spec.group", ""));
    } else {
        for m in crate::validation::dns1123_subdomain(group) {
            invalid.push(FieldError::invalid_str("spec.group", group, m));
        }
        if !group.contains('.') {
            invalid.push(FieldError::invalid_str(
                "spec.group",
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match scope {
        "Cluster" | "Namespaced" => {}
        "" => invalid.push(FieldError::required("spec.scope", "")),
        other => invalid.push(FieldError::not_supported(
            "spec.scope",
            BadValue::Str(other.into()),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }
    if plural.is_empty() {
        invalid.push(FieldError::required("spec.names.plural", ""));
    } else {
        for m in dns1123_label(plural) {
            invalid.push(FieldError::invalid_str("spec.names.plural", plural, m));
        }
    }
    if !singular.is_empty() {
        for m in dns1123_label(singular) {
            invalid.push(FieldError::invalid_str("spec.names.singular", singular, m));
        }
    }
    let kind_rule = |field: &str, v: &str, invalid: &mut Vec<FieldError>| {
        if v.is_empty() {
            invalid.push(FieldError::required(field.to_string(), ""));
        } else if !dns1123_label(&v.to_lowercase()).is_empty() {
            invalid.push(FieldError::invalid_str(
                field.to_string(),
                v,
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            ));
        }
    };
    kind_rule("spec.names.kind", kind, &mut invalid);
    kind_rule("spec.names.listKind", list_kind, &mut invalid);
    if !kind.is_empty() && kind == list_kind {
        invalid.push(FieldError::invalid_str(
            "spec.names.listKind",
            list_kind,
            "kind and listKind may not be the same or parsing become ambiguous",
        ));
    }
    if crd
        .get("spec")
        .and_then(|s| s.get("preserveUnknownFields"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        invalid.push(FieldError::new(
            FieldErrorType::Invalid,
            "spec.preserveUnknownFields",
            BadValue::Raw("true".into()),
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }

    let empty = vec![];
    let versions = crd
        .get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    if versions.is_empty() {
        invalid.push(FieldError::required(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    }
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .map(|v| str_at(v, &["name"]))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        invalid.push(FieldError::new(
            FieldErrorType::Invalid,
            "spec.versions",
            BadValue::Raw(format!("{storage:?}")),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage_version = storage.first().copied().unwrap_or("").to_string();
    let mut seen: Vec<&str> = Vec::new();
    let mut served = Vec::new();
    let mut any_served = false;
    for (i, v) in versions.iter().enumerate() {
        let vpath = format!("spec.versions[{i}]");
        let vname = str_at(v, &["name"]);
        if vname.is_empty() {
            invalid.push(FieldError::required(format!("{vpath}.name"), ""));
        } else {
            for m in dns1123_label(vname) {
                invalid.push(FieldError::invalid_str(format!("{vpath}.name"), vname, m));
            }
            if seen.contains(&vname) {
                invalid.push(FieldError::new(
                    FieldErrorType::Duplicate,
                    format!("{vpath}.name"),
                    BadValue::Str(vname.into()),
                    "",
                ));
            }
            seen.push(vname);
        }
        let schema_v = v.get("schema").and_then(|s| s.get("openAPIV3Schema"));
        let schema = match schema_v {
            None | Some(Value::Null) => {
                invalid.push(FieldError::required(
                    format!("{vpath}.schema.openAPIV3Schema"),
                    "schemas are required",
                ));
                schema::preserve_all()
            }
            Some(sv) => {
                let spath = format!("{vpath}.schema.openAPIV3Schema");
                let s = schema::parse(sv, &spath, &mut problems);
                if s.root().types.as_slice() != ["object"] {
                    invalid.push(FieldError::invalid_str(
                        format!("{spath}.type"),
                        s.root().types.first().map(String::as_str).unwrap_or(""),
                        "must be object at the root",
                    ));
                }
                s
            }
        };
        let is_served = v.get("served").and_then(Value::as_bool) == Some(true);
        any_served |= is_served;
        if !is_served {
            continue;
        }
        let status = v
            .get("subresources")
            .and_then(|s| s.get("status"))
            .is_some_and(|s| !s.is_null());
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: str_at(c, &["name"]).into(),
                        typ: str_at(c, &["type"]).into(),
                        format: str_at(c, &["format"]).into(),
                        description: str_at(c, &["description"]).into(),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        json_path: str_at(c, &["jsonPath"]).into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        served.push(Arc::new(ResourceInfo {
            group: group.into(),
            version: vname.into(),
            plural: plural.into(),
            singular: if singular.is_empty() {
                kind.to_lowercase()
            } else {
                singular.into()
            },
            kind: kind.into(),
            list_kind: if list_kind.is_empty() {
                format!("{kind}List")
            } else {
                list_kind.into()
            },
            namespaced: scope == "Namespaced",
            short_names: strings_at(crd, &["spec", "names", "shortNames"]),
            categories: strings_at(crd, &["spec", "names", "categories"]),
            status,
            scale: false,
            builtin: None,
            schema: Arc::new(schema),
            storage_version: storage_version.clone(),
            printer_columns,
        }));
    }
    if !versions.is_empty() && !any_served {
        invalid.push(FieldError::new(
            FieldErrorType::Invalid,
            "spec.versions",
            BadValue::Raw(format!("{seen:?}")),
            "must have at least one version marked as served",
        ));
    }
    invalid.extend(problems.invalid);
    let runtime = if invalid.is_empty() && problems.decode.is_empty() {
        Some(CrdRuntime {
            uid: uid.to_string(),
            group: group.into(),
            plural: plural.into(),
            established: false,
            versions: served,
        })
    } else {
        None
    };
    CrdCompiled {
        runtime,
        decode: problems.decode,
        invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v2"];
        v.sort_by(|a, b| version_priority_cmp(a, b));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn crd_rules() {
        let crd = json!({"metadata":{"name":"foos.wrong.io"},"spec":{"group":"example","names":{"plural":"foos","kind":"Foo"},"scope":"Global","versions":[{"name":"v1","served":true,"storage":false}]}});
        let c = compile_crd(&crd, "u");
        let fields: Vec<&str> = c.invalid.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"metadata.name"));
        assert!(fields.contains(&"spec.group"));
        assert!(fields.contains(&"spec.scope"));
        assert!(fields.contains(&"spec.names.listKind"));
        assert!(fields.contains(&"spec.versions"));
        assert!(fields.contains(&"spec.versions[0].schema.openAPIV3Schema"));
        assert!(c.runtime.is_none());
    }
}
