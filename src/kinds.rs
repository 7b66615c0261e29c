//! The one table of Calico kinds. Export order, etcd location, CRD plural and scope, and the
//! migration rules all live here; export, import, verify and status read it. [`CrdApi`] says
//! which API group of the Kubernetes datastore holds them, and how Calico chooses it.

use serde::{Deserialize, Serialize};

/// How a kind travels from etcd to the Kubernetes datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A `projectcalico.org/v3` resource exported as one YAML document and imported as the
    /// custom resource of the same plural (in the group of the chosen [`CrdApi`]).
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
    /// Policies: stored names, the `default.` prefix and the tier label (docs/design.md §8).
    Policy,
    /// `node.<name>` objects follow Calico Node renames (docs/design.md §5).
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
    /// Whether the Kubernetes datastore has a CRD for it (Calico Nodes have none).
    pub has_crd: bool,
    /// Kind and plural of its native `projectcalico.org/v3` CRD where they differ from
    /// `kind` and `plural` (IPAMConfig is IPAMConfiguration there).
    pub in_v3: Option<(&'static str, &'static str)>,
}

const fn kind(kind: &'static str, plural: &'static str, role: Role) -> CalicoKind {
    CalicoKind {
        kind,
        plural,
        namespaced: false,
        role,
        naming: Naming::Plain,
        has_crd: true,
        in_v3: None,
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

/// Every Calico kind, migrated ones first in calicoctl's export order (docs/design.md §6).
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
    CalicoKind {
        in_v3: Some(("IPAMConfiguration", "ipamconfigurations")),
        ..kind("IPAMConfig", "ipamconfigs", Ipam(IpamKind::Config))
    },
    kind(
        "CalicoNodeStatus",
        "caliconodestatuses",
        NotMigrated("node status reports; not supported in the Kubernetes datastore"),
    ),
];

/// etcd v3 resources without a CRD here that are deliberately not migrated (docs/design.md §7):
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

impl CalicoKind {
    /// The etcd prefix that holds this kind's objects.
    pub fn etcd_prefix(&self) -> String {
        match self.role {
            Role::Ipam(ipam) => ipam.etcd_prefix().to_string(),
            _ => format!("{RESOURCE_PREFIX}{}/", self.plural),
        }
    }

    /// Kinds exported as YAML documents, in export order.
    pub fn exported() -> impl Iterator<Item = &'static CalicoKind> {
        KINDS
            .iter()
            .filter(|k| matches!(k.role, Role::Resource | Role::Node))
    }

    /// Kinds that have a CRD in the Kubernetes datastore.
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

/// The API group whose CRDs hold Calico's data in the Kubernetes datastore.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CrdApi {
    /// `crd.projectcalico.org/v1`: what Calico's manifests install, behind the Calico API server
    /// where one runs (the v3 objects then live in a metadata annotation).
    #[default]
    #[serde(rename = "v1")]
    V1,
    /// `projectcalico.org/v3`: Calico's native CRDs (v3.32 on), the v3 objects as they are.
    #[serde(rename = "v3")]
    V3,
}

/// Calico's setting that names the API group outright (calicoctl and every component read it).
pub const API_GROUP_VARIABLE: &str = "CALICO_API_GROUP";

impl CrdApi {
    pub const ALL: [CrdApi; 2] = [CrdApi::V1, CrdApi::V3];

