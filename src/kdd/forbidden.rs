//! What a 403 from the API server means: which permission was denied, and what to grant.
//! The table of every permission the migration uses is the `permissions` module, a layer above.

use serde::Serialize;

/// Where the user finds every permission the migration needs.
pub const GRANT_ALL: &str = "deploy/rbac.yaml has every permission the migration uses: edit its subjects and namespace, then `kubectl apply -f deploy/rbac.yaml` as a cluster admin";

/// What to do about a 403 whose message is kube-apiserver's (`... User "u" cannot patch resource
/// "nodes" in API group "" at the cluster scope`): grant that verb on that resource.
pub fn forbidden_hint(message: &str) -> String {
    let quoted = |after: &str| -> Option<String> {
        let rest = &message[message.find(after)? + after.len()..];
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    let verb = message
        .find(" cannot ")
        .and_then(|at| message[at + 8..].split(' ').next())
        .map(str::to_string);
    match (verb, quoted(" resource "), quoted(" in API group ")) {
        (Some(verb), Some(resource), Some(group)) => {
            let denied = Denied {
                verb,
                group,
                resource,
                namespace: quoted(" in the namespace "),
                why: String::new(),
            };
            format!("grant the user {denied}; {GRANT_ALL}")
        }
        _ => format!("the user lacks a permission the migration needs; {GRANT_ALL}"),
    }
}

/// A permission the API server says the user lacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denied {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub namespace: Option<String>,
    pub why: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core".to_string()
        } else {
            self.group.clone()
        };
        write!(
            f,
            "{} {} (API group {group}){}",
            self.verb,
            self.resource,
            match &self.namespace {
                Some(ns) => format!(" in namespace {ns}"),
                None => String::new(),
            }
        )
    }
}
