//! Shell completion, two ways:
//!
//! - `completion bash|zsh|fish|powershell|elvish` prints a script (clap_complete) that completes
//!   the binary itself, `kubectl-calico_migrate ...`.
//! - `kubectl calico-migrate <TAB>` goes through kubectl's own completion, which (kubectl 1.26 and
//!   later) runs `kubectl_complete-calico_migrate` from PATH with the words typed after the plugin
//!   name, the last one being the word to complete (empty for a new word), and reads one candidate
//!   per line (`value<TAB>description`) followed by a `:<directive>` line, cobra's `__complete`
//!   format. The script shipped in the release archive calls the hidden [`COMPLETE_COMMAND`],
//!   answered by [`complete`] from the same clap definition that parses the command line, so the
//!   candidates never drift from the real commands and flags.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::builder::{ArgAction, ValueHint};
use clap::{Arg, CommandFactory};

use crate::cli::{Cli, CompletionArgs};
use crate::console::Console;
use crate::error::Error;

/// The hidden command kubectl's completion script calls; handled before the command line is
/// parsed, since a partial command line need not parse.
pub const COMPLETE_COMMAND: &str = "__complete";

/// The name the generated scripts complete: the binary as found on PATH.
const BIN_NAME: &str = "kubectl-calico_migrate";

/// clap_complete's bash script cannot follow subcommands when the program name has a hyphen
/// (clap issue 6421): it is generated under this name and registered for [`BIN_NAME`].
const BASH_FUNCTION_NAME: &str = "kubectl_calico_migrate";

pub fn run(console: &Console, args: &CompletionArgs) -> Result<(), Error> {
    console.stdout(&script(args.shell))?;
    Ok(())
}

/// The completion script for `shell`.
pub fn script(shell: clap_complete::Shell) -> String {
    let generate = |name: &str| {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), name, &mut script);
        String::from_utf8_lossy(&script).into_owned()
    };
    match shell {
        clap_complete::Shell::Bash => register_for(&generate(BASH_FUNCTION_NAME), BIN_NAME),
        _ => generate(BIN_NAME),
    }
}

