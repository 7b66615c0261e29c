//! End-to-end migration benchmark: the release plugin binary against a real etcd and the local
//! API server with a real server's costs (about 2.5 ms of CPU per custom-resource create, API
//! Priority and Fairness), on about 100,000 objects.
//!
//! ```sh
//! cargo bench --bench migration
//! cargo bench --bench migration -- --objects 20000 --churn 0.02
//! ```
//!
//! Settings (argument, else variable `CALICO_MIGRATE_BENCH_<NAME>`, else default):
//! - `--objects N`: size of the full set (default 100,000; `--scale S` sets the
//!   `testbed::datasets::large` scale directly);
//! - `--churn F`: share of objects changed, added or deleted in etcd between the pre-copy and
//!   the lock (default 0.01: IPAM handles and policies);
//! - `--subset-scale S`: scale of the subset imported at calicoctl's pace (default 0.05);
//! - `--cost F`: the API server's CPU cost factor (default 1: calibrated to a real server);
//! - `--latency D`: wall time added to every write (default 0);
//! - `--page-size N`: the plugin's hidden `--page-size` for commands that read etcd.
//!
//! Scenarios, measured in one run:
//! 0. the API server's create capacity: a lean client creating custom resources with many
//!    requests in flight (the reference for the import's rate);
//! 1. a cold copy under the lock (the flow without a pre-copy): lock, export, import, verify;
//!    the lock window is their sum;
//! 2. `run --stop-after-pre-copy`, then `churn` of the objects changed in etcd, then `run`:
//!    the lock window is what run reports (`lockWindow.seconds`: lock, backup, copy of the
//!    changes, verify);
//! 3. a re-run of the import with nothing to do, against a verify of the same file;
//! 4. calicoctl's model (`--concurrency 1 --qps 50`) on a subset, scaled to the full set.
//!
//! Every plugin run is a child process reaped with `wait4`, whose `ru_maxrss` is its peak
//! resident set size. The table goes to stdout and to `<target dir>/bench/migration.md`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::Value;
use testbed::datasets::{self, large_counts};
use testbed::kube_side::{k8s_node, namespace};
use testbed::{CalicoInstall, Dataset, Etcd, EtcdMode, KubeSide};

/// The plugin, built with the bench profile.
const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-calico_migrate");

/// Variables that would leak the developer's own settings into the plugin.
const SCRUBBED: &[&str] = testbed::SCRUBBED_ENV;

/// The calicoctl model: one write at a time, 50 requests per second.
const CALICOCTL_ARGS: &[&str] = &["--concurrency", "1", "--qps", "50"];
/// Targets (issue "a lock window of seconds"): the lock window with a pre-copy, the cold
/// import's share of the server's create capacity, and every plugin run's peak memory.
const LOCK_WINDOW_TARGET: f64 = 15.0;
const CAPACITY_SHARE_TARGET: f64 = 0.8;
const PEAK_RSS_TARGET_MIB: f64 = 250.0;
/// Concurrent requests the bench uses to create Namespaces and Nodes.
const SETUP_WORKERS: usize = 16;

struct Settings {
    latency: Duration,
    latency_text: String,
    cost: f64,
    scale: Option<f64>,
    objects: usize,
    churn: f64,
    subset_scale: f64,
    /// The plugin's hidden `--page-size` for the commands that read etcd (None: its default).
    page_size: Option<u64>,
}

const SETTINGS: &[&str] = &[
    "latency",
    "cost",
    "scale",
    "objects",
    "churn",
    "subset-scale",
    "page-size",
];

impl Settings {
    fn read() -> Result<Settings> {
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        for name in SETTINGS {
            let variable = format!(
                "CALICO_MIGRATE_BENCH_{}",
                name.to_uppercase().replace('-', "_")
            );
            if let Ok(value) = std::env::var(&variable)
                && !value.trim().is_empty()
            {
                values.insert(name, value);
            }
        }
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            // cargo bench passes --bench to harness-less targets.
            if arg == "--bench" {
                continue;
            }
            let Some(flag) = arg.strip_prefix("--") else {
                eprintln!("bench: ignoring argument {arg:?}");
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (flag.to_string(), None),
            };
            let Some(known) = SETTINGS.iter().find(|k| **k == name) else {
                eprintln!("bench: ignoring argument {arg:?}");
                continue;
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .with_context(|| format!("--{known} needs a value"))?,
            };
            values.insert(known, value);
        }

        let latency_text = values.get("latency").cloned().unwrap_or_else(|| "0".into());
        let latency = mini_apiserver::parse_duration(&latency_text)
            .map_err(|e| anyhow!("latency {latency_text:?}: {e}"))?;
        let number = |name: &str| -> Result<Option<f64>> {
            values
                .get(name)
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= 0.0)
                        .with_context(|| format!("{name} {v:?} is not a number ≥ 0"))
                })
                .transpose()
        };
        Ok(Settings {
            latency,
            latency_text,
            cost: number("cost")?.unwrap_or(1.0),
            scale: number("scale")?,
            objects: number("objects")?.map_or(100_000, |n| n.round() as usize),
            churn: number("churn")?.unwrap_or(0.01),
            subset_scale: number("subset-scale")?.unwrap_or(0.05),
            page_size: number("page-size")?.map(|n| n.round() as u64),
        })
    }
}

