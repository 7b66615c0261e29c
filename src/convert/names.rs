//! Names of the objects import writes to the Kubernetes datastore: Kubernetes name rules, IPAM
//! object names (docs/design.md §9.4) and policy storage names by target version
//! (docs/design.md §8.2).

use data_encoding::BASE32_NOPAD;
use kube_schema::meta;
use sha2::{Digest, Sha256};
use sha3::Sha3_256;

use super::versions::PolicyStorage;

/// Longest object name Kubernetes accepts (a DNS-1123 subdomain).
pub const MAX_NAME_LEN: usize = meta::MAX_SUBDOMAIN_LEN;
/// Longest namespace name (a DNS-1123 label).
pub const MAX_LABEL_LEN: usize = meta::MAX_LABEL_LEN;

fn joined(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

/// Checks that `name` is a Kubernetes object name (a DNS-1123 subdomain). The error is what
/// kube-apiserver says about `metadata.name` (its messages joined by `, `).
pub fn validate_subdomain(name: &str) -> Result<(), String> {
    joined(meta::dns1123_subdomain(name))
}

/// Checks that `name` is a namespace name (a DNS-1123 label), with kube-apiserver's message.
pub fn validate_label(name: &str) -> Result<(), String> {
    joined(meta::dns1123_label(name))
}

pub use go_compat::net::canonical_cidr;

/// Replaces the first `count` occurrences of `from` with `-`, as Go's `strings.Replace`.
fn replace_first(text: &str, from: char, count: usize) -> String {
    let mut left = count;
    text.chars()
        .map(|c| {
            if c == from && left > 0 {
                left -= 1;
                '-'
            } else {
                c
            }
        })
        .collect()
}

/// `names.CIDRToName`: the first 3 `.`, the first 7 `:` and the first `/` become `-`
/// (`10.65.79.0/26` → `10-65-79-0-26`, `fd00::/122` → `fd00---122`). The CIDR should already be
/// in canonical form ([`canonical_cidr`]), as upstream formats a parsed network.
pub fn cidr_to_name(cidr: &str) -> String {
    let name = replace_first(cidr, '.', 3);
    let name = replace_first(&name, ':', 7);
    replace_first(&name, '/', 1)
}

/// The name of a BlockAffinity CR: `<host>-<cidrname>`; when that has 253 characters or more,
/// the host is cut so that the name has 252, and the first 11 hex digits of
/// sha256(`<host>+<cidrname>`) are appended (upstream's `blockAffinityClient.parseKey`).
pub fn block_affinity_name(host: &str, cidr: &str) -> String {
    let cidr_name = cidr_to_name(cidr);
    let name = format!("{host}-{cidr_name}");
    if name.len() < MAX_NAME_LEN {
        return name;
    }
    let keep = (MAX_NAME_LEN - 1)
        .saturating_sub(cidr_name.len() + 13)
        .min(host.len());
    // Go slices bytes; a cut through a multi-byte character cannot give a valid name anyway.
    let short_host = String::from_utf8_lossy(&host.as_bytes()[..keep]);
    let digest = Sha256::digest(format!("{host}+{cidr_name}").as_bytes());
    let hash = data_encoding::HEXLOWER.encode(&digest);
    format!("{short_host}-{cidr_name}-{}", &hash[..11])
}

/// The name of an IPAMHandle CR: the handle ID lower-cased.
pub fn handle_name(handle_id: &str) -> String {
    handle_id.to_lowercase()
}

/// The `projectcalico.org/hostname-hash` label of a BlockAffinity (v3.31+): base32 (standard
/// alphabet, no padding) of the full SHA3-256 of the host name, 52 characters.
pub fn hostname_hash(host: &str) -> String {
    BASE32_NOPAD.encode(&Sha3_256::digest(host.as_bytes()))
}

/// Name prefixes that `TieredPolicyName` (v3.29–v3.31) leaves alone.
const FORMATTED_POLICY_PREFIXES: &[&str] = &[
    "knp.default.",
    "kanp.adminnetworkpolicy.",
    "kbanp.baselineadminnetworkpolicy.",
    "ossg.",
];

/// Upstream's `names.TieredPolicyName` as of v3.29–v3.31: names with a formatted prefix are
/// kept, a name without a `.` gets `default.`, any other name is kept.
pub fn tiered_policy_name(name: &str) -> String {
    if name.is_empty()
        || FORMATTED_POLICY_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
        || name.contains('.')
    {
        name.to_string()
    } else {
        format!("default.{name}")
    }
}

/// The CR name of a GlobalNetworkPolicy, NetworkPolicy, StagedGlobalNetworkPolicy or
/// StagedNetworkPolicy with v3 name `v3_name`, as the target release stores it (the release's
/// rule is in the version table).
pub fn policy_cr_name(v3_name: &str, storage: PolicyStorage) -> String {
    match storage {
        PolicyStorage::V3Name => v3_name.to_string(),
        PolicyStorage::Tiered => tiered_policy_name(v3_name),
        PolicyStorage::DefaultPrefix
            if v3_name.starts_with("knp.") || v3_name.starts_with("ossg.") =>
        {
            v3_name.to_string()
        }
        PolicyStorage::DefaultPrefix => format!("default.{v3_name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_the_apiserver_messages_joined() {
        assert_eq!(validate_subdomain("worker-1.example.com"), Ok(()));
        assert!(
            validate_subdomain("Worker-1")
                .unwrap_err()
                .contains("RFC 1123 subdomain")
        );
        assert_eq!(
            validate_label(&"a.".repeat(32)),
            Err(format!(
                "must be no more than 63 characters, {}",
                meta::dns1123_label("a.")[0]
            ))
        );
    }

    #[test]
    fn cidrs_become_names_as_upstream_cidr_to_name() {
        assert_eq!(cidr_to_name("10.65.79.0/26"), "10-65-79-0-26");
        assert_eq!(cidr_to_name("fd00::/122"), "fd00---122");
        // At most 7 colons are replaced; a full IPv6 address has exactly 7.
        assert_eq!(
            cidr_to_name("fd5f:abcd:64:4f2c:ec1b:27b9:1989:77c0/122"),
            "fd5f-abcd-64-4f2c-ec1b-27b9-1989-77c0-122"
        );
        assert_eq!(cidr_to_name("fd00:1:2::/64"), "fd00-1-2---64");
    }

    #[test]
    fn affinity_names_join_host_and_cidr() {
        assert_eq!(
            block_affinity_name("worker-1", "10.65.79.0/26"),
            "worker-1-10-65-79-0-26"
        );
        assert_eq!(
            block_affinity_name("worker-1", "fd00::/122"),
            "worker-1-fd00---122"
        );
        // 252 characters are still kept as they are.
        let host = "a".repeat(252 - 1 - "10-65-79-0-26".len());
        assert_eq!(block_affinity_name(&host, "10.65.79.0/26").len(), 252);
        assert!(!block_affinity_name(&host, "10.65.79.0/26").contains("-10-65-79-0-26-"));
    }

    #[test]
    fn long_affinity_names_are_hashed_to_252_characters() {
        // Expected values computed independently (Python hashlib).
        let host = format!("{}.example.com", "h".repeat(230));
        let name = block_affinity_name(&host, "10.65.79.0/26");
        assert_eq!(name.len(), 252);
        assert_eq!(
            name,
            format!("{}-10-65-79-0-26-558c0eb03f0", "h".repeat(226))
        );
        assert_eq!(validate_subdomain(&name), Ok(()));
        // Exactly 253 characters is already too long.
        let host = "a".repeat(253 - 1 - "10-65-79-0-26".len());
        assert_eq!(
            block_affinity_name(&host, "10.65.79.0/26"),
            format!("{}-10-65-79-0-26-5dfa7dcd8c5", "a".repeat(226))
        );
        // Never panics on hosts with multi-byte characters.
        let odd = "é".repeat(200);
        assert!(block_affinity_name(&odd, "10.0.0.0/26").len() >= 252);
    }

    #[test]
    fn handle_names_are_lower_case() {
        assert_eq!(
            handle_name("k8s-pod-network.ABCdef"),
            "k8s-pod-network.abcdef"
        );
        assert_eq!(
            handle_name("ipip-tunnel-addr-Worker-1"),
            "ipip-tunnel-addr-worker-1"
        );
    }

    #[test]
    fn hostname_hash_is_untruncated_base32_of_sha3_256() {
        // Upstream's golden value (model/block_affinity_hash_internal_test.go).
        assert_eq!(
            hostname_hash("node-a"),
            "PY3TQE2E3XMTETLM2MJO3UITKPFB27YUJ4T4E5XGPEJON3SM4QAA"
        );
        assert_eq!(
            hostname_hash("worker-1"),
            "CPU5J3TPSNHFA66J45DG4Z5C3PSJAZ36LD46JZLYEGZSTAWBUCUA"
        );
        assert_eq!(hostname_hash("x").len(), 52);
    }

    #[test]
    fn policy_cr_names_by_storage_rule() {
        use PolicyStorage::*;
        assert_eq!(policy_cr_name("allow-dns", V3Name), "allow-dns");
        assert_eq!(
            policy_cr_name("default.allow-dns", V3Name),
            "default.allow-dns"
        );
        assert_eq!(policy_cr_name("allow-dns", Tiered), "default.allow-dns");
        assert_eq!(
            policy_cr_name("default.allow-dns", Tiered),
            "default.allow-dns"
        );
        assert_eq!(policy_cr_name("sec.block-x", Tiered), "sec.block-x");
        for formatted in [
            "knp.default.x",
            "kanp.adminnetworkpolicy.x",
            "kbanp.baselineadminnetworkpolicy.x",
            "ossg.default.sg1",
        ] {
            assert_eq!(policy_cr_name(formatted, Tiered), formatted);
        }
        // Up to v3.28 every name gets the prefix, dotted or not, except knp. and ossg.
        assert_eq!(
            policy_cr_name("allow-dns", DefaultPrefix),
            "default.allow-dns"
        );
        assert_eq!(
            policy_cr_name("team.allow-dns", DefaultPrefix),
            "default.team.allow-dns"
        );
        assert_eq!(
            policy_cr_name("knp.default.x", DefaultPrefix),
            "knp.default.x"
        );
        assert_eq!(
            policy_cr_name("ossg.default.sg1", DefaultPrefix),
            "ossg.default.sg1"
        );
    }
}
