//! The defaults a release's libcalico-go client fills in: when it reads an object (what
//! calicoctl's export prints) and when it creates one (what calicoctl's import writes). Which
//! apply in which release is in the version table ([`super::versions`]).

use serde_json::{Map, Value, json};

use super::gotypes::float_value;
use super::names::canonical_cidr;
use super::resources::TIER_LABEL;
use super::versions::{Release, Rule};

/// Defaults applied when the release's client reads `kind`.
pub fn on_read(object: &mut Value, kind: &str, release: Release) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    match kind {
        "IPPool" => {
            if release.has(kind, Rule::IpPoolDefaults) {
                ip_pool(spec);
            }
            if release.has(kind, Rule::IpPoolAssignmentMode) {
                set_if_unset(spec, "assignmentMode", json!("Automatic"));
            }
        }
        "Tier" if release.has(kind, Rule::TierDefaults) => tier(spec),
        _ => {}
    }
}

/// Defaults (and the tier label) applied when the release's client creates `kind`, as
/// calicoctl's import does for every object of the file. Fails where the client refuses the
/// object before writing it (an IPPool CIDR that does not parse).
pub fn on_create(object: &mut Value, kind: &str, release: Release) -> Result<(), String> {
    if release.has(kind, Rule::TierLabelOnCreate) {
        let tier = object
            .pointer("/spec/tier")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("default")
            .to_string();
        if (tier != "default" || release.has(kind, Rule::DefaultTierLabelOnCreate))
            && let Some(metadata) = super::metadata_mut(object)
        {
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            labels[TIER_LABEL] = Value::String(tier);
        }
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if release.has(kind, Rule::PolicyTypes) {
        policy_types(spec);
    }
    match kind {
        "IPPool" => {
            if release.has(kind, Rule::IpPoolDefaults) {
                let cidr = spec.get("cidr").and_then(Value::as_str).unwrap_or("");
                let canonical = canonical_cidr(cidr)
                    .map_err(|_| format!("IPPool CIDR must be a valid subnet: {cidr:?}"))?;
                spec.insert("cidr".into(), Value::String(canonical));
                ip_pool(spec);
            }
            if release.has(kind, Rule::IpPoolAssignmentMode) {
                set_if_unset(spec, "assignmentMode", json!("Automatic"));
            }
        }
        "Tier" if release.has(kind, Rule::TierDefaults) => tier(spec),
        "FelixConfiguration" => {
            if release.has(kind, Rule::FelixFloatingIps) {
                set_if_unset(spec, "floatingIPs", json!("Disabled"));
            }
            if release.has(kind, Rule::FelixBpfDefaults) {
                felix_bpf(spec);
            }
        }
        "KubeControllersConfiguration" => {
            if release.has(kind, Rule::KubeControllersDefaults) {
                set_if_unset(spec, "prometheusMetricsPort", json!(9094));
                if let Some(node) = controller(spec, "node") {
                    set_if_unset(node, "leakGracePeriod", json!("15m0s"));
                }
            }
            if release.has(kind, Rule::LoadBalancerAssignIps)
                && let Some(balancer) = controller(spec, "loadBalancer")
                && is_unset(balancer.get("assignIPs"))
            {
                balancer.insert("assignIPs".into(), json!("AllServices"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Go's "zero or nil" for the fields these defaults look at.
fn is_unset(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn set_if_unset(spec: &mut Map<String, Value>, field: &str, value: Value) {
    if is_unset(spec.get(field)) {
        spec.insert(field.into(), value);
    }
}

/// A controller's configuration of a KubeControllersConfiguration, when it is set.
fn controller<'s>(
    spec: &'s mut Map<String, Value>,
    name: &str,
) -> Option<&'s mut Map<String, Value>> {
    spec.get_mut("controllers")?.get_mut(name)?.as_object_mut()
}

/// An IPPool's defaults (`convertIpPoolFromStorage`, `validateAndSetDefaults`): block size by
/// IP version, both allowed uses, every node, no encapsulation. A CIDR that does not parse
/// leaves the block size unset.
fn ip_pool(spec: &mut Map<String, Value>) {
    if is_unset(spec.get("blockSize")) {
        let cidr = spec.get("cidr").and_then(Value::as_str).unwrap_or("");
        let address = cidr.split('/').next().unwrap_or("");
        let size = match address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => Some(26),
            Ok(std::net::IpAddr::V6(_)) => Some(122),
            Err(_) => None,
        };
        if let Some(size) = size {
            spec.insert("blockSize".into(), Value::from(size));
        }
    }
    set_if_unset(spec, "allowedUses", json!(["Workload", "Tunnel"]));
    set_if_unset(spec, "nodeSelector", json!("all()"));
    set_if_unset(spec, "ipipMode", json!("Never"));
    set_if_unset(spec, "vxlanMode", json!("Never"));
}

/// A Tier's defaults (`DefaultTierFields`): order 1,000,000 and defaultAction Deny.
fn tier(spec: &mut Map<String, Value>) {
    if spec.get("order").is_none_or(Value::is_null) {
        spec.insert("order".into(), float_value(1_000_000.0));
    }
    if spec.get("defaultAction").is_none_or(Value::is_null) {
        spec.insert("defaultAction".into(), json!("Deny"));
    }
}

/// `defaultPolicyTypesField`: a policy without types applies to ingress, to egress when it has
/// only egress rules, to both when it has both. A staged policy that deletes has none.
fn policy_types(spec: &mut Map<String, Value>) {
    if spec.get("stagedAction").and_then(Value::as_str) == Some("Delete") {
        spec.shift_remove("types");
        return;
    }
    if !is_unset(spec.get("types")) {
        return;
    }
    let has = |field: &str| !is_unset(spec.get(field));
    let types = match (has("ingress"), has("egress")) {
        (_, false) => json!(["Ingress"]),
        (false, true) => json!(["Egress"]),
        (true, true) => json!(["Ingress", "Egress"]),
    };
    spec.insert("types".into(), types);
}

/// Felix's BPF connect-time load balancing defaults, or what the deprecated
/// `bpfConnectTimeLoadBalancingEnabled` says.
fn felix_bpf(spec: &mut Map<String, Value>) {
    set_if_unset(spec, "bpfConnectTimeLoadBalancing", json!("TCP"));
    set_if_unset(spec, "bpfHostNetworkedNATWithoutCTLB", json!("Enabled"));
    if let Some(enabled) = spec
        .get("bpfConnectTimeLoadBalancingEnabled")
        .and_then(Value::as_bool)
    {
        spec.insert("bpfHostNetworkedNATWithoutCTLB".into(), json!("Disabled"));
        let mode = if enabled { "Enabled" } else { "Disabled" };
        spec.insert("bpfConnectTimeLoadBalancing".into(), json!(mode));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::version::CalicoVersion;

    fn release(version: &str) -> Release {
        Release::of(CalicoVersion::parse(version))
    }

    fn created(kind: &str, object: Value, version: &str) -> Value {
        let mut object = object;
        on_create(&mut object, kind, release(version)).unwrap();
        object
    }

    #[test]
    fn felix_configurations_get_the_client_defaults_of_the_release() {
        let felix = json!({"metadata": {"name": "node.a"}, "spec": {"logSeverityScreen": "Debug"}});
        assert_eq!(
            created("FelixConfiguration", felix.clone(), "v3.28.0")["spec"],
            json!({"logSeverityScreen": "Debug", "floatingIPs": "Disabled",
                   "bpfConnectTimeLoadBalancing": "TCP", "bpfHostNetworkedNATWithoutCTLB": "Enabled"})
        );
        assert_eq!(
            created("FelixConfiguration", felix, "v3.26.5")["spec"],
            json!({"logSeverityScreen": "Debug", "floatingIPs": "Disabled"})
        );
        let old = json!({"spec": {"bpfConnectTimeLoadBalancingEnabled": true}});
        let spec = &created("FelixConfiguration", old, "v3.30.0")["spec"];
        assert_eq!(spec["bpfConnectTimeLoadBalancing"], "Enabled");
        assert_eq!(spec["bpfHostNetworkedNATWithoutCTLB"], "Disabled");
    }

    #[test]
    fn kube_controllers_configurations_get_a_metrics_port() {
        let kcc = json!({"spec": {"controllers": {"node": {"syncLabels": "Enabled"}, "loadBalancer": {}}}});
        let spec = created("KubeControllersConfiguration", kcc.clone(), "v3.28.0")["spec"].clone();
        assert_eq!(spec["prometheusMetricsPort"], 9094);
        assert_eq!(spec["controllers"]["node"]["leakGracePeriod"], "15m0s");
        assert!(
            spec["controllers"]["loadBalancer"]
                .get("assignIPs")
                .is_none()
        );
        let spec = created("KubeControllersConfiguration", kcc, "v3.30.0")["spec"].clone();
        assert_eq!(
            spec["controllers"]["loadBalancer"]["assignIPs"],
            "AllServices"
        );
    }

    #[test]
    fn ip_pools_are_defaulted_and_their_cidr_normalised() {
        let pool = json!({"spec": {"cidr": "10.0.0.7/16"}});
        assert_eq!(
            created("IPPool", pool.clone(), "v3.28.0")["spec"],
            json!({"cidr": "10.0.0.0/16", "blockSize": 26, "allowedUses": ["Workload", "Tunnel"],
                   "nodeSelector": "all()", "ipipMode": "Never", "vxlanMode": "Never"})
        );
        assert_eq!(
            created("IPPool", pool, "v3.30.0")["spec"]["assignmentMode"],
            "Automatic"
        );
        let mut bad = json!({"spec": {"cidr": "nonsense"}});
        assert!(on_create(&mut bad, "IPPool", release("v3.28.0")).is_err());
        let mut read = json!({"spec": {"cidr": "fd00::/48", "ipipMode": "Always"}});
        on_read(&mut read, "IPPool", release("v3.28.0"));
        assert_eq!(read["spec"]["blockSize"], 122);
        assert_eq!(read["spec"]["ipipMode"], "Always");
    }

    #[test]
    fn policies_get_types_and_their_tier_label() {
        let gnp = |spec: Value| json!({"metadata": {"name": "p"}, "spec": spec});
        let types = |spec: Value, version: &str| {
            created("GlobalNetworkPolicy", gnp(spec), version)["spec"]["types"].clone()
        };
        assert_eq!(types(json!({}), "v3.28.0"), json!(["Ingress"]));
        assert_eq!(types(json!({"egress": [{}]}), "v3.28.0"), json!(["Egress"]));
        assert_eq!(
            types(json!({"ingress": [{}], "egress": [{}]}), "v3.28.0"),
            json!(["Ingress", "Egress"])
        );
        assert_eq!(
            types(json!({"types": ["Egress"]}), "v3.28.0"),
            json!(["Egress"])
        );
        let sec = created(
            "GlobalNetworkPolicy",
            gnp(json!({"tier": "sec"})),
            "v3.29.0",
        );
        assert_eq!(sec["metadata"]["labels"][TIER_LABEL], "sec");
        let default = |version| {
            created(
                "GlobalNetworkPolicy",
                gnp(json!({"tier": "default"})),
                version,
            )
        };
        assert!(default("v3.31.5")["metadata"].get("labels").is_none());
        // From v3.32 the v3 API's defaulting labels default-tier policies too.
        assert_eq!(
            default("v3.32.1")["metadata"]["labels"][TIER_LABEL],
            "default"
        );
        let old = created(
            "GlobalNetworkPolicy",
            gnp(json!({"tier": "sec"})),
            "v3.28.0",
        );
        assert!(
            old["metadata"].get("labels").is_none(),
            "v3.28 has no tiers"
        );
        let deleting = json!({"metadata": {"name": "p"}, "spec": {"stagedAction": "Delete", "types": ["Ingress"]}});
        let staged = created("StagedGlobalNetworkPolicy", deleting, "v3.30.0");
        assert!(staged["spec"].get("types").is_none());
    }

    #[test]
    fn tiers_are_ordered_last_and_deny_by_default() {
        let tier = json!({"spec": {}});
        assert_eq!(
            created("Tier", tier, "v3.30.0")["spec"],
            json!({"order": 1000000, "defaultAction": "Deny"})
        );
    }
}
