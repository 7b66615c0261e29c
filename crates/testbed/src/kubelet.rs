//! A stand-in for the kubelets and the scheduler that a real test cluster without nodes lacks.
//!
//! On such a cluster the DaemonSet controller creates calico-node's pods, one per matching
//! Node, but nothing runs them: they stay Pending, and a rollout never finishes. The simulated
//! kubelet reports every pod of one namespace as running and ready, as a kubelet does once
//! the containers pass their readiness probes; the DaemonSet controller then counts them, and
//! rolls a changed DaemonSet out pod by pod as on a working cluster. The pods stay unbound
//! (no `nodeName`): the DaemonSet controller does not need it, and an unbound pod is deleted
//! at once, where a bound one would wait for its kubelet to confirm.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};

use crate::block_on;

/// How often the pods are looked at.
const PERIOD: Duration = Duration::from_millis(200);

#[derive(Default)]
struct State {
    stop: AtomicBool,
    paused: AtomicBool,
}

/// The simulated kubelet of one namespace; it stops when dropped.
pub struct Kubelet {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl Kubelet {
    pub(crate) fn start(kubeconfig: PathBuf, namespace: String) -> Kubelet {
        let state = Arc::new(State::default());
        let thread = std::thread::spawn({
            let state = state.clone();
            move || run(&state, &kubeconfig, &namespace)
        });
        Kubelet {
            state,
            thread: Some(thread),
        }
    }

    /// New pods stay unready (as when calico-node fails its readiness probe) until
    /// [`Kubelet::resume`].
    pub fn pause(&self) {
        self.state.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.state.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(state: &State, kubeconfig: &std::path::Path, namespace: &str) {
    let client = match block_on(crate::kube_side::client_for(kubeconfig)) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("simulated kubelet: no client: {e:#}");
            return;
        }
    };
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    while !state.stop.load(Ordering::SeqCst) {
        if !state.paused.load(Ordering::SeqCst)
            && let Err(e) = block_on(start_pods(&pods))
        {
            eprintln!("simulated kubelet: {e:#}");
        }
        std::thread::sleep(PERIOD);
    }
}

/// Reports every pod that is not ready yet, and not being deleted, as running and ready.
async fn start_pods(pods: &Api<Pod>) -> Result<()> {
    for pod in pods.list(&ListParams::default()).await? {
        if pod.metadata.deletion_timestamp.is_some() || is_ready(&pod) {
            continue;
        }
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        let status = serde_json::json!({"status": running_status()});
        match pods
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
        {
            Ok(_) => {}
            // Deleted meanwhile (a rolling update replaces pods).
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// What a kubelet reports once a pod's containers run and pass their readiness probes.
fn running_status() -> PodStatus {
    let now = Time(Timestamp::now());
    let condition = |type_: &str| PodCondition {
        type_: type_.into(),
        status: "True".into(),
        last_transition_time: Some(now.clone()),
        ..Default::default()
    };
    PodStatus {
        phase: Some("Running".into()),
        start_time: Some(now.clone()),
        conditions: Some(
            ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
                .into_iter()
                .map(condition)
                .collect(),
        ),
        ..Default::default()
    }
}
