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

/// The plugin as a plain process, for tests that must start it and stop it halfway.
pub fn plugin_process(kubeconfig: &Path) -> std::process::Command {
    let mut cmd =
        std::process::Command::new(assert_cmd::cargo::cargo_bin("kubectl-calico_migrate"));
    for name in SCRUBBED {
        cmd.env_remove(name);
    }
    cmd.env("KUBECONFIG", kubeconfig)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1");
    cmd
}

/// A running install, with the plugin pointed at its namespace.
pub struct Env {
    pub install: CalicoInstall,
    /// The data loaded, its namespaces renamed for this test (see [`Env::ns`]).
    pub dataset: Dataset,
}

impl Env {
    pub fn start(mode: EtcdMode) -> Env {
        Env {
            install: CalicoInstall::start(mode).expect("the test bed starts"),
            dataset: Dataset::default(),
        }
    }

    /// An install loaded with a dataset whose namespaces are this test's own: `shop` in the
    /// dataset is `env.ns("shop")` in etcd and in the cluster.
    pub fn with(mode: EtcdMode, dataset: &Dataset) -> Env {
        let mut env = Env::start(mode);
        env.dataset = dataset.with_namespaces_renamed(|ns| env.ns(ns));
        env.install.load(&env.dataset).expect("the dataset loads");
        env
    }

    /// This test's name for a namespace of a dataset or a file (`default` and `kube-*` stay).
    pub fn ns(&self, name: &str) -> String {
        self.install.kube.test_namespace(name)
    }

    /// `text` (an export file, YAML) with the namespaces named renamed as [`Env::ns`] does.
    pub fn with_test_namespaces(&self, text: &str, names: &[&str]) -> String {
        names.iter().fold(text.to_string(), |text, name| {
            text.replace(
                &format!("namespace: {name}\n"),
                &format!("namespace: {}\n", self.ns(name)),
            )
        })
    }

    /// A TLS install loaded with a dataset, its etcd datastore locked as export requires.
    pub fn locked(dataset: &Dataset) -> Env {
        let env = Env::with(EtcdMode::Tls, dataset);
        env.lock_etcd();
        env
    }

    /// Locks the etcd datastore, as export requires.
    pub fn lock_etcd(&self) {
        let output = self
            .plugin()
            .args(["lock", "--datastore", "etcd"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }

    /// `export -f FILE` with more arguments, which must succeed: the file, the output, and
    /// the temporary directory that holds the file.
    pub fn export_to_file(
        &self,
        args: &[&str],
    ) -> (std::path::PathBuf, std::process::Output, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("snapshot");
        let output = self
            .plugin()
            .arg("export")
            .arg("-f")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "export: {}", stderr(&output));
        (file, output, dir)
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

/// kubectl from PATH, when it is installed.
pub fn kubectl() -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// PATH with `dir` first, as a user puts a plugin directory (krew's bin) before the rest.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let system = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&system)))
        .expect("PATH entries join")
}

/// Whether this kubectl completes plugins' arguments through `kubectl_complete-<plugin>`
/// (kubectl 1.26 and later).
pub fn kubectl_completes_plugins(kubectl: &Path) -> bool {
    let Ok(output) = std::process::Command::new(kubectl)
        .args(["version", "--client", "-o", "json"])
        .output()
    else {
        return false;
    };
    let Ok(version) = serde_json::from_slice::<serde_json::Value>(&output.stdout) else {
        return false;
    };
    let number = |field: &str| -> Option<u32> {
        let text = version["clientVersion"][field].as_str()?;
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    matches!((number("major"), number("minor")), (Some(major), Some(minor)) if (major, minor) >= (1, 26))
}

/// The JSON report of a command that must have succeeded; a failure shows both outputs.
pub fn succeeded(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    json_output(output)
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

/// An install loaded with a dataset, etcd locked, and exported to a file in the full form
/// (`export --full`, what this tool's own migration carries): the state in which an operator
/// imports. calicoctl's form is tested against the real calicoctl's files in golden.rs.
pub struct Exported {
    pub env: Env,
    pub file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Exported {
    pub fn new(dataset: &Dataset, export_args: &[&str]) -> Exported {
        let env = Env::locked(dataset);
        let mut args = vec!["--full"];
        args.extend_from_slice(export_args);
        let (file, _, dir) = env.export_to_file(&args);
        Exported {
            env,
            file,
            _dir: dir,
        }
    }

    /// `import -f FILE` with more arguments.
    pub fn import(&self, args: &[&str]) -> std::process::Output {
        self.env
            .plugin()
            .arg("import")
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn verify(&self, args: &[&str]) -> std::process::Output {
        self.env.plugin().arg("verify").args(args).output().unwrap()
    }

    /// verify finds the Kubernetes datastore equal to etcd.
    pub fn assert_verified(&self) {
        let output = self.verify(&["-o", "json"]);
        let report = json_output(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{report:#}\n{}",
            stderr(&output)
        );
        assert_eq!(report["equal"], true);
    }
}

/// The per-kind row of an import report.
pub fn import_row(report: &serde_json::Value, kind: &str) -> serde_json::Value {
    report["kinds"]
        .as_array()
        .and_then(|kinds| kinds.iter().find(|k| k["kind"] == kind).cloned())
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
}

/// `text` contains `part`; a failure shows the whole text.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "missing {part:?} in:\n{text}");
}
