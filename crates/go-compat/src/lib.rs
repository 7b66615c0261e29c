//! Go's behaviour, re-created where the plugin and the local API server must match what Go
//! programs (calicoctl, kube-apiserver) write and accept, byte for byte.
//!
//! - [`json`]: `encoding/json`'s `Marshal` and `MarshalIndent` output;
//! - [`net`]: IP addresses, CIDRs and MAC addresses as Go's `net` package parses them;
//! - [`regexp`]: Go (RE2) regular expressions translated for the `regex` crate;
//! - [`strconv`]: `%q` quoting and `%v`/`%#v` printing of JSON values, as in messages;
//! - [`time`]: `time.ParseDuration` and `Duration.String()`;
//! - [`yaml`]: `sigs.k8s.io/yaml`'s output (the go-yaml v2 emitter), and YAML read as go-yaml
//!   v2 reads it.
//!
//! Each rule lives here once; the plugin and the local API server both call it.

pub mod json;
pub mod net;
pub mod regexp;
pub mod strconv;
pub mod time;
pub mod yaml;
