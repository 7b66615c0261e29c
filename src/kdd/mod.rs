//! The Kubernetes side: the kubeconfig connection, what the cluster says about etcd, and the
//! Kubernetes datastore (Calico CRDs).

pub mod client;
pub mod etcd_config;
pub mod store;

pub use client::{KubeError, KubeTarget, connect};
pub use store::{CrdState, KddStore};
