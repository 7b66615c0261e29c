//! Calico etcd datasets for the export, import and verify tests and the benchmark.
//!
//! Each dataset is a [`Dataset`](crate::calico::Dataset): etcd keys and values exactly as the
//! Calico release it models writes them (docs/design.md §4: key layout, Go `json.Marshal`
//! output with fields in Go struct order and map keys sorted, policy storage names of §8.1,
//! IPAM value formats of §4.3), the Kubernetes Nodes that exist, and the namespaces used.
//!
//! | function | release | what it is about |
//! |---|---|---|
//! | [`upstream_st`] / [`upstream_st_with_ipam`] | v3.29 | upstream's `test_migrate.py` (node4/node5 -> node4) |
//! | [`fqdn_nodes`] | v3.28 | FQDN etcd node names, short Kubernetes names |
//! | [`dual_stack_ipam`] | HEAD (3.34-dev) | every IPAM value shape, v4 and v6, all tunnel handles |
//! | [`skipped_data`] | v3.31 | every skip group of docs/design.md §7, and keys to ignore |
//! | [`policies_and_tiers`] | any [`Release`] | tiers, the policy kinds, storage-name regimes, Felix fix-ups |
//! | [`no_ipam`] | v3.30 | resources, no `/calico/ipam/` key |
//! | [`unmapped_nodes`] | v3.28 | nodes without a usable `k8s` orchRef, two nodes mapping to one name |
//! | [`large`] | v3.30 | about 100,000 keys for the benchmark |
//!
//! [`expected_export`] derives, from a dataset alone, what an export must contain according to
//! docs/design.md §4 to §8 (with kubectl calico-migrate's fixes of §13: staged policies of every
//! namespace, v6 tunnel handles renamed): per-kind objects and names after renames, skip groups
//! with their keys, ignored keys, the node map and the IPAM keys after renaming. Each dataset's doc
//! lists the same numbers, and the unit tests check that both agree.

mod build;
mod expect;
mod ipam;
mod large;
mod load;
mod small;

pub use build::*;
pub use expect::*;
pub use ipam::*;
pub use large::*;
pub use load::*;
pub use small::*;

/// The Calico releases whose etcd formats differ in ways that matter to the migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    V3_28,
    V3_29,
    V3_30,
    V3_31,
    V3_32,
    /// Calico's master branch when these datasets were written, 3.34.0-dev.
    Head,
}

impl Release {
    pub const ALL: [Release; 6] = [
        Release::V3_28,
        Release::V3_29,
        Release::V3_30,
        Release::V3_31,
        Release::V3_32,
        Release::Head,
    ];

    /// The `calicoVersion` ClusterInformation carries.
    pub fn calico_version(self) -> &'static str {
        match self {
            Release::V3_28 => "v3.28.2",
            Release::V3_29 => "v3.29.3",
            Release::V3_30 => "v3.30.3",
            Release::V3_31 => "v3.31.0",
            Release::V3_32 => "v3.32.1",
            Release::Head => "v3.34.0-dev",
        }
    }

    /// The release of a `calicoVersion` string (`v3.30.2`, `3.32.0-rc1`, ...), by minor version.
    pub fn from_calico_version(version: &str) -> Option<Release> {
        let version = version.trim_start_matches('v');
        let mut parts = version.split(['.', '-']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        if major != 3 {
            return None;
        }
        Some(match minor {
            0..=28 => Release::V3_28,
            29 => Release::V3_29,
            30 => Release::V3_30,
            31 => Release::V3_31,
            32 => Release::V3_32,
            _ => Release::Head,
        })
    }

    /// v3.30+ write the `projectcalico.org/metadata` annotation on GNP/NP/SGNP/SNP.
    pub fn writes_metadata_annotation(self) -> bool {
        self >= Release::V3_30
    }

    /// v3.29 to v3.31 export skips GNPs named `kanp.adminnetworkpolicy.*` (calicoctl's
    /// export.go from v3.29.0).
    pub fn skips_admin_network_policies(self) -> bool {
        matches!(self, Release::V3_29 | Release::V3_30 | Release::V3_31)
    }

    /// v3.30 and v3.31 export also skips `kbanp.baselineadminnetworkpolicy.*`.
    pub fn skips_baseline_admin_network_policies(self) -> bool {
        matches!(self, Release::V3_30 | Release::V3_31)
    }

    /// HEAD's Rule uses `omitzero` for source and destination; older releases always write them.
    pub fn omits_empty_entity_rules(self) -> bool {
        self >= Release::Head
    }

    /// The IPAM value format the release writes.
    pub fn ipam_format(self) -> IpamFormat {
        match self {
            Release::V3_32 => IpamFormat::V3_32,
            Release::Head => IpamFormat::Head,
            _ => IpamFormat::Legacy,
        }
    }

    /// Tiers exist in OSS Calico from v3.29 (exported by upstream only from v3.30).
    pub fn has_tiers(self) -> bool {
        self >= Release::V3_29
    }

    /// Staged policies are exported from v3.30.
    pub fn has_staged_policies(self) -> bool {
        self >= Release::V3_30
    }
}

#[cfg(test)]
mod tests;
