//! The journal of a migration, kept in the cluster (ConfigMap `calico-migrate-state` in the
//! Calico namespace) so that `run` and `rollback` resume from wherever they stopped, from any
//! machine with the same kubeconfig context: the step reached, the backup file and its sha256,
//! the node map, where etcd is (saved before the Kubernetes-datastore manifest replaces
//! `calico-config`), the replicas `calico-kube-controllers` had, and when each step ran. It
//! holds no secret: the etcd TLS material stays in its Secret, which that manifest leaves alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::Error;
use crate::kdd::rest::{Rest, RestError};
use crate::kinds::CrdApi;

pub const JOURNAL_NAME: &str = "calico-migrate-state";
const KEY: &str = "journal.json";
const FORMAT: u32 = 1;

/// The steps of `run`, in order; the journal records the last one finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    #[default]
    Started,
    ControllersStopped,
    PreCopied,
    EtcdLocked,
    BackedUp,
    Copied,
    Verified,
    ManifestApplied,
    RolledOut,
    Unlocked,
}

/// The steps of `rollback`, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStep {
    #[default]
    Started,
    KubernetesLocked,
    DataDeleted,
    ManifestApplied,
    RolledOut,
    ControllersRestored,
    EtcdUnlocked,
}

/// A file the migration wrote or read, and its content's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub sha256: String,
}

/// Where etcd is, as `calico-config` said when the migration began (no secrets in it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedEtcd {
    pub config_map: String,
    pub secret: String,
    /// `etcd_endpoints`, `etcd_ca`, `etcd_cert`, `etcd_key` of the ConfigMap.
    pub data: BTreeMap<String, String>,
}

/// How long one step took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTime {
    pub name: String,
    pub seconds: f64,
    pub finished: String,
}

/// When the migration began and was last recorded, and when it passed the steps that bound
/// the lock window and the point of no return (RFC 3339).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Times {
    pub started: String,
    pub updated: String,
    pub etcd_locked_at: Option<String>,
    pub verified_at: Option<String>,
    pub unlocked_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Journal {
    pub format: u32,
    #[serde(flatten)]
    pub times: Times,
    pub step: Step,
    pub manifest: Option<FileRecord>,
    pub backup: Option<FileRecord>,
    /// What the pre-copy saw of every object (its ledger), kept on the machine that ran it:
    /// the copy under the lock compares with it instead of listing the target.
    pub pre_copy_ledger: Option<FileRecord>,
    pub node_map: BTreeMap<String, String>,
    /// The API group the migration writes to, chosen when it began: a resumed run, its
    /// rollback and the commands in between work on the same one.
    pub crd_api: Option<CrdApi>,
    pub etcd: Option<SavedEtcd>,
    /// `calico-kube-controllers` replicas before the migration stopped it.
    pub kube_controllers_replicas: Option<i64>,
    pub steps: Vec<StepTime>,
    /// The last failure, and the step it stopped.
    pub failure: Option<String>,
    pub rollback: Option<RollbackJournal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RollbackJournal {
    pub started: String,
    pub step: RollbackStep,
    pub manifest: Option<FileRecord>,
    pub finished: Option<String>,
}

impl Journal {
    pub fn new(now: String) -> Journal {
        Journal {
            format: FORMAT,
            times: Times {
                started: now.clone(),
                updated: now,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Whether the migration reached the point of no return.
    pub fn unlocked(&self) -> bool {
        self.step >= Step::Unlocked
    }

    /// Whether a rollback finished since (a new run then starts afresh).
    pub fn rolled_back(&self) -> bool {
        self.rollback
            .as_ref()
            .is_some_and(|r| r.step >= RollbackStep::EtcdUnlocked)
    }

    pub fn record_step(&mut self, step: Step, name: &str, seconds: f64, now: &str) {
        self.step = step;
        self.failure = None;
        self.times.updated = now.to_string();
        self.steps.push(StepTime {
            name: name.to_string(),
            seconds,
            finished: now.to_string(),
        });
    }
}

/// The journal in the cluster, with the resourceVersion it was read at: every save is
/// conditional on it, so two runs working on one cluster cannot both go on.
pub struct Stored {
    pub journal: Journal,
    resource_version: Option<String>,
    namespace: String,
}

impl Stored {
    /// Reads the journal of the Calico install in `namespace`; None when there is none.
    pub async fn load(rest: &Rest, namespace: &str) -> Result<Option<Stored>, Error> {
        let Some(found) = rest
            .get(&journal_path(namespace))
            .await
            .map_err(journal_error("reading"))?
        else {
            return Ok(None);
        };
        let text = found
            .get("data")
            .and_then(|d| d.get(KEY))
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let journal: Journal = serde_json::from_str(text).map_err(|e| {
            Error::failed(
                format!("the migration journal ConfigMap {namespace}/{JOURNAL_NAME} cannot be read: {e}"),
                format!("inspect it with `kubectl -n {namespace} get configmap {JOURNAL_NAME} -o yaml`; delete it only if no migration is under way"),
            )
        })?;
        Ok(Some(Stored {
            journal,
            resource_version: found
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            namespace: namespace.to_string(),
        }))
    }

    /// A journal not saved yet.
    pub fn fresh(namespace: &str, journal: Journal) -> Stored {
        Stored {
            journal,
            resource_version: None,
            namespace: namespace.to_string(),
        }
    }

    pub async fn save(&mut self, rest: &Rest) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(&self.journal).expect("the journal serializes");
        let namespace = &self.namespace;
        let mut body = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": JOURNAL_NAME,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": crate::kdd::rest::FIELD_MANAGER},
            },
            "data": {KEY: text},
        });
        let path = journal_path(namespace);
        let answer = match &self.resource_version {
            None => {
                let collection = path.rsplit_once('/').map(|(c, _)| c).unwrap_or(&path);
                rest.create(collection, &body).await
            }
            Some(version) => {
                body["metadata"]["resourceVersion"] = json!(version);
                rest.replace(&path, &body).await
            }
        };
        match answer {
            Ok(answer) => {
                self.resource_version = answer
                    .body
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Ok(())
            }
            // A journal created or changed by someone else since this command read it.
            Err(e) if e.is(409) => Err(Error::failed(
                format!(
                    "the migration journal {namespace}/{JOURNAL_NAME} changed under this command: another kubectl calico-migrate run or rollback is working on this cluster"
                ),
                "let the other one finish (or stop it), then run this command again: it resumes from the journal",
            )),
            Err(e) => Err(journal_error("writing")(e)),
        }
    }
}

