//! What kube-apiserver does for the workload, policy and access-control kinds beyond
//! storing them: defaulting, the status a new object gets, the checks that reject
//! an object, and the `autoscaling/v1` Scale view of a Deployment.
//!
//! Defaulting covers what the Calico manifests rely on: the rollout strategy, replicas
//! and history limits of DaemonSets and Deployments, the pod template fields kubectl
//! shows (`restartPolicy`, `dnsPolicy`, `schedulerName`, probe timings, container
//! `imagePullPolicy`, port protocols, volume modes...), and a Service's type, ports and
//! cluster IP. Fields the server does not know are kept as sent.

use serde_json::{Map, Value, json};

use crate::errors::{BadValue, FieldError, go_quote};
use crate::registry::Builtin;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

/// Defaults the update strategy under `key` to RollingUpdate, and a RollingUpdate's limits.
fn default_rolling_update(
    spec: &mut Map<String, Value>,
    key: &str,
    max_unavailable: Value,
    max_surge: Value,
) {
    let strategy = spec.entry(key).or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        set_default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set_default(ru, "maxUnavailable", max_unavailable);
                set_default(ru, "maxSurge", max_surge);
            }
        }
    }
}

/// Applies kube's defaults to a decoded object of a built-in kind.
pub(crate) fn apply_defaults(b: Builtin, obj: &mut Value) {
    match b {
        Builtin::DaemonSet => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            default_rolling_update(spec, "updateStrategy", json!(1), json!(0));
            set_default(spec, "revisionHistoryLimit", json!(10));
            default_pod_template(spec);
        }
        Builtin::Deployment => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            set_default(spec, "replicas", json!(1));
            default_rolling_update(spec, "strategy", json!("25%"), json!("25%"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            default_pod_template(spec);
        }
        Builtin::Service => {
            let Some(spec) = obj_mut(obj, "spec") else {
                return;
            };
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            if spec.get("type").and_then(Value::as_str) != Some("ExternalName") {
                set_default(spec, "ipFamilies", json!(["IPv4"]));
                set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        set_default(p, "targetPort", port);
                    }
                }
            }
        }
        _ => {}
    }
}

fn default_pod_template(spec: &mut Map<String, Value>) {
    let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    set_default(pod, "restartPolicy", json!("Always"));
    set_default(pod, "terminationGracePeriodSeconds", json!(30));
    set_default(pod, "dnsPolicy", json!("ClusterFirst"));
    set_default(pod, "securityContext", json!({}));
    set_default(pod, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = pod.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                default_container(c);
            }
        }
    }
    if let Some(vols) = pod.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            for source in ["configMap", "secret"] {
                if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                    set_default(s, "defaultMode", json!(420));
                }
            }
            if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
                set_default(h, "type", json!(""));
            }
        }
    }
}

