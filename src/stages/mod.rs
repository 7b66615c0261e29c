//! The stages of a migration. Each is a function that does one job and returns a report of what
//! it did; none prints (the console renders reports). The commands run one stage each; `run` and
//! `rollback` chain them.

pub mod export;
pub mod import;
pub mod lock;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod status;
pub mod verify;

use std::collections::HashMap;

use serde_json::Value;

use crate::convert::kdd::cluster_information_fields;
use crate::convert::schema::Schema;
use crate::convert::version::CalicoVersion;
use crate::error::Error;
use crate::kdd::crds;
use crate::kdd::rest::Rest;

/// The Calico version the Kubernetes datastore's objects are written for: the one the user
/// names, else the one in the source's ClusterInformation. None when neither says (the newest
/// behaviour applies).
pub fn target_version(
    explicit: Option<&str>,
    source_cluster_information: Option<&Value>,
) -> Result<Option<CalicoVersion>, Error> {
    if let Some(text) = explicit {
        return CalicoVersion::parse(text).map(Some).ok_or_else(|| {
            Error::Usage(format!(
                "--calico-version {text:?} is not a Calico version such as v3.28.1"
            ))
        });
    }
    Ok(source_cluster_information
        .and_then(|info| cluster_information_fields(info).1)
        .and_then(|v| CalicoVersion::parse(&v)))
}

/// The schemas the target's API server checks and stores each kind by (see
/// [`crds::target_schemas`]), for import and verify.
async fn target_schemas(
    rest: &Rest,
    release: &crate::convert::versions::Release,
) -> Result<HashMap<String, Schema>, Error> {
    crds::target_schemas(rest, release).await.map_err(|e| {
        Error::failed(
            e.to_string(),
            "check RBAC access to CustomResourceDefinitions",
        )
    })
}
