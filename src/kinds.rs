//! The one table of Calico kinds. Export order, etcd location, CRD plural and scope, and the
//! migration rules all live here; export, import, verify and status read it.

/// How a kind travels from etcd to the Kubernetes datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A `projectcalico.org/v3` resource exported as one YAML document and imported as the
    /// `crd.projectcalico.org/v1` custom resource of the same plural.
    Resource,
    /// Calico Nodes: exported as a YAML document, imported as annotations on Kubernetes Nodes.
    Node,
    /// `ClusterInformation/default`: the lock flag; exported as JSON.
    ClusterInformation,
    /// IPAM data under `/calico/ipam/v2/`, exported as JSON.
    Ipam(IpamKind),
    /// A CRD of the Kubernetes datastore whose data is not migrated.
    NotMigrated(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpamKind {
    BlockAffinity,
    Block,
    Handle,
    Config,
}

/// Name rules that apply to a kind's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Plain,
    /// Policies: stored names, the `default.` prefix and the tier label (spec section 10).
    Policy,
    /// `node.<name>` objects follow Calico Node renames (spec section 5).
    PerNode,
}

#[derive(Debug, PartialEq, Eq)]
pub struct CalicoKind {
    pub kind: &'static str,
    /// Lower-case plural: the etcd path segment, calicoctl's name and the CRD plural.
    pub plural: &'static str,
    pub namespaced: bool,
    pub role: Role,
    pub naming: Naming,
    /// Whether `crd.projectcalico.org/v1` has a CRD for it (Calico Nodes have none).
    pub has_crd: bool,
}

const fn kind(kind: &'static str, plural: &'static str, role: Role) -> CalicoKind {
    CalicoKind {
        kind,
        plural,
        namespaced: false,
        role,
        naming: Naming::Plain,
        has_crd: true,
    }
}

const fn namespaced(mut k: CalicoKind) -> CalicoKind {
    k.namespaced = true;
    k
}

const fn named(mut k: CalicoKind, naming: Naming) -> CalicoKind {
    k.naming = naming;
    k
}

use Role::{ClusterInformation, Ipam, NotMigrated, Resource};

/// Every Calico kind, migrated ones first in calicoctl's export order (spec section 2.1).
/// Which of them a given release exports is in the version table (`convert::versions`).
pub static KINDS: &[CalicoKind] = &[
    kind("IPPool", "ippools", Resource),
    kind("BGPPeer", "bgppeers", Resource),
    kind("Tier", "tiers", Resource),
    named(
        kind("GlobalNetworkPolicy", "globalnetworkpolicies", Resource),
        Naming::Policy,
    ),
    named(
        kind(
            "StagedGlobalNetworkPolicy",
            "stagedglobalnetworkpolicies",
            Resource,
        ),
        Naming::Policy,
    ),
    kind("GlobalNetworkSet", "globalnetworksets", Resource),
    kind("HostEndpoint", "hostendpoints", Resource),
    kind(
        "KubeControllersConfiguration",
        "kubecontrollersconfigurations",
        Resource,
    ),
    namespaced(named(
        kind("NetworkPolicy", "networkpolicies", Resource),
        Naming::Policy,
    )),
    namespaced(named(
        kind("StagedNetworkPolicy", "stagednetworkpolicies", Resource),
        Naming::Policy,
    )),
    namespaced(kind(
        "StagedKubernetesNetworkPolicy",
        "stagedkubernetesnetworkpolicies",
        Resource,
    )),
    namespaced(kind("NetworkSet", "networksets", Resource)),
    CalicoKind {
        has_crd: false,
        ..kind("Node", "nodes", Role::Node)
    },
    named(
        kind("BGPConfiguration", "bgpconfigurations", Resource),
        Naming::PerNode,
    ),
    named(
        kind("FelixConfiguration", "felixconfigurations", Resource),
        Naming::PerNode,
    ),
    kind("IPReservation", "ipreservations", Resource),
    kind("BGPFilter", "bgpfilters", Resource),
    kind(
        "ClusterInformation",
        "clusterinformations",
        ClusterInformation,
    ),
    kind(
        "BlockAffinity",
        "blockaffinities",
        Ipam(IpamKind::BlockAffinity),
    ),
    kind("IPAMBlock", "ipamblocks", Ipam(IpamKind::Block)),
    kind("IPAMHandle", "ipamhandles", Ipam(IpamKind::Handle)),
    kind("IPAMConfig", "ipamconfigs", Ipam(IpamKind::Config)),
    kind(
        "CalicoNodeStatus",
        "caliconodestatuses",
        NotMigrated("node status reports; not supported in the Kubernetes datastore"),
    ),
];

/// etcd v3 resources without a CRD here that are deliberately not migrated (spec section 2.3):
/// plural, kind, and why. (CalicoNodeStatus has a CRD and is in [`KINDS`].)
pub static SKIPPED_RESOURCES: &[(&str, &str, &str)] = &[
    (
        "workloadendpoints",
        "WorkloadEndpoint",
        "derived from Pods in the Kubernetes datastore",
    ),
    (
        "profiles",
        "Profile",
        "derived from Namespaces and ServiceAccounts in the Kubernetes datastore; user-created profiles cannot exist there",
    ),
    (
        "livemigrations",
        "LiveMigration",
        "backed by KubeVirt objects in the Kubernetes datastore",
    ),
    (
        "ipamconfigurations",
        "IPAMConfiguration",
        "the v3 object; IPAM settings are migrated from /calico/ipam/v2/config",
    ),
    (
        "blockaffinities",
        "BlockAffinity (v3 object)",
        "block affinities are migrated from /calico/ipam/v2/host/",
    ),
];

