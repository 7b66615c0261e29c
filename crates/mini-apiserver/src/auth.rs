//! Authentication (static bearer tokens), authorization (explicit denials, then RBAC
//! from the Roles, ClusterRoles and bindings stored in the server) and
//! SelfSubjectAccessReview, with kube-apiserver's answers.
//!
//! - A request without a token is the admin (`system:admin`, group `system:masters`),
//!   unless tokens are required; an unknown token is 401 either way. Token users also
//!   belong to `system:authenticated`; members of `system:masters` are admins.
//! - Admins may do anything; others what RBAC grants them: rules with `apiGroups`,
//!   `resources` (`deployments/scale`, `*/status`, `*`), `resourceNames`, `verbs`
//!   (`*`) and `nonResourceURLs`, bound to `User`, `Group` and `ServiceAccount`
//!   subjects by ClusterRoleBindings (everywhere) and RoleBindings (in their
//!   namespace). Aggregated ClusterRoles are not aggregated.
//! - Discovery, `/version`, `/healthz`, `/openapi` and SelfSubjectAccessReview are open
//!   to every authenticated user, as kube's default roles make them.
//! - Explicit denials refuse their requests to everybody, the admin included.

use serde_json::{Map, Value, json};

use crate::Options;
use crate::controls::Denial;
use crate::errors::{ApiError, BadValue, FieldError, FieldErrorType, go_quote, group_resource};
use crate::store::{State, meta_str};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub(crate) fn admin() -> User {
        User {
            name: "system:admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }

    fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// Who makes a request: from `Authorization: Bearer TOKEN`.
pub(crate) fn authenticate(authorization: Option<&str>, s: &Options) -> Result<User, ApiError> {
    let token = authorization
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim);
    match token {
        Some(t) => match s.tokens.iter().find(|u| u.token == t) {
            Some(u) => {
                let mut groups = u.groups.clone();
                if !groups.iter().any(|g| g == "system:authenticated") {
                    groups.push("system:authenticated".into());
                }
                Ok(User {
                    name: u.user.clone(),
                    groups,
                })
            }
            None => Err(unauthorized()),
        },
        None if s.require_token => Err(unauthorized()),
        None => Ok(User::admin()),
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// What a request does, as the authorizer sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
    /// For requests that are not on resources.
    pub path: String,
    pub resource_request: bool,
}

impl Attributes {
    fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The outcome of authorization.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    Allow(String),
    /// Refused by an explicit denial (with the reason).
    Deny(String),
    /// Nothing grants it.
    NoOpinion,
}

fn denial_reason(d: &Denial) -> String {
    format!(
        "denied by the server's explicit denial of {} on {} in API group {}",
        go_quote(&d.verb),
        go_quote(&d.resource),
        go_quote(&d.group)
    )
}

/// Decides a request.
pub(crate) fn authorize(st: &State, s: &Options, user: &User, a: &Attributes) -> Decision {
    if a.resource_request
        && let Some(d) = s
            .denials
            .iter()
            .find(|d| d.matches(&a.verb, &a.group, &a.combined_resource(), &a.namespace))
    {
        return Decision::Deny(denial_reason(d));
    }
    if user.is_admin() {
        return Decision::Allow(
            "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"".into(),
        );
    }
    if !a.resource_request && a.verb == "get" {
        return Decision::Allow(String::new());
    }
    if a.resource_request
        && a.group == "authorization.k8s.io"
        && a.resource == "selfsubjectaccessreviews"
        && a.verb == "create"
    {
        return Decision::Allow(
            "RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"".into(),
        );
    }
    rbac(st, user, a)
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Does one PolicyRule allow the request?
fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strings(rule.get("verbs"));
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return strings(rule.get("nonResourceURLs")).iter().any(|u| {
            *u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
        });
    }
    let groups = strings(rule.get("apiGroups"));
    if !groups.iter().any(|g| *g == "*" || *g == a.group) {
        return false;
    }
    let combined = a.combined_resource();
    let resources = strings(rule.get("resources"));
    let resource_ok = resources.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
    });
    if !resource_ok {
        return false;
    }
    let names = strings(rule.get("resourceNames"));
    names.is_empty() || names.contains(&a.name.as_str())
}

