//! Faults, each seen from the user's side: what the plugin says and leaves behind when etcd
//! stops during an export, the API server restarts during an import, connections are reset in
//! the middle of a response, answers trickle in, and the user presses Ctrl-C.
//!
//! API server faults come from a TCP proxy in front of the server ([`testbed::proxy`]), so
//! they work against the local server and a real cluster alike: a restart resets every
//! connection and refuses new ones for a while, after which the same server (with the same
//! state, as a real kube-apiserver restarting on its etcd) answers again.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Env, Exported, assert_contains, failed_saying, json_output, kind_row, plugin_process, stderr,
    succeeded,
};
use testbed::proxy::Proxy;
use testbed::{Dataset, datasets};

/// About 3,500 etcd keys, 1,900 of them migrated: an export that reads one key per request,
/// or an import at a limited rate, takes seconds.
fn big() -> Dataset {
    datasets::large(0.02)
}

/// Waits until `ready` holds, failing if the child ends first or it takes too long.
fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut stream) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stream, &mut err);
            }
            panic!("the plugin ended ({status}) before {what}:\n{err}");
        }
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ctrl-C: SIGINT to the plugin; its output and how long it took to stop.
fn interrupt(child: Child) -> (Output, Duration) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let sent = Instant::now();
    // SAFETY: signals a child process this test started and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    (output, sent.elapsed())
}

/// The files in a directory.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// How many objects of a Calico kind the cluster holds (none before its CRD exists).
fn count(env: &Env, plural: &str) -> usize {
    env.install
        .kube
        .list_calico(plural)
        .map_or(0, |items| items.len())
}

/// The plugin as the user typed it, through `kubeconfig`: the command line and the process.
fn spawn(env: &Env, kubeconfig: &Path, args: &[&str]) -> (String, Child) {
    let mut full = vec!["-n", env.namespace()];
    full.extend_from_slice(args);
    let line = format!("kubectl calico-migrate {}", full.join(" "));
    let child = plugin_process(kubeconfig)
        .args(&full)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (line, child)
}

/// `export -f file --page-size 1` from an etcd that answers slowly (a proxy in front of it),
/// once it is writing its temporary file beside `file`: the command line, the process and the
/// proxy.
fn slow_export(env: &Env, file: &Path) -> (String, Child, Proxy) {
    let endpoint = env.install.etcd.endpoint();
    let (scheme, address) = endpoint.split_once("://").unwrap();
    let proxy = Proxy::start(address.parse().unwrap()).unwrap();
    proxy.slow_responses(Duration::from_millis(5));
    let endpoints = format!("{scheme}://{}", proxy.addr());
    let dir = file.parent().unwrap();
    let before = files_in(dir).len();
    let (line, mut child) = spawn(
        env,
        env.install.kube.kubeconfig(),
        &[
            "export",
            "-f",
            file.to_str().unwrap(),
            "--page-size",
            "1",
            "--etcd-endpoints",
            &endpoints,
        ],
    );
    wait_for(&mut child, "the export writing", || {
        files_in(dir).len() > before
    });
    (line, child, proxy)
}

/// An import through a proxy in front of the API server.
struct Proxied {
    exported: Exported,
    proxy: Proxy,
    kubeconfig: PathBuf,
}

impl Proxied {
    fn new(dataset: &Dataset) -> Proxied {
        let exported = Exported::new(dataset, &[]);
        let kube = &exported.env.install.kube;
        let proxy = Proxy::start(kube.server_addr().unwrap()).unwrap();
        let kubeconfig = kube.kubeconfig_via(proxy.addr()).unwrap();
        Proxied {
            exported,
            proxy,
            kubeconfig,
        }
    }

    fn import(&self, extra: &[&str]) -> (String, Child) {
        let file = self.exported.file.to_str().unwrap();
        let mut args = vec!["import", "-f", file, "-o", "json"];
        args.extend_from_slice(extra);
        spawn(&self.exported.env, &self.kubeconfig, &args)
    }

