//! Rules of object metadata that the plugin (checking the names it writes) and the local API
//! server (checking what it is sent) both apply: the order of ObjectMeta's fields and
//! apimachinery's DNS-1123 name checks with their messages.

/// The fields of ObjectMeta, in the order Go writes them.
pub const OBJECT_META_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Longest DNS-1123 subdomain (object names).
pub const MAX_SUBDOMAIN_LEN: usize = 253;
/// Longest DNS-1123 label (namespace names).
pub const MAX_LABEL_LEN: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// apimachinery's `RegexError` message: what the value must be, examples, the regex.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push_str(&format!("'{e}', "));
    }
    s.push_str(&format!("regex used for validation is '{fmt}')"));
    s
}

/// apimachinery's `MaxLenError` message.
pub fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// One DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_label(part: &[u8]) -> bool {
    match (part.first(), part.last()) {
        (Some(&first), Some(&last)) => {
            is_alnum(first) && is_alnum(last) && part.iter().all(|&c| is_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// What is wrong with `v` as a DNS-1123 label (a namespace name), in apimachinery's words;
/// empty when nothing is.
pub fn dns1123_label(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > MAX_LABEL_LEN {
        errs.push(max_len_error(MAX_LABEL_LEN));
    }
    if !is_label(v.as_bytes()) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// What is wrong with `v` as a DNS-1123 subdomain (an object name), in apimachinery's words;
/// empty when nothing is.
pub fn dns1123_subdomain(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > MAX_SUBDOMAIN_LEN {
        errs.push(max_len_error(MAX_SUBDOMAIN_LEN));
    }
    if !v.as_bytes().split(|&c| c == b'.').all(is_label) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_are_checked_with_the_apiserver_message() {
        for ok in [
            "a",
            "a.b-c",
            "10-65-79-0-26",
            "default.allow-dns",
            "worker-1.example.com",
        ] {
            assert!(dns1123_subdomain(ok).is_empty(), "{ok}");
        }
        for bad in [
            "", "Upper", "-a", "a-", "a..b", ".a", "a.", "a\r\nb", "a_b", "ä",
        ] {
            assert_eq!(
                dns1123_subdomain(bad),
                [
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ],
                "{bad}"
            );
        }
        assert!(dns1123_subdomain(&"a".repeat(253)).is_empty());
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }

    #[test]
    fn namespaces_are_labels() {
        assert!(dns1123_label("kube-system").is_empty());
        assert_eq!(
            dns1123_label("a.b"),
            [
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ]
        );
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
    }
}