/// How RBAC names a subject in its reasons.
fn describe_subject(s: &Value, binding_ns: &str) -> String {
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    if kind == "ServiceAccount" {
        let ns = s
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_ns);
        format!("{kind} {}", go_quote(&format!("{name}/{ns}")))
    } else {
        format!("{kind} {}", go_quote(name))
    }
}

fn subject_matches(s: &Value, user: &User, binding_ns: &str) -> bool {
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    match kind {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = s
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

/// The rules of the role a binding refers to (a missing role grants nothing).
fn role_rules(st: &State, role_ref: &Value, binding_ns: &str) -> Vec<Value> {
    let kind = role_ref.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = role_ref.get("name").and_then(Value::as_str).unwrap_or("");
    let role = match kind {
        "ClusterRole" => st.get(&format!("{RBAC}/clusterroles"), name),
        "Role" if !binding_ns.is_empty() => {
            st.get(&format!("{RBAC}/roles"), &format!("{binding_ns}/{name}"))
        }
        _ => None,
    };
    role.and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

fn rbac(st: &State, user: &User, a: &Attributes) -> Decision {
    let mut bindings: Vec<(bool, std::sync::Arc<Value>)> = st
        .collection(&format!("{RBAC}/clusterrolebindings"))
        .values()
        .map(|b| (true, std::sync::Arc::clone(b)))
        .collect();
    if !a.namespace.is_empty() {
        let prefix = format!("{}/", a.namespace);
        bindings.extend(
            st.collection(&format!("{RBAC}/rolebindings"))
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, b)| (false, std::sync::Arc::clone(b))),
        );
    }
    for (cluster, b) in bindings {
        let ns = if cluster {
            ""
        } else {
            meta_str(&b, "namespace")
        };
        let Some(subject) = b
            .get("subjects")
            .and_then(Value::as_array)
            .and_then(|ss| ss.iter().find(|s| subject_matches(s, user, ns)))
        else {
            continue;
        };
        let role_ref = b.get("roleRef").cloned().unwrap_or(Value::Null);
        if role_rules(st, &role_ref, ns)
            .iter()
            .any(|r| rule_allows(r, a))
        {
            let s = |k: &str| {
                role_ref
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let name = meta_str(&b, "name");
            let binding = if cluster {
                format!("ClusterRoleBinding {}", go_quote(name))
            } else {
                format!("RoleBinding {}", go_quote(&format!("{name}/{ns}")))
            };
            return Decision::Allow(format!(
                "RBAC: allowed by {binding} of {} {} to {}",
                s("kind"),
                go_quote(&s("name")),
                describe_subject(subject, ns)
            ));
        }
    }
    Decision::NoOpinion
}

/// The 403 of a refused request, worded as kube-apiserver words it.
pub(crate) fn forbidden(user: &User, a: &Attributes, reason: &str) -> ApiError {
    let mut msg = if !a.resource_request {
        format!(
            "User {} cannot {} path {}",
            go_quote(&user.name),
            a.verb,
            go_quote(&a.path)
        )
    } else {
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {}", go_quote(&a.namespace))
        };
        format!(
            "User {} cannot {} resource {} in API group {} {scope}",
            go_quote(&user.name),
            a.verb,
            go_quote(&a.combined_resource()),
            go_quote(&a.group)
        )
    };
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    if !a.resource_request {
        return ApiError::new(403, "Forbidden", format!("forbidden: {msg}"))
            .with_details(json!({}));
    }
    let gr = group_resource(&a.group, &a.resource);
    let message = if a.name.is_empty() {
        format!("{gr} is forbidden: {msg}")
    } else {
        format!("{gr} {} is forbidden: {msg}", go_quote(&a.name))
    };
    let mut d = Map::new();
    if !a.name.is_empty() {
        d.insert("name".into(), json!(a.name));
    }
    if !a.group.is_empty() {
        d.insert("group".into(), json!(a.group));
    }
    d.insert("kind".into(), json!(a.resource));
    ApiError::new(403, "Forbidden", message).with_details(Value::Object(d))
}

/// Answers a SelfSubjectAccessReview for `user` (the created review, status 201).
pub(crate) fn self_subject_access_review(
    st: &State,
    s: &Options,
    user: &User,
    body: &[u8],
) -> Result<Value, ApiError> {
    let review: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let ra = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let nra = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let invalid = |field: &str, detail: &str| {
        ApiError::invalid(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "",
            &[FieldError::new(
                FieldErrorType::Invalid,
                field,
                BadValue::Str("null".into()),
                detail,
            )],
        )
    };
    let str_of = |v: Option<&Value>, k: &str| {
        v.and_then(|x| x.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let a = match (ra, nra) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "spec.nonResourceAttributes",
                "cannot be specified in combination with resourceAttributes",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "spec.resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        (Some(r), None) => Attributes {
            verb: str_of(Some(r), "verb"),
            group: str_of(Some(r), "group"),
            resource: str_of(Some(r), "resource"),
            subresource: str_of(Some(r), "subresource"),
            name: str_of(Some(r), "name"),
            namespace: str_of(Some(r), "namespace"),
            path: String::new(),
            resource_request: true,
        },
        (None, Some(n)) => Attributes {
            verb: str_of(Some(n), "verb"),
            path: str_of(Some(n), "path"),
            ..Attributes::default()
        },
    };
    let mut status = Map::new();
    match authorize(st, s, user, &a) {
        Decision::Allow(reason) => {
            status.insert("allowed".into(), json!(true));
            if !reason.is_empty() {
                status.insert("reason".into(), json!(reason));
            }
        }
        Decision::Deny(reason) => {
            status.insert("allowed".into(), json!(false));
            status.insert("denied".into(), json!(true));
            status.insert("reason".into(), json!(reason));
        }
        Decision::NoOpinion => {
            status.insert("allowed".into(), json!(false));
        }
    }
    Ok(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        name: &str,
        ns: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: ns.into(),
            path: String::new(),
            resource_request: true,
        }
    }

    #[test]
    fn rules_match_like_rbac() {
        let rule = json!({"apiGroups":["apps"],"resources":["deployments/scale","*/status"],"verbs":["get","patch"]});
        let named = json!({"apiGroups":[""],"resources":["configmaps"],"resourceNames":["a"],"verbs":["*"]});
        for (rule, [verb, group, resource, sub, name], allowed) in [
            (&rule, ["patch", "apps", "deployments", "scale", "x"], true),
            (&rule, ["get", "apps", "daemonsets", "status", "x"], true),
            (&rule, ["patch", "apps", "deployments", "", "x"], false),
            (&named, ["update", "", "configmaps", "", "a"], true),
            (&named, ["update", "", "configmaps", "", "b"], false),
        ] {
            let a = attrs(verb, group, resource, sub, name, "ns");
            assert_eq!(rule_allows(rule, &a), allowed, "{rule} {a:?}");
        }
    }

    #[test]
    fn forbidden_messages() {
        let alice = User {
            name: "alice".into(),
            groups: vec![],
        };
        assert_eq!(
            forbidden(&alice, &attrs("patch", "", "nodes", "", "n1", ""), "").message,
            "nodes \"n1\" is forbidden: User \"alice\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
        );
        assert_eq!(
            forbidden(
                &alice,
                &attrs("list", "apps", "deployments", "", "", "kube-system"),
                ""
            )
            .message,
            "deployments.apps is forbidden: User \"alice\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"kube-system\""
        );
    }
}