fn journal_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/configmaps/{JOURNAL_NAME}")
}

fn journal_error(doing: &'static str) -> impl Fn(RestError) -> Error {
    move |e| {
        Error::failed(
            format!("{doing} the migration journal ConfigMap {JOURNAL_NAME}: {e}"),
            "the user needs get, create and update on ConfigMaps in the Calico namespace (see deploy/rbac.yaml)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_ordered_and_named_for_people() {
        assert!(Step::PreCopied < Step::EtcdLocked);
        assert!(Step::RolledOut < Step::Unlocked);
        assert_eq!(serde_json::to_value(Step::PreCopied).unwrap(), "pre-copied");
        assert_eq!(
            serde_json::to_value(RollbackStep::EtcdUnlocked).unwrap(),
            "etcd-unlocked"
        );
    }

    #[test]
    fn journals_round_trip_and_tolerate_unknown_fields() {
        let mut journal = Journal::new("2026-12-02T10:00:00Z".into());
        journal.record_step(Step::EtcdLocked, "lock etcd", 0.1, "2026-12-02T10:01:00Z");
        journal.node_map.insert("a.example.com".into(), "a".into());
        journal.crd_api = Some(CrdApi::V3);
        let text = serde_json::to_string(&journal).unwrap();
        let back: Journal = serde_json::from_str(&text).unwrap();
        assert_eq!(back, journal);
        let newer: Journal =
            serde_json::from_str(r#"{"format":1,"step":"copied","somethingNew":true}"#).unwrap();
        assert_eq!(newer.step, Step::Copied);
        assert_eq!(newer.crd_api, None, "journals from before the choice");
        assert!(text.contains(r#""crdApi":"v3""#), "{text}");
        assert!(
            text.contains(r#""started":"2026-12-02T10:00:00Z""#),
            "{text}"
        );
    }
}