/// Objects the migration moves for a `large()` scale, estimated from the generator's counts:
/// every key but the WorkloadEndpoints and Profiles (which are not migrated) and
/// ClusterInformation (which is the lock, not an object).
fn migratable_estimate(scale: f64) -> usize {
    let c = large_counts(scale);
    c.total_keys - c.workload_endpoints - c.profiles - 1
}

/// The scale (in hundredths) whose estimate is nearest to `objects`.
fn scale_for(objects: usize) -> f64 {
    (1..=2000)
        .map(|k| k as f64 / 100.0)
        .min_by_key(|s| migratable_estimate(*s).abs_diff(objects))
        .unwrap_or(1.0)
}

/// One run of the plugin as a child process.
struct Run {
    label: String,
    status: ExitStatus,
    wall: Duration,
    /// Peak resident set size of the child, in KiB (`ru_maxrss`).
    max_rss_kib: u64,
    cpu: Duration,
    /// What the peak RSS cannot go below (the launcher's own, see [`Usage::floor_kib`]).
    floor_kib: u64,
    /// CPU etcd used meanwhile (None: no etcd watched).
    etcd_cpu: Option<Duration>,
    /// CPU this process (the in-process API server) used meanwhile.
    api_cpu: Option<Duration>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.stdout).with_context(|| {
            format!(
                "{}: stdout is not JSON:\n{}\nstderr:\n{}",
                self.label,
                String::from_utf8_lossy(&self.stdout),
                tail(&self.stderr)
            )
        })
    }

    /// Fails loudly unless the plugin exited 0.
    fn require_success(&self) -> Result<()> {
        ensure!(
            self.status.success(),
            "{} failed ({}):\n{}\nstdout (start):\n{}",
            self.label,
            self.status,
            tail(&self.stderr),
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(4000)]),
        );
        Ok(())
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Set in the environment of the bench binary re-executed as a launcher: the file where it
/// writes the plugin's exit status and resource usage.
const LAUNCHER_ENV: &str = "CALICO_MIGRATE_BENCH_LAUNCHER_RESULT";
/// A command that runs each plugin run (for profiling).
const WRAP_ENV: &str = "CALICO_MIGRATE_BENCH_WRAP";

/// What the launcher learnt from `wait4`.
struct Usage {
    raw_status: i32,
    wall: Duration,
    max_rss_kib: u64,
    cpu: Duration,
    /// The launcher's own peak RSS when it started the plugin: with `posix_spawn` the plugin's
    /// `ru_maxrss` starts there, so it is the floor of the measurement.
    floor_kib: u64,
}

