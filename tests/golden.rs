//! The real calicoctl v3.28.0 as the reference: for each dataset captured with it (see
//! tests/fixtures/calicoctl-v3.28.0/README.md), the export must be calicoctl's byte for byte,
//! and importing calicoctl's file, or this tool's export, must leave the Kubernetes datastore
//! holding what calicoctl's own import left there.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Env, assert_contains, stderr};
use serde_json::{Value, json};
use testbed::EtcdMode;

const DATASETS: &[&str] = &["renamed", "scale-5"];

fn fixture(dataset: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/calicoctl-v3.28.0")
        .join(dataset)
        .join(file)
}

fn read_json(dataset: &str, file: &str) -> Value {
    let text = std::fs::read_to_string(fixture(dataset, file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A TLS etcd holding the dataset as calicoctl found it, locked by this tool, and the
/// Kubernetes side with the dataset's Nodes and Namespaces.
///
/// The capture was taken after `calicoctl datastore migrate lock` on an etcd loaded in
/// transactions of 128 puts (etcd's default limit): the data is revisions 2 and on, the lock
/// the next one, which calicoctl's export prints as resourceVersions. The test loads the data
/// as it was before the lock (datastoreReady true) the same way and locks with this tool, so
/// the revisions are the same.
fn captured(dataset: &str) -> Env {
    let env = Env::start(EtcdMode::Tls);
    let kvs = read_json(dataset, "etcd.json");
    let pairs: Vec<(String, String)> = kvs
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let key = kv["key"].as_str().unwrap().to_string();
            let mut value = kv["value"].as_str().unwrap().to_string();
            if key == testbed::calico::CLUSTER_INFORMATION_KEY {
                assert!(value.contains(r#""datastoreReady":false"#));
                value = value.replace(r#""datastoreReady":false"#, r#""datastoreReady":true"#);
            }
            (key, value)
        })
        .collect();
    let revision = env.install.etcd.put_in_transactions(&pairs, 128).unwrap();
    assert_eq!(revision as usize, 1 + pairs.len().div_ceil(128));
    env.lock_etcd();
    let k8s = read_json(dataset, "k8s.json");
    for namespace in k8s["namespaces"].as_array().unwrap() {
        env.install
            .kube
            .ensure_namespace(namespace.as_str().unwrap())
            .unwrap();
    }
    for node in k8s["nodes"].as_array().unwrap() {
        env.install
            .kube
            .ensure_node(node.as_str().unwrap())
            .unwrap();
    }
    env
}

/// The export's bytes and where the file is.
fn export(env: &Env, extra: &[&str]) -> (Vec<u8>, PathBuf, tempfile::TempDir) {
    let (path, _, dir) = env.export_to_file(extra);
    (std::fs::read(&path).unwrap(), path, dir)
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(ours: &str, theirs: &str) -> String {
    for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  ours:      {a}\n  calicoctl: {b}", i + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} and {} lines)",
        ours.lines().count(),
        theirs.lines().count()
    )
}

fn assert_export_is_calicoctls(dataset: &str) {
    let env = captured(dataset);
    let (ours, _, _dir) = export(&env, &[]);
    let theirs = std::fs::read(fixture(dataset, "calicoctl-export.txt")).unwrap();
    if ours != theirs {
        panic!(
            "{dataset}: the export differs from calicoctl v3.28.0's at {}",
            first_difference(
                &String::from_utf8_lossy(&ours),
                &String::from_utf8_lossy(&theirs)
            )
        );
    }
}

#[test]
fn renamed_export_is_calicoctls_byte_for_byte() {
    assert_export_is_calicoctls("renamed");
}

#[test]
fn scale_5_export_is_calicoctls_byte_for_byte() {
    assert_export_is_calicoctls("scale-5");
}

/// What the Kubernetes datastore holds, in the capture's form: every `crd.projectcalico.org`
/// object (name, namespace, labels, annotations, spec, status) and the `projectcalico.org/`
/// annotations of the dataset's Nodes, sorted by kind and name.
fn target_objects(env: &Env, dataset: &str) -> Vec<Value> {
    let kube = &env.install.kube;
    let mut objects = Vec::new();
    for kind in calico_migrate::kinds::CalicoKind::with_crd() {
        for object in kube.list_calico(kind.plural).unwrap_or_default() {
            objects.push(object);
        }
    }
    for node in read_json(dataset, "k8s.json")["nodes"].as_array().unwrap() {
        let name = node.as_str().unwrap();
        let annotations: BTreeMap<String, String> = kube
            .node_annotations(name)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with("projectcalico.org/"))
            .collect();
        if !annotations.is_empty() {
            objects.push(json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": annotations}}));
        }
    }
    comparable(objects)
}

/// Objects reduced to what the capture keeps, with the times calicoctl or this tool stamped
/// (the import's own time, in the metadata annotation) replaced by a marker.
fn comparable(objects: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = objects
        .into_iter()
        .map(|object| {
            let mut kept = serde_json::Map::new();
            for field in ["apiVersion", "kind", "spec", "status"] {
                if let Some(value) = object.get(field) {
                    kept.insert(field.into(), value.clone());
                }
            }
            let mut metadata = serde_json::Map::new();
            for field in ["name", "namespace", "labels", "annotations"] {
                if let Some(value) = object["metadata"].get(field) {
                    metadata.insert(field.into(), value.clone());
                }
            }
            if let Some(Value::String(text)) = metadata
                .get_mut("annotations")
                .and_then(|a| a.get_mut("projectcalico.org/metadata"))
            {
                let mut meta: Value = serde_json::from_str(text).unwrap();
                if meta["creationTimestamp"].is_string() {
                    meta["creationTimestamp"] = json!("<import time>");
                }
                *text = meta.to_string();
            }
            kept.insert("metadata".into(), Value::Object(metadata));
            Value::Object(kept)
        })
        .collect();
    let key = |o: &Value| {
        format!(
            "{} {} {}",
            o["kind"].as_str().unwrap_or_default(),
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    out.sort_by_key(key);
    out
}

/// What calicoctl's import left, as the capture has it.
fn calicoctls_import(dataset: &str) -> Vec<Value> {
    read_json(dataset, "kdd-after-import.json")
        .as_array()
        .unwrap()
        .clone()
}

fn assert_target_is_calicoctls(env: &Env, dataset: &str, what: &str) {
    assert_target_is(env, dataset, what, calicoctls_import(dataset));
}

fn assert_target_is(env: &Env, dataset: &str, what: &str, expected: Vec<Value>) {
    let ours = target_objects(env, dataset);
    let theirs = comparable(expected);
    let name = |o: &Value| {
        format!(
            "{} {}",
            o["kind"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    let theirs_by_name: BTreeMap<String, &Value> = theirs.iter().map(|o| (name(o), o)).collect();
    let ours_by_name: BTreeMap<String, &Value> = ours.iter().map(|o| (name(o), o)).collect();
    let mut problems = Vec::new();
    for (key, expected) in &theirs_by_name {
        match ours_by_name.get(key) {
            None => problems.push(format!("missing: {key}")),
            Some(actual) if actual != expected => problems.push(format!(
                "different: {key}\n  ours:      {actual}\n  calicoctl: {expected}"
            )),
            Some(_) => {}
        }
    }
    for key in ours_by_name.keys() {
        if !theirs_by_name.contains_key(key) {
            problems.push(format!("only ours: {key}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{dataset}, {what}: {} difference(s) from calicoctl v3.28.0's import:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn import(env: &Env, file: &Path) {
    let output = env.import_file(file, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_contains(
        &stderr(&output),
        "Datastore information successfully imported",
    );
}

fn assert_import_of_calicoctls_file(dataset: &str) {
    let env = captured(dataset);
    import(&env, &fixture(dataset, "calicoctl-export.txt"));
    assert_target_is_calicoctls(&env, dataset, "calicoctl's file");
}

fn assert_import_of_our_export(dataset: &str) {
    let env = captured(dataset);
    let (_, file, _dir) = export(&env, &[]);
    import(&env, &file);
    assert_target_is_calicoctls(&env, dataset, "our export");
}

#[test]
fn renamed_import_of_calicoctls_file_is_calicoctls_import() {
    assert_import_of_calicoctls_file("renamed");
}

#[test]
fn scale_5_import_of_calicoctls_file_is_calicoctls_import() {
    assert_import_of_calicoctls_file("scale-5");
}

#[test]
fn renamed_import_of_our_export_is_calicoctls_import() {
    assert_import_of_our_export("renamed");
}

#[test]
fn scale_5_import_of_our_export_is_calicoctls_import() {
    assert_import_of_our_export("scale-5");
}

/// etcd node name → Kubernetes node name, from the Calico Nodes' `k8s` orchRefs.
fn node_map(dataset: &str) -> BTreeMap<String, String> {
    read_json(dataset, "etcd.json")
        .as_array()
        .unwrap()
        .iter()
        .filter(|kv| {
            kv["key"]
                .as_str()
                .unwrap()
                .contains("/projectcalico.org/nodes/")
        })
        .map(|kv| {
            let node: Value = serde_json::from_str(kv["value"].as_str().unwrap()).unwrap();
            let k8s = node["spec"]["orchRefs"]
                .as_array()
                .unwrap()
                .iter()
                .rfind(|r| r["orchestrator"] == "k8s")
                .unwrap()["nodeName"]
                .as_str()
                .unwrap()
                .to_string();
            (node["metadata"]["name"].as_str().unwrap().to_string(), k8s)
        })
        .collect()
}

/// calicoctl's result with this tool's documented improvements, which a full export carries:
/// host endpoints' and BGP peers' `spec.node` and IPv6 tunnel handles follow node renames.
fn improved(dataset: &str) -> Vec<Value> {
    let nodes = node_map(dataset);
    let rename_handle = |id: &str| -> Option<String> {
        ["vxlan-v6-tunnel-addr-", "wireguard-v6-tunnel-addr-"]
            .iter()
            .find_map(|prefix| {
                let node = id.strip_prefix(prefix)?;
                nodes.get(node).map(|k8s| format!("{prefix}{k8s}"))
            })
    };
    let mut objects = calicoctls_import(dataset);
    for object in &mut objects {
        match object["kind"].as_str().unwrap() {
            "HostEndpoint" | "BGPPeer" => {
                let node = object["spec"]["node"].as_str().unwrap_or_default();
                if let Some(k8s) = nodes.get(node) {
                    object["spec"]["node"] = json!(k8s);
                }
            }
            "IPAMHandle" => {
                let id = object["spec"]["handleID"].as_str().unwrap().to_string();
                if let Some(renamed) = rename_handle(&id) {
                    object["spec"]["handleID"] = json!(renamed);
                    object["metadata"]["name"] = json!(renamed.to_lowercase());
                }
            }
            "IPAMBlock" => {
                for attribute in object["spec"]["attributes"].as_array_mut().unwrap() {
                    let id = attribute["handle_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if let Some(renamed) = rename_handle(&id) {
                        attribute["handle_id"] = json!(renamed);
                    }
                }
            }
            _ => {}
        }
    }
    objects
}

fn assert_import_of_our_full_export(dataset: &str) {
    let env = captured(dataset);
    let (text, file, _dir) = export(&env, &["--full"]);
    assert!(text.starts_with(b"# kubectl calico-migrate export --full"));
    import(&env, &file);
    assert_target_is(&env, dataset, "our full export", improved(dataset));
}

#[test]
fn renamed_import_of_our_full_export_is_calicoctls_import_improved() {
    assert_ne!(
        comparable(improved("renamed")),
        comparable(calicoctls_import("renamed")),
        "the dataset has node references and an IPv6 tunnel handle to fix"
    );
    assert_import_of_our_full_export("renamed");
}

#[test]
fn scale_5_import_of_our_full_export_is_calicoctls_import_improved() {
    assert_import_of_our_full_export("scale-5");
}

#[test]
fn every_dataset_is_tested() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calicoctl-v3.28.0");
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().into_string().unwrap())
        })
        .collect();
    found.sort();
    assert_eq!(found, DATASETS);
}
