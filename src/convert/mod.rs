//! The pure conversion core: data in, data out, no clients. Every rule of the spec is a unit
//! test here.

pub mod cluster_info;
