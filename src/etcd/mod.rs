//! The etcd side: where the connection settings come from, connecting, and the store.

pub mod connect;
pub mod settings;
pub mod store;

pub use connect::{Connected, EtcdError, connect};
pub use settings::{
    ClusterConfig, DEFAULT_CONFIG_MAP, DEFAULT_SECRET, EtcdOverrides, EtcdSettings,
};
pub use store::EtcdStore;
