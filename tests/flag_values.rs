//! Every flag that takes a value, given extreme values (zero, negative, huge, NaN, empty, very
//! long, control and bidirectional characters, devices, paths that cannot be written...): the
//! plugin may refuse them (exit 2) or fail (exit 1), but never panics (exit 101, "panicked") and
//! never hangs. Commands run against a real etcd and the local API server, stopped before they
//! change anything (`run` and `rollback` without `--yes`, `import --dry-run`, `export
//! --allow-unlocked` into a temporary directory).

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::{Env, failed_saying, stderr};
use testbed::{EtcdMode, calico};

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "99999999999999999999999",
    "NaN",
    "inf",
    "1e-20",
    "",
    "0x10",
];
const DURATIONS: &[&str] = &[
    "0",
    "-1s",
    "99999999999999999999h",
    "1e400s",
    "NaN",
    "",
    "0.0000000001ns",
    "18446744073709551615s1s",
];
const TEXTS: &[&str] = &["", " ", "-", "ü\u{202e}", "a\nb", "%s%n", "*"];
const VERSIONS: &[&str] = &[
    "",
    "v3",
    "3.28",
    "v3.99.99",
    "v999999999999999999999.0.0",
    "v3.28.0-",
];
const NODE_MAPS: &[&str] = &["", "=", "a=", "=b", "a=b=c", "a"];

/// Values for flags that take a path to read: the test adds a directory and paths in it.
const READ_PATHS: &[&str] = &["", "/", "/dev/null", "/dev/zero", "/nonexistent/file"];

fn long_text() -> String {
    "a".repeat(100_000)
}

struct Case {
    args: Vec<String>,
}

/// `base`, then the flag with the value (`--flag=value`; a positional argument when `flag` is
/// empty).
fn case(base: &[&str], flag: &str, value: &str) -> Case {
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    args.push(if flag.is_empty() {
        value.to_string()
    } else {
        format!("{flag}={value}")
    });
    Case { args }
}

