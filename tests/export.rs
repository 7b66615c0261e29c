//! export: the file against expectations, parsed back, written atomically, and refused when
//! the datastore is not locked.

mod common;

use calico_migrate::format::export_reader::{ExportFile, read_to_end};
use calico_migrate::source::etcd::Reading;
use common::{Env, assert_contains, failed_saying, json_output, kind_row, stderr, stdout, text};
use serde_json::{Value, json};
use testbed::{EtcdMode, calico};

/// Items of a list kind (`IPPool` → the `IPPoolList` document), or None without that document.
fn items<'f>(file: &'f ExportFile, kind: &str) -> Option<&'f Vec<Value>> {
    file.lists
        .iter()
        .find(|(k, _)| k == &format!("{kind}List"))
        .map(|(_, items)| items)
}

fn names(file: &ExportFile, kind: &str) -> Vec<String> {
    items(file, kind)
        .into_iter()
        .flatten()
        .map(|o| match o["metadata"]["namespace"].as_str() {
            Some(ns) => format!("{ns}/{}", o["metadata"]["name"].as_str().unwrap()),
            None => o["metadata"]["name"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The `kind:` of each top-level list document of an export file's text, in order.
fn list_kinds(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("kind: "))
        .filter(|kind| kind.ends_with("List"))
        .collect()
}

fn export(env: &Env, extra: &[&str]) -> (ExportFile, std::process::Output, tempfile::TempDir) {
    let (path, output, dir) = env.export_to_file(extra);
    let file = read_to_end(&path).unwrap_or_else(|e| panic!("the export parses: {e}"));
    (file, output, dir)
}

/// What an export report counts as not migrated, by what it is.
fn not_migrated(report: &Value) -> std::collections::BTreeMap<String, u64> {
    report["keys"]["notMigrated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (text(&n["what"]), n["count"].as_u64().unwrap()))
        .collect()
}

#[test]
fn the_sandbox_exports_renamed_and_cleaned() {
    let env = Env::locked(&calico::sandbox_cluster());
    let (file, output, dir) = export(&env, &[]);

    // A v3.28 source: the documents of the real calicoctl v3.28.0's export, in its order.
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/calicoctl-v3.28.0/renamed/calicoctl-export.txt"
    ))
    .unwrap();
    let kinds: Vec<&str> = file.lists.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, list_kinds(&golden));
    assert_eq!(kinds.len(), 11);
    assert_eq!(names(&file, "Node"), ["cp-1", "worker-1", "worker-2"]);
    assert_eq!(
        names(&file, "NetworkPolicy"),
        [format!("{}/allow-frontend", env.ns("shop"))],
        "knp.default.* is skipped"
    );
    assert_eq!(names(&file, "GlobalNetworkPolicy"), ["allow-cluster-dns"]);
    assert_eq!(
        names(&file, "BGPConfiguration"),
        ["default", "node.worker-2"]
    );
    assert_eq!(names(&file, "FelixConfiguration"), ["default", "node.cp-1"]);
    let felix = &items(&file, "FelixConfiguration").unwrap()[1];
    assert_eq!(felix["spec"]["defaultEndpointToHostAction"], "Accept");
    // As calicoctl: node references keep the etcd name, and the summary says so.
    assert_eq!(
        items(&file, "HostEndpoint").unwrap()[0]["spec"]["node"],
        "cp-1.cluster.example.com"
    );
    assert_contains(
        &stderr(&output),
        "spec.node names etcd node cp-1.cluster.example.com, which the Kubernetes datastore calls cp-1; calicoctl leaves it so (export --full renames it)",
    );
    // The full form renames them.
    let (full, output, _full_dir) = export(&env, &["--full"]);
    assert_eq!(
        items(&full, "HostEndpoint").unwrap()[0]["spec"]["node"],
        "cp-1"
    );
    assert_eq!(
        items(&full, "BGPPeer").unwrap()[0]["spec"]["node"],
        "worker-1"
    );
    assert_contains(&stderr(&output), "for kubectl calico-migrate import only");
    for (_, list) in &file.lists {
        for object in list {
            let metadata = object["metadata"].as_object().unwrap();
            assert_eq!(metadata["creationTimestamp"], Value::Null);
            for cleared in ["uid", "resourceVersion", "deletionTimestamp"] {
                assert!(!metadata.contains_key(cleared), "{cleared} in {object}");
            }
        }
    }
    assert_eq!(file.cluster_information["spec"]["datastoreReady"], false);
    assert_eq!(file.cluster_information["spec"]["calicoVersion"], "v3.28.0");
    assert!(file.cluster_information["metadata"]["resourceVersion"].is_string());

    let keys = |kind| -> Vec<&str> {
        file.ipam
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.key.as_str())
            .collect()
    };
    use calico_migrate::kinds::IpamKind;
    assert!(
        keys(IpamKind::BlockAffinity)
            .contains(&"/calico/ipam/v2/host/worker-1/ipv4/block/192.168.33.0-26")
    );
    assert!(keys(IpamKind::Handle).contains(&"/calico/ipam/v2/handle/ipip-tunnel-addr-worker-1"));
    assert_eq!(keys(IpamKind::Block).len(), 3);
    assert_eq!(keys(IpamKind::Config), ["/calico/ipam/v2/config"]);
    let block = file
        .ipam
        .iter()
        .find(|e| e.key.ends_with("192.168.33.0-26") && e.kind == IpamKind::Block)
        .unwrap();
    assert_eq!(block.value["affinity"], "host:worker-1");
    assert_eq!(
        block.value["attributes"][1]["secondary"]["node"],
        "worker-1"
    );

    // The summary accounts for every key, on stderr; stdout stays empty with -f.
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert_contains(&err, "Keys under /calico/ at revision");
    assert_contains(&err, "= 29 read for migration + 4 not migrated + 0 unknown");
    assert_contains(&err, "worker-1.cluster.example.com → worker-1");

    // The file is private and nothing else is left in the directory.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir.path().join("snapshot")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn the_summary_as_data_and_the_export_on_stdout_are_the_same_file() {
    let env = Env::locked(&calico::sandbox_cluster());
    let (path, output, _dir) = env.export_to_file(&["-o", "json"]);
    let report = json_output(&output);
    let count = |kind: &str, field: &str| kind_row(&report, kind)[field].as_u64().unwrap();
    assert_eq!(count("Node", "exported"), 3);
    assert_eq!(count("Node", "renamed"), 3);
    assert_eq!(count("NetworkPolicy", "exported"), 1);
    assert_eq!(count("IPAMHandle", "renamed"), 3);
    let skipped = kind_row(&report, "NetworkPolicy")["skipped"].clone();
    assert_eq!(skipped[0]["count"], 1);
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("knp.default.*")
    );
    assert_eq!(report["keys"]["total"], 33);
    let not_migrated = not_migrated(&report);
    assert_eq!(not_migrated.get("Profile"), Some(&2), "{not_migrated:?}");
    assert_eq!(not_migrated.get("WorkloadEndpoint"), Some(&1));
    assert_eq!(not_migrated.get("Felix status"), Some(&1));

    let stdout_export = env.plugin().arg("export").output().unwrap();
    assert!(stdout_export.status.success());
    assert_eq!(
        stdout_export.stdout,
        std::fs::read(&path).unwrap(),
        "stdout and -f write the same bytes"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::Read;
    // Far more than a pipe buffer, so the export is still writing when the reader leaves.
    let env = Env::with(EtcdMode::Plain, &testbed::datasets::large(0.02));
    let mut child = common::plugin_process(env.install.kube.kubeconfig())
        .args(["-n", env.namespace(), "export", "--allow-unlocked"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is closed now, like `| head -c 16`.
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("error:"), "{err}");
    assert_eq!(&first, b"apiVersion: proj");
}

#[test]
fn an_unlocked_datastore_is_refused_unless_allowed() {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot");
    let output = env.export_file(&path, &[]);
    failed_saying(
        &output,
        1,
        &[
            "error: datastore is not locked. Run the `kubectl calico-migrate lock --datastore etcd` command in order to begin migration",
        ],
    );
    assert!(!path.exists(), "nothing is written");

    let output = env
        .plugin()
        .arg("export")
        .arg("-f")
        .arg(&path)
        .arg("--allow-unlocked")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_contains(
        &stderr(&output),
        "warning: the etcd datastore is not locked",
    );
    assert_eq!(
        read_to_end(&path).unwrap().cluster_information["spec"]["datastoreReady"],
        true
    );
}

#[test]
fn a_failed_export_leaves_an_existing_file_alone() {
    let env = Env::with(EtcdMode::Plain, &calico::sandbox_cluster());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot");
    std::fs::write(&path, "previous export").unwrap();
    // Unlocked: refused before anything is written.
    let output = env.export_file(&path, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "previous export");
    // A directory that does not exist.
    let output = env.run(&[
        "export",
        "--allow-unlocked",
        "-f",
        "/nonexistent/dir/snapshot",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &stderr(&output),
        "error: creating /nonexistent/dir/snapshot",
    );
    // -o json needs -f: a usage error.
    let output = env.run(&["export", "--allow-unlocked", "-o", "json"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Collects what a snapshot stream produces.
#[derive(Default)]
struct Collect {
    objects: Vec<Value>,
    ipam: usize,
}

impl calico_migrate::source::etcd::Sink for Collect {
    fn list_start(&mut self, _: &'static calico_migrate::kinds::CalicoKind) -> std::io::Result<()> {
        Ok(())
    }
    fn list_item(
        &mut self,
        _: &'static calico_migrate::kinds::CalicoKind,
        object: &Value,
    ) -> std::io::Result<()> {
        self.objects.push(object.clone());
        Ok(())
    }
    fn list_end(
        &mut self,
        _: &'static calico_migrate::kinds::CalicoKind,
        _: i64,
    ) -> std::io::Result<()> {
        Ok(())
    }
    fn cluster_information(&mut self, _: &Value) -> std::io::Result<()> {
        Ok(())
    }
    fn ipam_entry(&mut self, _: &calico_migrate::convert::ipam::IpamEntry) -> std::io::Result<()> {
        self.ipam += 1;
        Ok(())
    }
}

#[test]
fn every_read_is_at_the_snapshot_revision_in_small_pages() {
    use calico_migrate::etcd::settings::{Source, Sourced};
    let env = Env::locked(&calico::sandbox_cluster());
    let settings = calico_migrate::etcd::EtcdSettings {
        endpoints: Sourced {
            value: vec![env.install.etcd.endpoint().to_string()],
            source: Source::Flag("--etcd-endpoints"),
        },
        ca: Some(Sourced {
            value: calico_migrate::etcd::settings::Pem::Data(
                env.install.etcd.pki().unwrap().ca_cert.clone().into_bytes(),
            ),
            source: Source::Flag("--etcd-ca-file"),
        }),
        cert: Some(Sourced {
            value: calico_migrate::etcd::settings::Pem::Data(
                env.install
                    .etcd
                    .pki()
                    .unwrap()
                    .client_cert
                    .clone()
                    .into_bytes(),
            ),
            source: Source::Flag("--etcd-cert-file"),
        }),
        key: Some(Sourced {
            value: calico_migrate::etcd::settings::Pem::Data(
                env.install
                    .etcd
                    .pki()
                    .unwrap()
                    .client_key
                    .clone()
                    .into_bytes(),
            ),
            source: Source::Flag("--etcd-key-file"),
        }),
        username: None,
        password: None,
        notes: vec![],
    };
    let progress = calico_migrate::console::Progress::hidden();
    let late = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "late"}, "spec": {"cidr": "10.9.0.0/16"}});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (before, after) = runtime.block_on(async {
        let mut connected =
            calico_migrate::etcd::connect(settings, std::time::Duration::from_secs(5))
                .await
                .unwrap();
        let store = &mut connected.store;
        // Two keys per request, so that the snapshot is read in many requests.
        let reading = Reading {
            page_size: 2,
            ..Default::default()
        };
        let header = calico_migrate::source::etcd::open(store, &reading)
            .await
            .unwrap();
        // A change after the snapshot's revision was taken...
        std::thread::scope(|s| {
            s.spawn(|| {
                env.install
                    .etcd
                    .put(&testbed::calico::resource_key(&late), &late.to_string())
                    .unwrap()
            })
            .join()
            .unwrap()
        });
        let mut before = Collect::default();
        calico_migrate::source::etcd::stream(store, &header, &progress, &mut before)
            .await
            .unwrap();
        // ...is not in it, while a new snapshot sees it.
        let header = calico_migrate::source::etcd::open(store, &reading)
            .await
            .unwrap();
        let mut after = Collect::default();
        calico_migrate::source::etcd::stream(store, &header, &progress, &mut after)
            .await
            .unwrap();
        (before, after)
    });
    let pool_names = |c: &Collect| -> Vec<String> {
        c.objects
            .iter()
            .filter(|o| o["kind"] == "IPPool")
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pool_names(&before), ["default-ipv4-ippool"]);
    assert_eq!(pool_names(&after), ["default-ipv4-ippool", "late"]);
    assert_eq!(before.objects.len() + 1, after.objects.len());
    assert_eq!(before.ipam, after.ipam);
    assert_eq!(before.ipam, 12);
}

mod datasets {
    use super::*;
    use calico_migrate::kinds::IpamKind;
    use testbed::datasets::{self, Release, expected_export};

    /// Exports a dataset in the full form and checks it against what that form must contain
    /// (`testbed::datasets::expected_export`, the reference model of docs/design.md §19).
    fn check(dataset: &testbed::Dataset, extra: &[&str]) -> (ExportFile, std::process::Output) {
        let env = Env::locked(dataset);
        let mut args = vec!["--full"];
        args.extend_from_slice(extra);
        let (file, output, _dir) = export(&env, &args);
        let expected = expected_export(&env.dataset);
        for (kind, count) in expected.counts() {
            let mut got = names(&file, kind);
            got.sort();
            assert_eq!(
                got,
                expected.names(kind),
                "{kind} (expected {count})\n{}",
                expected.summary()
            );
        }
        let keys = |kind| -> Vec<String> {
            let mut keys: Vec<String> = file
                .ipam
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.key.clone())
                .collect();
            keys.sort();
            keys
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(keys(IpamKind::Block), sorted(expected.blocks.clone()));
        assert_eq!(
            keys(IpamKind::BlockAffinity),
            sorted(expected.block_affinities.clone())
        );
        assert_eq!(keys(IpamKind::Handle), sorted(expected.handles.clone()));
        assert_eq!(
            keys(IpamKind::Config).len(),
            usize::from(expected.ipam_config)
        );
        (file, output)
    }

    /// An export that fails (exit 1) and writes no file; its stderr.
    fn refused_export(env: &Env) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        let output = env.export_file(&file, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(!file.exists(), "a refused export wrote {}", file.display());
        stderr(&output)
    }

    fn report_of(output: &std::process::Output) -> String {
        stderr(output)
    }

    #[test]
    fn every_preflight_problem_is_reported_together_the_lock_first() {
        // Unlocked, and two etcd nodes that map onto one Kubernetes node: both are reported,
        // the lock first, and nothing is written.
        let err = refused_export(&Env::with(EtcdMode::Plain, &datasets::upstream_st()));
        assert_contains(&err, "cannot export: 2 problems:");
        let lock = err.find("1. datastore is not locked").expect(&err);
        let nodes = err
            .find("2. cannot map etcd nodes to Kubernetes nodes")
            .expect(&err);
        assert!(lock < nodes, "{err}");
        assert_contains(&err, "fix: lock it first");
        assert_contains(&err, "fix: if merging them is intended");
    }

    #[test]
    fn upstream_system_test_needs_the_node5_merge_confirmed() {
        let dataset = datasets::upstream_st();
        {
            let err = refused_export(&Env::locked(&dataset));
            assert_contains(
                &err,
                "error: cannot map etcd nodes to Kubernetes nodes: etcd nodes node4 and node5 all map to Kubernetes node \"node4\"; one would overwrite the other's BGP addresses",
            );
            assert_contains(
                &err,
                "hint: if merging them is intended, confirm with --node-map node5=node4",
            );
        }

        let (file, output) = check(&dataset, &["--node-map", "node5=node4"]);
        assert_eq!(names(&file, "Node"), ["node4", "node4"]);
        assert!(names(&file, "FelixConfiguration").contains(&"node.node4".to_string()));
        assert!(report_of(&output).contains("node5 → node4"));
    }

    #[test]
    fn fqdn_nodes_are_renamed_everywhere() {
        let (file, output) = check(&datasets::fqdn_nodes(), &[]);
        // References calicoctl forgets.
        for object in items(&file, "HostEndpoint")
            .unwrap()
            .iter()
            .chain(items(&file, "BGPPeer").into_iter().flatten())
        {
            let node = object["spec"]["node"].as_str().unwrap_or_default();
            assert!(!node.ends_with(".example.com"), "{object}");
        }
        for entry in &file.ipam {
            let text = entry.value.to_string();
            if entry.kind == IpamKind::Block {
                assert!(
                    !text.contains("worker-1.example.com"),
                    "{}: {text}",
                    entry.key
                );
            }
        }
        assert!(report_of(&output).contains("worker-1.example.com → worker-1"));
    }

    #[test]
    fn dual_stack_ipam_keeps_every_value_shape() {
        let (file, output) = check(&datasets::dual_stack_ipam(), &[]);
        let handles: Vec<&str> = file
            .ipam
            .iter()
            .filter(|e| e.kind == IpamKind::Handle)
            .map(|e| e.key.as_str())
            .collect();
        for prefix in [
            "ipip-tunnel-addr-",
            "vxlan-tunnel-addr-",
            "vxlan-v6-tunnel-addr-",
            "wireguard-tunnel-addr-",
            "wireguard-v6-tunnel-addr-",
        ] {
            assert!(
                handles.iter().any(|h| h.contains(&format!("/{prefix}"))),
                "{prefix}: {handles:?}"
            );
        }
        // The IPv6 tunnel handles of the renamed node follow it (calicoctl leaves them behind).
        for prefix in ["vxlan-v6-tunnel-addr-", "wireguard-v6-tunnel-addr-"] {
            assert!(
                handles.contains(&format!("/calico/ipam/v2/handle/{prefix}edge-1").as_str()),
                "{prefix}: {handles:?}"
            );
        }
        assert!(
            !handles.iter().any(|h| h.contains("edge-1.lab.internal")),
            "{handles:?}"
        );
        assert!(file.ipam.iter().any(|e| e.kind == IpamKind::BlockAffinity
            && go_compat::json::marshal(&e.value) == r#"{"state":"","deleted":false}"#));
        let text: String = file.ipam.iter().map(|e| e.value.to_string()).collect();
        for newer in ["affinity_claim_time", "alternateOwnerAttrs", "releasedAt"] {
            assert!(text.contains(newer), "{newer} carried through");
        }
        let config = file
            .ipam
            .iter()
            .find(|e| e.kind == IpamKind::Config)
            .unwrap();
        for field in [
            "strict_affinity",
            "auto_allocate_blocks",
            "maxBlocksPerHost",
            "kubeVirtVMAddressPersistence",
            "ipCooldownSeconds",
        ] {
            assert!(config.value.get(field).is_some(), "{field}");
        }
        let err = report_of(&output);
        assert_contains(
            &err,
            "BlockAffinity (virtual)                1  LoadBalancer IPAM affinities",
        );
    }

    #[test]
    fn skipped_data_is_accounted_for() {
        let dataset = datasets::skipped_data();
        let env = Env::locked(&dataset);
        let (path, output, _dir) = env.export_to_file(&["-o", "json"]);
        let report = json_output(&output);
        let expected = expected_export(&env.dataset);
        let not_migrated = not_migrated(&report);
        assert_eq!(
            not_migrated.get("WorkloadEndpoint"),
            Some(&3),
            "{not_migrated:?}"
        );
        assert_eq!(not_migrated.get("Profile"), Some(&5));
        assert_eq!(not_migrated.get("CalicoNodeStatus"), Some(&1));
        assert_eq!(not_migrated.get("IPAMConfiguration"), Some(&1));
        assert_eq!(not_migrated.get("BlockAffinity (v3 object)"), Some(&1));
        assert_eq!(not_migrated.get("LiveMigration"), Some(&1));
        assert_eq!(not_migrated.get("Felix status"), Some(&4));
        assert_eq!(not_migrated.get("BlockAffinity (virtual)"), Some(&1));
        let skipped = |kind: &str, reason: &str| -> u64 {
            kind_row(&report, kind)["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["reason"].as_str().unwrap().starts_with(reason))
                .map(|s| s["count"].as_u64().unwrap())
                .sum()
        };
        assert_eq!(skipped("NetworkPolicy", "knp.default.*"), 2);
        assert_eq!(
            skipped("GlobalNetworkPolicy", "kanp./kbanp."),
            2,
            "on v3.31"
        );
        // Every key is accounted for: read for migration, not migrated, or unknown.
        let keys = &report["keys"];
        let not_migrated_total: u64 = not_migrated.values().sum();
        assert_eq!(
            keys["total"].as_u64().unwrap(),
            keys["migratedKinds"].as_u64().unwrap()
                + not_migrated_total
                + keys["unknown"]["count"].as_u64().unwrap()
        );
        let handled: u64 = report["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                k["exported"].as_u64().unwrap()
                    + k["skipped"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["count"].as_u64().unwrap())
                        .sum::<u64>()
            })
            .sum();
        assert_eq!(handled, keys["migratedKinds"].as_u64().unwrap());
        assert_eq!(
            keys["unknown"]["count"].as_u64().unwrap() + skipped_unparseable(&report),
            expected.ignored.len() as u64,
            "ignored keys: {:?}",
            expected.ignored
        );
        // A HostEndpoint that references a user-created profile is warned about.
        assert_contains(&stderr(&output), "references profile");
        let file = read_to_end(&path).unwrap();
        for (kind, _) in expected.counts() {
            let mut got = names(&file, kind);
            got.sort();
            assert_eq!(got, expected.names(kind), "{kind}");
        }
    }

    fn skipped_unparseable(report: &Value) -> u64 {
        report["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|k| k["skipped"].as_array().unwrap().iter())
            .filter(|s| {
                let reason = s["reason"].as_str().unwrap();
                reason.contains("not JSON objects")
                    || reason.contains("not v3 resource keys")
                    || reason.contains("not IPAM keys")
            })
            .map(|s| s["count"].as_u64().unwrap())
            .sum()
    }

    #[test]
    fn policies_and_tiers_in_every_release() {
        for release in Release::ALL {
            let (file, _) = check(&datasets::policies_and_tiers(release), &[]);
            for kind in [
                "GlobalNetworkPolicy",
                "NetworkPolicy",
                "StagedGlobalNetworkPolicy",
                "StagedNetworkPolicy",
            ] {
                for object in items(&file, kind).into_iter().flatten() {
                    // The client adds the tier label on read from v3.29 (v3.28 has no tiers and
                    // keeps the labels as stored).
                    if release >= Release::V3_29 {
                        assert!(
                            object["metadata"]["labels"]["projectcalico.org/tier"].is_string(),
                            "{release:?} {object}"
                        );
                    }
                    let annotations = &object["metadata"]["annotations"];
                    assert!(
                        annotations.get("projectcalico.org/metadata").is_none(),
                        "{release:?} {object}"
                    );
                }
            }
            for felix in items(&file, "FelixConfiguration").into_iter().flatten() {
                for field in [
                    "defaultEndpointToHostAction",
                    "iptablesFilterAllowAction",
                    "iptablesMangleAllowAction",
                    "iptablesFilterDenyAction",
                ] {
                    if let Some(value) = felix["spec"][field].as_str() {
                        assert!(
                            ["Drop", "Accept", "Return", "Reject", ""].contains(&value),
                            "{release:?} {field}={value}"
                        );
                    }
                }
            }
            let staged_namespaces: std::collections::BTreeSet<&str> =
                ["StagedNetworkPolicy", "StagedKubernetesNetworkPolicy"]
                    .iter()
                    .flat_map(|k| items(&file, k).into_iter().flatten())
                    .filter_map(|o| o["metadata"]["namespace"].as_str())
                    .collect();
            if release >= Release::V3_30 {
                assert!(
                    staged_namespaces.iter().any(|ns| *ns != "default"),
                    "{release:?}: staged policies outside default"
                );
            }
        }
    }

    #[test]
    fn no_ipam_exports_an_empty_ipam_object() {
        let dataset = datasets::no_ipam();
        let env = Env::locked(&dataset);
        let (path, _, _dir) = env.export_to_file(&[]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("===\n{}\n"),
            "{}",
            &text[text.len().saturating_sub(200)..]
        );
        assert!(read_to_end(&path).unwrap().ipam.is_empty());
    }

    #[test]
    fn unmapped_nodes_are_listed_together_and_can_be_mapped() {
        let dataset = datasets::unmapped_nodes();
        let env = Env::locked(&dataset);
        let err = refused_export(&env);
        let dir = tempfile::tempdir().unwrap();
        assert_contains(
            &err,
            "2 node(s) have no 'k8s' orchestrator reference: legacy-1, standalone-gw",
        );
        assert_contains(
            &err,
            "etcd nodes ip-10-0-3-17 and ip-10-0-3-17.ec2.internal all map to Kubernetes node \"ip-10-0-3-17\"",
        );
        assert_contains(&err, "--node-map legacy-1=<k8s-node-name>");

        let map = dir.path().join("node-map");
        std::fs::write(
            &map,
            "# hosts without Kubernetes\nstandalone-gw=\nlegacy-1 = legacy-1\n",
        )
        .unwrap();
        let output = env
            .plugin()
            .arg("export")
            .arg("-f")
            .arg(dir.path().join("y"))
            .arg("--node-map-file")
            .arg(&map)
            .args([
                "--node-map",
                "ip-10-0-3-17.ec2.internal=ip-10-0-3-17",
                "-o",
                "json",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let file = read_to_end(&dir.path().join("y")).unwrap();
        let nodes = names(&file, "Node");
        assert!(!nodes.contains(&"standalone-gw".to_string()), "{nodes:?}");
        assert!(nodes.contains(&"legacy-1".to_string()));
        assert_eq!(nodes.iter().filter(|n| *n == "ip-10-0-3-17").count(), 2);
        let report = json_output(&output);
        let node_summary = kind_row(&report, "Node");
        assert_eq!(node_summary["skipped"][0]["count"], 1, "{node_summary}");
        // The merge makes duplicates; the export says so.
        assert_contains(&stderr(&output), "appears 2 times");
    }
}

/// A small cluster touching each rule, for the exact text of the file.
fn tiny_cluster() -> testbed::Dataset {
    use testbed::calico::{
        Block, cluster_information, node, object, pod_attrs, tunnel_attrs, with_meta,
    };
    let mut d = testbed::Dataset::default();
    d.put(
        testbed::calico::CLUSTER_INFORMATION_KEY,
        &cluster_information("v3.28.0", true),
    );
    d.resource(node(
        "w1.example.com",
        Some("w1"),
        "10.0.0.11",
        "192.168.1.0",
    ));
    d.resource(object(
        "IPPool",
        None,
        "pool",
        json!({"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": true, "blockSize": 30, "nodeSelector": "all()"}),
    ));
    d.resource(with_meta(
        object("GlobalNetworkPolicy", None, "default.deny-all", json!({"tier": "default", "order": 1e6, "selector": "all()", "types": ["Ingress"]})),
        "annotations",
        json!({"note": "a long note with spaces, long enough for go-yaml to fold it onto a second line at eighty columns"}),
    ));
    d.resource(object(
        "NetworkPolicy",
        Some("app"),
        "knp.default.copy",
        json!({"selector": "all()"}),
    ));
    d.resource(object(
        "FelixConfiguration",
        None,
        "node.w1.example.com",
        json!({"defaultEndpointToHostAction": "RETURN"}),
    ));
    let block = Block {
        cidr: "192.168.1.0/30".into(),
        host: Some("w1.example.com".into()),
        allocations: vec![
            (
                0,
                "ipip-tunnel-addr-w1.example.com".into(),
                tunnel_attrs("w1.example.com", "ipipTunnelAddress"),
            ),
            (
                1,
                "k8s-pod-network.0a1b".into(),
                pod_attrs("w1.example.com", "app", "web-0"),
            ),
        ],
        size: 4,
    };
    block.add_to(&mut d);
    d.put(
        "/calico/ipam/v2/config",
        &json!({"auto_allocate_blocks": true}),
    );
    d
}

#[test]
fn the_exact_file_text_of_a_small_cluster() {
    let env = Env::locked(&tiny_cluster());
    let (_, _, dir) = export(&env, &[]);
    let text = std::fs::read_to_string(dir.path().join("snapshot")).unwrap();
    insta::with_settings!({filters => vec![
        (r#"resourceVersion: "\d+""#, r#"resourceVersion: "[revision]""#),
        (r#""resourceVersion": "\d+""#, r#""resourceVersion": "[revision]""#),
    ]}, {
        insta::assert_snapshot!(text);
    });
}

#[test]
fn pages_of_large_values_stay_within_limits() {
    // Well-used IPAM blocks are tens of kilobytes each: 300 of them are far more than one gRPC
    // message may carry (4 MiB by default), so pages must be sized by bytes.
    use testbed::calico::{Block, pod_attrs};
    let mut dataset = testbed::Dataset::default();
    dataset.put(
        testbed::calico::CLUSTER_INFORMATION_KEY,
        &testbed::calico::cluster_information("v3.28.0", false),
    );
    for i in 0..300u32 {
        let host = format!("node-{i}");
        let block = Block {
            cidr: format!("10.{}.{}.0/22", i / 64, (i % 64) * 4),
            host: Some(host.clone()),
            allocations: (0..200)
                .map(|o| {
                    (
                        o,
                        format!("k8s-pod-network.{i:04}{o:04}{}", "ab".repeat(28)),
                        pod_attrs(&host, "apps", &format!("pod-{i}-{o}")),
                    )
                })
                .collect(),
            size: 1024,
        };
        dataset.put(block.key(), &block.value());
    }
    let env = Env::with(EtcdMode::Plain, &dataset);
    let bytes: usize = dataset.kvs.iter().map(|(_, v)| v.len()).sum();
    assert!(
        bytes > 8 << 20,
        "the test needs more than a default gRPC message: {bytes}"
    );
    let (file, _, _dir) = export(&env, &[]);
    assert_eq!(
        file.ipam
            .iter()
            .filter(|e| e.kind == calico_migrate::kinds::IpamKind::Block)
            .count(),
        300
    );
}
