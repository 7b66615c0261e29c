//! `status`: renders the two datastores side by side.

use std::fmt::Write as _;

use crate::console::{Console, OutputFormat};
use crate::convert::cluster_info::LockState;
use crate::error::Error;
use crate::kinds::KINDS;
use crate::session::Session;
use crate::stages::status::{KindCount, StatusReport, status};

/// Status succeeds (exit 0) only when both datastores answered; the report is printed either way.
pub async fn run(session: &Session, console: &Console) -> Result<(), Error> {
    let report = status(session).await;
    match console.format() {
        OutputFormat::Text => console.stdout(&render(&report))?,
        _ => console.data(&report)?,
    }
    let unreachable: Vec<&str> = [
        (!report.kubernetes.found.reach.reachable).then_some("Kubernetes"),
        (!report.etcd.found.reach.reachable).then_some("etcd"),
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
    let kr = &k.found.reach;
    let _ = writeln!(out, "Kubernetes datastore");
    if let (Some(context), Some(server)) = (&k.context, &k.server) {
        let _ = writeln!(out, "  {:<16}{context} ({server})", "Context:");
    }
    let reachable = match &kr.version {
        Some(v) if kr.reachable && kr.error.is_none() => format!("yes, Kubernetes {v}"),
        _ => yes_no(kr.reachable, &kr.error),
    };
    let _ = writeln!(out, "  {:<16}{reachable}", "Reachable:");
    if let Some(hint) = &kr.hint {
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
        let other = match k.crd_api.as_ref().map(|c| c.api) {
            Some(crate::kinds::CrdApi::V1) if crds.served_groups.v3 => Some("projectcalico.org"),
            Some(crate::kinds::CrdApi::V3) if crds.served_groups.v1 => {
                Some("crd.projectcalico.org")
            }
            _ => None,
        };
        if let Some(other) = other {
            let _ = write!(line, "; {other} is served too");
        }
        let _ = writeln!(out, "  {:<16}{line}", "Calico CRDs:");
    }
    if let Some(choice) = &k.crd_api {
        let _ = writeln!(
            out,
            "  {:<16}{} ({})",
            "Calico API:", choice.api, choice.reason
        );
    }
    if kr.lock.is_some() {
        render_calico(&mut out, &k.found.calico_version, kr.lock);
    }

    let e = &report.etcd;
    let er = &e.found.reach;
    let _ = writeln!(out, "\netcd datastore");
    for row in &e.settings {
        let label = format!("{}:", setting_label(row.setting));
        let _ = writeln!(out, "  {label:<16}{} (from {})", row.value, row.source);
    }
    let reachable = match (&er.version, e.revision) {
        (Some(v), Some(rev)) if er.error.is_none() => format!("yes, etcd {v}, revision {rev}"),
        _ => yes_no(er.reachable, &er.error),
    };
    let _ = writeln!(out, "  {:<16}{reachable}", "Reachable:");
    if let Some(hint) = &er.hint {
        let _ = writeln!(out, "  {:<16}{hint}", "Next step:");
    }
    if er.reachable {
        render_calico(&mut out, &e.found.calico_version, er.lock);
    }

    if !k.found.objects.is_empty() || !e.found.objects.is_empty() {
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
            let (etcd, kube) = (find(&e.found.objects), find(&k.found.objects));
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
