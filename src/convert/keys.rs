//! What every key under `/calico/` is, so that an export can account for all of them:
//! migrated, skipped with a reason, or ignored as status data (docs/design.md §4.4 and §7).

use super::ipam::{IpamKey, parse_ipam_key};
use crate::kinds::{
    CalicoKind, IPAM_PREFIX, IpamKind, KINDS, RESOURCE_PREFIX, Role, SKIPPED_RESOURCES,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    /// A key of a migrated kind (the export decides per object whether it is exported).
    Migrated(&'static CalicoKind),
    /// IPAM data of a migrated kind.
    Ipam(IpamKind),
    /// Not migrated, with why.
    Skipped {
        what: &'static str,
        reason: &'static str,
    },
    /// Runtime status that the Kubernetes datastore regenerates.
    Status { what: &'static str },
    /// Not a key Calico's migration knows.
    Unknown,
}

/// Classifies one etcd key.
pub fn classify(key: &str) -> KeyClass {
    if let Some(rest) = key.strip_prefix(RESOURCE_PREFIX) {
        let plural = rest.split('/').next().unwrap_or_default();
        if let Some(kind) = KINDS.iter().find(|k| k.plural == plural) {
            return match kind.role {
                Role::Resource | Role::Node | Role::ClusterInformation => KeyClass::Migrated(kind),
                Role::NotMigrated(reason) => KeyClass::Skipped {
                    what: kind.kind,
                    reason,
                },
                // No v3 IPAM kinds are stored as resources, but a stray key is skipped.
                Role::Ipam(_) => skipped_resource(plural),
            };
        }
        return skipped_resource(plural);
    }
    // IPAM keys go by the prefix the export reads them under, so that a malformed key is
    // counted where the export reports skipping it.
    if let Some(kind) = IpamKind::ALL.into_iter().find(|k| match k {
        IpamKind::Config => key == k.etcd_prefix(),
        _ => key.starts_with(k.etcd_prefix()),
    }) {
        return KeyClass::Ipam(kind);
    }
    if key.starts_with(IPAM_PREFIX) {
        return match parse_ipam_key(key) {
            IpamKey::Affinity { virtual_: true, .. } => KeyClass::Skipped {
                what: "BlockAffinity (virtual)",
                reason: "LoadBalancer IPAM affinities, which calicoctl does not export either",
            },
            _ => KeyClass::Unknown,
        };
    }
    if key.starts_with("/calico/felix/") {
        return KeyClass::Status {
            what: "Felix status",
        };
    }
    if key.starts_with("/calico/bgp/") {
        return KeyClass::Status {
            what: "BGP runtime data",
        };
    }
    KeyClass::Unknown
}

fn skipped_resource(plural: &str) -> KeyClass {
    if let Some((_, what, reason)) = SKIPPED_RESOURCES.iter().find(|(p, _, _)| *p == plural) {
        return KeyClass::Skipped { what, reason };
    }
    if plural.starts_with("kubernetes") {
        return KeyClass::Skipped {
            what: "kubernetes* objects",
            reason: "backed by Kubernetes objects in the Kubernetes datastore",
        };
    }
    KeyClass::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_key_is_classified() {
        let r = |tail: &str| format!("{RESOURCE_PREFIX}{tail}");
        for (tail, kind) in [
            ("ippools/p", "IPPool"),
            ("networkpolicies/ns/p", "NetworkPolicy"),
            ("nodes/n", "Node"),
            ("clusterinformations/default", "ClusterInformation"),
        ] {
            assert!(
                matches!(classify(&r(tail)), KeyClass::Migrated(k) if k.kind == kind),
                "{tail}"
            );
        }
        for (tail, what) in [
            ("workloadendpoints/ns/w", "WorkloadEndpoint"),
            ("profiles/kns.default", "Profile"),
            ("caliconodestatuses/s", "CalicoNodeStatus"),
            ("ipamconfigurations/default", "IPAMConfiguration"),
            ("blockaffinities/b", "BlockAffinity (v3 object)"),
            ("livemigrations/ns/m", "LiveMigration"),
            ("kubernetesnetworkpolicies/x", "kubernetes* objects"),
        ] {
            assert!(
                matches!(classify(&r(tail)), KeyClass::Skipped { what: w, .. } if w == what),
                "{tail}"
            );
        }
        for (key, kind) in [
            (
                "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26",
                IpamKind::Block,
            ),
            (
                "/calico/ipam/v2/host/h/ipv4/block/10.0.0.0-26",
                IpamKind::BlockAffinity,
            ),
            ("/calico/ipam/v2/handle/x", IpamKind::Handle),
            ("/calico/ipam/v2/config", IpamKind::Config),
        ] {
            assert_eq!(classify(key), KeyClass::Ipam(kind), "{key}");
        }
        assert!(matches!(
            classify("/calico/ipam/v2/virtual/h/ipv4/block/10.0.0.0-26"),
            KeyClass::Skipped { .. }
        ));
        assert!(matches!(
            classify("/calico/felix/v2/no-region/host/h/status"),
            KeyClass::Status { .. }
        ));
        assert_eq!(classify("/calico/v1/config/Ready"), KeyClass::Unknown);
        assert_eq!(classify(&r("somethingnew/x")), KeyClass::Unknown);
    }
}
