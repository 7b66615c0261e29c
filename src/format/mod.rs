//! The export file format, and byte-exact reproductions of the Go encoders calicoctl writes it
//! with.

pub mod export_reader;
pub mod export_writer;
pub mod gojson;
pub mod goyaml;
