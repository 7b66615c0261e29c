//! Reaching etcd: every resolution path (cluster ConfigMap + Secret, flags, variables,
//! user/password) and every connection error, through the real binary.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;

use common::{
    Env, assert_contains, assert_printed, failed_saying, json_output, stderr, stdout, text,
};
use testbed::EtcdMode;

fn sources(status: &serde_json::Value) -> BTreeMap<String, String> {
    status["etcd"]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (text(&row["setting"]), text(&row["source"])))
        .collect()
}

#[test]
fn tls_settings_come_from_the_configmap_and_secret() {
    let env = Env::start(EtcdMode::Tls);
    env.put_cluster_information(true);
    let ns = env.namespace().to_string();

    let output = env.run(&["status", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let status = json_output(&output);
    assert_eq!(status["etcd"]["reachable"], true);
    assert_eq!(status["etcd"]["lock"], "unlocked");
    let from = sources(&status);
    assert_eq!(
        from["endpoints"],
        format!("ConfigMap {ns}/calico-config key etcd_endpoints")
    );
    assert_eq!(
        from["ca"],
        format!("Secret {ns}/calico-etcd-secrets key etcd-ca")
    );
    assert_eq!(
        from["cert"],
        format!("Secret {ns}/calico-etcd-secrets key etcd-cert")
    );
    assert_eq!(
        from["key"],
        format!("Secret {ns}/calico-etcd-secrets key etcd-key")
    );

    // The human form says the same, and -v reports each source while connecting.
    let output = env.run(&["lock", "--datastore", "etcd", "-v"]);
    assert_printed(&output, "Datastore locked.\n");
    assert!(stderr(&output).contains(&format!(
        "etcd endpoints: {} (from ConfigMap {ns}/calico-config key etcd_endpoints)",
        env.install.etcd.endpoint()
    )));
    assert!(stderr(&output).contains(&format!(
        "(from Secret {ns}/calico-etcd-secrets key etcd-ca)"
    )));
}

#[test]
fn flags_work_without_any_cluster_configuration() {
    let env = Env::start(EtcdMode::Plain);
    env.put_cluster_information(true);
    env.install
        .kube
        .delete_config_map(env.namespace(), "calico-config")
        .unwrap();

    let output = env.run(&[
        "lock",
        "--datastore",
        "etcd",
        "--etcd-endpoints",
        env.install.etcd.endpoint(),
    ]);
    assert_printed(&output, "Datastore locked.\n");

    // No kubeconfig at all: etcd still works from flags alone.
    let output = common::plugin(std::path::Path::new("/nonexistent/kubeconfig"))
        .args([
            "unlock",
            "--datastore",
            "etcd",
            "--etcd-endpoints",
            env.install.etcd.endpoint(),
        ])
        .output()
        .unwrap();
    assert_printed(&output, "Datastore unlocked.\n");
}

#[test]
fn variables_override_the_cluster_and_flags_override_variables() {
    let env = Env::start(EtcdMode::Tls);
    env.put_cluster_information(true);
    let files = env.install.etcd.client_files().unwrap().clone();
    // The cluster points somewhere useless; the variables are right.
    let mut data = BTreeMap::new();
    data.insert(
        "etcd_endpoints".to_string(),
        "https://127.0.0.1:1".to_string(),
    );
    env.install
        .kube
        .put_config_map(env.namespace(), "calico-config", data)
        .unwrap();

    // The plugin with every etcd setting in variables, the CA `ca`.
    let with_variables = |ca| {
        let mut plugin = env.plugin();
        plugin
            .env("ETCD_ENDPOINTS", env.install.etcd.endpoint())
            .env("ETCD_CA_CERT_FILE", ca)
            .env("ETCD_CERT_FILE", &files.cert)
            .env("ETCD_KEY_FILE", &files.key);
        plugin
    };
    let output = with_variables(&files.ca)
        .args(["status", "-o", "json"])
        .output()
        .unwrap();
    let status = json_output(&output);
    assert_eq!(status["etcd"]["reachable"], true, "{}", stderr(&output));
    let from = sources(&status);
    assert_eq!(from["endpoints"], "environment variable ETCD_ENDPOINTS");
    assert_eq!(from["ca"], "environment variable ETCD_CA_CERT_FILE");
    assert_eq!(from["key"], "environment variable ETCD_KEY_FILE");

    // A flag beats the variable: the wrong CA in the variable is overridden by the right one.
    let output = with_variables(&files.other_ca)
        .args(["status", "-o", "json", "--etcd-ca-file"])
        .arg(&files.ca)
        .output()
        .unwrap();
    let status = json_output(&output);
    assert_eq!(status["etcd"]["reachable"], true, "{}", stderr(&output));
    assert_eq!(sources(&status)["ca"], "flag --etcd-ca-file");
}

#[test]
fn user_and_password() {
    let mut env = Env::start(EtcdMode::Plain);
    env.put_cluster_information(true);
    env.install.etcd.enable_auth("s3cret-pw").unwrap();

    let output = env
        .plugin()
        .env("ETCD_PASSWORD", "s3cret-pw")
        .args([
            "lock",
            "--datastore",
            "etcd",
            "--etcd-username",
            "root",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json_output(&output)["locked"], true);

    let output = env
        .plugin()
        .env("ETCD_USERNAME", "root")
        .env("ETCD_PASSWORD", "wrong")
        .args(["lock", "--datastore", "etcd"])
        .output()
        .unwrap();
    let err = failed_saying(
        &output,
        1,
        &[
            "error: etcd rejected the user name or password of user \"root\" (from environment variable ETCD_USERNAME)",
        ],
    );
    assert!(
        !err.contains("wrong"),
        "the password must not be printed: {err}"
    );

    let output = env.run(&["lock", "--datastore", "etcd"]);
    assert_eq!(output.status.code(), Some(1));
    assert_contains(
        &stderr(&output),
        "error: etcd requires a user name and password",
    );
    assert_contains(&stderr(&output), "hint: give --etcd-username");
}

fn failure(env: &Env, args: &[&str]) -> String {
    let output = env.run(args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    stderr(&output)
}

/// `lock --datastore etcd` with more arguments fails (exit code 1) and says each of `says`.
fn etcd_lock_fails(env: &Env, more: &[&str], says: &[&str]) {
    let mut args = vec!["lock", "--datastore", "etcd"];
    args.extend_from_slice(more);
    let err = failure(env, &args);
    for part in says {
        assert_contains(&err, part);
    }
}

#[test]
fn cluster_configuration_errors_say_what_was_tried() {
    let env = Env::start(EtcdMode::Tls);
    env.put_cluster_information(true);
    let ns = env.namespace().to_string();
    let kube = &env.install.kube;

    // A Secret without the key the ConfigMap names.
    let pki = env.install.etcd.pki().unwrap();
    let mut partial = BTreeMap::new();
    partial.insert("etcd-ca".to_string(), pki.ca_cert.clone().into_bytes());
    partial.insert(
        "etcd-cert".to_string(),
        pki.client_cert.clone().into_bytes(),
    );
    kube.put_secret(&ns, "calico-etcd-secrets", partial)
        .unwrap();
    etcd_lock_fails(
        &env,
        &[],
        &[
            &format!(
                "error: ConfigMap {ns}/calico-config sets etcd_key to \"/calico-secrets/etcd-key\", but Secret {ns}/calico-etcd-secrets has no key \"etcd-key\""
            ),
            "--etcd-key-file",
        ],
    );

    // No Secret at all.
    kube.put_secret(&ns, "calico-etcd-secrets", BTreeMap::new())
        .unwrap();
    let output = env.run(&[
        "lock",
        "--datastore",
        "etcd",
        "--etcd-secret",
        "no-such-secret",
    ]);
    let err = stderr(&output);
    assert_contains(
        &err,
        &format!(
            "error: ConfigMap {ns}/calico-config sets etcd_ca to \"/calico-secrets/etcd-ca\", but Secret {ns}/no-such-secret could not be read"
        ),
    );
    assert_contains(&err, "not found");

    // A ConfigMap without etcd_endpoints (a Kubernetes-datastore install, say).
    let mut data = BTreeMap::new();
    data.insert("calico_backend".to_string(), "bird".to_string());
    kube.put_config_map(&ns, "calico-config", data).unwrap();
    etcd_lock_fails(
        &env,
        &[],
        &[
            &format!(
                "error: no etcd endpoints: ConfigMap {ns}/calico-config has no etcd_endpoints key (is this an etcd-mode Calico install?)"
            ),
            "hint: pass --etcd-endpoints",
        ],
    );

    // No ConfigMap.
    kube.delete_config_map(&ns, "calico-config").unwrap();
    etcd_lock_fails(
        &env,
        &[],
        &[
            &format!("error: no etcd endpoints: ConfigMap {ns}/calico-config was not found"),
            "hint: pass --etcd-endpoints (or set ETCD_ENDPOINTS), or point -n/--namespace",
        ],
    );
}

#[test]
fn connection_errors_name_the_problem() {
    let env = Env::start(EtcdMode::Tls);
    env.put_cluster_information(true);
    let files = env.install.etcd.client_files().unwrap().clone();
    let endpoint = env.install.etcd.endpoint().to_string();

    // Refused.
    etcd_lock_fails(
        &env,
        &["--etcd-endpoints", "http://127.0.0.1:1"],
        &[
            "error: cannot connect to etcd at http://127.0.0.1:1 (from flag --etcd-endpoints): Connection refused",
            "hint: check that the endpoint is reachable from this machine",
        ],
    );

    // A peer that accepts but never answers: bounded by --request-timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(8).flatten() {
            held.push(stream);
        }
        let mut buf = [0u8; 1];
        for mut s in held {
            let _ = s.read(&mut buf);
        }
    });
    etcd_lock_fails(
        &env,
        &["--etcd-endpoints", &silent_url, "--request-timeout", "1s"],
        &[&format!(
            "error: etcd at {silent_url} (from flag --etcd-endpoints) did not answer within 1s"
        )],
    );
    drop(holder);

    // The wrong CA.
    let output = env
        .plugin()
        .env("ETCD_CA_CERT_FILE", &files.other_ca)
        .args(["lock", "--datastore", "etcd"])
        .output()
        .unwrap();
    failed_saying(
        &output,
        1,
        &[
            &format!(
                "error: TLS handshake with etcd at {endpoint} failed: etcd's certificate is not signed by a trusted CA"
            ),
            "hint: the CA from environment variable ETCD_CA_CERT_FILE did not sign etcd's certificate",
        ],
    );

    // No client certificate for an etcd that requires one (the cluster is not asked: the
    // ConfigMap is gone).
    env.install
        .kube
        .delete_config_map(env.namespace(), "calico-config")
        .unwrap();
    let plain = endpoint.replace("https://", "http://");
    let no_client_certificate =
        format!("error: etcd at {endpoint} closed the connection while it was being set up");
    let with_ca = |ca| ["--etcd-endpoints", &endpoint, "--etcd-ca-file", ca];
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &with_ca(files.ca.to_str().unwrap()),
            &[
                &no_client_certificate,
                "hint: etcd probably requires a client certificate",
            ],
        ),
        // Plain http to a TLS etcd.
        (
            &["--etcd-endpoints", &plain],
            &["hint: the endpoint may expect TLS"],
        ),
        // A CA file that does not exist, and one that is not PEM.
        (
            &with_ca("/nonexistent/ca.pem"),
            &["error: cannot read the etcd CA file /nonexistent/ca.pem (from flag --etcd-ca-file)"],
        ),
        (
            &with_ca("Cargo.toml"),
            &["error: the etcd CA from flag --etcd-ca-file is not PEM data"],
        ),
        // A malformed endpoint.
        (
            &["--etcd-endpoints", "127.0.0.1:2379"],
            &[
                "error: invalid etcd endpoint \"127.0.0.1:2379\" (from flag --etcd-endpoints): it must start with http:// or https://",
            ],
        ),
    ];
    for (more, says) in cases {
        etcd_lock_fails(&env, more, says);
    }
}