/// Points the `complete -F FUNCTION ... NAME` lines of a bash script at `command`.
fn register_for(bash_script: &str, command: &str) -> String {
    let mut out = String::with_capacity(bash_script.len());
    for line in bash_script.lines() {
        let registration = line.trim_start().starts_with("complete -F ");
        match line.rsplit_once(' ') {
            Some((head, _name)) if registration => {
                out.push_str(head);
                out.push(' ');
                out.push_str(command);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Answers `kubectl-calico_migrate __complete WORD... CURRENT` in cobra's format.
pub fn complete_main(words: &[OsString]) -> ExitCode {
    let words: Vec<String> = words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let answer = complete(Cli::command(), &words).render();
    let mut out = std::io::stdout().lock();
    // A closed pipe means the shell stopped listening; there is no one left to tell.
    let _ = out.write_all(answer.as_bytes()).and_then(|()| out.flush());
    ExitCode::SUCCESS
}

/// Cobra's shell completion directives, which kubectl passes on to its completion scripts.
pub mod directive {
    /// Complete file names when there are no candidates.
    pub const DEFAULT: u32 = 0;
    /// Offer nothing beyond the candidates.
    pub const NO_FILE_COMP: u32 = 4;
    /// Complete directory names only.
    pub const FILTER_DIRS: u32 = 16;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub help: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    pub candidates: Vec<Candidate>,
    pub directive: u32,
}

impl Completions {
    fn none(directive: u32) -> Completions {
        Completions {
            candidates: Vec::new(),
            directive,
        }
    }

    /// One `value<TAB>description` line per candidate, then `:<directive>`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for candidate in &self.candidates {
            text.push_str(&candidate.value);
            if !candidate.help.is_empty() {
                text.push('\t');
                text.push_str(&candidate.help);
            }
            text.push('\n');
        }
        text.push_str(&format!(":{}\n", self.directive));
        text
    }

    pub fn values(&self) -> Vec<&str> {
        self.candidates.iter().map(|c| c.value.as_str()).collect()
    }
}

/// The candidates for the last of `words` (the words typed after the program name; the last
/// one is the partial word, empty for a new one), walking `command` as clap would parse them.
pub fn complete(mut command: clap::Command, words: &[String]) -> Completions {
    // Building propagates the global flags to every subcommand and adds help and version.
    command.build();
    let (current, typed) = match words.split_last() {
        Some((current, typed)) => (current.as_str(), typed),
        None => ("", &[][..]),
    };
    let state = walk(&command, typed);

    if let Some(arg) = state.pending_value {
        return values(arg, current, "");
    }
    if state.only_positionals {
        return positional_values(state.command, state.positionals, current);
    }
    if let Some((name, value)) = current
        .strip_prefix("--")
        .and_then(|rest| rest.split_once('='))
    {
        return match find_long(state.command, name) {
            Some(arg) if arg.get_action().takes_values() => {
                values(arg, value, &current[..current.len() - value.len()])
            }
            _ => Completions::none(directive::NO_FILE_COMP),
        };
    }
    if current.starts_with('-') {
        return flags(state.command, &state.seen, current);
    }
    let mut completions = positional_values(state.command, state.positionals, current);
    if state.positionals == 0 {
        let subcommands = subcommands(state.command, current);
        if !subcommands.is_empty() {
            completions = Completions {
                candidates: subcommands,
                directive: directive::NO_FILE_COMP,
            };
        }
    }
    completions
}

/// Where the typed words leave the parser.
struct State<'a> {
    command: &'a clap::Command,
    /// An option whose value the next word is.
    pending_value: Option<&'a Arg>,
    /// Arguments given so far, to leave out flags that may not repeat.
    seen: Vec<&'a str>,
    /// Positional arguments of `command` given so far.
    positionals: usize,
    /// After `--`: every word is positional.
    only_positionals: bool,
}

fn walk<'a>(root: &'a clap::Command, typed: &[String]) -> State<'a> {
    let mut state = State {
        command: root,
        pending_value: None,
        seen: Vec::new(),
        positionals: 0,
        only_positionals: false,
    };
    for word in typed {
        if state.pending_value.take().is_some() {
            continue;
        }
        if state.only_positionals {
            state.positionals += 1;
        } else if word == "--" {
            state.only_positionals = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            if let Some(arg) = find_long(state.command, name) {
                state.seen.push(arg.get_id().as_str());
                if arg.get_action().takes_values() && !value {
                    state.pending_value = Some(arg);
                }
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster such as `-vv` or `-nkube-system`: flags until one that takes a value,
            // which takes the rest of the word, or the next word when nothing is left.
            for (at, short) in shorts.char_indices() {
                let Some(arg) = state
                    .command
                    .get_arguments()
                    .find(|a| a.get_short() == Some(short))
                else {
                    break;
                };
                state.seen.push(arg.get_id().as_str());
                if arg.get_action().takes_values() {
                    if at + short.len_utf8() == shorts.len() {
                        state.pending_value = Some(arg);
                    }
                    break;
                }
            }
        } else if let Some(sub) = (state.positionals == 0)
            .then(|| state.command.find_subcommand(word))
            .flatten()
        {
            // Flags seen so far stay seen: the global ones carry over to the subcommand.
            state.command = sub;
        } else {
            state.positionals += 1;
        }
    }
    state
}

fn find_long<'a>(command: &'a clap::Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|a| {
        a.get_long_and_visible_aliases()
            .is_some_and(|names| names.contains(&name))
    })
}

fn subcommands(command: &clap::Command, prefix: &str) -> Vec<Candidate> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name().starts_with(prefix))
        .map(|sub| Candidate {
            value: sub.get_name().to_string(),
            help: first_line(sub.get_about().map(ToString::to_string)),
        })
        .collect()
}

/// Flags of `command` that start with `prefix`: long names, and short ones unless `--` was typed.
/// Flags already given are left out unless they may repeat.
fn flags(command: &clap::Command, seen: &[&str], prefix: &str) -> Completions {
    let mut candidates = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_positional() || arg.is_hide_set() {
            continue;
        }
        let repeats = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        if !repeats && seen.contains(&arg.get_id().as_str()) {
            continue;
        }
        let help = first_line(arg.get_help().map(ToString::to_string));
        let names = arg
            .get_long()
            .map(|long| format!("--{long}"))
            .into_iter()
            .chain(arg.get_short().map(|short| format!("-{short}")));
        for name in names.filter(|name| name.starts_with(prefix)) {
            candidates.push(Candidate {
                value: name,
                help: help.clone(),
            });
        }
    }
    Completions {
        candidates,
        directive: directive::NO_FILE_COMP,
    }
}

