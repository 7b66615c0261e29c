//! What each Calico release does, in one table: the behaviour of calicoctl's `datastore migrate`
//! and of the libcalico-go client underneath it that differs from release to release, keyed by
//! kind, each row with the releases it holds for and the upstream file it was read from
//! (github.com/projectcalico/calico at those tags). The types each release reads and writes
//! are the other half of the table, in `versions/types.txt` ([`super::gotypes`]).
//!
//! Export behaves as the *source's* release (the `calicoVersion` in etcd): that is the
//! calicoctl a user would run against that etcd. Import behaves as the *target's* release
//! (`--calico-version`, by default the file's).

use super::gotypes::{TypeTable, Types};
use super::version::CalicoVersion;

/// How a policy's v3 name comes out of etcd on read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRead {
    /// The part after the first `.` (`default.foo` → `foo`, `sec.foo` → `foo`); `knp.` and
    /// `ossg.` names are kept (clientv3 `convertPolicyNameFromStorage`).
    StripFirstSegment,
    /// The stored name as it is.
    Stored,
    /// The name in the `projectcalico.org/metadata` annotation, else the stored name.
    AnnotationOrStored,
    /// The name in the annotation, else the stored name without one leading `default.` for a
    /// policy of the default tier (model `determinePolicyName`).
    AnnotationOrTrimDefault,
}

/// How the Kubernetes datastore names a policy's custom resource (the v3 name → CR name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyStorage {
    /// `default.<name>` unless the name starts with `knp.` or `ossg.`
    /// (clientv3 `convertPolicyNameForStorage`).
    DefaultPrefix,
    /// `names.TieredPolicyName`: `default.<name>` for a name without a `.`.
    Tiered,
    /// The v3 name.
    V3Name,
}

/// One behaviour of one release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `datastore migrate export` lists the kind.
    Exported,
    /// Export leaves out objects whose (v3) name starts with this.
    SkipPrefix(&'static str),
    /// Export lists the namespaced kind in every namespace (the others only in `default`).
    AllNamespaces,
    ReadName(PolicyRead),
    /// Reading a policy adds the label `projectcalico.org/tier: default` when it has none.
    DefaultTierLabel,
    /// Reading a policy with an empty `spec.tier` sets it from the name (`names.TierFromPolicyName`).
    TierFromName,
    /// Reading an IPPool defaults blockSize, allowedUses, nodeSelector, ipipMode and vxlanMode
    /// (`convertIpPoolFromStorage`); creating one does the same and normalises the CIDR.
    IpPoolDefaults,
    /// IPPool `assignmentMode` defaults to `Automatic` on read and on create.
    IpPoolAssignmentMode,
    /// Tier order defaults to 1,000,000 and defaultAction to Deny, on read and on create.
    TierDefaults,
    /// Creating a policy without `types` sets them from its rules (`defaultPolicyTypesField`).
    PolicyTypes,
    /// Creating a policy of a tier other than `default` adds the label `projectcalico.org/tier`.
    TierLabelOnCreate,
    /// Creating a policy of the `default` tier adds the label `projectcalico.org/tier: default`
    /// too (the v3 API's defaulting labels every policy with its tier).
    DefaultTierLabelOnCreate,
    /// Creating a FelixConfiguration sets `floatingIPs: Disabled` when unset.
    FelixFloatingIps,
    /// Creating a FelixConfiguration sets `bpfConnectTimeLoadBalancing: TCP` and
    /// `bpfHostNetworkedNATWithoutCTLB: Enabled` when unset, or derives both from
    /// `bpfConnectTimeLoadBalancingEnabled`.
    FelixBpfDefaults,
    /// Creating a KubeControllersConfiguration sets `prometheusMetricsPort: 9094` when unset,
    /// and the node controller's `leakGracePeriod: 15m0s`.
    KubeControllersDefaults,
    /// Creating a KubeControllersConfiguration sets the loadBalancer controller's `assignIPs:
    /// AllServices` when unset.
    LoadBalancerAssignIps,
    StoreName(PolicyStorage),
    /// The CR's metadata annotation holds the policy's v3 name.
    NameInMetadata,
    /// The v3 labels and annotations live in the metadata annotation; the CR carries only
    /// Calico's own (`projectcalico.org/`, `operator.tigera.io/`). Before, all were on the CR.
    CalicoMetadataInAnnotation,
    /// BlockAffinity CRs have `spec.type`.
    AffinityType,
    /// BlockAffinity CRs carry the hostname-hash, affinity-type and ip-version labels.
    AffinityLabels,
    /// Calico can keep the Kubernetes datastore in its native `projectcalico.org/v3` CRDs
    /// instead of `crd.projectcalico.org/v1`.
    NativeV3Crds,
    /// A Calico Node's interfaces are written to the Kubernetes Node's
    /// `projectcalico.org/Interfaces` annotation.
    NodeInterfaces,
}

