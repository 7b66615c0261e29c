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
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::convert::cluster_info::LockState;
use crate::convert::kdd::{TargetRelease, cluster_information_fields};
use crate::convert::schema::Schema;
use crate::convert::version::CalicoVersion;
use crate::convert::versions::Release;
use crate::error::Error;
use crate::kdd::KddStore;
use crate::kdd::crds;
use crate::kdd::manifest::{Manifest, ManifestDatastore};
use crate::kdd::rest::Rest;
use crate::kinds::{API_GROUP_VARIABLE, ApiChoice, CrdApi, CrdApiRequest};
use crate::session::Session;

/// How far a stage got with one datastore: whether it answered, its version and Calico's lock
/// flag, or why it could not be read and what to do about it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reach {
    pub reachable: bool,
    pub version: Option<String>,
    pub lock: Option<LockState>,
    pub error: Option<String>,
    /// The next step that fixes the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Reach {
    /// The datastore answered, with this version.
    pub fn answered(&mut self, version: String) {
        self.reachable = true;
        self.version = Some(version);
    }

    pub fn failed(&mut self, error: &Error) {
        self.error = Some(error.to_string());
        self.hint = error.hint();
    }
}

/// The manifest a step applies, refused unless it runs calico-node on `datastore`: the
/// Kubernetes-datastore manifest (`calico.yaml`) for `run`, the etcd one for `rollback`.
pub fn read_manifest(path: &Path, datastore: ManifestDatastore) -> Result<Manifest, Error> {
    let (manifest_of, runs_on, file, other) = match datastore {
        ManifestDatastore::Kubernetes => (
            "Kubernetes-datastore",
            "the Kubernetes datastore",
            "calico.yaml",
            "etcd",
        ),
        ManifestDatastore::Etcd => ("etcd-datastore", "etcd", "calico-etcd.yaml", "Kubernetes"),
    };
    let manifest = Manifest::read(path).map_err(|e| {
        Error::failed(
            e.to_string(),
            format!("give the {manifest_of} manifest of your Calico version with --manifest"),
        )
    })?;
    if manifest.datastore() != Some(datastore) {
        return Err(Error::failed(
            format!(
                "manifest {} does not run calico-node on {runs_on}",
                manifest.path
            ),
            format!("give the {manifest_of} manifest ({file}), not the {other} one"),
        ));
    }
    Ok(manifest)
}

/// The API group a command works on, chosen once per command and handed to the stages under
/// it: the one a migration under way writes (its journal's), else `--crd-api` when given, else
/// as Calico chooses (`CALICO_API_GROUP`, then what the cluster serves). `--crd-api` naming
/// another API than the journal's is refused: the migration's objects are in the other one.
pub async fn choose_api(
    session: &Session,
    store: &KddStore,
    request: CrdApiRequest,
) -> Result<ApiChoice, Error> {
    let journal = match session.rest(None).await {
        Ok(rest) => crate::journal::Stored::load(&rest, &session.namespace)
            .await
            .ok()
            .flatten()
            .map(|stored| stored.journal)
            .filter(|journal| !journal.rolled_back()),
        Err(_) => None,
    };
    if let Some(recorded) = journal.and_then(|j| j.crd_api) {
        if let CrdApiRequest::Given(given) = request
            && given != recorded
        {
            return Err(Error::failed(
                format!(
                    "--crd-api {} differs from {recorded}, which the migration under way writes",
                    given.version()
                ),
                "run without --crd-api (the migration's journal keeps its API), or roll the migration back and start over",
            ));
        }
        return Ok(ApiChoice {
            api: recorded,
            reason: format!(
                "the migration under way writes it (its journal, ConfigMap {})",
                crate::journal::JOURNAL_NAME
            ),
        });
    }
    let variable = std::env::var(API_GROUP_VARIABLE).ok();
    let served = store.served_groups().await?;
    Ok(crate::kinds::choose_api(
        request,
        variable.as_deref(),
        served,
    ))
}

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

/// The target import and verify write and compare for: the release (see [`target_version`])
/// and the API. Native v3 CRDs need a release that has them: a named older release is refused,
/// and a source's older release gives way to the newest release this tool knows, with a note
/// saying so.
pub fn target(
    explicit: Option<&str>,
    source_cluster_information: Option<&Value>,
    api: CrdApi,
) -> Result<(TargetRelease, Option<String>), Error> {
    let version = target_version(explicit, source_cluster_information)?;
    let now = crate::kdd::store::now_rfc3339();
    if api == CrdApi::V3 && !Release::of(version).has_native_v3() {
        let newest = Release::of(None).tag;
        let older = version.map(|v| v.to_string()).unwrap_or_default();
        if explicit.is_some() {
            return Err(Error::Usage(format!(
                "Calico {older} cannot run on native projectcalico.org/v3 CRDs (they came with Calico v3.32.0): name a later release with --calico-version, or use --crd-api v1"
            )));
        }
        let note = format!(
            "the source runs Calico {older}, which has no native projectcalico.org/v3 CRDs: objects are written as Calico {newest} writes them (name the release the cluster will run with --calico-version)"
        );
        return Ok((
            TargetRelease::new(Some(newest), now).with_api(api),
            Some(note),
        ));
    }
    Ok((TargetRelease::new(version, now).with_api(api), None))
}

/// What import and verify work on: the Kubernetes datastore in the chosen API, the choice,
/// and the target the objects are converted for (with a note when its release was adjusted).
pub struct Destination {
    pub store: KddStore,
    pub choice: ApiChoice,
    pub target: TargetRelease,
    pub note: Option<String>,
}

/// What a stage was asked to write to or compare with: `--crd-api` and `--calico-version`.
pub trait DestinationOptions {
    fn crd_api(&self) -> CrdApiRequest;
    fn calico_version(&self) -> Option<&str>;
}

impl DestinationOptions for import::ImportOptions {
    fn crd_api(&self) -> CrdApiRequest {
        self.crd_api
    }
    fn calico_version(&self) -> Option<&str> {
        self.calico_version.as_deref()
    }
}

impl DestinationOptions for verify::VerifyOptions {
    fn crd_api(&self) -> CrdApiRequest {
        self.crd_api
    }
    fn calico_version(&self) -> Option<&str> {
        self.calico_version.as_deref()
    }
}

/// The [`Destination`] of a file whose ClusterInformation is `source_cluster_information`.
pub async fn destination(
    session: &Session,
    options: &impl DestinationOptions,
    source_cluster_information: Option<&Value>,
) -> Result<Destination, Error> {
    let store = session.kdd().await?;
    let choice = choose_api(session, &store, options.crd_api()).await?;
    let (target, note) = target(
        options.calico_version(),
        source_cluster_information,
        choice.api,
    )?;
    Ok(Destination {
        store: store.with_api(choice.api),
        choice,
        target,
        note,
    })
}

/// The schemas the target's API server checks and stores each kind by (see
/// [`crds::target_schemas`]), for import and verify.
async fn target_schemas(
    rest: &Rest,
    target: &TargetRelease,
) -> Result<HashMap<String, Schema>, Error> {
    crds::target_schemas(rest, target.api, &target.release)
        .await
        .map_err(|e| {
            Error::failed(
                e.to_string(),
                "check RBAC access to CustomResourceDefinitions",
            )
        })
}
