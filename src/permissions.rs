//! Every permission the migration uses, in one table: `plan` asks the API server about each
//! with a SelfSubjectAccessReview, and `deploy/rbac.yaml` grants exactly these (a test holds the
//! two together).

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Blocker;
use crate::kdd::forbidden::GRANT_ALL;
pub use crate::kdd::forbidden::{Denied, forbidden_hint};
use crate::kdd::rest::{Rest, RestError};
use crate::kinds::{CalicoKind, CrdApi};

/// Where a permission applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    Cluster,
    /// The namespace of the Calico install.
    CalicoNamespace,
    /// Every namespace (namespaced Calico objects live in the application namespaces).
    AllNamespaces,
}

/// One verb on one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub group: &'static str,
    pub resource: String,
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    /// What the migration needs it for.
    pub why: &'static str,
}

const CALICO_OBJECTS: &[&str] = &[
    "get",
    "list",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// Everything `plan`, `run` and `rollback` do, and the stages under them, when the migration
/// writes to `api`.
pub fn migration(api: CrdApi) -> Vec<Permission> {
    let mut all = vec![
        Permission {
            group: "",
            resource: "configmaps".into(),
            verbs: &["get", "create", "update", "patch"],
            scope: Scope::CalicoNamespace,
            why: "read calico-config (where etcd is), keep the migration's journal, apply the manifest's ConfigMap",
        },
        Permission {
            group: "",
            resource: "secrets".into(),
            verbs: &["get", "patch"],
            scope: Scope::CalicoNamespace,
            why: "read the etcd TLS material in calico-etcd-secrets, apply the etcd manifest's Secret on rollback",
        },
        Permission {
            group: "",
            resource: "namespaces".into(),
            verbs: &["get"],
            scope: Scope::Cluster,
            why: "check that the namespaces of namespaced Calico objects exist",
        },
        Permission {
            group: "",
            resource: "nodes".into(),
            verbs: &["get", "list", "patch"],
            scope: Scope::Cluster,
            why: "write Calico Node data as Node annotations",
        },
        Permission {
            group: "apiextensions.k8s.io",
            resource: "customresourcedefinitions".into(),
            verbs: &["get", "list", "create", "patch", "delete"],
            scope: Scope::Cluster,
            why: "install Calico's CRDs (and delete them on rollback --delete-crds)",
        },
        Permission {
            group: "apps",
            resource: "daemonsets".into(),
            verbs: &["get", "patch"],
            scope: Scope::CalicoNamespace,
            why: "apply the manifest's calico-node and watch its rollout",
        },
        Permission {
            group: "apps",
            resource: "deployments".into(),
            verbs: &["get", "patch"],
            scope: Scope::CalicoNamespace,
            why: "apply the manifest's calico-kube-controllers",
        },
        Permission {
            group: "apps",
            resource: "deployments/scale".into(),
            verbs: &["get", "update"],
            scope: Scope::CalicoNamespace,
            why: "stop calico-kube-controllers during the copy and restore it after",
        },
        Permission {
            group: "",
            resource: "serviceaccounts".into(),
            verbs: &["get", "patch"],
            scope: Scope::CalicoNamespace,
            why: "apply the manifest's service accounts",
        },
        Permission {
            group: "rbac.authorization.k8s.io",
            resource: "clusterroles".into(),
            // Kubernetes lets nobody grant permissions they do not hold: `escalate` lets the
            // manifest's roles be written, `bind` lets its bindings name them.
            verbs: &["get", "patch", "escalate", "bind"],
            scope: Scope::Cluster,
            why: "apply the manifest's cluster roles (which grant more than the migration holds)",
        },
        Permission {
            group: "rbac.authorization.k8s.io",
            resource: "clusterrolebindings".into(),
            verbs: &["get", "patch"],
            scope: Scope::Cluster,
            why: "apply the manifest's cluster role bindings",
        },
        Permission {
            group: "policy",
            resource: "poddisruptionbudgets".into(),
            verbs: &["get", "patch"],
            scope: Scope::CalicoNamespace,
            why: "apply the manifest's pod disruption budget",
        },
    ];
    if api == CrdApi::V3 {
        // What Calico's manifest for native v3 CRDs holds beyond the v1 manifest's kinds.
        for (group, resource, scope) in [
            ("", "services", Scope::CalicoNamespace),
            (
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                Scope::Cluster,
            ),
            (
                "admissionregistration.k8s.io",
                "validatingadmissionpolicies",
                Scope::Cluster,
            ),
            (
                "admissionregistration.k8s.io",
                "validatingadmissionpolicybindings",
                Scope::Cluster,
            ),
            (
                "admissionregistration.k8s.io",
                "mutatingadmissionpolicies",
                Scope::Cluster,
            ),
            (
                "admissionregistration.k8s.io",
                "mutatingadmissionpolicybindings",
                Scope::Cluster,
            ),
        ] {
            all.push(Permission {
                group,
                resource: resource.into(),
                verbs: &["get", "patch"],
                scope,
                why: "apply the manifest for native v3 CRDs (its webhooks and admission policies)",
            });
        }
    }
    for kind in CalicoKind::with_crd() {
        all.push(Permission {
            group: api.group(),
            resource: api.plural(kind).to_string(),
            verbs: CALICO_OBJECTS,
            scope: if kind.namespaced {
                Scope::AllNamespaces
            } else {
                Scope::Cluster
            },
            why: "copy Calico's data (and delete it on rollback)",
        });
    }
    all
}

/// What a migration into either API needs: the permissions `deploy/rbac.yaml` grants.
pub fn any_api() -> Vec<Permission> {
    let mut all: Vec<Permission> = Vec::new();
    for api in CrdApi::ALL {
        for permission in migration(api) {
            if !all.contains(&permission) {
                all.push(permission);
            }
        }
    }
    all
}

/// What `import` uses of [`migration`]: it reads Namespaces, writes Nodes' annotations, installs
/// Calico's CRDs and writes Calico's objects (deleting some only with `sync`).
pub fn import(api: CrdApi, sync: bool) -> Vec<Permission> {
    migration(api)
        .into_iter()
        .filter_map(|mut permission| {
            let verbs: &'static [&'static str] =
                match (permission.group, permission.resource.as_str()) {
                    ("", "namespaces") => &["get"],
                    ("", "nodes") => &["get", "list", "patch"],
                    ("apiextensions.k8s.io", _) => &["get", "list", "create"],
                    (group, _) if group == api.group() && sync => {
                        &["get", "list", "create", "update", "delete"]
                    }
                    (group, _) if group == api.group() => &["get", "list", "create", "update"],
                    _ => return None,
                };
            permission.verbs = verbs;
            Some(permission)
        })
        .collect()
}