    pub fn group(self) -> &'static str {
        match self {
            CrdApi::V1 => "crd.projectcalico.org",
            CrdApi::V3 => "projectcalico.org",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            CrdApi::V1 => "v1",
            CrdApi::V3 => "v3",
        }
    }

    /// `crd.projectcalico.org/v1` or `projectcalico.org/v3`.
    pub fn api_version(self) -> &'static str {
        match self {
            CrdApi::V1 => "crd.projectcalico.org/v1",
            CrdApi::V3 => "projectcalico.org/v3",
        }
    }

    /// The API a group/version names (case-insensitive, as Calico compares them).
    pub fn of_api_version(text: &str) -> Option<CrdApi> {
        CrdApi::ALL
            .into_iter()
            .find(|api| api.api_version().eq_ignore_ascii_case(text.trim()))
    }

    /// The kind's name in this API.
    pub fn kind_name(self, kind: &CalicoKind) -> &'static str {
        match (self, kind.in_v3) {
            (CrdApi::V3, Some((name, _))) => name,
            _ => kind.kind,
        }
    }

    /// The kind's CRD plural in this API.
    pub fn plural(self, kind: &CalicoKind) -> &'static str {
        match (self, kind.in_v3) {
            (CrdApi::V3, Some((_, plural))) => plural,
            _ => kind.plural,
        }
    }

    /// `<plural>.<group>`, the name of the kind's CRD; None for kinds without one.
    pub fn crd_name(self, kind: &CalicoKind) -> Option<String> {
        kind.has_crd
            .then(|| format!("{}.{}", self.plural(kind), self.group()))
    }

    /// The kind of the table whose CRD in this API has `plural`.
    pub fn kind_by_plural(self, plural: &str) -> Option<&'static CalicoKind> {
        CalicoKind::with_crd().find(|k| self.plural(k) == plural)
    }

    /// The REST collection of a kind (in `namespace` when given).
    pub fn collection_path(self, kind: &CalicoKind, namespace: Option<&str>) -> String {
        let (group, version, plural) = (self.group(), self.version(), self.plural(kind));
        match namespace {
            Some(ns) => format!("/apis/{group}/{version}/namespaces/{ns}/{plural}"),
            None => format!("/apis/{group}/{version}/{plural}"),
        }
    }
}

impl std::fmt::Display for CrdApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.api_version())
    }
}

/// What the user asked for (`--crd-api`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrdApiRequest {
    /// As Calico decides: `CALICO_API_GROUP` when set, else what the cluster serves.
    #[default]
    Auto,
    Given(CrdApi),
}

/// Which of Calico's API groups the API server lists (its discovery, `/apis`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedGroups {
    /// `crd.projectcalico.org`.
    pub v1: bool,
    /// `projectcalico.org` (native v3 CRDs, or the Calico API server).
    pub v3: bool,
}

/// The API a command works on, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiChoice {
    pub api: CrdApi,
    pub reason: String,
}

