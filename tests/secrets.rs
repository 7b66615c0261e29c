//! Secrets never leave the plugin: the etcd client key (its PEM body), the etcd password and the
//! kubeconfig's bearer token appear in no output of any command, in text with `-v -v` or as
//! `-o json`, in no file a command writes (exports, the backup, side files) and not in the
//! migration's journal ConfigMap.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Env, stderr, stdout};
use testbed::{EtcdMode, calico};

const TOKEN: &str = "tok-9f3c1b7e5a2d4c6e8a0b1c3d5e7f9a1b";
const PASSWORD: &str = "pw-7d1e3a5c9b2f4e6a8c0d";

/// Where the secrets could end up.
struct Witness {
    secrets: Vec<String>,
    /// Everything the commands printed, with the command.
    outputs: Vec<(String, String)>,
}

impl Witness {
    fn new(secrets: Vec<String>) -> Witness {
        assert!(secrets.iter().all(|s| s.len() >= 16), "distinctive secrets");
        Witness {
            secrets,
            outputs: Vec::new(),
        }
    }

    /// Runs the plugin twice, with `-v -v` and with `-o json`; returns the JSON run's output.
    fn run(&mut self, command: impl Fn() -> assert_cmd::Command, args: &[&str]) -> Output {
        let mut last = None;
        for form in [&["-v", "-v"][..], &["-o", "json"][..]] {
            let output = command().args(args).args(form).output().unwrap();
            let text = format!("{}{}", stdout(&output), stderr(&output));
            assert!(!text.contains("panicked"), "{args:?}: {text}");
            self.outputs.push((format!("{args:?} {form:?}"), text));
            last = Some(output);
        }
        last.unwrap()
    }