fn positional_values(command: &clap::Command, given: usize, current: &str) -> Completions {
    let mut positionals = command.get_positionals();
    let arg = positionals.nth(given).or_else(|| {
        // A positional that takes several values keeps taking them.
        command
            .get_positionals()
            .last()
            .filter(|last| last.get_num_args().is_some_and(|n| n.max_values() > 1))
    });
    match arg {
        Some(arg) => values(arg, current, ""),
        None => Completions::none(directive::NO_FILE_COMP),
    }
}

/// The values an argument takes, each written after `prefix` (`--flag=` when the value is typed
/// in the same word). Paths are left to the shell's own file completion.
fn values(arg: &Arg, current: &str, prefix: &str) -> Completions {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        return Completions {
            candidates: possible
                .iter()
                .filter(|value| !value.is_hide_set() && value.get_name().starts_with(current))
                .map(|value| Candidate {
                    value: format!("{prefix}{}", value.get_name()),
                    help: first_line(value.get_help().map(ToString::to_string)),
                })
                .collect(),
            directive: directive::NO_FILE_COMP,
        };
    }
    match arg.get_value_hint() {
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::ExecutablePath => {
            Completions::none(directive::DEFAULT)
        }
        ValueHint::DirPath => Completions::none(directive::FILTER_DIRS),
        _ => Completions::none(directive::NO_FILE_COMP),
    }
}

