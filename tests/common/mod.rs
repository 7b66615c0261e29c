//! Shared harness: run the real binary as a user would, against a real etcd and the local API
//! server (or the cluster named by CALICO_MIGRATE_TEST_KUBECONFIG).

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use calico_migrate::kinds::{CalicoKind, CrdApi};
use testbed::kube_side::KubeSide;
use testbed::{CalicoInstall, Dataset, EtcdMode};

/// Variables that would leak the developer's own settings into the plugin.
const SCRUBBED: &[&str] = testbed::SCRUBBED_ENV;

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
        let output = self.export_file(&file, args);
        assert!(output.status.success(), "export: {}", stderr(&output));
        (file, output, dir)
    }

    /// The plugin, with `-n` set to the install's namespace.
    pub fn plugin(&self) -> Command {
        let mut cmd = plugin(self.install.kube.kubeconfig());
        cmd.args(["-n", self.install.namespace()]);
        cmd
    }

    /// Runs the plugin (with `-n` set) with `args` and returns what it did.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.plugin().args(args).output().unwrap()
    }

    /// `COMMAND -f FILE` with more arguments.
    pub fn run_with_file(&self, command: &str, file: &Path, args: &[&str]) -> std::process::Output {
        self.plugin()
            .arg(command)
            .arg("-f")
            .arg(file)
            .args(args)
            .output()
            .unwrap()
    }

    /// `import -f FILE` with more arguments.
    pub fn import_file(&self, file: &Path, args: &[&str]) -> std::process::Output {
        self.run_with_file("import", file, args)
    }

    /// `export -f FILE` with more arguments.
    pub fn export_file(&self, file: &Path, args: &[&str]) -> std::process::Output {
        self.run_with_file("export", file, args)
    }

    pub fn namespace(&self) -> &str {
        self.install.namespace()
    }

    /// The ClusterInformation stored in etcd and its revision; it must be there.
    pub fn etcd_cluster_information(&self) -> (String, i64) {
        self.install
            .etcd
            .get(testbed::calico::CLUSTER_INFORMATION_KEY)
            .expect("etcd get")
            .expect("etcd has a ClusterInformation")
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
#[track_caller]
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
        self.assert_verified_with(&[]);
    }

    /// verify, with more arguments, finds the Kubernetes datastore equal to etcd; its report.
    #[track_caller]
    pub fn assert_verified_with(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let output = self.verify(&all);
        let report = json_output(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{report:#}\n{}",
            stderr(&output)
        );
        assert_eq!(report["equal"], true);
        report
    }
}

/// The per-kind row of a report (import, export, verify).
pub fn kind_row(report: &serde_json::Value, kind: &str) -> serde_json::Value {
    row_of(&report["kinds"], kind)
}

/// The row of a per-kind list (`kinds`, `objects`) whose `kind` is `kind`.
pub fn row_of(list: &serde_json::Value, kind: &str) -> serde_json::Value {
    list.as_array()
        .and_then(|rows| rows.iter().find(|k| k["kind"] == kind).cloned())
        .unwrap_or_else(|| panic!("no {kind} in {list}"))
}

/// The sum of a count (`created`, `unchanged`, `failed`…) over the per-kind rows of a report.
pub fn kinds_sum(report: &serde_json::Value, field: &str) -> u64 {
    report["kinds"]
        .as_array()
        .expect("a kinds list")
        .iter()
        .map(|k| {
            k[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {k}"))
        })
        .sum()
}

/// A JSON string as a String; it must be one.
#[track_caller]
pub fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

/// The strings of a JSON array.
pub fn strings(list: &serde_json::Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}

/// The string field `field` of each object of a JSON array.
pub fn field_strings<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|o| {
            o[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {o}"))
        })
        .collect()
}

/// The command succeeded and printed exactly `expected`.
#[track_caller]
pub fn assert_printed(output: &std::process::Output, expected: &str) {
    assert!(output.status.success(), "{}", stderr(output));
    assert_eq!(stdout(output), expected);
}

/// The command exited with `code` and its stderr says each of `parts`; returns that stderr.
#[track_caller]
pub fn failed_saying(output: &std::process::Output, code: i32, parts: &[&str]) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    for part in parts {
        assert_contains(&err, part);
    }
    err
}

/// `text` contains `part`; a failure shows the whole text.
#[track_caller]
pub fn assert_contains(text: &str, part: &str) {
    assert!(text.contains(part), "missing {part:?} in:\n{text}");
}

/// `--crd-api v1` or `--crd-api v3`.
pub fn api_flag(api: CrdApi) -> [&'static str; 2] {
    ["--crd-api", api.version()]
}