    /// An import at 300 writes a second, once it has written its first policies.
    fn import_under_way(&self, extra: &[&str]) -> Child {
        let mut args = vec!["--qps", "300"];
        args.extend_from_slice(extra);
        let (_, mut child) = self.import(&args);
        wait_for(&mut child, "the first policies written", || {
            count(&self.exported.env, "globalnetworkpolicies") > 0
        });
        child
    }
}

#[test]
fn etcd_stopped_during_an_export_leaves_the_old_file_and_nothing_half_written() {
    let mut env = Env::locked(&big());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calico.export");
    std::fs::write(&file, "the previous export\n").unwrap();
    // etcd answers slowly, so that the export is still reading when it stops.
    let (_, child, _etcd_proxy) = slow_export(&env, &file);
    env.install.etcd.kill();
    let output = child.wait_with_output().unwrap();
    let err = failed_saying(
        &output,
        1,
        &[
            "error: lost the connection to etcd while reading: ",
            &format!(
                "hint: {} is unchanged; check that etcd is running and reachable (`kubectl calico-migrate status` shows both datastores), then run the same command again",
                file.display()
            ),
        ],
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "the previous export\n"
    );
    assert_eq!(files_in(dir.path()), ["calico.export"], "no partial file");
}

#[test]
fn an_api_server_restart_during_an_import_is_ridden_out() {
    let proxied = Proxied::new(&big());
    let child = proxied.import_under_way(&[]);
    // Every connection reset, two seconds of connection refused, then the same server.
    proxied.proxy.restart(Duration::from_secs(2));
    let report = succeeded(&child.wait_with_output().unwrap());
    assert_eq!(report["completed"], true);
    // Which requests the cuts hit depends on timing (a write batch, a list, or a CRD read
    // before the writes), so the report's retry count is not asserted: finishing is.
    assert!(proxied.proxy.resets() > 0);
    proxied.exported.assert_verified();
}

#[test]
fn an_api_server_down_longer_than_the_retries_fails_clearly_and_the_same_command_finishes() {
    let proxied = Proxied::new(&big());
    let child = proxied.import_under_way(&[]);
    proxied.proxy.restart(Duration::from_secs(3600));
    let output = child.wait_with_output().unwrap();
    let err = failed_saying(
        &output,
        1,
        &[
            "Connection refused",
            "could not be written; the import stopped before the next kind",
        ],
    );
    assert_contains(
        &err,
        &format!(
            "hint: fix the cause shown above; then run `{}` again: what was written is kept and counted as done",
            common::hinted_command(
                &proxied.exported.env,
                &format!("import -f {}", proxied.exported.file.display())
            )
        ),
    );
    let report = json_output(&output);
    assert_eq!(report["completed"], false);
    // The server is back: the same command finishes the job.
    proxied.proxy.restart(Duration::ZERO);
    let (_, child) = proxied.import(&["--qps", "300"]);
    let report = succeeded(&child.wait_with_output().unwrap());
    assert_eq!(report["completed"], true);
    assert!(
        kind_row(&report, "GlobalNetworkPolicy")["unchanged"]
            .as_u64()
            .unwrap()
            > 0,
        "{report:#}"
    );
    proxied.exported.assert_verified();
}

/// Ctrl-C stops the plugin within a second with exit code 130, says what it had done and how
/// to go on; returns its stderr.
fn assert_interrupted(child: Child, line: &str, done: &str, kept: &str, again: &str) -> String {
    let (output, took) = interrupt(child);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert_contains(&err, &format!("error: interrupted ({done}: "));
    assert_contains(&err, &format!("hint: {kept}; run `{line}` again {again}"));
    err
}

#[test]
fn ctrl_c_during_an_export_writes_no_file() {
    let env = Env::locked(&big());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calico.export");
    let (line, child, _etcd_proxy) = slow_export(&env, &file);
    std::thread::sleep(Duration::from_millis(500));
    let err = assert_interrupted(
        child,
        &line,
        "read so far",
        &format!(
            "no file was written to {} (an export file appears whole or not at all)",
            file.display()
        ),
        "to export from the start",
    );
    assert_contains(&err, "IPPool 3/3");
    assert!(files_in(dir.path()).is_empty(), "no partial file");
}

