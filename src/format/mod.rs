//! The export file format calicoctl writes and reads. The Go encoders it is written with live in
//! the `go-compat` crate.

pub mod export_reader;
pub mod export_writer;
