//! The `mini-apiserver` binary, and kubectl (when installed) against it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, extra: &[&str]) -> Proc {
    let kc = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini-apiserver"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--crd-establish-delay",
            "10ms",
            "--kubeconfig-out",
        ])
        .arg(&kc)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the binary prints its URL");
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Proc { child, url }
}

#[test]
fn binary_serves_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn(dir.path(), &["--latency", "30ms", "--context", "sandbox"]);
    let kc = std::fs::read_to_string(dir.path().join("kubeconfig")).unwrap();
    assert!(kc.contains(&format!("server: \"{}\"", p.url)), "{kc}");
    assert!(kc.contains("current-context: \"sandbox\""));
    let c = Client::new(&p.url);
    assert_eq!(c.get_json("/version")["gitVersion"], "v1.32.0");
    let t = Instant::now();
    c.create(
        "/api/v1/namespaces/default/configmaps",
        &obj("v1", "ConfigMap", "a", json!({})),
    );
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert_eq!(c.get_json("/_mini/stats")["writes"], 1);
    let bad = Command::new(env!("CARGO_BIN_EXE_mini-apiserver"))
        .args(["--latency", "fast"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

fn kubectl() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/kubectl");
    p.exists().then_some(p)
}

/// kubectl with the kubeconfig and the cache of a temporary directory.
struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// kubectl against the binary started with `extra` arguments; None (the test skips)
/// when kubectl is not installed.
fn kubectl_and_server(extra: &[&str]) -> Option<(Kubectl, Proc)> {
    let Some(bin) = kubectl() else {
        eprintln!("kubectl is not installed; skipping");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = spawn(dir.path(), extra);
    Some((Kubectl { bin, dir }, p))
}

impl Kubectl {
    /// A file in kubectl's directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(args)
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed: {out}{err}");
        out
    }

    /// `kubectl -n kube-system rollout status <what>`, waiting 20 s at most.
    fn rollout_status(&self, what: &str) -> String {
        self.ok(&[
            "-n",
            "kube-system",
            "rollout",
            "status",
            what,
            "--timeout=20s",
        ])
    }
}

#[test]
fn kubectl_get_create_apply() {
    let Some((k, p)) = kubectl_and_server(&[]) else {
        return;
    };

    let (ok, out, err) = k.run(&["get", "nodes"]);
    assert!(ok, "{err}");
    assert!(
        out.is_empty() && err.contains("No resources found"),
        "{out}{err}"
    );
    let c = Client::new(&p.url);
    c.create(
        "/api/v1/nodes",
        &obj("v1", "Node", "worker-1", json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.0"}}})),
    );
    let out = k.ok(&["get", "nodes"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS") && lines[0].contains("VERSION"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("worker-1")
            && lines[1].contains("Ready")
            && lines[1].contains("v1.32.0"),
        "{out}"
    );
    let out = k.ok(&["get", "ns"]);
    assert!(
        out.contains("kube-system") && out.contains("Active"),
        "{out}"
    );

    // create -f of a CRD manifest, then its resources are served
    let crd = fixtures_dir().join("crd.projectcalico.org_ippools.yaml");
    let out = k.ok(&["create", "-f", crd.to_str().unwrap()]);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org created"
    );
    let out = k.ok(&["get", "crd"]);
    assert!(
        out.starts_with("NAME")
            && out.contains("CREATED AT")
            && out.contains("ippools.crd.projectcalico.org"),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, _, err) = k.run(&["get", "ippools.crd.projectcalico.org"]);
        if ok && err.contains("No resources found") {
            break;
        }
        assert!(Instant::now() < deadline, "ippools never served: {err}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pool = k.path("pool.yaml");
    std::fs::write(
        &pool,
        "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: default-ipv4\nspec:\n  cidr: 10.244.0.0/16\n  natOutgoing: true\n",
    )
    .unwrap();
    assert_eq!(
        k.ok(&["create", "-f", pool.to_str().unwrap()]).trim(),
        "ippool.crd.projectcalico.org/default-ipv4 created"
    );
    let out = k.ok(&["get", "ippools", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["spec"]["assignmentMode"], "Automatic");
    let out = k.ok(&["get", "ippools.crd.projectcalico.org"]);
    assert!(
        out.contains("default-ipv4") && out.contains("CREATED AT"),
        "{out}"
    );

    // kubectl's strict validation is done by the server
    let bad = k.path("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: bad\nspec:\n  cidr: 10.1.0.0/16\n  foo: bar\n",
    )
    .unwrap();
    let (ok, _, err) = k.run(&["create", "-f", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.foo\""),
        "{err}"
    );
    let (ok, _, _) = k.run(&["create", "--validate=false", "-f", bad.to_str().unwrap()]);
    assert!(ok);

    // apply -f of a ConfigMap: create, unchanged, configured
    let cm = k.path("cm.yaml");
    let write_cm = |ep: &str| {
        std::fs::write(
            &cm,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: calico-config\n  namespace: kube-system\ndata:\n  etcd_endpoints: \"{ep}\"\n"),
        )
        .unwrap()
    };
    write_cm("https://10.0.0.1:2379");
    assert_eq!(
        k.ok(&["apply", "-f", cm.to_str().unwrap()]).trim(),
        "configmap/calico-config created"
    );
    assert_eq!(
        k.ok(&["apply", "-f", cm.to_str().unwrap()]).trim(),
        "configmap/calico-config unchanged"
    );
    write_cm("https://10.0.0.2:2379");
    assert_eq!(
        k.ok(&["apply", "-f", cm.to_str().unwrap()]).trim(),
        "configmap/calico-config configured"
    );
    let out = k.ok(&[
        "get",
        "cm",
        "calico-config",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.data.etcd_endpoints}",
    ]);
    assert_eq!(out, "https://10.0.0.2:2379");
    // apply of a CRD manifest
    let blocks = fixtures_dir().join("crd.projectcalico.org_ipamblocks.yaml");
    assert!(
        k.ok(&["apply", "-f", blocks.to_str().unwrap()])
            .contains("created")
    );

    // imperative creates send protobuf bodies
    assert_eq!(
        k.ok(&["create", "namespace", "calico-system"]).trim(),
        "namespace/calico-system created"
    );
    k.ok(&[
        "create",
        "configmap",
        "conf",
        "-n",
        "calico-system",
        "--from-literal=a=b",
    ]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "-n",
        "calico-system",
        "--from-literal=pw=secret",
    ]);
    assert_eq!(
        c.get_json("/api/v1/namespaces/calico-system/configmaps/conf")["data"],
        json!({"a": "b"})
    );
    let sec = c.get_json("/api/v1/namespaces/calico-system/secrets/sec");
    assert_eq!(sec["data"], json!({"pw": "c2VjcmV0"}));
    assert_eq!(sec["type"], "Opaque");
    assert!(k.ok(&["delete", "ns", "calico-system"]).contains("deleted"));
    c.get("/api/v1/namespaces/calico-system/configmaps/conf")
        .status_of(404, "NotFound");

    let (ok, _, err) = k.run(&["get", "cm", "nope"]);
    assert!(!ok);
    assert!(err.contains("configmaps \"nope\" not found"), "{err}");
    assert!(
        k.ok(&["delete", "ippool", "default-ipv4"])
            .contains("deleted")
    );
    let (_, _, err) = k.run(&["delete", "ns", "kube-system"]);
    assert!(err.contains("this namespace may not be deleted"), "{err}");
}

#[test]
fn kubectl_runs_a_migration() {
    let Some((k, p)) =
        kubectl_and_server(&["--rollout-delay", "20ms", "--rollout-pods-per-step", "1"])
    else {
        return;
    };
    let c = Client::new(&p.url);
    for n in ["n1", "n2"] {
        c.create("/api/v1/nodes", &obj("v1", "Node", n, json!({})));
    }
    let manifest = |file: &str| manifests_dir().join(file).to_str().unwrap().to_string();
    let (etcd, kdd) = (manifest("calico-etcd.yaml"), manifest("calico.yaml"));
    let out = k.ok(&["apply", "--server-side", "-f", &etcd]);
    assert!(
        out.contains("daemonset.apps/calico-node serverside-applied"),
        "{out}"
    );
    let out = k.rollout_status("daemonset/calico-node");
    assert!(
        out.contains("daemon set \"calico-node\" successfully rolled out"),
        "{out}"
    );
    assert_eq!(k.ok(&["auth", "can-i", "patch", "nodes"]).trim(), "yes");
    c.post(
        "/_mini/denials",
        &json!({"add": [{"verb": "patch", "resource": "nodes"}]}),
    );
    let (ok, out, _) = k.run(&["auth", "can-i", "patch", "nodes"]);
    assert!(!ok);
    assert!(
        out.starts_with("no - denied by the server's explicit denial"),
        "{out}"
    );
    assert_eq!(
        k.ok(&[
            "-n",
            "kube-system",
            "scale",
            "deployment",
            "calico-kube-controllers",
            "--replicas=0"
        ])
        .trim(),
        "deployment.apps/calico-kube-controllers scaled"
    );
    // the manifest's replicas conflict with the scale
    let (ok, _, err) = k.run(&["apply", "--server-side", "-f", &kdd]);
    assert!(!ok);
    assert!(
        err.contains("conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    let out = k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &kdd]);
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org serverside-applied"),
        "{out}"
    );
    for what in [
        "daemonset/calico-node",
        "deployment/calico-kube-controllers",
    ] {
        let out = k.rollout_status(what);
        assert!(out.contains("successfully rolled out"), "{out}");
    }
    let out = k.ok(&["-n", "kube-system", "get", "daemonsets"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..7],
        [
            "calico-node",
            "2",
            "2",
            "2",
            "2",
            "2",
            "kubernetes.io/os=linux"
        ],
        "{out}"
    );
    let out = k.ok(&["-n", "kube-system", "get", "deployments"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..4],
        ["calico-kube-controllers", "1/1", "1", "1"],
        "{out}"
    );
}
