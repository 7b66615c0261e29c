//! Byte-exact reproductions of the Go encoders calicoctl writes its files with.

pub mod gojson;
