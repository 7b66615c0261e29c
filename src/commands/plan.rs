//! `plan`: renders the preflight; exit 1 when something blocks the migration.

use std::fmt::Write as _;

use crate::cli::PlanArgs;
use crate::console::{Console, OutputFormat, shell_word};
use crate::error::Error;
use crate::session::Session;
use crate::stages::Reach;
use crate::stages::plan::{PlanReport, plan};

pub async fn run(session: &Session, console: &Console, args: &PlanArgs) -> Result<(), Error> {
    let report = plan(session, &args.options()?).await?;
    match console.format() {
        OutputFormat::Text => console.stdout(&render(session, &report, args))?,
        _ => console.data(&report)?,
    }
    if report.ready {
        Ok(())
    } else {
        Err(Error::failed(
            format!(
                "{} problem(s) block the migration; nothing was changed",
                report.blockers.len()
            ),
            format!(
                "fix each as its line says, then run `{}` again",
                session.command("plan")
            ),
        ))
    }
}

fn side(out: &mut String, name: &str, side: &Reach) {
    let state = match (&side.version, &side.error) {
        (Some(version), _) => format!("reachable, {version}"),
        (None, Some(error)) => format!("not reachable: {error}"),
        (None, None) => "not checked".into(),
    };
    let _ = writeln!(out, "  {:<14}{state}", format!("{name}:"));
    if let Some(lock) = side.lock {
        let _ = writeln!(out, "  {:<14}{}", "", lock.describe());
    }
}

fn render(session: &Session, report: &PlanReport, args: &PlanArgs) -> String {
    let mut out = String::from("Datastores\n");
    side(&mut out, "Kubernetes", &report.kubernetes);
    side(&mut out, "etcd", &report.etcd);
    let _ = writeln!(out, "  {:<14}{} served", "Calico APIs:", report.calico_api);
    if let Some(choice) = &report.crd_api {
        let _ = writeln!(
            out,
            "  {:<14}{} ({} of its CRDs installed), because {}",
            "Migrating to:", choice.api, report.crds, choice.reason
        );
    }
    if let Some(version) = &report.calico_version {
        let _ = writeln!(out, "  {:<14}{version}", "Calico:");
    }
    let _ = writeln!(out, "\nWorkloads");
    for workload in report.calico_node.iter().chain(&report.kube_controllers) {
        let state = if workload.found {
            format!("{} desired, {} ready", workload.desired, workload.ready)
        } else {
            "not found".into()
        };
        let _ = writeln!(
            out,
            "  {} {}/{}: {state}",
            workload.kind, workload.namespace, workload.name
        );
    }
    if let Some(manifest) = &report.manifest {
        let _ = writeln!(
            out,
            "  manifest {}: {} objects, sha256 {}",
            manifest.path, manifest.objects, manifest.sha256
        );
    }
    let _ = writeln!(
        out,
        "\nPermissions: {} checked, {}",
        report.permissions_checked,
        if report.denied.is_empty() {
            "all granted".to_string()
        } else {
            format!("{} denied", report.denied.len())
        }
    );
    if !report.objects.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<32}{:>8}{:>10}{:>15}",
            "Objects", "total", "to write", "already there"
        );
        for kind in &report.objects {
            let _ = writeln!(
                out,
                "  {:<30}{:>8}{:>10}{:>15}",
                kind.kind, kind.total, kind.to_write, kind.unchanged
            );
        }
        let _ = writeln!(
            out,
            "\nEstimated lock window: {:.0}s ({})",
            report.lock_window.seconds, report.lock_window.basis
        );
    }
    if let Some(step) = report.journal_step {
        let _ = writeln!(
            out,
            "\nA migration is under way (last finished step: {step:?}); run resumes it."
        );
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if report.blockers.is_empty() {
        let manifest = args
            .manifest
            .as_ref()
            .map(|m| shell_word(&m.display().to_string()))
            .unwrap_or_else(|| "calico.yaml".into());
        let _ = writeln!(
            out,
            "\nReady. Next: {}",
            session.command(&format!("run --manifest {manifest}"))
        );
    } else {
        let _ = writeln!(out, "\nBlocked by {} problem(s):", report.blockers.len());
        for (index, blocker) in report.blockers.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {}\n     fix: {}",
                index + 1,
                blocker.problem,
                blocker.fix
            );
        }
    }
    out
}