fn default_container(c: &mut Map<String, Value>) {
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    // The tag is what follows the last ':' after the last '/' (a registry port is not a tag).
    let tag = image
        .rsplit('/')
        .next()
        .and_then(|last| last.split('@').next())
        .and_then(|last| last.rsplit_once(':').map(|(_, t)| t));
    let policy = match tag {
        None | Some("latest") if !image.contains('@') => "Always",
        _ => "IfNotPresent",
    };
    set_default(c, "imagePullPolicy", json!(policy));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for e in env.iter_mut() {
            if let Some(f) = e
                .get_mut("valueFrom")
                .and_then(|v| v.get_mut("fieldRef"))
                .and_then(Value::as_object_mut)
            {
                set_default(f, "apiVersion", json!("v1"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                set_default(h, "scheme", json!("HTTP"));
            }
        }
    }
}

/// The status a new object starts with (the controllers fill it in later).
pub(crate) fn initial_status(b: Builtin) -> Option<Value> {
    match b {
        Builtin::DaemonSet => Some(json!({
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0
        })),
        Builtin::Deployment => Some(json!({})),
        Builtin::PodDisruptionBudget => Some(json!({
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0
        })),
        Builtin::Service => Some(json!({"loadBalancer": {}})),
        _ => None,
    }
}

/// What the server fills in when an object is created: a Service's cluster IP.
pub(crate) fn prepare_create(b: Builtin, obj: &mut Value) {
    if b != Builtin::Service {
        return;
    }
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    let ip = match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if !ip.is_empty() => ip.to_string(),
        _ => {
            // An address of the default service range 10.96.0.0/12, never .0.0 or .0.1.
            let r = uuid::Uuid::new_v4();
            let b = r.as_bytes();
            format!("10.{}.{}.{}", 96 + (b[0] % 16), b[1], 2 + (b[2] % 250))
        }
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
}

/// What an update keeps from the stored object when the new one leaves it out: a
/// Service's cluster IPs.
pub(crate) fn prepare_update(b: Builtin, obj: &mut Value, old: &Value) {
    if b != Builtin::Service {
        return;
    }
    let Some(spec) = obj_mut(obj, "spec") else {
        return;
    };
    for k in ["clusterIP", "clusterIPs"] {
        if spec.get(k).is_none_or(|v| v.is_null() || v == "")
            && let Some(v) = old.get("spec").and_then(|s| s.get(k))
        {
            spec.insert(k.into(), v.clone());
        }
    }
}

/// The fields a Go object of this kind always has, even when empty: what an update
/// is compared with when the object is created (so that `spec` itself is not owned
/// by the creator, as on the real server).
pub(crate) fn zero_object(b: Option<Builtin>) -> Value {
    match b {
        None => json!({}),
        Some(Builtin::DaemonSet) => {
            json!({"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {}}, "updateStrategy": {}}, "status": {}})
        }
        Some(Builtin::Deployment) => {
            json!({"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {}}, "strategy": {}}, "status": {}})
        }
        Some(Builtin::ClusterRoleBinding | Builtin::RoleBinding) => {
            json!({"metadata": {}, "roleRef": {}})
        }
        Some(_) => json!({"metadata": {}, "spec": {}, "status": {}}),
    }
}

/// Does a change from `old` to `new` bump `metadata.generation`? Any change outside
/// `metadata` and `status`; for Deployments also a change of annotations (they are
/// copied to ReplicaSets).
pub(crate) fn changes_generation(b: Option<Builtin>, new: &Value, old: &Value) -> bool {
    let body = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    if !crate::schema::json_equal(&body(new), &body(old)) {
        return true;
    }
    b == Some(Builtin::Deployment)
        && new.get("metadata").and_then(|m| m.get("annotations"))
            != old.get("metadata").and_then(|m| m.get("annotations"))
}

/// Go's rendering of a `map[string]string`, as validation messages print it.
fn go_string_map(m: Option<&Value>) -> String {
    let entries: Vec<String> = m
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v.as_str().unwrap_or(""))))
                .collect()
        })
        .unwrap_or_default();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// Does a label selector (`matchLabels`, `matchExpressions`) select these labels?
pub(crate) fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let ml_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let me_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => label(key).is_some_and(|v| values.contains(&v)),
                    "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                    "Exists" => label(key).is_some(),
                    "DoesNotExist" => label(key).is_none(),
                    _ => false,
                }
            })
        });
    ml_ok && me_ok
}

/// The text form of a label selector (`k8s-app=calico-node`), as Scale reports it.
pub(crate) fn selector_string(selector: Option<&Value>) -> String {
    let Some(sel) = selector else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let mut values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort();
            parts.push(
                match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                    "In" => format!("{key} in ({})", values.join(",")),
                    "NotIn" => format!("{key} notin ({})", values.join(",")),
                    "Exists" => key.to_string(),
                    _ => format!("!{key}"),
                },
            );
        }
    }
    parts.sort();
    parts.join(",")
}