/// A row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The kinds it applies to.
    pub kinds: &'static [&'static str],
    pub rule: Rule,
    /// First release that behaves so.
    pub since: CalicoVersion,
    /// Last release that behaves so; None when the newest release in the table still does.
    pub until: Option<CalicoVersion>,
    /// Where upstream does it (in github.com/projectcalico/calico, at the tags above).
    pub source: &'static str,
}

const fn v(major: u32, minor: u32, patch: u32) -> CalicoVersion {
    CalicoVersion {
        major,
        minor,
        patch,
    }
}

const fn row(
    kinds: &'static [&'static str],
    rule: Rule,
    since: CalicoVersion,
    until: Option<CalicoVersion>,
    source: &'static str,
) -> Row {
    Row {
        kinds,
        rule,
        since,
        until,
        source,
    }
}

const EXPORT: &str = "calicoctl/calicoctl/commands/datastore/migrate/export.go";
const V3_26: CalicoVersion = v(3, 26, 0);
const POLICIES: &[&str] = &["GlobalNetworkPolicy", "NetworkPolicy"];
const STAGED: &[&str] = &["StagedGlobalNetworkPolicy", "StagedNetworkPolicy"];
const ALL_POLICIES: &[&str] = &[
    "GlobalNetworkPolicy",
    "NetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedNetworkPolicy",
];

use PolicyRead::*;
use Rule::*;

