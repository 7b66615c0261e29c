//! The pure conversion core: data in, data out, no clients. Every rule of the spec is a unit
//! test here.

pub mod cluster_info;
pub mod compare;
pub mod ipam;
pub mod kdd;
pub mod keys;
pub mod names;
pub mod nodes;
pub mod resources;
pub mod schema;
pub mod version;