    /// Checks every output, the files under `dir` and the text given.
    fn check(&self, dir: &Path, more: &[(&str, String)]) {
        let mut places: Vec<(String, String)> = self.outputs.clone();
        let mut files = Vec::new();
        walk(dir, &mut files);
        assert!(!files.is_empty(), "the commands wrote files");
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            places.push((
                file.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        places.extend(
            more.iter()
                .map(|(what, text)| (what.to_string(), text.clone())),
        );
        for (place, text) in &places {
            if let Some(secret) = self.leaked(text) {
                panic!("{place} holds a secret ({}...)", &secret[..8]);
            }
        }
    }

    /// The first secret `text` holds.
    fn leaked(&self, text: &str) -> Option<&str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .find(|secret| text.contains(secret))
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The lines of a PEM block's base64 body (long enough to be told apart).
fn pem_body(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// The journal ConfigMap, as text, if the migration wrote one.
fn journal(env: &Env) -> String {
    env.install
        .kube
        .get_json(&format!(
            "/api/v1/namespaces/{}/configmaps/calico-migrate-state",
            env.namespace()
        ))
        .unwrap()
        .map(|map| map.to_string())
        .unwrap_or_default()
}

#[test]
fn no_command_shows_or_writes_the_tls_key_or_the_token() {
    let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
    let Some(controls) = env.install.kube.controls() else {
        eprintln!("skipped: needs the local API server's tokens");
        return;
    };
    let inputs = tempfile::tempdir().unwrap();
    let (etcd_manifest, kdd_manifest) =
        common::apply_etcd_manifest(&env, "calico.yaml", inputs.path());
    // The plugin's kubeconfig holds a bearer token of an admin.
    controls.add_token(mini_apiserver::TokenUser::new(
        TOKEN,
        "admin",
        &["system:masters"],
    ));
    let admin = std::fs::read_to_string(env.install.kube.kubeconfig()).unwrap();
    let kubeconfig = inputs.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        admin.replace("  user: {}\n", &format!("  user:\n    token: {TOKEN}\n")),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains(TOKEN)
    );
    let key = &env.install.etcd.pki().expect("TLS").client_key;
    let mut secrets = pem_body(key);
    assert!(!secrets.is_empty());
    secrets.push(TOKEN.to_string());
    let mut witness = Witness::new(secrets);
    // The check sees the secrets where they are meant to be.
    assert!(witness.leaked(key).is_some());
    assert!(
        witness
            .leaked(&std::fs::read_to_string(&kubeconfig).unwrap())
            .is_some()
    );

    let outputs = tempfile::tempdir().unwrap();
    let out = |name: &str| outputs.path().join(name).to_str().unwrap().to_string();
    let namespace = env.namespace().to_string();
    let plugin = || {
        let mut command = common::plugin(&kubeconfig);
        command.current_dir(outputs.path()).args(["-n", &namespace]);
        command
    };
    let kdd = kdd_manifest.to_str().unwrap();
    let etcd = etcd_manifest.to_str().unwrap();

    assert_ok(&witness.run(plugin, &["status"]));
    assert_ok(&witness.run(plugin, &["plan", "--manifest", kdd]));
    assert_ok(&witness.run(plugin, &["lock", "--datastore", "etcd"]));
    assert_ok(&witness.run(plugin, &["export", "-f", &out("calicoctl.export")]));
    assert_ok(&witness.run(plugin, &["export", "--full", "-f", &out("full.export")]));
    assert_ok(&witness.run(plugin, &["import", "--dry-run", "-f", &out("full.export")]));
    assert_ok(&witness.run(plugin, &["import", "-f", &out("full.export")]));
    assert_ok(&witness.run(plugin, &["verify"]));
    assert_ok(&witness.run(plugin, &["verify", "-f", &out("full.export")]));
    assert_ok(&witness.run(plugin, &["unlock", "--datastore", "etcd"]));
    // The whole migration up to the point of no return, then backed out.
    assert_ok(&witness.run(
        plugin,
        &[
            "run",
            "--yes",
            "--stop-before-unlock",
            "--rollout-timeout",
            "60s",
            "--manifest",
            kdd,
            "--backup",
            &out("backup.export"),
        ],
    ));
    let journal_after_run = journal(&env);
    assert!(!journal_after_run.is_empty(), "run keeps a journal");
    assert_ok(&witness.run(
        plugin,
        &[
            "rollback",
            "--yes",
            "--rollout-timeout",
            "60s",
            "--manifest",
            etcd,
        ],
    ));
    assert!(std::path::Path::new(&out("backup.export")).is_file());
    witness.check(
        outputs.path(),
        &[
            ("the journal after run", journal_after_run),
            ("the journal after rollback", journal(&env)),
        ],
    );
}

#[test]
fn no_command_shows_or_writes_the_etcd_password() {
    let mut env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    env.install.etcd.enable_auth(PASSWORD).unwrap();
    let mut witness = Witness::new(vec![PASSWORD.to_string()]);
    let outputs = tempfile::tempdir().unwrap();
    let out = |name: &str| outputs.path().join(name).to_str().unwrap().to_string();
    // The password from calicoctl's variable, and from the flag.
    let by_variable = || {
        let mut command = env.plugin();
        command
            .current_dir(outputs.path())
            .env("ETCD_USERNAME", "root")
            .env("ETCD_PASSWORD", PASSWORD);
        command
    };
    let by_flag = || {
        let mut command = env.plugin();
        command.current_dir(outputs.path()).args([
            "--etcd-username",
            "root",
            "--etcd-password",
            PASSWORD,
        ]);
        command
    };
    assert_ok(&witness.run(by_variable, &["status"]));
    assert_ok(&witness.run(by_flag, &["status"]));
    assert_ok(&witness.run(by_variable, &["lock", "--datastore", "etcd"]));
    assert_ok(&witness.run(by_flag, &["export", "--full", "-f", &out("full.export")]));
    assert_ok(&witness.run(by_variable, &["import", "-f", &out("full.export")]));
    assert_ok(&witness.run(by_flag, &["verify"]));
    assert_ok(&witness.run(by_variable, &["plan"]));
    assert_ok(&witness.run(by_flag, &["unlock", "--datastore", "etcd"]));
    // A wrong password is refused without being shown either.
    let wrong = format!("{PASSWORD}-wrong");
    let output = env
        .plugin()
        .env("ETCD_USERNAME", "root")
        .env("ETCD_PASSWORD", &wrong)
        .args(["status", "-v", "-v"])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!text.contains(&wrong), "{text}");
    witness.check(outputs.path(), &[("the journal", journal(&env))]);
}
