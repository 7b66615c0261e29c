//! One module per subcommand, and what several of them share.

pub mod export;
pub mod import;
pub mod lock;
pub mod status;
pub mod verify;

use std::collections::HashMap;

use crate::convert::schema::Schema;
use crate::error::Error;
use crate::kdd::crds;
use crate::kdd::rest::Rest;

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
