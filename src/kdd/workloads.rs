//! Calico's workloads in the cluster: the `calico-node` DaemonSet, whose rollout the migration
//! waits for, and the `calico-kube-controllers` Deployment, which it stops during the copy.

use serde::Serialize;
use serde_json::{Value, json};

use super::rest::{Rest, RestError};

pub const CALICO_NODE: &str = "calico-node";
pub const KUBE_CONTROLLERS: &str = "calico-kube-controllers";

pub fn daemonset_path(namespace: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}")
}

pub fn deployment_path(namespace: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
}

/// Where a DaemonSet's rollout stands, judged as `kubectl rollout status` judges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub done: bool,
    pub desired: i64,
    pub updated: i64,
    pub available: i64,
    /// What it is waiting for, in kubectl's words.
    pub message: String,
}

/// The rollout state of a DaemonSet object.
pub fn daemonset_rollout(daemonset: &Value) -> Result<Rollout, String> {
    let int = |pointer: &str| {
        daemonset
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let name = daemonset
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let strategy = daemonset
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    if strategy != "RollingUpdate" {
        return Err(format!(
            "daemon set {name:?} uses the {strategy} update strategy: its pods are replaced only when deleted, so there is no rollout to wait for"
        ));
    }
    let desired = int("/status/desiredNumberScheduled");
    let updated = int("/status/updatedNumberScheduled");
    let available = int("/status/numberAvailable");
    let rollout = |done, message: String| Rollout {
        done,
        desired,
        updated,
        available,
        message,
    };
    if int("/metadata/generation") > int("/status/observedGeneration") {
        return Ok(rollout(
            false,
            "Waiting for daemon set spec update to be observed...".into(),
        ));
    }
    if updated < desired {
        return Ok(rollout(
            false,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        ));
    }
    if available < desired {
        return Ok(rollout(
            false,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        ));
    }
    Ok(rollout(
        true,
        format!("daemon set {name:?} successfully rolled out"),
    ))
}

/// A Deployment's `spec.replicas` through its `scale` subresource; None when it does not exist.
pub async fn replicas(rest: &Rest, namespace: &str, name: &str) -> Result<Option<i64>, RestError> {
    Ok(rest
        .get(&format!("{}/scale", deployment_path(namespace, name)))
        .await?
        .map(|scale| {
            scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        }))
}

/// Sets a Deployment's replicas through its `scale` subresource.
pub async fn scale(
    rest: &Rest,
    namespace: &str,
    name: &str,
    replicas: i64,
) -> Result<(), RestError> {
    let path = format!("{}/scale", deployment_path(namespace, name));
    let body = json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas},
    });
    rest.replace(&path, &body).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemonset(
        generation: i64,
        observed: i64,
        desired: i64,
        updated: i64,
        available: i64,
    ) -> Value {
        json!({"metadata": {"name": "calico-node", "generation": generation},
            "spec": {"updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                "updatedNumberScheduled": updated, "numberAvailable": available}})
    }

    #[test]
    fn rollout_is_judged_as_kubectl_does() {
        let not_observed = daemonset_rollout(&daemonset(2, 1, 3, 3, 3)).unwrap();
        assert!(!not_observed.done);
        assert_eq!(
            not_observed.message,
            "Waiting for daemon set spec update to be observed..."
        );
        let updating = daemonset_rollout(&daemonset(2, 2, 3, 1, 3)).unwrap();
        assert!(!updating.done);
        assert!(
            updating
                .message
                .contains("1 out of 3 new pods have been updated")
        );
        let starting = daemonset_rollout(&daemonset(2, 2, 3, 3, 2)).unwrap();
        assert!(
            starting
                .message
                .contains("2 of 3 updated pods are available")
        );
        let done = daemonset_rollout(&daemonset(2, 2, 3, 3, 3)).unwrap();
        assert!(done.done);
        assert_eq!(
            done.message,
            "daemon set \"calico-node\" successfully rolled out"
        );
        let mut on_delete = daemonset(1, 1, 1, 1, 1);
        on_delete["spec"]["updateStrategy"]["type"] = json!("OnDelete");
        assert!(daemonset_rollout(&on_delete).is_err());
    }
}
