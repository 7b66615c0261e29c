//! End-to-end migration benchmark: the release plugin binary against a real etcd and the local
//! API server with a per-write latency.
//!
//! ```sh
//! cargo bench --bench migration                        # 3 ms per write, ~100,000 objects
//! cargo bench --bench migration -- --latency 10ms      # or CALICO_MIGRATE_BENCH_LATENCY=10ms
//! ```
//!
//! Settings (argument, else variable, else default):
//! - `--latency D` / `CALICO_MIGRATE_BENCH_LATENCY`: added to every write of every API server
//!   (default 3ms);
//! - `--scale S` / `CALICO_MIGRATE_BENCH_SCALE`: scale of `testbed::datasets::large` for the
//!   full set (default: the scale whose export holds about `--objects` objects);
//! - `--objects N` / `CALICO_MIGRATE_BENCH_OBJECTS`: the target size of the full set
//!   (default 100,000);
//! - `--subset-scale S` / `CALICO_MIGRATE_BENCH_SUBSET_SCALE`: scale of the subset imported at
//!   calicoctl's pace (default 0.05, about 2,700 objects);
//! - `--page-size N` / `CALICO_MIGRATE_BENCH_PAGE_SIZE`: passed as the plugin's hidden
//!   `--page-size` (the first page's size; later pages are sized by bytes) to `export` and
//!   `verify`; default: not passed. Tables made with it say so.
//!
//! Stages: load the full set into etcd and its Nodes and Namespaces into the API server; lock;
//! export; import with default settings; verify (must exit 0). Then the calicoctl model: a
//! second, small install of its own is exported, and the file is imported once with
//! `--concurrency 1 --qps 50` and once with default settings, each into a fresh API server with
//! the same latency, so both runs write the same objects.
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
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;
use testbed::datasets::{self, large_counts};
use testbed::{CalicoInstall, Dataset, Etcd, EtcdMode, KubeSide};

/// The plugin, built with the bench profile.
const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-calico_migrate");

/// Variables that would leak the developer's own settings into the plugin (as the tests have).
const SCRUBBED: &[&str] = &[
    "KUBECONFIG",
    "ETCD_ENDPOINTS",
    "ETCD_CA_CERT_FILE",
    "ETCD_CERT_FILE",
    "ETCD_KEY_FILE",
    "ETCD_USERNAME",
    "ETCD_PASSWORD",
    "ETCD_DISCOVERY_SRV",
];

/// The calicoctl model: one write at a time, 50 requests per second.
const CALICOCTL_ARGS: &[&str] = &["--concurrency", "1", "--qps", "50"];
/// Required speed-up of the default import over the calicoctl model.
const REQUIRED_SPEEDUP: f64 = 10.0;
/// Concurrent requests the bench uses to create Namespaces and Nodes.
const SETUP_WORKERS: usize = 16;

struct Settings {
    latency: Duration,
    latency_text: String,
    scale: Option<f64>,
    objects: usize,
    subset_scale: f64,
    /// The plugin's hidden `--page-size` for the commands that read etcd (None: its default).
    page_size: Option<u64>,
}

