//! The Kubernetes side: the kubeconfig connection, what the cluster says about etcd, and the
//! Kubernetes datastore (Calico CRDs).

pub mod client;
pub mod crds;
pub mod etcd_config;
pub mod forbidden;
pub mod ledger;
pub mod limiter;
pub mod manifest;
pub mod rest;
pub mod store;
pub mod target;
pub mod workloads;
pub mod writer;

pub use client::{KubeError, KubeOptions, KubeTarget, connect};
pub use store::{CrdState, KddStore};
