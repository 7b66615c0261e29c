//! The command-line layer: one module per subcommand, each running its stage and rendering the
//! stage's report for people (text) or as data (`-o json|yaml`).

pub mod completion;
pub mod export;
pub mod import;
pub mod lock;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod status;
pub mod verify;
pub mod version;

use crate::cli::Command;

/// What a command stopped by Ctrl-C tells the user: the error line, with what it had done
/// (`counted`: what its progress counted), and the hint, with what of it is kept and the
/// command line that goes on from there.
pub fn interrupted(command: &Command, counted: &[String], command_line: &str) -> (String, String) {
    let (done, kept, again) = match command {
        Command::Export(args) => (
            "read so far",
            match &args.file {
                Some(file) => format!(
                    "{} (an export file appears whole or not at all)",
                    crate::atomic_file::left_as_it_was(file)
                ),
                None => "the export printed so far is incomplete: discard it".into(),
            },
            "to export from the start",
        ),
        Command::Import(_) => (
            "imported so far",
            "what was written is kept and counts as done".into(),
            "to finish the import",
        ),
        Command::Verify(_) => (
            "compared so far",
            "nothing was changed".into(),
            "to compare again",
        ),
        Command::Run(_) | Command::Rollback(_) => (
            "done so far",
            "every finished step is recorded in the migration journal (ConfigMap calico-migrate-state)".into(),
            "to go on from the step that was interrupted",
        ),
        Command::Lock(_) | Command::Unlock(_) => (
            "done so far",
            "the lock is one write, made or not: `kubectl calico-migrate status` shows which".into(),
            "to make sure",
        ),
        Command::Plan(_) | Command::Status | Command::Version | Command::Completion(_) => (
            "done so far",
            "nothing was changed".into(),
            "to start again",
        ),
    };
    let message = if counted.is_empty() {
        "interrupted".to_string()
    } else {
        format!("interrupted ({done}: {})", counted.join(", "))
    };
    (
        message,
        format!("{kept}; run `{command_line}` again {again}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn command(args: &[&str]) -> Command {
        let mut line = vec!["kubectl-calico_migrate"];
        line.extend_from_slice(args);
        crate::cli::Cli::try_parse_from(line).unwrap().command
    }

    #[test]
    fn an_interruption_says_what_was_done_what_is_kept_and_how_to_go_on() {
        let (message, hint) = interrupted(
            &command(&["import", "-f", "x.export"]),
            &["IPPool 3/3".into(), "Tier 2/5".into()],
            "kubectl calico-migrate import -f x.export",
        );
        assert_eq!(
            message,
            "interrupted (imported so far: IPPool 3/3, Tier 2/5)"
        );
        assert_eq!(
            hint,
            "what was written is kept and counts as done; run `kubectl calico-migrate import -f x.export` again to finish the import"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new.export");
        let export = command(&["export", "-f", file.to_str().unwrap()]);
        let (message, hint) = interrupted(&export, &[], "kubectl calico-migrate export");
        assert_eq!(message, "interrupted");
        assert!(
            hint.starts_with(&format!("no file was written to {}", file.display())),
            "{hint}"
        );
        std::fs::write(&file, "old").unwrap();
        let (_, hint) = interrupted(&export, &[], "kubectl calico-migrate export");
        assert!(
            hint.starts_with(&format!("{} is unchanged", file.display())),
            "{hint}"
        );
        let (_, hint) = interrupted(&command(&["export"]), &[], "x");
        assert!(
            hint.starts_with("the export printed so far is incomplete"),
            "{hint}"
        );
    }
}