/// The table. Releases before v3.26.0 are not covered (they behave as v3.26.0 here).
pub static RULES: &[Row] = &[
    // What `datastore migrate export` exports, in calicoctl's order (see kinds.rs).
    row(
        &[
            "IPPool",
            "BGPPeer",
            "GlobalNetworkPolicy",
            "GlobalNetworkSet",
            "HostEndpoint",
            "KubeControllersConfiguration",
            "NetworkPolicy",
            "NetworkSet",
            "Node",
            "BGPConfiguration",
            "FelixConfiguration",
        ],
        Exported,
        V3_26,
        None,
        EXPORT,
    ),
    row(
        &["IPReservation", "BGPFilter"],
        Exported,
        v(3, 28, 1),
        None,
        EXPORT,
    ),
    row(&["Tier"], Exported, v(3, 29, 1), None, EXPORT),
    row(
        &[
            "StagedGlobalNetworkPolicy",
            "StagedNetworkPolicy",
            "StagedKubernetesNetworkPolicy",
        ],
        Exported,
        v(3, 30, 0),
        None,
        EXPORT,
    ),
    row(
        &["NetworkPolicy", "NetworkSet"],
        AllNamespaces,
        V3_26,
        None,
        EXPORT,
    ),
    row(
        &["NetworkPolicy"],
        SkipPrefix("knp.default."),
        V3_26,
        None,
        EXPORT,
    ),
    row(
        &["GlobalNetworkPolicy"],
        SkipPrefix("kanp.adminnetworkpolicy."),
        v(3, 29, 0),
        Some(v(3, 31, 7)),
        EXPORT,
    ),
    row(
        &["GlobalNetworkPolicy"],
        SkipPrefix("kbanp.baselineadminnetworkpolicy."),
        v(3, 30, 0),
        Some(v(3, 31, 7)),
        EXPORT,
    ),
    // Reading policies (etcd backend: libcalico-go/lib/backend/model/keys.go, resource.go;
    // client: libcalico-go/lib/clientv3/*networkpolicy.go).
    row(
        POLICIES,
        ReadName(StripFirstSegment),
        V3_26,
        Some(v(3, 28, 5)),
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (convertPolicyNameFromStorage)",
    ),
    row(
        POLICIES,
        ReadName(Stored),
        v(3, 29, 0),
        Some(v(3, 29, 3)),
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go",
    ),
    row(
        POLICIES,
        ReadName(AnnotationOrTrimDefault),
        v(3, 29, 4),
        Some(v(3, 29, 7)),
        "libcalico-go/lib/backend/model/keys.go (determinePolicyName)",
    ),
    row(
        ALL_POLICIES,
        ReadName(AnnotationOrStored),
        v(3, 30, 0),
        Some(v(3, 30, 0)),
        "libcalico-go/lib/backend/model/keys.go (parseMetadataAnnotation)",
    ),
    row(
        ALL_POLICIES,
        ReadName(AnnotationOrTrimDefault),
        v(3, 30, 1),
        None,
        "libcalico-go/lib/backend/model/keys.go, resource.go (determinePolicyName)",
    ),
    row(
        POLICIES,
        DefaultTierLabel,
        v(3, 29, 0),
        None,
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (defaultTierLabelIfMissing)",
    ),
    row(
        STAGED,
        DefaultTierLabel,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/clientv3/stagedglobalnetworkpolicy.go (defaultTierLabelIfMissing)",
    ),
    row(
        POLICIES,
        TierFromName,
        v(3, 29, 0),
        Some(v(3, 31, 7)),
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (List)",
    ),
    row(
        STAGED,
        TierFromName,
        v(3, 30, 0),
        Some(v(3, 31, 7)),
        "libcalico-go/lib/clientv3/stagedglobalnetworkpolicy.go (List)",
    ),
    row(
        &["IPPool"],
        IpPoolDefaults,
        V3_26,
        None,
        "libcalico-go/lib/clientv3/ippool.go (convertIpPoolFromStorage, validateAndSetDefaults)",
    ),
    row(
        &["IPPool"],
        IpPoolAssignmentMode,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/clientv3/ippool.go",
    ),
    row(
        &["Tier"],
        TierDefaults,
        v(3, 29, 0),
        None,
        "libcalico-go/lib/resources/tier.go (DefaultTierFields)",
    ),
    // Creating objects (what calicoctl's import does through the v3 client).
    row(
        POLICIES,
        PolicyTypes,
        V3_26,
        None,
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (defaultPolicyTypesField)",
    ),
    row(
        STAGED,
        PolicyTypes,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/clientv3/stagedglobalnetworkpolicy.go",
    ),
    row(
        POLICIES,
        TierLabelOnCreate,
        v(3, 29, 0),
        None,
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (addTierLabel)",
    ),
    row(
        STAGED,
        TierLabelOnCreate,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/clientv3/stagedglobalnetworkpolicy.go (addTierLabel)",
    ),
    row(
        &["FelixConfiguration"],
        FelixFloatingIps,
        V3_26,
        None,
        "libcalico-go/lib/clientv3/felixconfig.go (setDefaults)",
    ),
    row(
        &["FelixConfiguration"],
        FelixBpfDefaults,
        v(3, 27, 0),
        None,
        "libcalico-go/lib/clientv3/felixconfig.go (setDefaults)",
    ),
    row(
        &["KubeControllersConfiguration"],
        KubeControllersDefaults,
        V3_26,
        None,
        "libcalico-go/lib/clientv3/kubecontrollersconfig.go (fillDefaults)",
    ),
    row(
        &["KubeControllersConfiguration"],
        LoadBalancerAssignIps,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/clientv3/kubecontrollersconfig.go (validateAndFillDefaults)",
    ),
    // The Kubernetes datastore's custom resources (libcalico-go/lib/backend/k8s/resources).
    row(
        ALL_POLICIES,
        StoreName(PolicyStorage::DefaultPrefix),
        V3_26,
        Some(v(3, 28, 5)),
        "libcalico-go/lib/clientv3/globalnetworkpolicy.go (convertPolicyNameForStorage)",
    ),
    row(
        ALL_POLICIES,
        StoreName(PolicyStorage::Tiered),
        v(3, 29, 0),
        Some(v(3, 31, 7)),
        "libcalico-go/lib/names/policy.go (TieredPolicyName), backend/k8s/resources/resources.go",
    ),
    row(
        ALL_POLICIES,
        StoreName(PolicyStorage::V3Name),
        v(3, 32, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/resources.go",
    ),
    row(
        POLICIES,
        NameInMetadata,
        v(3, 29, 4),
        None,
        "libcalico-go/lib/backend/k8s/resources/resources.go (ConvertCalicoResourceToK8sResource)",
    ),
    row(
        STAGED,
        NameInMetadata,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/resources.go (ConvertCalicoResourceToK8sResource)",
    ),
    row(
        &["*"],
        CalicoMetadataInAnnotation,
        v(3, 28, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/resources.go (ConvertCalicoResourceToK8sResource)",
    ),
    row(
        &["BlockAffinity"],
        AffinityType,
        v(3, 30, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/ipam_affinity.go (toV3)",
    ),
    row(
        &["Node"],
        NodeInterfaces,
        v(3, 31, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/node.go (mergeCalicoNodeIntoK8sNode)",
    ),
    row(
        &["BlockAffinity"],
        AffinityLabels,
        v(3, 31, 0),
        None,
        "libcalico-go/lib/backend/k8s/resources/ipam_affinity.go (EnsureBlockAffinityLabels)",
    ),
    row(
        ALL_POLICIES,
        DefaultTierLabelOnCreate,
        v(3, 32, 0),
        None,
        "api/pkg/defaults/networkpolicy.go (setTierLabel), called by libcalico-go/lib/clientv3/globalnetworkpolicy.go (Create)",
    ),
    row(
        &["*"],
        NativeV3Crds,
        v(3, 32, 0),
        None,
        "libcalico-go/lib/backend/k8s/discovery.go (UsingV3CRDs) and api/config/crd/",
    ),
];

/// How well the table knows a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// A release tag the table was read from.
    Exact,
    /// Not a tag, but within the table's releases: the nearest older tag stands for it.
    Between,
    /// Newer than the newest tag: that tag's types, and the rules still open-ended.
    Newer,
    /// Older than v3.26.0: treated as v3.26.0.
    Older,
    /// No version known: treated as the newest release.
    Unknown,
}

/// A Calico release as far as the migration's behaviour depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// The version asked for (the newest tag when none was known).
    pub version: CalicoVersion,
    /// The release tag whose types stand for it.
    pub tag: CalicoVersion,
    pub fit: Fit,
    index: usize,
}

impl Release {
    /// The release of a `calicoVersion`; None (an empty or custom version) is the newest.
    pub fn of(version: Option<CalicoVersion>) -> Release {
        let table = TypeTable::get();
        let tags = table.tags();
        let newest = tags.len() - 1;
        let Some(version) = version else {
            return Release {
                version: tags[newest],
                tag: tags[newest],
                fit: Fit::Unknown,
                index: newest,
            };
        };
        let (index, fit) = match tags.iter().rposition(|t| *t <= version) {
            None => (0, Fit::Older),
            Some(i) if tags[i] == version => (i, Fit::Exact),
            Some(i) if i == newest => (i, Fit::Newer),
            Some(i) => (i, Fit::Between),
        };
        Release {
            version,
            tag: tags[index],
            fit,
            index,
        }
    }

    /// The types of the release.
    pub fn types(&self) -> Types<'static> {
        TypeTable::get().at(self.index)
    }

    /// The version the rules are judged by: the tag standing for the release, except for a
    /// release newer than the table, which keeps the rules that are still open-ended.
    fn judged(&self) -> CalicoVersion {
        match self.fit {
            Fit::Newer => self.version,
            _ => self.tag,
        }
    }

    /// The row of the table that gives `kind` a rule matching `wanted`, in this release.
    pub fn row(&self, kind: &str, wanted: impl Fn(&Rule) -> bool) -> Option<&'static Row> {
        let version = self.judged();
        RULES.iter().find(|row| {
            (row.kinds.contains(&kind) || row.kinds.contains(&"*"))
                && wanted(&row.rule)
                && row.since <= version
                && row.until.is_none_or(|until| version <= until)
        })
    }

    /// Whether `kind` has `rule` in this release.
    pub fn has(&self, kind: &str, rule: Rule) -> bool {
        self.row(kind, |r| *r == rule).is_some()
    }

    /// Whether the release can run on native `projectcalico.org/v3` CRDs.
    pub fn has_native_v3(&self) -> bool {
        self.has("*", NativeV3Crds)
    }

    /// Whether calicoctl's export of this release lists the kind.
    pub fn exports(&self, kind: &str) -> bool {
        self.has(kind, Exported)
    }

    /// How a policy of `kind` is named on read, if the kind is a policy.
    pub fn policy_read(&self, kind: &str) -> Option<PolicyRead> {
        match self.row(kind, |r| matches!(r, ReadName(_)))?.rule {
            ReadName(read) => Some(read),
            _ => None,
        }
    }

    /// How a policy of `kind` is named in the Kubernetes datastore.
    pub fn policy_storage(&self, kind: &str) -> Option<PolicyStorage> {
        match self.row(kind, |r| matches!(r, StoreName(_)))?.rule {
            StoreName(storage) => Some(storage),
            _ => None,
        }
    }

    /// Name prefixes export leaves out for `kind`.
    pub fn skipped_prefixes(&self, kind: &str) -> Vec<&'static str> {
        let version = self.judged();
        RULES
            .iter()
            .filter(|row| {
                row.kinds.contains(&kind)
                    && row.since <= version
                    && row.until.is_none_or(|until| version <= until)
            })
            .filter_map(|row| match row.rule {
                SkipPrefix(prefix) => Some(prefix),
                _ => None,
            })
            .collect()
    }

    /// A sentence for the user when the table does not know the release exactly.
    pub fn caveat(&self) -> Option<String> {
        match self.fit {
            Fit::Exact => None,
            Fit::Between => Some(format!(
                "Calico {} is not a release this tool knows; it is treated as {}",
                self.version, self.tag
            )),
            Fit::Newer => Some(format!(
                "Calico {} is newer than the newest release this tool knows ({}): its types are taken as {}'s",
                self.version, self.tag, self.tag
            )),
            Fit::Older => Some(format!(
                "Calico {} is older than the oldest release this tool knows ({}): it is treated as {}",
                self.version, self.tag, self.tag
            )),
            Fit::Unknown => Some(format!(
                "the Calico version is not known; it is treated as {}, the newest release this tool knows",
                self.tag
            )),
        }
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(text: &str) -> Release {
        Release::of(CalicoVersion::parse(text))
    }

    #[test]
    fn releases_are_matched_to_the_table() {
        assert_eq!(release("v3.28.0").fit, Fit::Exact);
        assert_eq!(release("v3.28.9").fit, Fit::Between);
        assert_eq!(release("v3.28.9").tag.to_string(), "v3.28.5");
        assert_eq!(release("v3.34.0").fit, Fit::Newer);
        assert_eq!(release("v3.34.0").tag.to_string(), "v3.32.1");
        assert_eq!(release("v3.20.0").fit, Fit::Older);
        assert_eq!(release("v3.20.0").tag.to_string(), "v3.26.0");
        assert_eq!(Release::of(None).fit, Fit::Unknown);
        assert!(release("v3.28.0").caveat().is_none());
        assert!(release("v3.34.0").caveat().unwrap().contains("newer"));
    }

    #[test]
    fn exported_kinds_follow_calicoctl_release_by_release() {
        let kinds = |version: &str| -> Vec<&str> {
            crate::kinds::CalicoKind::exported()
                .filter(|k| release(version).exports(k.kind))
                .map(|k| k.kind)
                .collect()
        };
        assert_eq!(kinds("v3.28.0").len(), 11);
        assert!(!kinds("v3.28.0").contains(&"IPReservation"));
        assert!(kinds("v3.28.1").contains(&"BGPFilter"));
        assert!(!kinds("v3.29.0").contains(&"Tier"));
        assert!(kinds("v3.29.1").contains(&"Tier"));
        assert_eq!(kinds("v3.29.1").len(), 14);
        assert_eq!(kinds("v3.30.0").len(), 17);
        assert_eq!(kinds("v3.34.0").len(), 17);
    }

    #[test]
    fn policy_names_by_release() {
        let gnp = "GlobalNetworkPolicy";
        assert_eq!(release("v3.26.0").policy_read(gnp), Some(StripFirstSegment));
        assert_eq!(release("v3.28.5").policy_read(gnp), Some(StripFirstSegment));
        assert_eq!(release("v3.29.2").policy_read(gnp), Some(Stored));
        assert_eq!(
            release("v3.29.4").policy_read(gnp),
            Some(AnnotationOrTrimDefault)
        );
        assert_eq!(
            release("v3.30.0").policy_read(gnp),
            Some(AnnotationOrStored)
        );
        assert_eq!(
            release("v3.32.1").policy_read("StagedNetworkPolicy"),
            Some(AnnotationOrTrimDefault)
        );
        assert_eq!(release("v3.29.4").policy_read("StagedNetworkPolicy"), None);
        assert_eq!(release("v3.28.0").policy_read("IPPool"), None);
        assert_eq!(
            release("v3.28.0").policy_storage(gnp),
            Some(PolicyStorage::DefaultPrefix)
        );
        assert_eq!(
            release("v3.31.0").policy_storage(gnp),
            Some(PolicyStorage::Tiered)
        );
        assert_eq!(
            release("v3.32.0").policy_storage(gnp),
            Some(PolicyStorage::V3Name)
        );
    }

    #[test]
    fn skips_by_release() {
        let gnp = "GlobalNetworkPolicy";
        assert!(release("v3.28.0").skipped_prefixes(gnp).is_empty());
        assert_eq!(
            release("v3.29.0").skipped_prefixes(gnp),
            ["kanp.adminnetworkpolicy."]
        );
        assert_eq!(release("v3.30.2").skipped_prefixes(gnp).len(), 2);
        assert!(release("v3.32.1").skipped_prefixes(gnp).is_empty());
        assert_eq!(
            release("v3.32.1").skipped_prefixes("NetworkPolicy"),
            ["knp.default."]
        );
    }

    #[test]
    fn defaults_by_release() {
        assert!(!release("v3.26.5").has("FelixConfiguration", FelixBpfDefaults));
        assert!(release("v3.28.0").has("FelixConfiguration", FelixBpfDefaults));
        assert!(release("v3.28.0").has("IPPool", IpPoolDefaults));
        assert!(!release("v3.28.0").has("IPPool", IpPoolAssignmentMode));
        assert!(!release("v3.28.0").has("GlobalNetworkPolicy", DefaultTierLabel));
        assert!(release("v3.29.0").has("NetworkPolicy", DefaultTierLabel));
        assert!(release("v3.28.0").has("IPPool", CalicoMetadataInAnnotation));
        assert!(!release("v3.27.5").has("IPPool", CalicoMetadataInAnnotation));
        assert!(!release("v3.31.7").has_native_v3());
        assert!(release("v3.32.0").has_native_v3());
        assert!(release("v3.40.0").has_native_v3());
        assert!(!release("v3.31.7").has("NetworkPolicy", DefaultTierLabelOnCreate));
        assert!(release("v3.32.1").has("StagedNetworkPolicy", DefaultTierLabelOnCreate));
    }
}
