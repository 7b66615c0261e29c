//! Shared harness: run the real binary as a user would, against a real etcd and the local API
//! server (or the cluster named by CALICO_MIGRATE_TEST_KUBECONFIG).

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use testbed::{CalicoInstall, Dataset, EtcdMode};

/// Variables that would leak the developer's own settings into a test.
const SCRUBBED: &[&str] = &[
    "KUBECONFIG",
    "ETCD_ENDPOINTS",
    "ETCD_CA_CERT_FILE",
    "ETCD_CERT_FILE",
    "ETCD_KEY_FILE",
    "ETCD_USERNAME",
    "ETCD_PASSWORD",
    "ETCD_DISCOVERY_SRV",
];

/// The plugin binary with a clean environment and the given kubeconfig.
pub fn plugin(kubeconfig: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kubectl-calico_migrate").expect("the plugin binary is built");
    for name in SCRUBBED {
        cmd.env_remove(name);
    }
    cmd.env("KUBECONFIG", kubeconfig)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", std::env::temp_dir());
    cmd
}

/// A running install, with the plugin pointed at its namespace.
pub struct Env {
    pub install: CalicoInstall,
}

impl Env {
    pub fn start(mode: EtcdMode) -> Env {
        Env {
            install: CalicoInstall::start(mode).expect("the test bed starts"),
        }
    }

    /// An install loaded with a dataset.
    pub fn with(mode: EtcdMode, dataset: &Dataset) -> Env {
        let env = Env::start(mode);
        env.install.load(dataset).expect("the dataset loads");
        env
    }

    /// The plugin, with `-n` set to the install's namespace.
    pub fn plugin(&self) -> Command {
        let mut cmd = plugin(self.install.kube.kubeconfig());
        cmd.args(["-n", self.install.namespace()]);
        cmd
    }

    pub fn namespace(&self) -> &str {
        self.install.namespace()
    }

    /// Writes the minimal etcd content every Calico install has.
    pub fn put_cluster_information(&self, datastore_ready: bool) {
        let value = testbed::calico::cluster_information("v3.28.0", datastore_ready);
        self.install
            .etcd
            .put(testbed::calico::CLUSTER_INFORMATION_KEY, &value.to_string())
            .expect("etcd put");
    }
}

/// Parses a command's stdout as JSON.
pub fn json_output(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