/// The checks of a built-in kind's content (create and update).
pub(crate) fn validate(b: Builtin, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Builtin::DaemonSet | Builtin::Deployment = b {
        let spec = obj.get("spec");
        let selector = spec.and_then(|s| s.get("selector"));
        let template_labels = spec
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("metadata"))
            .and_then(|m| m.get("labels"));
        match selector {
            None | Some(Value::Null) => errs.push(FieldError::required("spec.selector", "")),
            Some(sel) => {
                let empty = sel
                    .get("matchLabels")
                    .is_none_or(|m| m.as_object().is_none_or(Map::is_empty))
                    && sel
                        .get("matchExpressions")
                        .is_none_or(|m| m.as_array().is_none_or(Vec::is_empty));
                if empty {
                    errs.push(FieldError::new(
                        crate::errors::FieldErrorType::Invalid,
                        "spec.selector",
                        BadValue::Raw("v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}".into()),
                        if b == Builtin::Deployment {
                            "empty selector is invalid for deployment"
                        } else {
                            "empty selector is invalid for daemonset"
                        },
                    ));
                } else if !selector_matches(sel, template_labels) {
                    errs.push(FieldError::new(
                        crate::errors::FieldErrorType::Invalid,
                        "spec.template.metadata.labels",
                        BadValue::Raw(go_string_map(template_labels)),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
        let containers = spec
            .and_then(|s| s.get("template"))
            .and_then(|t| t.get("spec"))
            .and_then(|p| p.get("containers"))
            .and_then(Value::as_array);
        if containers.is_none_or(Vec::is_empty) {
            errs.push(FieldError::required("spec.template.spec.containers", ""));
        }
        if let Some(r) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64)
            && r < 0
        {
            errs.push(FieldError::new(
                crate::errors::FieldErrorType::Invalid,
                "spec.replicas",
                BadValue::Raw(r.to_string()),
                "must be greater than or equal to 0",
            ));
        }
    }
    errs
}

/// The extra checks of an update: fields that may not change.
pub(crate) fn validate_update(b: Builtin, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match b {
        Builtin::DaemonSet | Builtin::Deployment => {
            let sel = |v: &Value| v.get("spec").and_then(|s| s.get("selector")).cloned();
            if sel(new) != sel(old) {
                let ml = sel(new);
                errs.push(FieldError::new(
                    crate::errors::FieldErrorType::Invalid,
                    "spec.selector",
                    BadValue::Raw(format!(
                        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}",
                        go_string_map(ml.as_ref().and_then(|s| s.get("matchLabels")))
                    )),
                    "field is immutable",
                ));
            }
        }
        Builtin::ClusterRoleBinding | Builtin::RoleBinding => {
            let rr = |v: &Value| v.get("roleRef").cloned().unwrap_or(Value::Null);
            if rr(new) != rr(old) {
                let r = rr(new);
                let s = |k: &str| go_quote(r.get(k).and_then(Value::as_str).unwrap_or(""));
                errs.push(FieldError::new(
                    crate::errors::FieldErrorType::Invalid,
                    "roleRef",
                    BadValue::Raw(format!(
                        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
                        s("apiGroup"),
                        s("kind"),
                        s("name")
                    )),
                    "cannot change roleRef",
                ));
            }
        }
        _ => {}
    }
    errs
}

/// The `autoscaling/v1` Scale of a Deployment.
pub(crate) fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut m = Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(k) {
            m.insert(k.to_string(), v.clone());
        }
    }
    let spec = obj.get("spec");
    let mut status = Map::new();
    status.insert(
        "replicas".into(),
        json!(
            obj.get("status")
                .and_then(|s| s.get("replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ),
    );
    let sel = selector_string(spec.and_then(|s| s.get("selector")));
    if !sel.is_empty() {
        status.insert("selector".into(), json!(sel));
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64).unwrap_or(0)},
        "status": status
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_defaults() {
        let mut ds = json!({"spec":{"selector":{"matchLabels":{"k":"v"}},"template":{"metadata":{"labels":{"k":"v"}},"spec":{
            "containers":[{"name":"c","image":"docker.io/calico/node:v3.32.1","ports":[{"containerPort":9099}],
                "env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}],
                "livenessProbe":{"httpGet":{"path":"/","port":9099}}},
                {"name":"d","image":"localhost:5000/x"}],
            "volumes":[{"name":"v","hostPath":{"path":"/x"}}]}}}});
        apply_defaults(Builtin::DaemonSet, &mut ds);
        let spec = &ds["spec"];
        assert_eq!(
            spec["updateStrategy"],
            json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}})
        );
        let c = &spec["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            spec["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(c["livenessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(
            spec["template"]["spec"]["volumes"][0]["hostPath"]["type"],
            ""
        );
        assert!(validate(Builtin::DaemonSet, &ds).is_empty());
    }

    #[test]
    fn selectors() {
        let sel = json!({"matchLabels":{"b":"2","a":"1"},"matchExpressions":[{"key":"c","operator":"In","values":["y","x"]}]});
        assert_eq!(selector_string(Some(&sel)), "a=1,b=2,c in (x,y)");
        assert!(selector_matches(
            &sel,
            Some(&json!({"a":"1","b":"2","c":"x"}))
        ));
        assert!(!selector_matches(&sel, Some(&json!({"a":"1","b":"2"}))));
        let bad = json!({"spec":{"selector":{"matchLabels":{"a":"1"}},"template":{"metadata":{"labels":{"a":"2"}},"spec":{"containers":[{"name":"c"}]}}}});
        let errs = validate(Builtin::Deployment, &bad);
        assert_eq!(
            errs[0].message(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"2\"}: `selector` does not match template `labels`"
        );
    }
}