#[test]
fn ctrl_c_during_an_import_keeps_what_was_written_and_the_same_command_finishes() {
    let exported = Exported::new(&big(), &[]);
    let env = &exported.env;
    let file = exported.file.to_str().unwrap();
    // At most two writes in flight: once the server holds three policies, the plugin has had
    // the answer to at least one, so its progress counts the kind it was stopped in.
    let args = ["import", "-f", file, "--qps", "200", "--concurrency", "2"];
    let (line, mut child) = spawn(env, env.install.kube.kubeconfig(), &args);
    wait_for(&mut child, "the first policies written", || {
        count(env, "globalnetworkpolicies") > 2
    });
    let err = assert_interrupted(
        child,
        &line,
        "imported so far",
        "what was written is kept and counts as done",
        "to finish the import",
    );
    assert_contains(
        &err,
        "IPPool 3/3, BGPPeer 1/1, Tier 5/5, GlobalNetworkPolicy ",
    );
    assert_eq!(exported.verify(&[]).status.code(), Some(3), "partial");
    let (_, child) = spawn(env, env.install.kube.kubeconfig(), &args);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    exported.assert_verified();
}

#[test]
fn ctrl_c_during_a_verify_changes_nothing() {
    let proxied = Proxied::new(&big());
    let env = &proxied.exported.env;
    succeeded(&proxied.exported.import(&["-o", "json"]));
    let file = proxied.exported.file.to_str().unwrap();
    let args = ["verify", "-f", file];
    // How much a whole verify reads: the CRD schemas first, then every kind.
    let (_, child) = spawn(env, &proxied.kubeconfig, &args);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let whole = proxied.proxy.forwarded();
    // Answers that trickle in keep it busy; it is stopped once it is well into the kinds.
    proxied.proxy.slow_responses(Duration::from_millis(20));
    let (line, mut child) = spawn(env, &proxied.kubeconfig, &args);
    wait_for(&mut child, "most of the answers read", || {
        proxied.proxy.forwarded() > whole + whole * 7 / 10
    });
    let err = assert_interrupted(
        child,
        &line,
        "compared so far",
        "nothing was changed",
        "to compare again",
    );
    assert_contains(&err, "IPPool 3");
}

#[test]
fn connections_reset_in_the_middle_of_a_response_are_retried() {
    let proxied = Proxied::new(&big());
    // Three connections in a row are cut after 50 KB of answers: in the middle of a list, or
    // of a batch of writes.
    proxied.proxy.reset_responses_after(50_000, 3);
    let (_, child) = proxied.import(&[]);
    let report = succeeded(&child.wait_with_output().unwrap());
    assert_eq!(report["completed"], true);
    assert!(proxied.proxy.resets() > 0);
    assert!(report["retries"].as_u64().unwrap() > 0, "{report:#}");
    // verify reads every kind in pages: cut lists are read again.
    let resets = proxied.proxy.resets();
    proxied.proxy.reset_responses_after(50_000, 3);
    let file = proxied.exported.file.to_str().unwrap();
    let env = &proxied.exported.env;
    let (_, child) = spawn(env, &proxied.kubeconfig, &["verify", "-f", file]);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(proxied.proxy.resets() > resets);
}

#[test]
fn slow_answers_mid_import_are_retried_and_the_import_completes() {
    let proxied = Proxied::new(&big());
    let child = proxied.import_under_way(&["--request-timeout", "3s"]);
    // Answers slower than --request-timeout: every request times out, writes perhaps done
    // with their answers lost, until the answers come quickly again.
    proxied.proxy.slow_responses(Duration::from_secs(4));
    std::thread::sleep(Duration::from_secs(6));
    proxied.proxy.slow_responses(Duration::ZERO);
    let report = succeeded(&child.wait_with_output().unwrap());
    assert_eq!(report["completed"], true);
    assert!(report["retries"].as_u64().unwrap() > 0, "{report:#}");
    proxied.exported.assert_verified();
}
