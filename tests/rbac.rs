//! The RBAC the migration needs: `deploy/rbac.yaml` grants exactly `permissions::any_api()` (a migration into either API group),
//! the whole migration works for a user who has only that, and a user who lacks one permission
//! is told which one by `plan`, `import` and `run`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use calico_migrate::permissions::{self, Scope};
use common::{Env, assert_contains, json_output, stderr, stdout, succeeded, text};
use go_compat::yaml as goyaml;
use serde_json::{Value, json};
use testbed::{EtcdMode, calico};

/// The documents of `deploy/rbac.yaml`.
fn rbac_documents() -> Vec<Value> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml"))
            .unwrap();
    goyaml::from_yaml_documents(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// One verb on one resource, and whether a ClusterRole (cluster-wide) or the Role of the Calico
/// namespace grants it.
type Grant = (String, String, String, bool);

fn grants_of(documents: &[Value]) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for document in documents {
        let cluster_wide = match document["kind"].as_str() {
            Some("ClusterRole") => true,
            Some("Role") => false,
            _ => continue,
        };
        for rule in document["rules"].as_array().unwrap() {
            let strings = |field: &str| -> Vec<String> {
                rule[field]
                    .as_array()
                    .unwrap_or_else(|| panic!("rule without {field}: {rule}"))
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for verb in strings("verbs") {
                        let grant = (group.clone(), resource.clone(), verb, cluster_wide);
                        assert!(grants.insert(grant.clone()), "granted twice: {grant:?}");
                    }
                }
            }
        }
    }
    grants
}

#[test]
fn the_manifest_grants_exactly_what_the_migration_uses() {
    let documents = rbac_documents();
    let wanted: BTreeSet<Grant> = permissions::any_api()
        .iter()
        .flat_map(|p| {
            p.verbs.iter().map(|verb| {
                (
                    p.group.to_string(),
                    p.resource.clone(),
                    verb.to_string(),
                    p.scope != Scope::CalicoNamespace,
                )
            })
        })
        .collect();
    let granted = grants_of(&documents);
    let missing: Vec<&Grant> = wanted.difference(&granted).collect();
    let extra: Vec<&Grant> = granted.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deploy/rbac.yaml lacks {missing:?} and grants more: {extra:?}"
    );
    // Each role is bound, the Role in the namespace of the install it describes.
    let find = |kind: &str| -> &Value {
        documents
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    assert_eq!(find("Role")["metadata"]["namespace"], "kube-system");
    assert_eq!(find("RoleBinding")["metadata"]["namespace"], "kube-system");
    assert_eq!(find("RoleBinding")["roleRef"]["kind"], "Role");
    assert_eq!(find("ClusterRoleBinding")["roleRef"]["kind"], "ClusterRole");
    for binding in ["RoleBinding", "ClusterRoleBinding"] {
        assert_eq!(
            find(binding)["roleRef"]["name"],
            find(if binding == "RoleBinding" {
                "Role"
            } else {
                "ClusterRole"
            })["metadata"]["name"]
        );
        assert!(!find(binding)["subjects"].as_array().unwrap().is_empty());
    }
}

const TOKEN: &str = "calico-migrate-rbac-test-token";
const USER: &str = "migrator";
const GROUP: &str = "calico-migrators";

/// An etcd-mode install, its etcd datastore's workloads applied from Calico's manifest, and the
/// roles of `deploy/rbac.yaml` bound to a user known by a token (`drop` leaves a verb out of the
/// rule that grants it: `(group, resource, verb)`).
struct Restricted {
    env: Env,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    kdd_manifest: PathBuf,
}

