//! `status`: both datastores side by side — reachable or not and why, Calico version, lock
//! state, CRDs, and how many Calico objects each holds per kind.

use std::fmt::Write as _;

use serde::Serialize;

use crate::app::App;
use crate::convert::cluster_info::{LockState, calico_version};
use crate::error::Error;
use crate::etcd::settings::SettingReport;
use crate::kdd::KddStore;
use crate::kinds::{CalicoKind, KINDS, Role};

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub kubernetes: KubernetesStatus,
    pub etcd: EtcdStatus,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    pub context: Option<String>,
    pub server: Option<String>,
    pub reachable: bool,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub version: Option<String>,
    pub calico_crds: Option<CrdReport>,
    pub calico_version: Option<String>,
    pub lock: Option<LockState>,
    pub objects: Vec<KindCount>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdReport {
    pub group_version: String,
    pub installed: usize,
    pub expected: usize,
    pub missing: Vec<&'static str>,
    /// `projectcalico.org/v3` is served too (Calico API server or native v3 CRDs).
    pub v3_served: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdStatus {
    pub settings: Vec<SettingReport>,
    pub reachable: bool,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub version: Option<String>,
    pub revision: Option<i64>,
    pub calico_version: Option<String>,
    pub lock: Option<LockState>,
    pub objects: Vec<KindCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KindCount {
    pub kind: &'static str,
    pub count: u64,
}

/// Status succeeds (exit 0) only when both datastores answered; the report is printed either way.
pub async fn run(app: &App<'_>) -> Result<(), Error> {
    let (kubernetes, etcd) = tokio::join!(kubernetes_status(app), etcd_status(app));
    let report = StatusReport { kubernetes, etcd };
    match app.console.format() {
        crate::console::OutputFormat::Text => app.console.stdout(&render(&report))?,
        _ => app.console.data(&report)?,
    }
    let unreachable: Vec<&str> = [
        (!report.kubernetes.reachable).then_some("Kubernetes"),
        (!report.etcd.reachable).then_some("etcd"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if unreachable.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed {
            message: format!(
                "not every datastore could be reached: {}",
                unreachable.join(", ")
            ),
            hint: Some("see the report above for why".into()),
        })
    }
}

async fn kubernetes_status(app: &App<'_>) -> KubernetesStatus {
    let mut status = KubernetesStatus::default();
    let store = match app.kube().await {
        Ok(target) => {
            status.context = Some(target.context.clone());
            status.server = Some(target.server.clone());
            KddStore::new(target)
        }
        Err(error) => {
            status.hint = error.hint();
            status.error = Some(error.to_string());
            return status;
        }
    };
    if let Err(error) = fill_kubernetes(&store, &mut status).await {
        status.hint = error.hint();
        status.error = Some(error.to_string());
    }
    status
}

async fn fill_kubernetes(store: &KddStore, status: &mut KubernetesStatus) -> Result<(), Error> {
    status.version = Some(store.server_version().await?);
    status.reachable = true;
    let crds = store.crd_state().await?;
    let expected = CalicoKind::with_crd().count();
    status.calico_crds = Some(CrdReport {
        group_version: "crd.projectcalico.org/v1".into(),
        installed: expected - crds.missing().len(),
        expected,
        missing: crds.missing(),
        v3_served: crds.v3_served,
    });
    let cluster_kind = CalicoKind::by_kind("ClusterInformation").expect("in the table");
    if crds.serves(cluster_kind) {
        let info = store.cluster_information().await?;
        status.lock = Some(LockState::of(info.as_ref().map(|o| &o.data)));
        status.calico_version = info
            .as_ref()
            .and_then(|o| calico_version(&o.data))
            .map(str::to_string);
    }
    for kind in KINDS {
        let count = match kind.role {
            Role::Node => store.count_calico_nodes().await?,
            _ if crds.serves(kind) => store.count(kind).await?,
            _ => continue,
        };
        status.objects.push(KindCount {
            kind: kind.kind,
            count,
        });
    }
    Ok(())
}

async fn etcd_status(app: &App<'_>) -> EtcdStatus {
    let mut status = EtcdStatus::default();
    let settings = match app.etcd_settings().await {
        Ok(settings) => settings,
        Err(error) => {
            status.hint = error.hint();
            status.error = Some(error.to_string());
            return status;
        }
    };
    status.settings = settings.report();
    let mut connected = match crate::etcd::connect(settings, app.etcd_timeout()).await {
        Ok(connected) => connected,
        Err(error) => {
            status.hint = error.hint();
            status.error = Some(error.to_string());
            return status;
        }
    };
    status.reachable = true;
    status.version = Some(connected.server_version.clone());
    let store = &mut connected.store;
    let result: Result<(), Error> = async {
        let revision = store.revision().await?;
        status.revision = Some(revision);
        let info = store.cluster_information().await?;
        status.lock = Some(LockState::of(info.as_ref().map(|(v, _)| v)));
        status.calico_version = info
            .as_ref()
            .and_then(|(v, _)| calico_version(v))
            .map(str::to_string);
        for kind in KINDS {
            let prefix = kind.etcd_prefix();
            let count = store.count_prefix(&prefix, revision).await?;
            status.objects.push(KindCount {
                kind: kind.kind,
                count,
            });
        }
        Ok(())
    }
    .await;
    if let Err(error) = result {
        status.hint = error.hint();
        status.error = Some(error.to_string());
    }
    status
}

fn yes_no(reachable: bool, error: &Option<String>) -> String {
    match (reachable, error) {
        (true, None) => "yes".into(),
        (true, Some(e)) => format!("yes, but {e}"),
        (false, Some(e)) => format!("no: {e}"),
        (false, None) => "no".into(),
    }
}

fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let k = &report.kubernetes;
    let _ = writeln!(out, "Kubernetes datastore");
    if let (Some(context), Some(server)) = (&k.context, &k.server) {
        let _ = writeln!(out, "  {:<16}{context} ({server})", "Context:");
    }
    let reachable = match &k.version {
        Some(v) if k.reachable && k.error.is_none() => format!("yes, Kubernetes {v}"),
        _ => yes_no(k.reachable, &k.error),
    };
    let _ = writeln!(out, "  {:<16}{reachable}", "Reachable:");
    if let Some(hint) = &k.hint {
        let _ = writeln!(out, "  {:<16}{hint}", "Next step:");
    }
    if let Some(crds) = &k.calico_crds {
        let mut line = format!(
            "{}/{} installed ({})",
            crds.installed, crds.expected, crds.group_version
        );
        if !crds.missing.is_empty() && crds.installed > 0 {
            let _ = write!(line, "; missing: {}", crds.missing.join(", "));
        }
        if crds.v3_served {
            line.push_str("; projectcalico.org/v3 is served too");
        }
        let _ = writeln!(out, "  {:<16}{line}", "Calico CRDs:");
    }
    if k.lock.is_some() {
        render_calico(&mut out, &k.calico_version, k.lock);
    }

    let e = &report.etcd;
    let _ = writeln!(out, "\netcd datastore");
    for row in &e.settings {
        let label = format!("{}:", setting_label(row.setting));
        let _ = writeln!(out, "  {label:<16}{} (from {})", row.value, row.source);
    }
    let reachable = match (&e.version, e.revision) {
        (Some(v), Some(rev)) if e.error.is_none() => format!("yes, etcd {v}, revision {rev}"),
        _ => yes_no(e.reachable, &e.error),
    };
    let _ = writeln!(out, "  {:<16}{reachable}", "Reachable:");
    if let Some(hint) = &e.hint {
        let _ = writeln!(out, "  {:<16}{hint}", "Next step:");
    }
    if e.reachable {
        render_calico(&mut out, &e.calico_version, e.lock);
    }

    if !k.objects.is_empty() || !e.objects.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<32}{:>10}{:>12}",
            "Calico objects", "etcd", "Kubernetes"
        );
        for kind in KINDS {
            let find = |counts: &[KindCount]| {
                counts
                    .iter()
                    .find(|c| c.kind == kind.kind)
                    .map(|c| c.count.to_string())
            };
            let (etcd, kube) = (find(&e.objects), find(&k.objects));
            if etcd.is_none() && kube.is_none() {
                continue;
            }
            let dash = || "-".to_string();
            let _ = writeln!(
                out,
                "  {:<30}{:>10}{:>12}",
                kind.kind,
                etcd.unwrap_or_else(dash),
                kube.unwrap_or_else(dash)
            );
        }
    }
    out
}

fn render_calico(out: &mut String, version: &Option<String>, lock: Option<LockState>) {
    let _ = writeln!(
        out,
        "  {:<16}{}",
        "Calico version:",
        version.as_deref().unwrap_or("unknown")
    );
    if let Some(lock) = lock {
        let _ = writeln!(out, "  {:<16}{}", "Lock:", lock.describe());
    }
}

fn setting_label(setting: &str) -> &str {
    match setting {
        "endpoints" => "Endpoints",
        "ca" => "CA",
        "cert" => "Client cert",
        "key" => "Client key",
        "username" => "Username",
        "password" => "Password",
        other => other,
    }
}