#[test]
fn no_flag_value_makes_the_plugin_panic_or_hang() {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    env.put_cluster_information(true);
    let dir = tempfile::tempdir().unwrap();
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad/valid.txt");
    let valid = valid.to_str().unwrap().to_string();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/manifests/calico.yaml")
        .to_str()
        .unwrap()
        .to_string();
    let d = dir.path().to_str().unwrap().to_string();
    let long = long_text();
    let read_paths: Vec<String> = READ_PATHS
        .iter()
        .map(|p| p.to_string())
        .chain([
            d.clone(),
            format!("{d}/{}", "n".repeat(300)),
            format!("{d}/ü"),
        ])
        .collect();
    // Paths written to: only inside the temporary directory.
    let write_paths: Vec<String> = vec![
        d.clone(),
        format!("{d}/"),
        format!("{d}/missing/dir/file"),
        format!("{d}/{}", "n".repeat(300)),
        format!("{d}/ü file"),
    ];
    let texts: Vec<String> = TEXTS
        .iter()
        .map(|t| t.to_string())
        .chain([long.clone()])
        .collect();

    let mut cases = Vec::new();
    let add = |cases: &mut Vec<Case>, base: &[&str], flag: &str, values: &[String]| {
        for value in values {
            cases.push(case(base, flag, value));
        }
    };
    let owned = |values: &[&str]| -> Vec<String> { values.iter().map(|v| v.to_string()).collect() };

    // Global flags, on `status` (which reads both datastores).
    let status = ["status"];
    add(&mut cases, &status, "--request-timeout", &owned(DURATIONS));
    add(&mut cases, &status, "--kubeconfig", &read_paths);
    for flag in [
        "--context",
        "--namespace",
        "--output",
        "--etcd-username",
        "--etcd-password",
        "--etcd-config-map",
        "--etcd-secret",
    ] {
        add(&mut cases, &status, flag, &texts);
    }
    let endpoints: Vec<String> = texts
        .iter()
        .cloned()
        .chain(owned(&[
            "http://",
            "https://[::1",
            "http://127.0.0.1:0",
            "ftp://127.0.0.1:1",
            "http://127.0.0.1:1,,",
            "unix:///dev/null",
        ]))
        .collect();
    add(&mut cases, &status, "--etcd-endpoints", &endpoints);
    for flag in ["--etcd-ca-file", "--etcd-cert-file", "--etcd-key-file"] {
        add(
            &mut cases,
            &["status", "--etcd-endpoints", "https://127.0.0.1:1"],
            flag,
            &read_paths,
        );
    }
    // lock and unlock (of the Kubernetes side only: locking etcd would change it).
    add(&mut cases, &["lock"], "--datastore", &texts);
    add(&mut cases, &["unlock"], "--datastore", &texts);
    add(&mut cases, &["completion"], "", &texts);

    // export, into the temporary directory.
    let export_file = format!("{d}/export");
    let export = ["export", "--allow-unlocked", "-f", export_file.as_str()];
    add(&mut cases, &export, "--page-size", &owned(NUMBERS));
    add(&mut cases, &export, "--node-map", &owned(NODE_MAPS));
    add(&mut cases, &export, "--node-map-file", &read_paths);
    add(
        &mut cases,
        &["export", "--allow-unlocked"],
        "--file",
        &write_paths,
    );

    // import, a dry run of a valid file.
    let import = ["import", "--dry-run", "-f", valid.as_str()];
    add(&mut cases, &import, "--concurrency", &owned(NUMBERS));
    add(&mut cases, &import, "--qps", &owned(NUMBERS));
    add(&mut cases, &import, "--calico-version", &owned(VERSIONS));
    add(&mut cases, &["import", "--dry-run"], "--file", &read_paths);

    // verify, against the file and against etcd.
    add(
        &mut cases,
        &["verify", "-f", valid.as_str()],
        "--calico-version",
        &owned(VERSIONS),
    );
    add(&mut cases, &["verify"], "--page-size", &owned(NUMBERS));
    add(&mut cases, &["verify"], "--node-map", &owned(NODE_MAPS));
    add(&mut cases, &["verify"], "--file", &read_paths);

    // plan.
    add(&mut cases, &["plan"], "--manifest", &read_paths);
    add(&mut cases, &["plan"], "--page-size", &owned(NUMBERS));
    add(&mut cases, &["plan"], "--calico-version", &owned(VERSIONS));
    add(&mut cases, &["plan"], "--node-map-file", &read_paths);

    // run and rollback without --yes: without a terminal they stop before changing anything.
    let run = ["run", "--manifest", manifest.as_str()];
    add(&mut cases, &run, "--rollout-timeout", &owned(DURATIONS));
    add(&mut cases, &run, "--concurrency", &owned(NUMBERS));
    add(&mut cases, &run, "--qps", &owned(NUMBERS));
    add(&mut cases, &run, "--page-size", &owned(NUMBERS));
    add(&mut cases, &run, "--calico-version", &owned(VERSIONS));
    add(&mut cases, &run, "--backup", &write_paths);
    add(&mut cases, &["run"], "--manifest", &read_paths);
    add(&mut cases, &["rollback"], "--manifest", &read_paths);
    add(
        &mut cases,
        &["rollback"],
        "--rollout-timeout",
        &owned(DURATIONS),
    );
    // A count flag repeated past its type.
    cases.push(Case {
        args: vec!["status".into(), format!("-{}", "v".repeat(300))],
    });

    // Two at a time: the machine is shared.
    let total = cases.len();
    let queue = Mutex::new(cases);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let mut command = common::plugin(env.install.kube.kubeconfig());
                    if !case.args.iter().any(|a| a.starts_with("--namespace=")) {
                        command.args(["-n", env.namespace()]);
                    }
                    let output = command
                        .args(&case.args)
                        .timeout(Duration::from_secs(60))
                        .write_stdin("")
                        .output()
                        .unwrap();
                    let text = stderr(&output);
                    let shown: Vec<String> = case
                        .args
                        .iter()
                        .map(|a| a.chars().take(80).collect())
                        .collect();
                    match output.status.code() {
                        None => failures
                            .lock()
                            .unwrap()
                            .push(format!("{shown:?}: killed (hung for 60 s?)\n{text}")),
                        Some(101) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{shown:?}: exit 101\n{text}")),
                        _ if text.contains("panicked") => failures
                            .lock()
                            .unwrap()
                            .push(format!("{shown:?}: panicked\n{text}")),
                        _ => {}
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n---\n")
    );
}

/// Values no Duration or rate can hold were once panics: they are usage errors now.
#[test]
fn huge_timeouts_and_tiny_rates_are_usage_errors() {
    let kubeconfig = Path::new("/nonexistent/kubeconfig");
    for (args, says) in [
        (
            &["--request-timeout", "99999999999999999999h", "status"][..],
            "duration \"99999999999999999999h\" is too long",
        ),
        (
            &["import", "-f", "x", "--qps", "1e-20"],
            "\"1e-20\" is out of range",
        ),
    ] {
        let output = common::plugin(kubeconfig).args(args).output().unwrap();
        let text = failed_saying(&output, 2, &[says]);
        assert!(!text.contains("panicked"), "{text}");
    }
}