/// The denial as something that stops the migration, with what to grant.
pub fn blocker(denied: &Denied) -> Blocker {
    Blocker::new(
        format!(
            "the user may not {denied}, which the migration needs to {}",
            denied.why
        ),
        format!(
            "grant it: verb {:?} on resource {:?} in API group {:?}; {GRANT_ALL}",
            denied.verb, denied.resource, denied.group
        ),
    )
}

/// Asks the API server, with one SelfSubjectAccessReview per verb, which permissions the user
/// lacks.
pub async fn denied(
    rest: &Rest,
    permissions: &[Permission],
    calico_namespace: &str,
) -> Result<Vec<Denied>, RestError> {
    let mut denied = Vec::new();
    for permission in permissions {
        let namespace = match permission.scope {
            Scope::Cluster | Scope::AllNamespaces => None,
            Scope::CalicoNamespace => Some(calico_namespace.to_string()),
        };
        let (resource, subresource) = match permission.resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub)),
            None => (permission.resource.as_str(), None),
        };
        for verb in permission.verbs {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {
                    "verb": verb,
                    "group": permission.group,
                    "resource": resource,
                    "subresource": subresource,
                    "namespace": namespace,
                }},
            });
            let answer = rest
                .review(
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                    &review,
                )
                .await?;
            if answer.pointer("/status/allowed").and_then(Value::as_bool) != Some(true) {
                denied.push(Denied {
                    verb: verb.to_string(),
                    group: permission.group.to_string(),
                    resource: permission.resource.clone(),
                    namespace: namespace.clone(),
                    why: permission.why.to_string(),
                });
            }
        }
    }
    Ok(denied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_calico_kind_with_a_crd_is_covered_in_the_chosen_group() {
        for api in CrdApi::ALL {
            let all = migration(api);
            for kind in CalicoKind::with_crd() {
                assert!(
                    all.iter()
                        .any(|p| p.group == api.group() && p.resource == api.plural(kind)),
                    "{api} {}",
                    kind.plural
                );
            }
            let other = match api {
                CrdApi::V1 => CrdApi::V3,
                CrdApi::V3 => CrdApi::V1,
            };
            assert!(
                !all.iter().any(|p| p.group == other.group()),
                "{api} asks for nothing in {other}"
            );
        }
        let any = any_api();
        assert!(any.iter().any(|p| p.resource == "ipamconfigs"));
        assert!(any.iter().any(|p| p.resource == "ipamconfigurations"));
        assert!(
            any.iter()
                .any(|p| p.resource == "mutatingadmissionpolicies")
        );
    }

    #[test]
    fn denials_read_like_grants() {
        let denied = Denied {
            verb: "patch".into(),
            group: String::new(),
            resource: "nodes".into(),
            namespace: None,
            why: String::new(),
        };
        assert_eq!(denied.to_string(), "patch nodes (API group core)");
    }

    #[test]
    fn import_uses_a_part_of_the_migrations_permissions() {
        for api in CrdApi::ALL {
            let all = migration(api);
            for sync in [false, true] {
                for permission in import(api, sync) {
                    let granted = all
                        .iter()
                        .find(|p| p.group == permission.group && p.resource == permission.resource)
                        .expect("in the migration's table");
                    for verb in permission.verbs {
                        assert!(
                            granted.verbs.contains(verb),
                            "{verb} {}",
                            permission.resource
                        );
                    }
                }
            }
        }
        let deletes = |sync| {
            import(CrdApi::V1, sync)
                .iter()
                .any(|p| p.verbs.contains(&"delete"))
        };
        assert!(!deletes(false));
        assert!(deletes(true));
    }

    #[test]
    fn forbidden_messages_name_what_to_grant() {
        let hint = forbidden_hint(
            r#"nodes "n1" is forbidden: User "alice" cannot patch resource "nodes" in API group "" at the cluster scope"#,
        );
        assert!(
            hint.starts_with("grant the user patch nodes (API group core); "),
            "{hint}"
        );
        assert!(hint.contains("kubectl apply -f deploy/rbac.yaml"), "{hint}");
        let hint = forbidden_hint(
            r#"deployments.apps "calico-kube-controllers" is forbidden: User "alice" cannot update resource "deployments/scale" in API group "apps" in the namespace "kube-system""#,
        );
        assert!(
            hint.starts_with(
                "grant the user update deployments/scale (API group apps) in namespace kube-system; "
            ),
            "{hint}"
        );
        let hint = forbidden_hint("forbidden");
        assert!(hint.contains("deploy/rbac.yaml"), "{hint}");
    }
}