impl Restricted {
    /// None against a real cluster: tokens are the local API server's.
    fn new(drop: Option<(&str, &str, &str)>) -> Option<Restricted> {
        let env = Env::with(EtcdMode::Tls, &calico::sandbox_cluster());
        let controls = env.install.kube.controls()?;
        let namespace = env.namespace().to_string();
        let dir = tempfile::tempdir().unwrap();
        let (_, kdd_manifest) = common::apply_etcd_manifest(&env, "calico.yaml", dir.path());

        // deploy/rbac.yaml for the install's namespace, less what the test drops; its
        // ClusterRole and ClusterRoleBinding are the test's, deleted at the end.
        let rbac =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml"))
                .unwrap();
        env.install.kube.own_cluster_objects_of(&rbac).unwrap();
        for mut document in rbac_documents() {
            if document["metadata"]["namespace"] == "kube-system" {
                document["metadata"]["namespace"] = json!(namespace);
            }
            if let (Some(rules), Some((group, resource, verb))) =
                (document["rules"].as_array_mut(), drop)
            {
                for rule in rules.iter_mut() {
                    let has = |field: &str, value: &str| {
                        rule[field].as_array().unwrap().iter().any(|v| v == value)
                    };
                    if has("apiGroups", group) && has("resources", resource) {
                        rule["verbs"].as_array_mut().unwrap().retain(|v| v != verb);
                    }
                }
            }
            let collection = match document["kind"].as_str().unwrap() {
                "ClusterRole" | "ClusterRoleBinding" => format!(
                    "/apis/rbac.authorization.k8s.io/v1/{}s",
                    document["kind"].as_str().unwrap().to_lowercase()
                ),
                kind => format!(
                    "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/{}s",
                    kind.to_lowercase()
                ),
            };
            env.install.kube.create_raw(&collection, &document).unwrap();
        }
        controls.add_token(mini_apiserver::TokenUser::new(TOKEN, USER, &[GROUP]));
        // The same cluster, as the user with the token.
        let admin = std::fs::read_to_string(env.install.kube.kubeconfig()).unwrap();
        let restricted = admin.replace("  user: {}\n", &format!("  user:\n    token: {TOKEN}\n"));
        assert_ne!(admin, restricted, "the kubeconfig names the token");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, restricted).unwrap();
        Some(Restricted {
            env,
            dir,
            kubeconfig,
            kdd_manifest,
        })
    }

    fn plugin(&self, args: &[&str]) -> Output {
        common::plugin(&self.kubeconfig)
            .args(["-n", self.env.namespace()])
            .args(args)
            .output()
            .unwrap()
    }

    fn plan(&self) -> Output {
        self.plugin(&[
            "plan",
            "-o",
            "json",
            "--manifest",
            self.kdd_manifest.to_str().unwrap(),
        ])
    }

    fn run(&self) -> Output {
        let backup = self.dir.path().join("backup.export");
        self.plugin(&[
            "run",
            "--yes",
            "-o",
            "json",
            "--rollout-timeout",
            "60s",
            "--manifest",
            self.kdd_manifest.to_str().unwrap(),
            "--backup",
            backup.to_str().unwrap(),
        ])
    }
}

#[test]
fn the_whole_migration_works_with_only_the_manifests_permissions() {
    let Some(cluster) = Restricted::new(None) else {
        eprintln!("skipped: needs the local API server's tokens");
        return;
    };
    let plan = succeeded(&cluster.plan());
    assert_eq!(plan["denied"], json!([]), "{plan:#}");
    assert_eq!(plan["ready"], true, "{plan:#}");
    let report = succeeded(&cluster.run());
    assert_eq!(report["completed"], true, "{report:#}");
    let status = json_output(&cluster.plugin(&["status", "-o", "json"]));
    assert_eq!(status["kubernetes"]["lock"], "unlocked", "{status:#}");
}

#[test]
fn a_missing_permission_is_named_by_plan_import_and_run() {
    let Some(cluster) = Restricted::new(Some(("", "nodes", "patch"))) else {
        eprintln!("skipped: needs the local API server's tokens");
        return;
    };
    // plan names exactly the verb and resource that are missing.
    let output = cluster.plan();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let plan = json_output(&output);
    let denied: Vec<(String, String, String)> = plan["denied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (text(&d["verb"]), text(&d["group"]), text(&d["resource"])))
        .collect();
    assert_eq!(denied, [("patch".into(), String::new(), "nodes".into())]);
    let blockers = plan["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 1, "{plan:#}");
    assert_contains(
        blockers[0]["problem"].as_str().unwrap(),
        "may not patch nodes (API group core)",
    );
    assert_contains(blockers[0]["fix"].as_str().unwrap(), "deploy/rbac.yaml");
    // The text report says the same.
    let output = cluster.plugin(&["plan", "--manifest", cluster.kdd_manifest.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert_contains(&text, "may not patch nodes (API group core)");
    assert_contains(&text, "deploy/rbac.yaml");

    // import and run each stop with one message naming what to grant.
    let export = cluster.dir.path().join("snapshot.export");
    let exported = cluster.plugin(&[
        "export",
        "--allow-unlocked",
        "--full",
        "-f",
        export.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    for (what, output) in [
        (
            "import",
            cluster.plugin(&["import", "-f", export.to_str().unwrap()]),
        ),
        ("run", cluster.run()),
    ] {
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {text}");
        assert!(!text.contains("panicked"), "{text}");
        assert_eq!(
            text.matches("error: ").count(),
            1,
            "{what}: one error:\n{text}"
        );
        assert_contains(&text, "patch");
        assert_contains(&text, "nodes");
        assert_contains(&text, "deploy/rbac.yaml");
    }
}
