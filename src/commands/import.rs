//! `import`: renders what the import stage did.

use crate::cli::ImportArgs;
use crate::console::Console;
use crate::error::Error;
use crate::session::Session;
use crate::stages::import::{ImportReport, Problem, import};

pub async fn run(session: &Session, console: &Console, args: &ImportArgs) -> Result<(), Error> {
    let report = import(session, &args.options()).await?;
    print_report(console, &report);
    console.data(&report)?;
    if let Some(failure) = report.failure() {
        return Err(failure);
    }
    if !report.dry_run {
        console.info(format!(
            "Datastore information successfully imported. The Kubernetes datastore stays locked until you unlock it. Next:\n  \
             1. {}   (compares etcd with the Kubernetes datastore)\n  \
             2. apply the Kubernetes-datastore Calico manifest and wait for calico-node to roll out\n  \
             3. {}",
            session.command("verify"),
            session.command("unlock --datastore kubernetes"),
        ));
    }
    Ok(())
}

fn print_report(console: &Console, report: &ImportReport) {
    if let Some(choice) = &report.crd_api {
        console.info(format!("Writing to {} ({}).", choice.api, choice.reason));
    }
    let total: u64 = report.kinds.iter().map(|k| k.total).sum();
    let writes: u64 = report
        .kinds
        .iter()
        .map(|k| k.total - k.unchanged - k.invalid - k.conflicts - k.nodes_not_found)
        .sum();
    console.info(format!(
        "{}: {total} objects for Calico {}; {writes} to write, the rest already there.",
        report.file,
        report
            .target_calico_version
            .as_deref()
            .unwrap_or("(version unknown: newest naming)")
    ));
    if report.dry_run {
        if report.crds_missing.is_empty() {
            console.info("The cluster has every Calico CRD.");
        } else {
            console.info(format!(
                "Would install {} Calico CRDs: {}.",
                report.crds_missing.len(),
                report.crds_missing.join(", ")
            ));
        }
    }
    if !report.crds_created.is_empty() {
        console.info(format!(
            "Installed {} Calico CRDs.",
            report.crds_created.len()
        ));
    }
    if report.locked_datastore {
        console.info("Datastore locked.");
    }
    let mut text = format!(
        "\n{:<32}{:>8}{:>9}{:>11}{:>9}{:>9}{:>11}{:>8}{:>9}{:>9}\n",
        "Kind",
        "total",
        "created",
        "unchanged",
        "updated",
        "deleted",
        "conflicts",
        "failed",
        "invalid",
        "no node"
    );
    for k in &report.kinds {
        text.push_str(&format!(
            "  {:<30}{:>8}{:>9}{:>11}{:>9}{:>9}{:>11}{:>8}{:>9}{:>9}\n",
            k.kind,
            k.total,
            k.created,
            k.unchanged,
            k.updated,
            k.deleted,
            k.conflicts,
            k.failed,
            k.invalid,
            k.nodes_not_found
        ));
    }
    console.info(text.trim_end());
    for rewrite in &report.rewritten {
        console.info(format!("Repaired {rewrite}"));
    }
    for merge in &report.merged {
        console.info(merge.to_string());
    }
    for (field, count) in &report.dropped_fields {
        console.warn(format!("{field}: the target's CRD schema does not know this field; the API server dropped it from {count} object(s)"));
    }
    for warning in &report.warnings {
        console.warn(warning);
    }
    if !report.nodes_not_found.is_empty() {
        console.warn(format!(
            "{} Calico Node(s) have no Kubernetes Node and were not imported: {} (non-Kubernetes nodes cannot be Calico Nodes in the Kubernetes datastore)",
            report.nodes_not_found.len(),
            report.nodes_not_found.join(", ")
        ));
    }
    warn_problems(
        console,
        "left out (the target's schema refuses it)",
        &report.invalid,
    );
    if let Some(file) = &report.skipped_file {
        console.warn(format!(
            "the objects left out are kept in {file}: fix them and create them with kubectl"
        ));
    }
    for extra in &report.only_in_target {
        console.info(format!(
            "The target has {} {} object(s) that are not in the file (left alone), e.g. {}",
            extra.objects.count,
            extra.kind,
            extra.objects.examples.join(", ")
        ));
    }
    for conflict in &report.conflicts {
        console.warn(format!(
            "conflict: {} differs in the target:\n    {}",
            conflict.object,
            conflict.details.join("\n    ")
        ));
    }
    warn_problems(console, "failed", &report.failures);
    if report.dry_run {
        console.info("Dry run: nothing was written.");
    }
    console.detail(
        1,
        format!(
            "{:.1}s ({:.1}s planning, {:.1}s writing), {} writes, {:.0} objects/s, {} retried request(s), {} throttled (429), write concurrency {} at the end",
            report.seconds,
            report.plan_seconds,
            report.write_seconds,
            report.writes,
            report.objects_per_second,
            report.retries,
            report.throttled,
            report.concurrency
        ),
    );
}

fn warn_problems(console: &Console, what: &str, problems: &[Problem]) {
    for problem in problems {
        console.warn(format!(
            "{what}: {}: {}",
            problem.object,
            problem.details.join("; ")
        ));
    }
}