/// Chooses the API group as Calico does (`UsingV3CRDs`, libcalico-go/lib/backend/k8s/discovery.go
/// at v3.32.1): an explicit `CALICO_API_GROUP` wins, `projectcalico.org/v3` (compared
/// case-insensitively) meaning v3 and any other value v1; otherwise v3 only when the server
/// lists `projectcalico.org` and not `crd.projectcalico.org` (both listed means the v1 CRDs
/// back a Calico API server). A cluster with neither gets v1, which the standard manifest
/// installs. `--crd-api v1|v3` overrides all of it.
pub fn choose_api(
    request: CrdApiRequest,
    variable: Option<&str>,
    served: ServedGroups,
) -> ApiChoice {
    let variable = variable.filter(|v| !v.is_empty());
    if let CrdApiRequest::Given(api) = request {
        let mut reason = format!("--crd-api {}", api.version());
        if let Some(value) = variable {
            let says = CrdApi::of_api_version(value).unwrap_or(CrdApi::V1);
            if says != api {
                reason.push_str(&format!(
                    " (overrides {API_GROUP_VARIABLE}={value}, which would choose {says})"
                ));
            }
        }
        return ApiChoice { api, reason };
    }
    if let Some(value) = variable {
        let api = if CrdApi::V3.api_version().eq_ignore_ascii_case(value.trim()) {
            CrdApi::V3
        } else {
            CrdApi::V1
        };
        let mut reason = format!("{API_GROUP_VARIABLE}={value}, as Calico reads it");
        if CrdApi::of_api_version(value).is_none() {
            reason.push_str(&format!(
                " (not {}: Calico then uses {})",
                CrdApi::V3.api_version(),
                CrdApi::V1
            ));
        }
        return ApiChoice { api, reason };
    }
    let (api, why) = match (served.v1, served.v3) {
        (false, true) => (
            CrdApi::V3,
            "the cluster serves projectcalico.org and not crd.projectcalico.org",
        ),
        (true, true) => (
            CrdApi::V1,
            "the cluster serves both crd.projectcalico.org and projectcalico.org (the v1 CRDs behind a Calico API server)",
        ),
        (true, false) => (CrdApi::V1, "the cluster serves crd.projectcalico.org"),
        (false, false) => (
            CrdApi::V1,
            "the cluster serves neither Calico API group yet; Calico's standard manifest installs crd.projectcalico.org/v1",
        ),
    };
    ApiChoice {
        api,
        reason: format!("{why}, as Calico decides"),
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
        for (api, index) in [
            (CrdApi::V1, include_str!("../crds/index.txt")),
            (CrdApi::V3, include_str!("../crds/v3/index.txt")),
        ] {
            let mut from_files: Vec<&str> = index
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("tags "))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            from_files.dedup();
            let mut from_table: Vec<&str> = CalicoKind::with_crd().map(|k| api.plural(k)).collect();
            from_table.sort();
            assert_eq!(from_files, from_table, "{api}");
        }
    }

    #[test]
    fn ipam_config_is_ipam_configuration_in_v3() {
        let config = IpamKind::Config.calico_kind();
        assert_eq!(CrdApi::V1.plural(config), "ipamconfigs");
        assert_eq!(CrdApi::V3.plural(config), "ipamconfigurations");
        assert_eq!(CrdApi::V3.kind_name(config), "IPAMConfiguration");
        assert_eq!(
            CrdApi::V3.kind_by_plural("ipamconfigurations"),
            Some(config)
        );
        assert_eq!(CrdApi::V1.kind_by_plural("ipamconfigurations"), None);
        assert_eq!(
            CrdApi::V3.collection_path(CalicoKind::by_kind("NetworkPolicy").unwrap(), Some("ns")),
            "/apis/projectcalico.org/v3/namespaces/ns/networkpolicies"
        );
        assert_eq!(
            CrdApi::V1.crd_name(config).as_deref(),
            Some("ipamconfigs.crd.projectcalico.org")
        );
    }

    fn served(v1: bool, v3: bool) -> ServedGroups {
        ServedGroups { v1, v3 }
    }

    #[test]
    fn the_api_is_chosen_as_calico_chooses_it() {
        let auto =
            |variable: Option<&str>, groups| choose_api(CrdApiRequest::Auto, variable, groups).api;
        // Discovery: v3 only when projectcalico.org is served and crd.projectcalico.org is not.
        assert_eq!(auto(None, served(false, true)), CrdApi::V3);
        assert_eq!(auto(None, served(true, true)), CrdApi::V1);
        assert_eq!(auto(None, served(true, false)), CrdApi::V1);
        assert_eq!(auto(None, served(false, false)), CrdApi::V1);
        // CALICO_API_GROUP wins over discovery; only projectcalico.org/v3 means v3.
        assert_eq!(
            auto(Some("projectcalico.org/v3"), served(true, false)),
            CrdApi::V3
        );
        assert_eq!(
            auto(Some("ProjectCalico.org/V3"), served(true, false)),
            CrdApi::V3
        );
        assert_eq!(
            auto(Some("crd.projectcalico.org/v1"), served(false, true)),
            CrdApi::V1
        );
        assert_eq!(
            auto(Some("projectcalico.org"), served(false, true)),
            CrdApi::V1
        );
        assert_eq!(auto(Some(""), served(false, true)), CrdApi::V3);
        let odd = choose_api(
            CrdApiRequest::Auto,
            Some("projectcalico.org"),
            served(false, true),
        );
        assert!(
            odd.reason
                .contains("Calico then uses crd.projectcalico.org/v1"),
            "{}",
            odd.reason
        );
        // The flag wins over both, and says what it overrode.
        let given = choose_api(
            CrdApiRequest::Given(CrdApi::V3),
            Some("crd.projectcalico.org/v1"),
            served(true, false),
        );
        assert_eq!(given.api, CrdApi::V3);
        assert!(
            given.reason.contains("overrides CALICO_API_GROUP"),
            "{}",
            given.reason
        );
        let both = choose_api(CrdApiRequest::Auto, None, served(true, true));
        assert!(both.reason.contains("both"), "{}", both.reason);
    }

    #[test]
    fn the_journal_spells_apis_as_the_flag_does() {
        assert_eq!(serde_json::to_value(CrdApi::V3).unwrap(), "v3");
        assert_eq!(
            serde_json::from_value::<CrdApi>("v1".into()).unwrap(),
            CrdApi::V1
        );
    }
}
