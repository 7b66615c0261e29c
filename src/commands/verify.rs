//! `verify`: renders the comparison; exit code 3 when the datastores differ.

use crate::cli::VerifyArgs;
use crate::console::Console;
use crate::error::Error;
use crate::session::Session;
use crate::stages::verify::{VerifyReport, verify};

pub async fn run(session: &Session, console: &Console, args: &VerifyArgs) -> Result<(), Error> {
    let report = verify(session, &args.options()?).await?;
    print_report(console, &report);
    console.data(&report)?;
    match report.failure() {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

fn print_report(console: &Console, report: &VerifyReport) {
    for warning in &report.warnings {
        console.warn(warning);
    }
    let api = report
        .crd_api
        .as_ref()
        .map(|choice| format!(" ({})", choice.api))
        .unwrap_or_default();
    let mut text = format!(
        "Compared the Kubernetes datastore{api} with the {}:\n{:<32}{:>8}{:>10}{:>11}{:>9}{:>16}\n",
        report.source, "Kind", "source", "matching", "different", "missing", "only in target"
    );
    for k in &report.kinds {
        text.push_str(&format!(
            "  {:<30}{:>8}{:>10}{:>11}{:>9}{:>16}\n",
            k.kind, k.source, k.matching, k.different, k.missing, k.only_in_target
        ));
    }
    for finding in &report.different {
        text.push_str(&format!("\ndifferent: {} {}", finding.kind, finding.name));
        for detail in &finding.details {
            text.push_str(&format!("\n    {detail}"));
        }
    }
    for (what, findings) in [
        ("missing in the Kubernetes datastore", &report.missing),
        ("only in the Kubernetes datastore", &report.only_in_target),
    ] {
        for finding in findings {
            text.push_str(&format!("\n{what}: {} {}", finding.kind, finding.name));
        }
    }
    for line in &report.cluster_information {
        text.push_str(&format!("\n{line}"));
    }
    if !report.dropped_by_schema.is_empty() {
        text.push_str("\n\nDropped by the target's CRD schema (fields it does not know; not a fault of the import):");
        for (field, count) in &report.dropped_by_schema {
            text.push_str(&format!("\n  {field} ({count} object(s))"));
        }
    }
    for finding in &report.not_written {
        text.push_str(&format!(
            "\nonly in the Kubernetes datastore, not written by the migration (left alone): {} {}",
            finding.kind, finding.name
        ));
    }
    for merge in &report.merged {
        text.push_str(&format!("\n{merge}"));
    }
    if !report.nodes_not_in_kubernetes.is_empty() {
        text.push_str(&format!(
            "\n\nCalico Nodes without a Kubernetes Node (cannot be migrated): {}",
            report.nodes_not_in_kubernetes.join(", ")
        ));
    }
    if report.equal {
        text.push_str("\nThe Kubernetes datastore holds everything the source holds.");
    }
    console.report(&text);
}