/// The path of a Calico object (or of the collection, without `name`) of the kinds table's
/// `plural` in `api`'s group.
pub fn calico_path(
    api: CrdApi,
    plural: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> String {
    let kind = CalicoKind::by_plural(plural).expect("a kind of the table");
    let collection = api.collection_path(kind, namespace);
    match name {
        Some(name) => format!("{collection}/{name}"),
        None => collection,
    }
}

/// A Calico object of `api`'s group as JSON, or None.
pub fn get_calico(
    kube: &KubeSide,
    api: CrdApi,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<serde_json::Value> {
    kube.get_json(&calico_path(api, plural, namespace, Some(name)))
        .expect("GET")
}

/// Every object of a Calico kind in `api`'s group (all namespaces).
pub fn list_calico(kube: &KubeSide, api: CrdApi, plural: &str) -> Vec<serde_json::Value> {
    let list = kube
        .get_json(&calico_path(api, plural, None, None))
        .expect("LIST")
        .unwrap_or_default();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Creates a Calico object in `api`'s group; `object` is given without apiVersion and kind.
pub fn create_calico(kube: &KubeSide, api: CrdApi, plural: &str, object: serde_json::Value) {
    let kind = CalicoKind::by_plural(plural).expect("a kind of the table");
    let mut object = object;
    object["apiVersion"] = api.api_version().into();
    object["kind"] = api.kind_name(kind).into();
    let namespace = object["metadata"]["namespace"].as_str().map(str::to_string);
    kube.create_raw(
        &calico_path(api, plural, namespace.as_deref(), None),
        &object,
    )
    .expect("create");
}

/// Replaces a Calico object read with [`get_calico`].
pub fn replace_calico(kube: &KubeSide, api: CrdApi, plural: &str, object: &serde_json::Value) {
    let namespace = object["metadata"]["namespace"].as_str();
    let name = object["metadata"]["name"].as_str();
    kube.replace_raw(&calico_path(api, plural, namespace, name), object)
        .expect("replace");
}

pub fn delete_calico(kube: &KubeSide, api: CrdApi, plural: &str, name: &str) {
    kube.delete_raw(&calico_path(api, plural, None, Some(name)))
        .expect("delete");
}

/// The newest release's CRD of a kind in `api`, as the plugin embeds it.
pub fn calico_crd(api: CrdApi, plural: &str) -> serde_json::Value {
    let kind = CalicoKind::by_plural(plural).expect("a kind of the table");
    let newest = calico_migrate::convert::versions::Release::of(None);
    calico_migrate::kdd::crds::manifest(api, &newest, kind).expect("embedded")
}

/// Polls `done` until it is true; fails, saying what did not happen, after `deadline`.
#[track_caller]
pub fn wait_until(deadline: std::time::Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Installs the newest release's Calico CRDs of `api` and waits until each is Established.
pub fn install_calico_crds(kube: &KubeSide, api: CrdApi) {
    if api == CrdApi::V1 {
        kube.install_crds().expect("the v1 CRDs install");
        return;
    }
    const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let names: Vec<String> = CalicoKind::with_crd()
        .map(|kind| {
            let crd = calico_crd(api, kind.plural);
            if let Err(error) = kube.create_raw(CRDS, &crd) {
                assert!(format!("{error:#}").contains("already exists"), "{error:#}");
            }
            api.crd_name(kind).expect("a CRD")
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for name in names {
        wait_until(deadline, &format!("{name} Established"), || {
            kube.get_json(&format!("{CRDS}/{name}"))
                .expect("GET CRD")
                .is_some_and(|crd| calico_migrate::kdd::crds::is_established(&crd))
        });
    }
}

/// Sets the install up as its user did: Calico's etcd manifest, filled in for the test's etcd,
/// applied with `kubectl apply`. Writes that manifest (what `rollback --manifest` puts back) and
/// the Kubernetes-datastore manifest `kdd_file` of tests/fixtures/manifests (what `run` applies),
/// both for the install's namespace, into `dir`; returns (etcd manifest, Kubernetes manifest).
pub fn apply_etcd_manifest(
    env: &Env,
    kdd_file: &str,
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let etcd_manifest = dir.join("calico-etcd.yaml");
    write_servable(env, &etcd_manifest, &env.install.etcd_manifest().unwrap());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests");
    let kdd_manifest = dir.join(kdd_file);
    let text = std::fs::read_to_string(source.join(kdd_file)).unwrap();
    write_servable(env, &kdd_manifest, &env.install.manifest(&text));
    let applied = kubectl_for(env)
        .args(["apply", "-f"])
        .arg(&etcd_manifest)
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "kubectl apply: {}",
        stderr(&applied)
    );
    (etcd_manifest, kdd_manifest)
}

/// The real kubectl, pointed at the test's cluster.
pub fn kubectl_for(env: &Env) -> std::process::Command {
    let mut command =
        std::process::Command::new(kubectl().expect("kubectl is installed (scripts/install-deps)"));
    command
        .arg("--kubeconfig")
        .arg(env.install.kube.kubeconfig());
    command
}

/// Writes a manifest for this cluster: the CRDs its API server refuses are left out (v3.32's
/// `clusternetworkpolicies` CRD uses CEL functions that Kubernetes 1.28 lacks), and the
/// cluster-scoped objects it would create become the test's, deleted at the end whoever
/// applies them.
fn write_servable(env: &Env, path: &Path, text: &str) {
    let kube = &env.install.kube;
    let (text, dropped) = kube.servable_manifest(text).unwrap();
    for document in dropped {
        eprintln!(
            "left out of {}, as this API server refuses it: {document}",
            path.display()
        );
    }
    kube.own_cluster_objects_of(&text).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The command a hint tells the user of this install to run: `kubectl calico-migrate`, `-n`
/// when the install is not in kube-system (the plugin's default), then `rest`.
pub fn hinted_command(env: &Env, rest: &str) -> String {
    match env.namespace() {
        "kube-system" => format!("kubectl calico-migrate {rest}"),
        namespace => format!("kubectl calico-migrate -n {namespace} {rest}"),
    }
}

/// Tests that run their body once for each API group: `test => body` makes `#[test] fn test`
/// call `body(api)` for every [`CrdApi`].
#[allow(unused_macros)]
macro_rules! for_each_api {
    ($($test:ident => $body:ident,)*) => {
        $(
            #[test]
            fn $test() {
                for api in calico_migrate::kinds::CrdApi::ALL {
                    $body(api);
                }
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use for_each_api;
