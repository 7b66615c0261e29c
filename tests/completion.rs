//! Shell completion: the scripts `completion SHELL` prints, and the `kubectl_complete-calico_migrate`
//! helper that kubectl runs to complete `kubectl calico-migrate <TAB>`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_contains, assert_printed, stderr, stdout};

fn plugin() -> assert_cmd::Command {
    common::plugin(Path::new("/nonexistent"))
}

/// The helper as shipped in the release archive.
fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("krew/kubectl_complete-calico_migrate")
}

/// A directory holding the plugin and the helper side by side, as krew's bin directory does
/// once the helper is copied there, and a PATH that starts with it.
struct Installed {
    dir: tempfile::TempDir,
}

impl Installed {
    fn new() -> Installed {
        let dir = tempfile::tempdir().unwrap();
        let plugin = assert_cmd::cargo::cargo_bin("kubectl-calico_migrate");
        std::os::unix::fs::symlink(plugin, dir.path().join("kubectl-calico_migrate")).unwrap();
        std::fs::copy(helper(), dir.path().join("kubectl_complete-calico_migrate")).unwrap();
        Installed { dir }
    }

    fn path(&self) -> std::ffi::OsString {
        common::path_with(self.dir.path())
    }

    /// What the helper answers for the words after `kubectl calico-migrate`.
    fn complete(&self, words: &[&str]) -> Output {
        Command::new(self.dir.path().join("kubectl_complete-calico_migrate"))
            .args(words)
            .env("PATH", self.path())
            .output()
            .unwrap()
    }
}

/// The candidates (values only) and the directive of a cobra-format answer.
fn parse(output: &Output) -> (Vec<String>, u32) {
    assert!(output.status.success(), "{}", stderr(output));
    let text = stdout(output);
    let mut lines: Vec<&str> = text.lines().collect();
    let directive = lines
        .pop()
        .and_then(|last| last.strip_prefix(':'))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no :<directive> last line in {text:?}"));
    let values = lines
        .iter()
        .map(|line| line.split('\t').next().unwrap().to_string())
        .collect();
    (values, directive)
}

#[test]
fn completion_prints_a_script_for_every_shell() {
    for (shell, marker) in [
        (
            "bash",
            "complete -F _kubectl_calico_migrate -o nosort -o bashdefault -o default kubectl-calico_migrate",
        ),
        ("zsh", "#compdef kubectl-calico_migrate"),
        ("fish", "complete -c kubectl-calico_migrate"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'kubectl-calico_migrate'",
        ),
    ] {
        let output = plugin().args(["completion", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        assert_contains(&stdout(&output), marker);
        assert_contains(&stdout(&output), "import");
        assert_contains(&stdout(&output), "datastore");
    }

    let output = plugin().args(["completion", "tcsh"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "possible values: bash");
}

/// The bash script, sourced into a real bash, completes subcommands and their flags' values.
#[test]
fn the_bash_script_completes_subcommands_and_flag_values() {
    let script = plugin().args(["completion", "bash"]).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("completion.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    // bash's completion function takes the command, the current word and the previous one.
    let probe = r#"
        source "$1"
        complete_words() {
            COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
            _kubectl_calico_migrate kubectl-calico_migrate "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            echo "${COMPREPLY[*]}"
        }
        complete_words kubectl-calico_migrate im
        complete_words kubectl-calico_migrate lock --datastore ''
        complete_words kubectl-calico_migrate import --dr
    "#;
    let output = Command::new("bash")
        .args(["-c", probe, "probe"])
        .arg(&file)
        .output()
        .unwrap();
    assert_printed(&output, "import\netcd kubernetes\n--dry-run\n");
}

#[test]
fn the_kubectl_helper_answers_partial_command_lines() {
    let installed = Installed::new();

    let (values, directive) = parse(&installed.complete(&["im"]));
    assert_eq!(values, ["import"]);
    assert_eq!(directive, 4, "no file names where a subcommand goes");
    assert_contains(
        &stdout(&installed.complete(&["im"])),
        "import\tImport an export file",
    );

    let (values, _) = parse(&installed.complete(&[""]));
    for command in [
        "status", "lock", "unlock", "export", "import", "verify", "version",
    ] {
        assert!(
            values.iter().any(|v| v == command),
            "{command} in {values:?}"
        );
    }

    // Flags after a subcommand: its own and the global ones.
    let (values, directive) = parse(&installed.complete(&["import", "--"]));
    for flag in [
        "--file",
        "--dry-run",
        "--concurrency",
        "--namespace",
        "--context",
    ] {
        assert!(values.iter().any(|v| v == flag), "{flag} in {values:?}");
    }
    assert_eq!(directive, 4);

    // A flag's values, and file names (directive 0) where a path goes.
    let (values, _) = parse(&installed.complete(&["unlock", "--datastore", "k"]));
    assert_eq!(values, ["kubernetes"]);
    let (values, directive) = parse(&installed.complete(&["export", "-f", ""]));
    assert!(values.is_empty(), "{values:?}");
    assert_eq!(directive, 0);

    // Global flags and their values before the subcommand.
    let (values, _) = parse(&installed.complete(&["-n", "calico-system", "ve"]));
    assert_eq!(values, ["verify", "version"]);
}

#[test]
fn the_helper_finds_the_plugin_on_path_when_not_beside_it() {
    let bin = tempfile::tempdir().unwrap();
    let plugin = assert_cmd::cargo::cargo_bin("kubectl-calico_migrate");
    std::os::unix::fs::symlink(plugin, bin.path().join("kubectl-calico_migrate")).unwrap();
    let output = Command::new(helper())
        .arg("stat")
        .env("PATH", common::path_with(bin.path()))
        .output()
        .unwrap();
    assert_eq!(parse(&output).0, ["status"]);
}

/// kubectl itself completes `kubectl calico-migrate im<TAB>` through the helper.
#[test]
fn kubectl_completes_the_plugin_through_the_helper() {
    let Some(kubectl) = common::kubectl() else {
        eprintln!("kubectl is not installed: skipping");
        return;
    };
    if !common::kubectl_completes_plugins(&kubectl) {
        eprintln!("kubectl is older than 1.26, which added plugin completion: skipping");
        return;
    }
    let installed = Installed::new();
    let kubectl_complete = |words: &[&str]| {
        let home = tempfile::tempdir().unwrap();
        Command::new(&kubectl)
            .arg("__complete")
            .arg("calico-migrate")
            .args(words)
            .env("PATH", installed.path())
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("none"))
            .output()
            .unwrap()
    };
    let (values, directive) = parse(&kubectl_complete(&["im"]));
    assert_eq!(values, ["import"]);
    assert_eq!(directive, 4);
    let (values, _) = parse(&kubectl_complete(&["lock", "--datastore", ""]));
    assert_eq!(values, ["etcd", "kubernetes"]);
}