/// Prefix of every etcd v3 resource key.
pub const RESOURCE_PREFIX: &str = "/calico/resources/v3/projectcalico.org/";
/// Prefix of all IPAM data.
pub const IPAM_PREFIX: &str = "/calico/ipam/v2/";
/// The etcd key of `ClusterInformation/default`, which holds the lock flag.
pub const CLUSTER_INFORMATION_KEY: &str =
    "/calico/resources/v3/projectcalico.org/clusterinformations/default";
/// API group and version of the Kubernetes datastore's Calico CRDs.
pub const CRD_GROUP: &str = "crd.projectcalico.org";
pub const CRD_VERSION: &str = "v1";

impl CalicoKind {
    /// The etcd prefix that holds this kind's objects.
    pub fn etcd_prefix(&self) -> String {
        match self.role {
            Role::Ipam(ipam) => ipam.etcd_prefix().to_string(),
            _ => format!("{RESOURCE_PREFIX}{}/", self.plural),
        }
    }

    /// `<plural>.crd.projectcalico.org`, the CRD's name.
    pub fn crd_name(&self) -> Option<String> {
        self.has_crd.then(|| format!("{}.{CRD_GROUP}", self.plural))
    }

    /// Kinds exported as YAML documents, in export order.
    pub fn exported() -> impl Iterator<Item = &'static CalicoKind> {
        KINDS
            .iter()
            .filter(|k| matches!(k.role, Role::Resource | Role::Node))
    }

    /// Kinds that have a `crd.projectcalico.org/v1` CRD.
    pub fn with_crd() -> impl Iterator<Item = &'static CalicoKind> {
        KINDS.iter().filter(|k| k.has_crd)
    }

    pub fn by_kind(kind: &str) -> Option<&'static CalicoKind> {
        KINDS.iter().find(|k| k.kind == kind)
    }

    pub fn by_plural(plural: &str) -> Option<&'static CalicoKind> {
        KINDS.iter().find(|k| k.plural == plural)
    }
}

impl IpamKind {
    /// In the order the export file's IPAM JSON holds them (and import writes them).
    pub const ALL: [IpamKind; 4] = [
        IpamKind::BlockAffinity,
        IpamKind::Block,
        IpamKind::Handle,
        IpamKind::Config,
    ];

    /// The field of the export file's IPAM JSON.
    pub fn field(self) -> &'static str {
        match self {
            IpamKind::BlockAffinity => "block_affinities",
            IpamKind::Block => "blocks",
            IpamKind::Handle => "handles",
            IpamKind::Config => "config",
        }
    }

    /// The Calico kind of the Kubernetes datastore.
    pub fn calico_kind(self) -> &'static CalicoKind {
        KINDS
            .iter()
            .find(|k| k.role == Role::Ipam(self))
            .expect("every IPAM kind is in the table")
    }

    pub fn etcd_prefix(self) -> &'static str {
        match self {
            IpamKind::BlockAffinity => "/calico/ipam/v2/host/",
            IpamKind::Block => "/calico/ipam/v2/assignment/",
            IpamKind::Handle => "/calico/ipam/v2/handle/",
            IpamKind::Config => "/calico/ipam/v2/config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventeen_exported_kinds_in_calicoctl_order() {
        let plurals: Vec<_> = CalicoKind::exported().map(|k| k.plural).collect();
        assert_eq!(
            plurals,
            [
                "ippools",
                "bgppeers",
                "tiers",
                "globalnetworkpolicies",
                "stagedglobalnetworkpolicies",
                "globalnetworksets",
                "hostendpoints",
                "kubecontrollersconfigurations",
                "networkpolicies",
                "stagednetworkpolicies",
                "stagedkubernetesnetworkpolicies",
                "networksets",
                "nodes",
                "bgpconfigurations",
                "felixconfigurations",
                "ipreservations",
                "bgpfilters",
            ]
        );
    }

    #[test]
    fn every_vendored_crd_is_in_the_table() {
        let index = include_str!("../crds/index.txt");
        let mut from_files: Vec<&str> = index
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("tags "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        from_files.dedup();
        let mut from_table: Vec<&str> = CalicoKind::with_crd().map(|k| k.plural).collect();
        from_table.sort();
        assert_eq!(from_files, from_table);
    }

    #[test]
    fn scopes_match_the_vendored_crds() {
        let newest = crate::convert::versions::Release::of(None);
        for kind in CalicoKind::with_crd() {
            let crd = crate::kdd::crds::manifest(&newest, kind.plural).unwrap();
            let namespaced = crd["spec"]["scope"] == "Namespaced";
            assert_eq!(namespaced, kind.namespaced, "{}", kind.kind);
            assert_eq!(crd["spec"]["names"]["kind"], kind.kind);
        }
    }
}