#[test]
fn kubeconfig_errors() {
    let env = Env::start(EtcdMode::Plain);
    let dir = tempfile::tempdir().unwrap();
    // `lock --datastore kubernetes` with another kubeconfig.
    let lock_kubernetes = |kubeconfig: &std::path::Path| {
        common::plugin(kubeconfig)
            .args(["lock", "--datastore", "kubernetes"])
            .output()
            .unwrap()
    };

    let output = lock_kubernetes(&dir.path().join("missing"));
    failed_saying(&output, 1, &["error: cannot read kubeconfig"]);

    let err = failure(
        &env,
        &["lock", "--datastore", "kubernetes", "--context", "nope"],
    );
    assert!(
        err.contains("error: context \"nope\" is not in the kubeconfig (contexts: "),
        "{err}"
    );
    assert_contains(&err, "hint: pick a context with --context");

    let bad = dir.path().join("bad-server");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: 127.0.0.1:6443\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: x\n",
    )
    .unwrap();
    let output = lock_kubernetes(&bad);
    assert_contains(
        &stderr(&output),
        "error: context \"x\" names server \"127.0.0.1:6443\", which is not an http:// or https:// URL",
    );

    let down = dir.path().join("down");
    std::fs::write(
        &down,
        std::fs::read_to_string(&bad)
            .unwrap()
            .replace("server: 127.0.0.1:6443", "server: http://127.0.0.1:1"),
    )
    .unwrap();
    let output = lock_kubernetes(&down);
    failed_saying(
        &output,
        1,
        &[
            "error: cannot reach the Kubernetes API server at http://127.0.0.1:1",
            "hint: check that `kubectl get nodes` works",
        ],
    );
}

