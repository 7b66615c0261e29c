//! Where the objects to migrate come from, converted by the pure core on the way: the live etcd
//! datastore read at one revision ([`etcd`], for export and verify), or an export file read in a
//! thread and handed over a group at a time ([`file`], for import and verify).

pub mod etcd;
pub mod file;
