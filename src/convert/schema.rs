//! What kube-apiserver stores for a custom resource, predicted from the CRD's structural schema
//! (docs/design.md §14): unknown fields pruned, non-nullable nulls pruned, defaults applied, and
//! the fractional durations the v3.32.1 FelixConfiguration patterns reject rewritten beforehand;
//! and what it rejects, with its causes worded as the server words them ([`Schema::validate`]).
//!
//! The engine is the `kube-schema` crate, which the local API server uses too; the plugin's
//! defaults match the servers it migrates to (CEL rules evaluated, Kubernetes 1.24 wording).

pub use kube_schema::{
    Applied, FieldError, Rewrite, RewriteReason, Schema, Seg, render_path, set_at, value_at,
};
