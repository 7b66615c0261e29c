//! The plugin run through kubectl, as users run it, when kubectl is installed.

mod common;

use common::{Env, json_output, stderr, stdout};
use testbed::{EtcdMode, calico};

/// A PATH on which kubectl finds our binary as `kubectl-calico_migrate`.
fn plugin_path() -> std::ffi::OsString {
    let binary = assert_cmd::cargo::cargo_bin("kubectl-calico_migrate");
    common::path_with(binary.parent().unwrap())
}

#[test]
fn runs_as_kubectl_calico_migrate() {
    let Some(kubectl) = common::kubectl() else {
        eprintln!("kubectl is not installed: skipping");
        return;
    };
    let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
    let run = |args: &[&str]| {
        std::process::Command::new(&kubectl)
            .env("PATH", plugin_path())
            .env("KUBECONFIG", env.install.kube.kubeconfig())
            .env("RUST_BACKTRACE", "0")
            .arg("calico-migrate")
            .args(["-n", env.namespace()])
            .args(args)
            .output()
            .unwrap()
    };

    let help = run(&["--help"]);
    assert!(help.status.success(), "{}", stderr(&help));
    assert!(
        stdout(&help).contains("Usage: kubectl calico-migrate [OPTIONS] <COMMAND>"),
        "{}",
        stdout(&help)
    );

    let status = run(&["status", "-o", "json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let status = json_output(&status);
    assert_eq!(status["etcd"]["reachable"], true);
    assert_eq!(status["kubernetes"]["reachable"], true);

    let lock = run(&["lock", "--datastore", "etcd"]);
    assert_eq!(stdout(&lock), "Datastore locked.\n");
    let unlock = run(&["unlock", "--datastore", "etcd"]);
    assert_eq!(stdout(&unlock), "Datastore unlocked.\n");

    // Exit codes pass through kubectl.
    let bad = run(&["lock", "--datastore", "nowhere"]);
    assert_eq!(bad.status.code(), Some(2));

    // The whole migration, as the README tells users to run it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calico-etcd.export");
    let file = file.to_str().unwrap();
    let verify_before = run(&["verify"]);
    assert_eq!(verify_before.status.code(), Some(3), "nothing imported yet");
    for step in [
        vec!["lock", "--datastore", "etcd"],
        vec!["export", "--full", "-f", file],
        vec!["import", "-f", file],
        vec!["verify"],
    ] {
        let output = run(&step);
        assert!(
            output.status.success(),
            "{step:?}: {}\n{}",
            stdout(&output),
            stderr(&output)
        );
    }
    let unlock = run(&["unlock", "--datastore", "kubernetes"]);
    assert_eq!(stdout(&unlock), "Datastore unlocked.\n");
}