#[test]
fn merged_kubeconfig_files_and_context_selection() {
    let env = Env::start(EtcdMode::Plain);
    env.put_cluster_information(true);
    let dir = tempfile::tempdir().unwrap();
    // The first file holds only a context that points nowhere useful; the second the real one.
    let real = std::fs::read_to_string(env.install.kube.kubeconfig()).unwrap();
    let decoy = dir.path().join("decoy");
    std::fs::write(
        &decoy,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: decoy\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: decoy\n  context:\n    cluster: decoy\n    user: decoy\nusers:\n- name: decoy\n  user: {}\ncurrent-context: decoy\n",
    )
    .unwrap();
    let second = dir.path().join("real");
    std::fs::write(&second, &real).unwrap();
    let merged = std::env::join_paths([decoy.as_path(), second.as_path()]).unwrap();
    let context = testbed::kube_side::context_name(&real);

    let output = common::plugin(&decoy)
        .env("KUBECONFIG", &merged)
        .args([
            "-n",
            env.namespace(),
            "status",
            "-o",
            "json",
            "--context",
            &context,
        ])
        .output()
        .unwrap();
    let status = json_output(&output);
    assert_eq!(
        status["kubernetes"]["reachable"],
        true,
        "{}",
        stderr(&output)
    );
    assert_eq!(status["kubernetes"]["context"], context);
    assert_eq!(status["etcd"]["reachable"], true, "{}", stderr(&output));

    // Without --context the first file's current context wins, as with kubectl.
    let output = common::plugin(&decoy)
        .env("KUBECONFIG", &merged)
        .args(["-n", env.namespace(), "status", "-o", "json"])
        .output()
        .unwrap();
    let status = json_output(&output);
    assert_eq!(status["kubernetes"]["context"], "decoy");
    assert_eq!(status["kubernetes"]["reachable"], false);
}