/// `VmHWM` of this process, in KiB.
fn own_peak_rss_kib() -> u64 {
    first_line_of("/proc/self/status", "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Launcher mode: runs the plugin with the arguments given, reaps it with `wait4`, and writes
/// its status and usage to `result`; the plugin's stdout and stderr are the launcher's.
///
/// Why a launcher: on exec, Linux keeps the old address space's high-water mark as the new
/// program's `ru_maxrss`, and with `posix_spawn` (vfork) the old address space is the spawning
/// process. Spawned from the bench (which holds the dataset and an API server), every plugin
/// run would report the bench's peak; spawned from this fresh process, it reports its own.
fn launcher(result: &Path) -> Result<()> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let floor_kib = own_peak_rss_kib();
    let started = Instant::now();
    // For profiling only (the figures then include the wrapper): `CALICO_MIGRATE_BENCH_WRAP`
    // names a command that runs the plugin, e.g. a script around `perf record` or `heaptrack`.
    let mut command = match std::env::var_os(WRAP_ENV).filter(|w| !w.is_empty()) {
        Some(wrapper) => {
            let mut command = Command::new(wrapper);
            command.arg(PLUGIN);
            command
        }
        None => Command::new(PLUGIN),
    };
    let child = command
        .args(&args)
        .env_remove(LAUNCHER_ENV)
        .spawn()
        .with_context(|| format!("starting {PLUGIN}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
    let mut raw_status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child and not yet reaped (std's Child never waited for it);
        // both pointers are to live, writable locals.
        let reaped = unsafe { libc::wait4(pid, &mut raw_status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("waiting for the plugin");
        }
    }
    let wall = started.elapsed();
    // Reaped already: dropping the handle waits for nothing.
    drop(child);
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::fs::write(
        result,
        format!(
            "{raw_status} {} {} {} {floor_kib}\n",
            wall.as_nanos(),
            usage.ru_maxrss,
            micros(usage.ru_utime) + micros(usage.ru_stime)
        ),
    )?;
    Ok(())
}

fn read_usage(path: &Path) -> Result<Usage> {
    let text = std::fs::read_to_string(path)?;
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(|f| f.parse::<i64>().map(|n| n as u64))
        .collect::<Result<_, _>>()
        .with_context(|| format!("launcher result {text:?}"))?;
    let [raw_status, wall_ns, max_rss_kib, cpu_us, floor_kib] = fields[..] else {
        bail!("launcher result {text:?}");
    };
    Ok(Usage {
        raw_status: raw_status as i32,
        wall: Duration::from_nanos(wall_ns),
        max_rss_kib,
        cpu: Duration::from_micros(cpu_us),
        floor_kib,
    })
}

/// User plus system CPU time of a process (all its threads) from `/proc/<pid>/stat`.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|n| *n > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// The pid of the etcd server of a test bed etcd, found by its data directory.
fn etcd_pid(etcd: &Etcd) -> Option<String> {
    let data_dir = etcd.data_dir().join("data");
    let needle = format!("--data-dir={}", data_dir.display());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == needle.as_bytes())
                .then_some(name)
        })
}

/// CPU used by the servers while a plugin command runs: etcd (a process of its own) and the
/// API server (threads of this process, which otherwise only waits for the plugin).
struct ServerCpu {
    etcd_pid: Option<String>,
    etcd_before: Option<Duration>,
    bench_before: Option<Duration>,
}

impl ServerCpu {
    fn start(etcd: Option<&Etcd>) -> ServerCpu {
        let etcd_pid = etcd.and_then(etcd_pid);
        ServerCpu {
            etcd_before: etcd_pid.as_deref().and_then(process_cpu),
            etcd_pid,
            bench_before: process_cpu("self"),
        }
    }

    /// (etcd, API server) CPU since `start`.
    fn stop(self) -> (Option<Duration>, Option<Duration>) {
        let delta = |before: Option<Duration>, after: Option<Duration>| {
            Some(after?.saturating_sub(before?))
        };
        (
            delta(
                self.etcd_before,
                self.etcd_pid.as_deref().and_then(process_cpu),
            ),
            delta(self.bench_before, process_cpu("self")),
        )
    }
}

/// Runs the plugin with a clean environment, pointed at a kubeconfig and namespace, through
/// the launcher, which reaps it with `wait4` to learn its own peak memory and CPU time.
fn run_plugin(
    label: &str,
    kube: &KubeSide,
    etcd: Option<&Etcd>,
    args: &[OsString],
    scratch: &Path,
) -> Result<Run> {
    let stdout_path = scratch.join("plugin.stdout");
    let stderr_path = scratch.join("plugin.stderr");
    let result_path = scratch.join("plugin.usage");
    let _ = std::fs::remove_file(&result_path);
    let mut command = Command::new(std::env::current_exe()?);
    for name in SCRUBBED {
        command.env_remove(name);
    }
    command
        .env(LAUNCHER_ENV, &result_path)
        .env("KUBECONFIG", kube.kubeconfig())
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", std::env::temp_dir())
        .args(["-n", kube.namespace()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    eprintln!(
        "bench: {label}: kubectl-calico_migrate -n {} {}",
        kube.namespace(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let servers = ServerCpu::start(etcd);
    let launcher = command.status().context("running the launcher")?;
    let (etcd_cpu, api_cpu) = servers.stop();
    let stderr = String::from_utf8_lossy(&std::fs::read(&stderr_path)?).into_owned();
    ensure!(
        launcher.success(),
        "{label}: the launcher failed ({launcher}):\n{}",
        tail(&stderr)
    );
    let usage = read_usage(&result_path)?;
    let run = Run {
        label: label.to_string(),
        status: ExitStatus::from_raw(usage.raw_status),
        wall: usage.wall,
        max_rss_kib: usage.max_rss_kib,
        cpu: usage.cpu,
        floor_kib: usage.floor_kib,
        etcd_cpu,
        api_cpu,
        stdout: std::fs::read(&stdout_path)?,
        stderr,
    };
    eprintln!(
        "bench: {label}: {} in {:.2} s, peak RSS {} (floor {}), CPU {:.2} s (etcd {}, API server {})",
        run.status,
        run.wall.as_secs_f64(),
        mib(run.max_rss_kib * 1024),
        mib(run.floor_kib * 1024),
        run.cpu.as_secs_f64(),
        run.etcd_cpu.map_or("–".into(), seconds),
        run.api_cpu.map_or("–".into(), seconds),
    );
    Ok(run)
}

/// The plugin run against an install's cluster and etcd.
fn run_in(label: &str, install: &CalicoInstall, args: &[OsString], scratch: &Path) -> Result<Run> {
    run_plugin(label, &install.kube, Some(&install.etcd), args, scratch)
}

fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[derive(Clone, Copy)]
enum ClusterKind {
    Namespace,
    Node,
}

/// Creates cluster-scoped objects by name, `SETUP_WORKERS` requests at a time.
async fn create_named(client: &Client, kind: ClusterKind, names: &[String]) -> Result<()> {
    let names: Arc<Vec<String>> = Arc::new(names.to_vec());
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..SETUP_WORKERS {
        let client = client.clone();
        let names = Arc::clone(&names);
        tasks.spawn(async move {
            let params = PostParams::default();
            for name in names.iter().skip(worker).step_by(SETUP_WORKERS) {
                let result = match kind {
                    ClusterKind::Namespace => Api::<Namespace>::all(client.clone())
                        .create(&params, &namespace(name))
                        .await
                        .map(drop),
                    ClusterKind::Node => Api::<Node>::all(client.clone())
                        .create(&params, &k8s_node(name))
                        .await
                        .map(drop),
                };
                match result {
                    Ok(()) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(e) => return Err(anyhow!(e).context(format!("creating {name}"))),
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.context("setup task")??;
    }
    Ok(())
}

/// The dataset's Namespaces and Kubernetes Nodes, created in a (local) API server.
fn create_cluster_objects(
    kube: &KubeSide,
    namespaces: &[String],
    nodes: &[String],
) -> Result<Duration> {
    let started = Instant::now();
    testbed::block_on(async {
        let client = kube.client().await?;
        create_named(&client, ClusterKind::Namespace, namespaces).await?;
        create_named(&client, ClusterKind::Node, nodes).await
    })?;
    Ok(started.elapsed())
}

/// The API server a real cluster has: a CPU cost per request (`cost` × the calibrated
/// 2.5 ms per create) and API Priority and Fairness, plus `latency` per write.
fn local_kube(settings: &Settings) -> Result<KubeSide> {
    KubeSide::local(mini_apiserver::Options {
        latency: settings.latency,
        cost: settings.cost,
        ..Default::default()
    })
}

/// An install holding a dataset, locked with the plugin.
struct Loaded {
    install: CalicoInstall,
    namespaces: Vec<String>,
    k8s_nodes: Vec<String>,
    etcd_keys: usize,
    etcd_bytes: usize,
    generate: Duration,
    etcd_load: Duration,
    kube_load: Duration,
    lock: Run,
}

fn load_install(label: &str, scale: f64, settings: &Settings, scratch: &Path) -> Result<Loaded> {
    eprintln!("bench: {label}: generating large({scale})");
    let started = Instant::now();
    let dataset: Dataset = datasets::large(scale);
    let generate = started.elapsed();
    let install = CalicoInstall::with_kube(EtcdMode::Plain, local_kube(settings)?)?;
    eprintln!(
        "bench: {label}: loading {} keys into etcd, {} Nodes and {} Namespaces into the API server",
        dataset.kvs.len(),
        dataset.k8s_nodes.len(),
        dataset.namespaces.len()
    );
    let etcd_load = dataset.load_into(&install.etcd)?;
    let kube_load = create_cluster_objects(&install.kube, &dataset.namespaces, &dataset.k8s_nodes)?;
    let lock = run_in(
        &format!("{label} lock"),
        &install,
        &os_args(&["lock", "--datastore", "etcd"]),
        scratch,
    )?;
    lock.require_success()?;
    Ok(Loaded {
        namespaces: dataset.namespaces.clone(),
        k8s_nodes: dataset.k8s_nodes.clone(),
        etcd_keys: dataset.kvs.len(),
        etcd_bytes: dataset.byte_size(),
        generate,
        etcd_load,
        kube_load,
        lock,
        install,
    })
}

/// Objects in an export summary (`-o json`): every kind's exported count but
/// ClusterInformation's.
fn exported_objects(report: &Value) -> u64 {
    report["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kind"] != "ClusterInformation")
        .filter_map(|k| k["exported"].as_u64())
        .sum()
}

struct Exported {
    run: Run,
    objects: u64,
    file: PathBuf,
    file_bytes: u64,
    etcd_keys_total: u64,
}

fn page_size_args(page_size: Option<u64>) -> Vec<OsString> {
    page_size
        .map(|n| os_args(&["--page-size", &n.to_string()]))
        .unwrap_or_default()
}

fn export(
    label: &str,
    loaded: &Loaded,
    page_size: Option<u64>,
    scratch: &Path,
) -> Result<Exported> {
    let file = scratch.join(format!("{}.export", label.replace(' ', "-")));
    let mut args = os_args(&["export", "--full", "-o", "json"]);
    args.extend(page_size_args(page_size));
    args.push("-f".into());
    args.push(file.clone().into_os_string());
    let run = run_in(label, &loaded.install, &args, scratch)?;
    run.require_success()?;
    let report = run.json()?;
    if let Some(warnings) = report["warnings"].as_array()
        && !warnings.is_empty()
    {
        eprintln!(
            "bench: {label}: {} warning(s), e.g. {}",
            warnings.len(),
            warnings[0]
        );
    }
    Ok(Exported {
        objects: exported_objects(&report),
        file_bytes: std::fs::metadata(&file)?.len(),
        etcd_keys_total: report["keys"]["total"].as_u64().unwrap_or(0),
        file,
        run,
    })
}

struct Imported {
    run: Run,
    /// Objects in the file (the import's totals).
    objects: u64,
    /// Created, unchanged or updated.
    handled: u64,
    reported_rate: f64,
    retries: u64,
    /// Write requests sent (creates, updates, deletes, Node patches).
    writes: u64,
}

impl Imported {
    fn wall_rate(&self) -> f64 {
        rate(self.objects, self.run.wall)
    }
}

fn import(
    label: &str,
    kube: &KubeSide,
    etcd: Option<&Etcd>,
    file: &Path,
    extra: &[&str],
    scratch: &Path,
) -> Result<Imported> {
    let mut args = os_args(&["import", "-o", "json"]);
    args.extend(os_args(extra));
    args.push("-f".into());
    args.push(file.as_os_str().to_owned());
    let run = run_plugin(label, kube, etcd, &args, scratch)?;
    run.require_success()?;
    let report = run.json()?;
    let kinds = report["kinds"].as_array().cloned().unwrap_or_default();
    let sum = |field: &str| -> u64 { kinds.iter().filter_map(|k| k[field].as_u64()).sum() };
    let objects = sum("total");
    let handled = sum("created") + sum("unchanged") + sum("updated");
    ensure!(
        report["completed"] == true
            && sum("failed") == 0
            && sum("conflicts") == 0
            && sum("nodesNotFound") == 0
            && handled == objects,
        "{label} did not write every object: {objects} in the file, {handled} written; report:\n{}",
        serde_json::to_string_pretty(&report["kinds"])?
    );
    Ok(Imported {
        objects,
        handled,
        reported_rate: report["objectsPerSecond"].as_f64().unwrap_or(0.0),
        retries: report["retries"].as_u64().unwrap_or(0),
        writes: report["writes"].as_u64().unwrap_or(0),
        run,
    })
}

/// `verify` (against etcd, or against a file), which must exit 0.
fn verify(
    label: &str,
    kube: &KubeSide,
    etcd: Option<&Etcd>,
    file: Option<&Path>,
    page_size: Option<u64>,
    scratch: &Path,
) -> Result<(Run, u64)> {
    let mut args = os_args(&["verify", "-o", "json"]);
    match file {
        Some(file) => {
            args.push("-f".into());
            args.push(file.as_os_str().to_owned());
        }
        None => args.extend(page_size_args(page_size)),
    }
    let run = run_plugin(label, kube, etcd, &args, scratch)?;
    if !run.status.success() {
        let findings = run
            .json()
            .ok()
            .map(|r| {
                serde_json::to_string_pretty(&serde_json::json!({
                    "kinds": r["kinds"],
                    "different": r["different"].as_array().map(|a| &a[..a.len().min(5)]),
                    "missing": r["missing"].as_array().map(|a| &a[..a.len().min(5)]),
                    "onlyInTarget": r["onlyInTarget"].as_array().map(|a| &a[..a.len().min(5)]),
                    "clusterInformation": r["clusterInformation"],
                }))
                .unwrap_or_default()
            })
            .unwrap_or_default();
        let what = if run.status.code() == Some(3) {
            "the Kubernetes datastore does not match"
        } else {
            "verify could not finish"
        };
        bail!(
            "{label} did not exit 0 ({}): {what}\n{findings}\n{}",
            run.status,
            tail(&run.stderr),
        );
    }
    let report = run.json()?;
    ensure!(
        report["equal"] == true,
        "{label} exited 0 but reports equal != true"
    );
    let matching = report["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["matching"].as_u64())
        .sum();
    Ok((run, matching))
}

fn rate(objects: u64, wall: Duration) -> f64 {
    let seconds = wall.as_secs_f64();
    if seconds > 0.0 {
        objects as f64 / seconds
    } else {
        0.0
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_second(rate: f64) -> String {
    format!("{}/s", thousands(rate.round() as u64))
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A row of the results table.
struct Row {
    stage: String,
    objects: Option<u64>,
    wall: Duration,
    rate_wall: Option<f64>,
    rate_report: Option<f64>,
    rss_kib: Option<u64>,
    cpu: Option<Duration>,
    etcd_cpu: Option<Duration>,
    api_cpu: Option<Duration>,
    notes: String,
}

impl Row {
    fn plugin(stage: &str, objects: Option<u64>, run: &Run, notes: String) -> Row {
        Row {
            stage: stage.into(),
            objects,
            wall: run.wall,
            rate_wall: objects.map(|n| rate(n, run.wall)),
            rate_report: None,
            rss_kib: Some(run.max_rss_kib),
            cpu: Some(run.cpu),
            etcd_cpu: run.etcd_cpu,
            api_cpu: run.api_cpu,
            notes,
        }
    }

    fn import(stage: &str, imported: &Imported, notes: String) -> Row {
        Row {
            rate_report: Some(imported.reported_rate),
            ..Row::plugin(
                stage,
                Some(imported.objects),
                &imported.run,
                format!(
                    "{} in the target afterwards, {} write requests, {} retries{notes}",
                    thousands(imported.handled),
                    thousands(imported.writes),
                    imported.retries
                ),
            )
        }
    }

    fn markdown(&self) -> String {
        let dash = || "–".to_string();
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.stage,
            self.objects.map(thousands).unwrap_or_else(dash),
            seconds(self.wall),
            self.rate_wall.map(per_second).unwrap_or_else(dash),
            self.rate_report.map(per_second).unwrap_or_else(dash),
            self.rss_kib.map(|k| mib(k * 1024)).unwrap_or_else(dash),
            self.cpu.map(seconds).unwrap_or_else(dash),
            self.etcd_cpu.map(seconds).unwrap_or_else(dash),
            self.api_cpu.map(seconds).unwrap_or_else(dash),
            self.notes
        )
    }
}

fn first_line_of(path: &str, prefix: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}

fn etcd_version() -> String {
    testbed::etcd::etcd_binary()
        .ok()
        .and_then(|binary| Command::new(binary).arg("--version").output().ok())
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(|l| l.trim_start_matches("etcd Version:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Creates `count` GlobalNetworkSets with `in_flight` requests at a time and returns the
/// creates per second: what the server can take from a client that costs it nothing.
fn create_capacity(settings: &Settings, count: usize, in_flight: usize) -> Result<f64> {
    let kube = local_kube(settings)?;
    kube.install_crds()?;
    testbed::block_on(async {
        let client = kube.client().await?;
        let resource = kube::api::ApiResource {
            group: "crd.projectcalico.org".into(),
            version: "v1".into(),
            api_version: "crd.projectcalico.org/v1".into(),
            kind: "GlobalNetworkSet".into(),
            plural: "globalnetworksets".into(),
        };
        let api: Api<kube::api::DynamicObject> = Api::all_with(client, &resource);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..in_flight {
            let api = api.clone();
            let resource = resource.clone();
            tasks.spawn(async move {
                for n in (worker..count).step_by(in_flight) {
                    let mut object =
                        kube::api::DynamicObject::new(&format!("capacity-{n}"), &resource);
                    object.data = serde_json::json!({"spec": {"nets": [format!("10.{}.{}.0/24", n / 256 % 256, n % 256)]}});
                    api.create(&PostParams::default(), &object).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(count as f64 / started.elapsed().as_secs_f64())
    })
}

/// What was changed in etcd between the pre-copy and the lock.
struct Churn {
    changed: usize,
    added: usize,
    deleted: usize,
}

/// Changes about `share` of the objects in etcd, as a live cluster does while the pre-copy
/// runs: pods come and go (IPAM handles released and allocated), policies are edited, added
/// and removed.
fn churn(etcd: &Etcd, objects: u64, share: f64) -> Result<Churn> {
    let budget = ((objects as f64 * share).round() as usize).max(6);
    let handles = etcd.dump("/calico/ipam/v2/handle/")?;
    let policies = etcd.dump("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/")?;
    let namespaced = etcd.dump("/calico/resources/v3/projectcalico.org/networkpolicies/")?;
    let handle_share = budget / 2;
    let policy_share = budget - handle_share;
    let released = handle_share / 2;
    let allocated = handle_share - released;
    let edited = policy_share / 3;
    let removed = policy_share / 3;
    let created = policy_share - edited - removed;
    ensure!(
        handles.len() >= released && policies.len() >= edited && namespaced.len() >= removed,
        "the dataset is too small for a churn of {budget} objects"
    );
    for (key, _) in handles.iter().take(released) {
        etcd.delete(key)?;
    }
    let mut writes: Vec<(String, String)> = Vec::new();
    let block_cidr = handles
        .first()
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| v["block"].as_object()?.keys().next().cloned())
        .unwrap_or_else(|| "10.0.0.0/26".into());
    for n in 0..allocated {
        writes.push((
            format!("/calico/ipam/v2/handle/k8s-pod-network.bench-churn-{n:06}"),
            serde_json::json!({"block": {block_cidr.clone(): 1}, "deleted": false}).to_string(),
        ));
    }
    for (key, value) in policies.iter().take(edited) {
        let mut policy: Value = serde_json::from_str(value)?;
        policy["spec"]["order"] = serde_json::json!(4242);
        writes.push((key.clone(), policy.to_string()));
    }
    for (key, _) in namespaced.iter().take(removed) {
        etcd.delete(key)?;
    }
    let template: Value = serde_json::from_str(&policies[0].1)?;
    for n in 0..created {
        let mut policy = template.clone();
        let name = format!("default.bench-churn-{n:06}");
        policy["metadata"]["name"] = serde_json::json!(name);
        if let Some(annotations) = policy["metadata"]["annotations"].as_object_mut() {
            annotations.remove("projectcalico.org/metadata");
        }
        writes.push((
            format!("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/{name}"),
            policy.to_string(),
        ));
    }
    etcd.put_all(writes.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok(Churn {
        changed: edited,
        added: allocated + created,
        deleted: released + removed,
    })
}

/// `run --yes` with more arguments; the report.
fn migrate(
    label: &str,
    install: &CalicoInstall,
    manifest: &Path,
    backup: &Path,
    extra: &[&str],
    scratch: &Path,
) -> Result<(Run, Value)> {
    let mut args = os_args(&["run", "--yes", "-o", "json", "--manifest"]);
    args.push(manifest.as_os_str().to_owned());
    args.push("--backup".into());
    args.push(backup.as_os_str().to_owned());
    args.extend(os_args(extra));
    let run = run_in(label, install, &args, scratch)?;
    run.require_success()?;
    let report = run.json()?;
    Ok((run, report))
}

fn stage_seconds(report: &Value, name: &str) -> f64 {
    report["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == name)
        .and_then(|s| s["seconds"].as_f64())
        .unwrap_or(0.0)
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "**yes**" } else { "**NO**" }
}

fn main() -> Result<()> {
    if let Some(result) = std::env::var_os(LAUNCHER_ENV) {
        return launcher(Path::new(&result));
    }
    let settings = Settings::read()?;
    let total_started = Instant::now();
    let scale = settings
        .scale
        .unwrap_or_else(|| scale_for(settings.objects));
    let target_dir = Path::new(PLUGIN)
        .parent()
        .and_then(Path::parent)
        .context("the plugin binary lives in <target>/<profile>/")?
        .to_path_buf();
    let scratch = tempfile::Builder::new()
        .prefix("calico-migrate-bench")
        .tempdir()?;
    let scratch = scratch.path();
    eprintln!(
        "bench: plugin {PLUGIN}; server cost ×{}, latency {}; full set large({scale}) (estimate {} objects); churn {}; subset large({})",
        settings.cost,
        settings.latency_text,
        thousands(migratable_estimate(scale) as u64),
        settings.churn,
        settings.subset_scale
    );

    // 0. The server's create capacity.
    eprintln!("bench: measuring the API server's create capacity");
    let capacity = create_capacity(&settings, 3000, 64)?;
    eprintln!("bench: capacity {}", per_second(capacity));

    // 1. The full set, a cold copy under the lock.
    let full = load_install("full", scale, &settings, scratch)?;
    let exported = export("cold export", &full, settings.page_size, scratch)?;
    let imported = import(
        "cold import",
        &full.install.kube,
        Some(&full.install.etcd),
        &exported.file,
        &[],
        scratch,
    )?;
    ensure!(
        imported.objects == exported.objects,
        "the import wrote {} objects, the export holds {}",
        imported.objects,
        exported.objects
    );
    let (cold_verify, cold_matching) = verify(
        "cold verify",
        &full.install.kube,
        Some(&full.install.etcd),
        Some(&exported.file),
        None,
        scratch,
    )?;
    let cold_window = exported.run.wall + imported.run.wall + cold_verify.wall;
    std::fs::remove_file(&exported.file)?;

    // 2. The same etcd, unlocked, into a fresh API server with Calico's etcd manifest applied:
    //    run to the end of the pre-copy, churn, then run again.
    let Loaded {
        install,
        namespaces,
        k8s_nodes,
        etcd_keys,
        etcd_bytes,
        generate,
        etcd_load,
        kube_load,
        lock: full_lock,
    } = full;
    let unlock = run_in(
        "unlock etcd",
        &install,
        &os_args(&["unlock", "--datastore", "etcd"]),
        scratch,
    )?;
    unlock.require_success()?;
    let CalicoInstall { etcd, kube } = install;
    drop(kube);
    let install = CalicoInstall {
        etcd,
        kube: local_kube(&settings)?,
    };
    install.write_etcd_config()?;
    create_cluster_objects(&install.kube, &namespaces, &k8s_nodes)?;
    install.apply_etcd_manifest()?;
    let manifest = scratch.join("calico.yaml");
    std::fs::write(&manifest, install.manifest(testbed::install::KDD_MANIFEST))?;
    let backup = scratch.join("backup.export");
    let (pre_copy_run, pre_copy) = migrate(
        "run --stop-after-pre-copy",
        &install,
        &manifest,
        &backup,
        &["--stop-after-pre-copy"],
        scratch,
    )?;
    let churned = churn(&install.etcd, exported.objects, settings.churn)?;
    eprintln!(
        "bench: churn: {} changed, {} added, {} deleted",
        churned.changed, churned.added, churned.deleted
    );
    let (final_run, finished) = migrate("run", &install, &manifest, &backup, &[], scratch)?;
    ensure!(finished["completed"] == true, "run did not complete");
    let lock_window = finished["lockWindow"]["seconds"]
        .as_f64()
        .unwrap_or(f64::MAX);
    let copy = &finished["copy"];
    let copied = |field: &str| -> u64 {
        copy["kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k[field].as_u64())
            .sum()
    };

    // 3. A re-run of the import with nothing to do, against a verify of the same file. The run
    // unlocked the Kubernetes datastore; an import writes only into a locked one.
    run_in(
        "lock the Kubernetes datastore",
        &install,
        &os_args(&["lock", "--datastore", "kubernetes"]),
        scratch,
    )?
    .require_success()?;
    let rerun = import(
        "re-run import (nothing to do)",
        &install.kube,
        Some(&install.etcd),
        &backup,
        &["--sync"],
        scratch,
    )?;
    let (rerun_verify, _) = verify(
        "verify of the same file",
        &install.kube,
        Some(&install.etcd),
        Some(&backup),
        None,
        scratch,
    )?;
    drop(install);

    // 4. The calicoctl model on a subset with an install of its own.
    let small = load_install("subset", settings.subset_scale, &settings, scratch)?;
    let small_export = export("subset export", &small, settings.page_size, scratch)?;
    let calicoctl_kube = local_kube(&settings)?;
    create_cluster_objects(&calicoctl_kube, &small.namespaces, &small.k8s_nodes)?;
    let calicoctl = import(
        "subset import (calicoctl model)",
        &calicoctl_kube,
        None,
        &small_export.file,
        CALICOCTL_ARGS,
        scratch,
    )?;
    verify(
        "subset verify (calicoctl model)",
        &calicoctl_kube,
        None,
        Some(&small_export.file),
        None,
        scratch,
    )?;
    drop(calicoctl_kube);

    // The table.
    let runs = [
        &full_lock,
        &exported.run,
        &imported.run,
        &cold_verify,
        &pre_copy_run,
        &final_run,
        &rerun.run,
        &rerun_verify,
        &calicoctl.run,
    ];
    let peak_kib = runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
    let floor = runs.iter().map(|r| r.floor_kib).max().unwrap_or(0);
    let capacity_share = imported.wall_rate() / capacity;
    let calicoctl_rate = calicoctl.reported_rate;
    let calicoctl_full = Duration::from_secs_f64(exported.objects as f64 / calicoctl_rate);
    let rows = [
        Row::plugin(
            "1 cold: export (locked)",
            Some(exported.objects),
            &exported.run,
            format!(
                "file {}; {} etcd keys read",
                mib(exported.file_bytes),
                thousands(exported.etcd_keys_total)
            ),
        ),
        Row::import("1 cold: import", &imported, String::new()),
        Row::plugin(
            "1 cold: verify",
            Some(cold_matching),
            &cold_verify,
            format!("exit {}", cold_verify.status.code().unwrap_or(-1)),
        ),
        Row::plugin(
            "2 run --stop-after-pre-copy (etcd unlocked)",
            Some(exported.objects),
            &pre_copy_run,
            format!(
                "preflight {:.1} s, pre-copy {:.1} s",
                stage_seconds(&pre_copy, "preflight"),
                stage_seconds(&pre_copy, "pre-copy")
            ),
        ),
        Row::plugin(
            "2 run (lock, backup, copy the changes, verify, manifest, rollout, unlock)",
            Some(copied("created") + copied("updated") + copied("deleted")),
            &final_run,
            format!(
                "lock window {lock_window:.1} s (backup {:.1} s, copy {:.1} s: comparison {:.1} s, writes {:.1} s, {} created, {} updated, {} deleted; verify {:.1} s); manifest {:.1} s, rollout {:.1} s",
                stage_seconds(&finished, "backup"),
                stage_seconds(&finished, "copy-changes"),
                copy["planSeconds"].as_f64().unwrap_or(0.0),
                copy["writeSeconds"].as_f64().unwrap_or(0.0),
                copied("created"),
                copied("updated"),
                copied("deleted"),
                stage_seconds(&finished, "verify"),
                stage_seconds(&finished, "apply-manifest"),
                stage_seconds(&finished, "rollout"),
            ),
        ),
        Row::import(
            "3 re-run of the import, nothing to do",
            &rerun,
            String::new(),
        ),
        Row::plugin(
            "3 verify of the same file",
            Some(rerun.objects),
            &rerun_verify,
            String::new(),
        ),
        Row::import(
            "4 import `--concurrency 1 --qps 50` (subset)",
            &calicoctl,
            format!(
                "; the full set at this pace: {:.0} min",
                calicoctl_full.as_secs_f64() / 60.0
            ),
        ),
    ];

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    md.push_str("# kubectl calico-migrate: migration benchmark\n\n");
    md.push_str(&format!(
        "Machine: {cpus} CPUs ({}), {}; etcd {} (plain HTTP, local); the local API server in the bench process with CPU cost ×{} (2.5 ms per custom-resource create at ×1, as a real kube-apiserver on this kind of machine) and API Priority and Fairness, {} added per write.\n\n",
        first_line_of("/proc/cpuinfo", "model name").unwrap_or_else(|| "model unknown".into()),
        first_line_of("/proc/meminfo", "MemTotal").unwrap_or_else(|| "memory unknown".into()),
        etcd_version(),
        settings.cost,
        settings.latency_text,
    ));
    md.push_str(&format!(
        "Data: `testbed::datasets::large({scale})`: {} etcd keys ({}), {} objects to migrate (WorkloadEndpoints and Profiles are not migrated); {} Nodes, {} Namespaces. Generated in {}, loaded into etcd in {}, Nodes and Namespaces created in {}. Churn between the pre-copy and the lock: {} policies changed, {} handles and policies added, {} deleted.\n\n",
        thousands(etcd_keys as u64),
        mib(etcd_bytes as u64),
        thousands(exported.objects),
        thousands(k8s_nodes.len() as u64),
        thousands(namespaces.len() as u64),
        seconds(generate),
        seconds(etcd_load),
        seconds(kube_load),
        churned.changed,
        churned.added,
        churned.deleted,
    ));
    md.push_str(&format!(
        "The server's create capacity, measured with a lean client (3,000 creates, 64 in flight): **{}**.\n\n",
        per_second(capacity)
    ));
    md.push_str(&format!(
        "Peak RSS and plugin CPU are the plugin process's own (`wait4`; peak RSS cannot read below the launcher's {}); etcd and API server CPU are what they used meanwhile.\n\n",
        mib(floor * 1024)
    ));
    md.push_str("| Scenario | Objects | Wall time | Objects/s (wall) | Objects/s (report) | Peak RSS | Plugin CPU | etcd CPU | API server CPU | Notes |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for row in &rows {
        md.push_str(&row.markdown());
        md.push('\n');
    }
    md.push_str("\n## Targets\n\n");
    md.push_str(&format!(
        "- Lock window with a pre-copy ≤ {LOCK_WINDOW_TARGET} s: {lock_window:.1} s → {} (a cold copy under the lock: {:.1} s)\n",
        yes_no(lock_window <= LOCK_WINDOW_TARGET),
        cold_window.as_secs_f64()
    ));
    md.push_str(&format!(
        "- A re-run with nothing to do no slower than verify: {} vs {} → {}\n",
        seconds(rerun.run.wall),
        seconds(rerun_verify.wall),
        yes_no(rerun.run.wall.as_secs_f64() <= rerun_verify.wall.as_secs_f64() * 1.1)
    ));
    md.push_str(&format!(
        "- Cold import ≥ {:.0}% of the server's create capacity: {} of {} = {:.0}% → {}\n",
        CAPACITY_SHARE_TARGET * 100.0,
        per_second(imported.wall_rate()),
        per_second(capacity),
        capacity_share * 100.0,
        yes_no(capacity_share >= CAPACITY_SHARE_TARGET)
    ));
    md.push_str(&format!(
        "- Peak memory < {PEAK_RSS_TARGET_MIB} MiB in every run: {} → {}\n",
        mib(peak_kib * 1024),
        yes_no((peak_kib as f64 / 1024.0) < PEAK_RSS_TARGET_MIB)
    ));
    md.push_str(&format!(
        "- calicoctl's model: {} (report); the full set would take about {:.0} min at that pace, against {} for the cold import\n",
        per_second(calicoctl_rate),
        calicoctl_full.as_secs_f64() / 60.0,
        seconds(imported.run.wall)
    ));
    md.push_str(&format!(
        "\nTotal bench time: {}\n",
        seconds(total_started.elapsed())
    ));

    println!("{md}");
    let out_dir = target_dir.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("migration.md");
    std::fs::write(&out, &md)?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}
