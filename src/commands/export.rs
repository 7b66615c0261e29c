//! `export`: renders what the export stage did.

use std::path::Path;

use crate::cli::ExportArgs;
use crate::console::{Console, OutputFormat};
use crate::error::Error;
use crate::session::Session;
use crate::source;
use crate::stages::export::{ExportReport, export};

pub async fn run(session: &Session, console: &Console, args: &ExportArgs) -> Result<(), Error> {
    if args.file.is_none() && console.format() != OutputFormat::Text {
        return Err(Error::Usage(
            "-o json|yaml prints the export summary on stdout, so the export itself needs -f FILE"
                .into(),
        ));
    }
    let options = args.options()?;
    let report = export(session, &options).await?;
    print_report(console, &report, options.file.as_deref());
    console.data(&report)?;
    Ok(())
}

fn print_report(console: &Console, report: &ExportReport, file: Option<&Path>) {
    for detail in &report.data.details {
        console.detail(1, detail);
    }
    console.info(format!(
        "Exported etcd revision {} (Calico {}).",
        report.revision,
        report
            .calico_version
            .as_deref()
            .unwrap_or("version unknown")
    ));
    let mut text = format!(
        "\n{:<32}{:>10}{:>9}{:>11}{:>9}\n",
        "Kind", "exported", "renamed", "rewritten", "skipped"
    );
    for kind in &report.data.kinds {
        text.push_str(&format!(
            "  {:<30}{:>10}{:>9}{:>11}{:>9}\n",
            kind.kind,
            kind.exported,
            kind.renamed,
            kind.rewritten,
            kind.skipped_total()
        ));
        for skipped in &kind.skipped {
            text.push_str(&format!(
                "      skipped {}: {}\n",
                skipped.count, skipped.reason
            ));
        }
    }
    if !report.keys.not_migrated.is_empty() {
        text.push_str("\nNot migrated:\n");
        for entry in &report.keys.not_migrated {
            text.push_str(&format!(
                "  {:<30}{:>10}  {}\n",
                entry.what, entry.count, entry.reason
            ));
        }
    }
    if !report.node_renames.is_empty() {
        text.push_str("\nNode renames (etcd → Kubernetes):\n");
        for rename in &report.node_renames {
            text.push_str(&format!("  {} → {}\n", rename.etcd, rename.kubernetes));
        }
    }
    let handled = source::etcd::keys_handled(&report.data);
    let not_migrated: u64 = report.keys.not_migrated.iter().map(|n| n.count).sum();
    text.push_str(&format!(
        "\nKeys under /calico/ at revision {}: {} = {} read for migration + {} not migrated + {} unknown\n",
        report.revision, report.keys.total, report.keys.migrated_kinds, not_migrated, report.keys.unknown.count
    ));
    console.info(text.trim_end());
    if handled != report.keys.migrated_kinds {
        console.warn(format!(
            "the data pass handled {handled} keys but {} keys of migrated kinds exist; some were not read",
            report.keys.migrated_kinds
        ));
    }
    if report.keys.unknown.count > 0 {
        console.warn(format!(
            "{} key(s) under /calico/ are not Calico datastore keys this tool knows and were not migrated, e.g. {}",
            report.keys.unknown.count,
            report.keys.unknown.examples.join(", ")
        ));
    }
    for warning in &report.data.warnings {
        console.warn(warning);
    }
    if let Some(path) = file {
        console.info(format!(
            "Wrote {} ({}).",
            path.display(),
            source::etcd::file_form(report.data.full, report.calico_version.as_deref())
        ));
    }
}