/// Descriptions are one line, without tabs (a tab separates value and description).
fn first_line(text: Option<String>) -> String {
    text.unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .replace('\t', " ")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_line(words: &[&str]) -> Completions {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        complete(Cli::command(), &words)
    }

    #[test]
    fn a_partial_subcommand_offers_the_subcommands_it_starts() {
        let completions = complete_line(&["im"]);
        assert_eq!(completions.values(), ["import"]);
        assert_eq!(completions.directive, directive::NO_FILE_COMP);
        assert_eq!(
            completions.candidates[0].help,
            "Import an export file into the Kubernetes datastore (resumable)"
        );
    }

    #[test]
    fn a_new_word_offers_every_visible_subcommand() {
        let values = complete_line(&[""]).values().join(" ");
        for name in [
            "status",
            "lock",
            "unlock",
            "export",
            "import",
            "verify",
            "version",
            "completion",
        ] {
            assert!(values.contains(name), "{name} missing from {values}");
        }
        assert!(!values.contains(COMPLETE_COMMAND));
        assert_eq!(complete_line(&[]).values(), complete_line(&[""]).values());
    }

    #[test]
    fn flags_after_a_subcommand_include_its_own_and_the_global_ones() {
        let completions = complete_line(&["import", "--"]);
        let values = completions.values();
        for flag in [
            "--file",
            "--dry-run",
            "--overwrite",
            "--namespace",
            "--kubeconfig",
        ] {
            assert!(values.contains(&flag), "{flag} missing from {values:?}");
        }
        assert!(values.iter().all(|v| v.starts_with("--")), "{values:?}");
        assert_eq!(completions.directive, directive::NO_FILE_COMP);

        let values = complete_line(&["import", "--dr"]).values().join(" ");
        assert_eq!(values, "--dry-run");
        let short = complete_line(&["import", "-"]).values().join(" ");
        assert!(short.contains("-f") && short.contains("--file"), "{short}");
    }

    #[test]
    fn flags_already_given_are_not_offered_again_unless_they_repeat() {
        let values = complete_line(&["import", "--dry-run", "-v", "--"])
            .values()
            .join(" ");
        assert!(!values.contains("--dry-run"), "{values}");
        assert!(values.contains("--verbose"), "{values}");
    }

    #[test]
    fn global_flags_given_before_the_subcommand_are_not_offered_after_it() {
        let completions = complete_line(&["-n", "calico-system", "import", "--"]);
        let values = completions.values();
        assert!(!values.contains(&"--namespace"), "{values:?}");
        assert!(values.contains(&"--context"), "{values:?}");
    }

    #[test]
    fn option_values_come_from_the_possible_values() {
        let completions = complete_line(&["lock", "--datastore", ""]);
        assert_eq!(completions.values(), ["etcd", "kubernetes"]);
        assert_eq!(completions.directive, directive::NO_FILE_COMP);
        assert_eq!(
            complete_line(&["lock", "--datastore", "k"]).values(),
            ["kubernetes"]
        );
        assert_eq!(
            complete_line(&["lock", "--datastore=e"]).values(),
            ["--datastore=etcd"]
        );
        assert_eq!(
            complete_line(&["status", "-o", ""]).values(),
            ["text", "json", "yaml"]
        );
        assert_eq!(complete_line(&["-oj"]).values(), Vec::<&str>::new());
    }

    #[test]
    fn path_values_are_left_to_the_shell_and_free_text_gets_nothing() {
        for words in [
            &["import", "-f", ""][..],
            &["import", "--file", "calico"],
            &["--kubeconfig", ""],
            &["import", "--file=x"],
        ] {
            let completions = complete_line(words);
            assert_eq!(completions.directive, directive::DEFAULT, "{words:?}");
            assert!(completions.candidates.is_empty(), "{words:?}");
        }
        let context = complete_line(&["status", "--context", ""]);
        assert_eq!(context, Completions::none(directive::NO_FILE_COMP));
    }

    #[test]
    fn global_flags_before_the_subcommand_are_skipped_with_their_values() {
        assert_eq!(
            complete_line(&["-n", "calico-system", "--context=prod", "-vv", "st"]).values(),
            ["status"]
        );
        assert_eq!(
            complete_line(&["--namespace", "verify", "ver"]).values(),
            ["verify", "version"]
        );
    }

    #[test]
    fn positional_values_complete_the_completion_shell() {
        let values = complete_line(&["completion", ""]).values().join(" ");
        for shell in ["bash", "zsh", "fish", "powershell"] {
            assert!(values.contains(shell), "{values}");
        }
        assert_eq!(complete_line(&["completion", "z"]).values(), ["zsh"]);
        assert_eq!(
            complete_line(&["completion", "zsh", ""]),
            Completions::none(directive::NO_FILE_COMP)
        );
    }

    #[test]
    fn unknown_words_offer_nothing_rather_than_fail() {
        assert_eq!(
            complete_line(&["nonsense", ""]),
            Completions::none(directive::NO_FILE_COMP)
        );
        assert_eq!(
            complete_line(&["status", "--no-such-flag", "x"]).candidates,
            []
        );
        assert_eq!(complete_line(&["--", ""]).candidates, []);
    }

    #[test]
    fn renders_cobra_lines_and_the_directive_last() {
        let completions = Completions {
            candidates: vec![
                Candidate {
                    value: "import".into(),
                    help: "Import a file".into(),
                },
                Candidate {
                    value: "--x".into(),
                    help: String::new(),
                },
            ],
            directive: directive::NO_FILE_COMP,
        };
        assert_eq!(completions.render(), "import\tImport a file\n--x\n:4\n");
        assert_eq!(Completions::none(0).render(), ":0\n");
    }

    #[test]
    fn the_bash_script_registers_for_the_binary() {
        let script = script(clap_complete::Shell::Bash);
        let registrations: Vec<&str> = script
            .lines()
            .filter(|l| l.trim_start().starts_with("complete -F"))
            .collect();
        assert!(!registrations.is_empty());
        for line in registrations {
            assert!(
                line.starts_with("    complete -F _kubectl_calico_migrate ")
                    && line.ends_with(" kubectl-calico_migrate"),
                "{line}"
            );
        }
        assert!(script.contains("kubectl_calico_migrate__subcmd__import)"));
    }

    #[test]
    fn descriptions_are_single_lines_without_tabs() {
        assert_eq!(
            first_line(Some("one\ttwo\nthree".into())),
            "one two".to_string()
        );
        assert_eq!(first_line(None), "");
    }
}
