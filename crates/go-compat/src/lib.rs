//! Go's behaviour, re-created where the plugin and the local API server must match what Go
//! programs (calicoctl, kube-apiserver) write and accept, byte for byte.
//!
//! - [`json`]: `encoding/json`'s `Marshal` and `MarshalIndent` output;
//! - [`yaml`]: `sigs.k8s.io/yaml`'s output (the go-yaml v2 emitter), and YAML read as go-yaml
//!   v2 reads it.
//!
//! Each rule lives here once; the plugin and the local API server both call it.

pub mod json;
pub mod yaml;