impl Settings {
    fn read() -> Result<Settings> {
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        for (name, variable) in [
            ("latency", "CALICO_MIGRATE_BENCH_LATENCY"),
            ("scale", "CALICO_MIGRATE_BENCH_SCALE"),
            ("objects", "CALICO_MIGRATE_BENCH_OBJECTS"),
            ("subset-scale", "CALICO_MIGRATE_BENCH_SUBSET_SCALE"),
            ("page-size", "CALICO_MIGRATE_BENCH_PAGE_SIZE"),
        ] {
            if let Ok(value) = std::env::var(variable)
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
            let Some(known) = ["latency", "scale", "objects", "subset-scale", "page-size"]
                .into_iter()
                .find(|k| *k == name)
            else {
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

        let latency_text = values
            .get("latency")
            .cloned()
            .unwrap_or_else(|| "3ms".into());
        let latency = mini_apiserver::parse_duration(&latency_text)
            .map_err(|e| anyhow!("latency {latency_text:?}: {e}"))?;
        let number = |name: &str| -> Result<Option<f64>> {
            values
                .get(name)
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n > 0.0)
                        .with_context(|| format!("{name} {v:?} is not a positive number"))
                })
                .transpose()
        };
        Ok(Settings {
            latency,
            latency_text,
            scale: number("scale")?,
            objects: number("objects")?.map_or(100_000, |n| n.round() as usize),
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
    let child = Command::new(PLUGIN)
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
    kubeconfig: &Path,
    namespace: &str,
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
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .env("HOME", std::env::temp_dir())
        .args(["-n", namespace])
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?);
    eprintln!(
        "bench: {label}: kubectl-calico_migrate -n {namespace} {}",
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
                    ClusterKind::Namespace => {
                        let namespace = Namespace {
                            metadata: ObjectMeta {
                                name: Some(name.clone()),
                                ..Default::default()
                            },
                            ..Default::default()
                        };
                        Api::<Namespace>::all(client.clone())
                            .create(&params, &namespace)
                            .await
                            .map(drop)
                    }
                    ClusterKind::Node => {
                        let labels = BTreeMap::from([
                            ("kubernetes.io/hostname".to_string(), name.clone()),
                            ("kubernetes.io/os".to_string(), "linux".to_string()),
                        ]);
                        let node = Node {
                            metadata: ObjectMeta {
                                name: Some(name.clone()),
                                labels: Some(labels),
                                ..Default::default()
                            },
                            ..Default::default()
                        };
                        Api::<Node>::all(client.clone())
                            .create(&params, &node)
                            .await
                            .map(drop)
                    }
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

fn local_kube(latency: Duration) -> Result<KubeSide> {
    KubeSide::local(mini_apiserver::Options {
        latency,
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

fn load_install(label: &str, scale: f64, latency: Duration, scratch: &Path) -> Result<Loaded> {
    eprintln!("bench: {label}: generating large({scale})");
    let started = Instant::now();
    let dataset: Dataset = datasets::large(scale);
    let generate = started.elapsed();
    let install = CalicoInstall::with_kube(EtcdMode::Plain, local_kube(latency)?)?;
    eprintln!(
        "bench: {label}: loading {} keys into etcd, {} Nodes and {} Namespaces into the API server",
        dataset.kvs.len(),
        dataset.k8s_nodes.len(),
        dataset.namespaces.len()
    );
    let etcd_load = dataset.load_into(&install.etcd)?;
    let kube_load = create_cluster_objects(&install.kube, &dataset.namespaces, &dataset.k8s_nodes)?;
    let lock = run_plugin(
        &format!("{label} lock"),
        install.kube.kubeconfig(),
        install.namespace(),
        Some(&install.etcd),
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
    let run = run_plugin(
        label,
        loaded.install.kube.kubeconfig(),
        loaded.install.namespace(),
        Some(&loaded.install.etcd),
        &args,
        scratch,
    )?;
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
    let run = run_plugin(
        label,
        kube.kubeconfig(),
        kube.namespace(),
        etcd,
        &args,
        scratch,
    )?;
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
    let run = run_plugin(
        label,
        kube.kubeconfig(),
        kube.namespace(),
        etcd,
        &args,
        scratch,
    )?;
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
                    "{} written, {} retries{notes}",
                    thousands(imported.handled),
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
    let latency = settings.latency;
    eprintln!(
        "bench: plugin {PLUGIN}; latency {}; full set large({scale}) (estimate {} objects); subset large({})",
        settings.latency_text,
        thousands(migratable_estimate(scale) as u64),
        settings.subset_scale
    );

    // 1. The full set, locked.
    let full = load_install("full", scale, latency, scratch)?;
    // 2. export.
    let exported = export("full export", &full, settings.page_size, scratch)?;
    // 3. import, default settings, into the install's own API server.
    let imported = import(
        "full import",
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
    // 4. verify against etcd.
    let (verified, matching) = verify(
        "full verify",
        &full.install.kube,
        Some(&full.install.etcd),
        None,
        settings.page_size,
        scratch,
    )?;
    let full_summary = (
        full.etcd_keys,
        full.etcd_bytes,
        full.generate,
        full.etcd_load,
        full.kube_load,
        full.k8s_nodes.len(),
        full.namespaces.len(),
    );
    let full_lock = full.lock;
    drop(full.install);
    std::fs::remove_file(&exported.file)?;

    // 5. The calicoctl model on a subset with an install of its own.
    let small = load_install("subset", settings.subset_scale, latency, scratch)?;
    let small_export = export("subset export", &small, settings.page_size, scratch)?;
    let calicoctl_kube = local_kube(latency)?;
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
    let default_kube = local_kube(latency)?;
    create_cluster_objects(&default_kube, &small.namespaces, &small.k8s_nodes)?;
    let subset_default = import(
        "subset import (default)",
        &default_kube,
        None,
        &small_export.file,
        &[],
        scratch,
    )?;
    verify(
        "subset verify (default)",
        &default_kube,
        None,
        Some(&small_export.file),
        None,
        scratch,
    )?;
    drop(default_kube);
    ensure!(
        calicoctl.objects == subset_default.objects && calicoctl.objects == small_export.objects,
        "the subset runs wrote different numbers of objects"
    );

    // The table.
    let (keys, bytes, generate, etcd_load, kube_load, nodes, namespaces) = full_summary;
    let rows = [
        Row::plugin("lock (full set)", None, &full_lock, String::new()),
        Row::plugin(
            "export (full set)",
            Some(exported.objects),
            &exported.run,
            format!(
                "file {}; {} etcd keys read",
                mib(exported.file_bytes),
                thousands(exported.etcd_keys_total)
            ),
        ),
        Row::import(
            "import, default settings (full set)",
            &imported,
            String::new(),
        ),
        Row::plugin(
            "verify against etcd (full set)",
            Some(matching),
            &verified,
            format!("exit {}", verified.status.code().unwrap_or(-1)),
        ),
        Row::plugin(
            "export (subset)",
            Some(small_export.objects),
            &small_export.run,
            format!("file {}", mib(small_export.file_bytes)),
        ),
        Row::import(
            "import `--concurrency 1 --qps 50` (subset)",
            &calicoctl,
            String::new(),
        ),
        Row::import(
            "import, default settings (subset)",
            &subset_default,
            String::new(),
        ),
    ];

    let calicoctl_rate = calicoctl.reported_rate;
    let subset_ratio = subset_default.reported_rate / calicoctl_rate;
    let full_ratio = imported.reported_rate / calicoctl_rate;
    let subset_ratio_wall = subset_default.wall_rate() / calicoctl.wall_rate();
    let full_ratio_wall = imported.wall_rate() / calicoctl.wall_rate();
    let verdict = |ratio: f64| {
        if ratio >= REQUIRED_SPEEDUP {
            format!("**yes** ({ratio:.1}× ≥ {REQUIRED_SPEEDUP}×)")
        } else {
            format!("**NO** ({ratio:.1}× < {REQUIRED_SPEEDUP}×)")
        }
    };

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    md.push_str("# kubectl calico-migrate: migration benchmark\n\n");
    md.push_str("## Machine\n\n");
    md.push_str(&format!(
        "- CPUs: {cpus} ({})\n",
        first_line_of("/proc/cpuinfo", "model name").unwrap_or_else(|| "model unknown".into())
    ));
    md.push_str(&format!(
        "- Memory: {}\n",
        first_line_of("/proc/meminfo", "MemTotal").unwrap_or_else(|| "unknown".into())
    ));
    md.push_str(&format!("- etcd: {} (plain HTTP, local)\n", etcd_version()));
    md.push_str(&format!(
        "- Kubernetes side: the local mini API server (in the bench process), {} added to every write request\n",
        settings.latency_text
    ));
    md.push_str(&format!("- Plugin: {PLUGIN} (bench profile)\n\n"));
    md.push_str("## Data\n\n");
    md.push_str(&format!(
        "- Full set: `testbed::datasets::large({scale})`: {} etcd keys ({}), generated in {}; loaded into etcd in {} ({}); {} Kubernetes Nodes and {} Namespaces created in {}\n",
        thousands(keys as u64),
        mib(bytes as u64),
        seconds(generate),
        seconds(etcd_load),
        per_second(rate(keys as u64, etcd_load)),
        thousands(nodes as u64),
        thousands(namespaces as u64),
        seconds(kube_load),
    ));
    md.push_str(&format!(
        "- Objects the migration moves (v3 resources, Nodes, IPAM entries; WorkloadEndpoints and Profiles are not migrated): **{}**\n",
        thousands(exported.objects)
    ));
    md.push_str(&format!(
        "- Subset: `large({})` in an install of its own (etcd and API server, same latency): {} etcd keys, {} objects; each subset import went into a fresh API server holding only the subset's Nodes and Namespaces, and `verify -f` proved both equal to the file\n\n",
        settings.subset_scale,
        thousands(small.etcd_keys as u64),
        thousands(small_export.objects)
    ));
    md.push_str("## Results\n\n");
    let floor = [
        &full_lock,
        &exported.run,
        &imported.run,
        &verified,
        &small_export.run,
        &calicoctl.run,
        &subset_default.run,
    ]
    .iter()
    .map(|r| r.floor_kib)
    .max()
    .unwrap_or(0);
    md.push_str(&format!(
        "Peak RSS and plugin CPU (user + system) are the plugin process's own (`wait4` rusage of the plugin, started from a small launcher process; peak RSS cannot read below the launcher's {}). etcd CPU and API server CPU are what the servers used during the stage (`/proc/<pid>/stat`; the API server runs in the bench process, which otherwise only waits). Objects/s (report) is the import's `-o json` `objectsPerSecond`.\n\n",
        mib(floor * 1024)
    ));
    if let Some(n) = settings.page_size {
        md.push_str(&format!(
            "Export and verify ran with the plugin's hidden `--page-size {n}` (the first page's size; later pages are sized by bytes).\n\n"
        ));
    }
    md.push_str("| Stage | Objects | Wall time | Objects/s (wall) | Objects/s (report) | Peak RSS | Plugin CPU | etcd CPU | API server CPU | Notes |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for row in &rows {
        md.push_str(&row.markdown());
        md.push('\n');
    }
    md.push_str("\n## Default import against the calicoctl model (`--concurrency 1 --qps 50`)\n\n");
    md.push_str(&format!(
        "- calicoctl model on the subset: {} (report), {} (wall); the full set at that pace would take about {:.0} min\n",
        per_second(calicoctl_rate),
        per_second(calicoctl.wall_rate()),
        exported.objects as f64 / calicoctl_rate / 60.0
    ));
    md.push_str(&format!(
        "- Subset, same objects: default {} vs {} → **{subset_ratio:.1}×** (wall: {subset_ratio_wall:.1}×)\n",
        per_second(subset_default.reported_rate),
        per_second(calicoctl_rate),
    ));
    md.push_str(&format!(
        "- Full set: default {} vs the calicoctl model's {} → **{full_ratio:.1}×** (wall: {full_ratio_wall:.1}×)\n",
        per_second(imported.reported_rate),
        per_second(calicoctl_rate),
    ));
    md.push_str(&format!(
        "- Default import ≥ {REQUIRED_SPEEDUP}× the calicoctl model with {} latency: subset {}, full set {}\n",
        settings.latency_text,
        verdict(subset_ratio),
        verdict(full_ratio)
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
