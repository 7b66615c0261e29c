//! Test bed for kubectl calico-migrate: real etcd processes, TLS material, the local
//! Kubernetes API server (or a real cluster), and Calico datasets in the etcd formats of
//! several Calico releases (docs/design.md §4). Tests, the benchmark and the sandbox all build
//! on it.

pub mod calico;
pub mod datasets;
pub mod etcd;
pub mod install;
pub mod kube_side;
pub mod kubelet;
pub mod pki;
pub mod proxy;

pub use calico::Dataset;
pub use etcd::{Etcd, EtcdMode};
pub use install::CalicoInstall;
pub use kube_side::KubeSide;
pub use pki::Pki;

use std::future::Future;

/// Variables that would leak the developer's own settings into a run of the plugin: tests and
/// the benchmark remove them from its environment.
pub const SCRUBBED_ENV: &[&str] = &[
    "KUBECONFIG",
    "ETCD_ENDPOINTS",
    "ETCD_CA_CERT_FILE",
    "ETCD_CERT_FILE",
    "ETCD_KEY_FILE",
    "ETCD_USERNAME",
    "ETCD_PASSWORD",
    "ETCD_DISCOVERY_SRV",
    "CALICO_API_GROUP",
];
use std::sync::OnceLock;

/// Runs a future to completion on a runtime shared by the blocking helpers of this crate.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime for the test bed")
    });
    runtime.block_on(future)
}
