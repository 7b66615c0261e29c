//! Measures what the cost model makes a custom-resource create cost: CPU time per
//! create (of this whole process, client included, and as the server accounts it) and
//! the creates per second one client and many concurrent clients reach.
//!
//! ```sh
//! cargo run --release -p mini-apiserver --example calibrate -- [CREATES] [CONCURRENCY]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use mini_apiserver::{ApiServer, Options};
use serde_json::json;

/// User plus system CPU time of this process.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn pool(prefix: &str, i: usize) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": format!("{prefix}-{i}")},
        "spec": {"cidr": format!("10.{}.{}.0/24", i / 256 % 256, i % 256), "ipipMode": "Always", "natOutgoing": true}
    }))
    .expect("a valid IPPool")
}

/// Creates `n` pools with `concurrency` requests in flight; (CPU per create, creates/s).
async fn run(
    api: &Api<DynamicObject>,
    prefix: &str,
    n: usize,
    concurrency: usize,
) -> (Duration, f64) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu = process_cpu();
    let wall = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let api = api.clone();
            let next = Arc::clone(&next);
            let prefix = prefix.to_string();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    api.create(&PostParams::default(), &pool(&prefix, i))
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = wall.elapsed();
    (
        (process_cpu() - cpu) / n as u32,
        n as f64 / elapsed.as_secs_f64(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);
    let server = ApiServer::start(Options {
        crd_establish_delay: Duration::ZERO,
        ..Options::default()
    })
    .await?;
    let kc = Kubeconfig::from_yaml(&server.kubeconfig("calibrate"))?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?,
    )?;
    let crd_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crds/crd.projectcalico.org_ippools.yaml"),
    )?;
    let crd: DynamicObject = serde_saphyr::from_str(&crd_text)?;
    let crds = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.create(&PostParams::default(), &crd).await?;
    let pools = Api::<DynamicObject>::all_with(
        client,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("crd.projectcalico.org", "v1", "IPPool"),
            "ippools",
        ),
    );
    let controls = server.controls();
    controls.set_cost(0.0);
    run(&pools, "warm", 50, 1).await;
    let (free_cpu, free_rate) = run(&pools, "free", n, 1).await;
    controls.set_cost(1.0);
    let before = controls
        .cost_stats()
        .by_verb
        .get("create")
        .copied()
        .unwrap_or_default();
    let (cpu, rate) = run(&pools, "one", n, 1).await;
    let after = controls.cost_stats().by_verb["create"];
    let server_avg = (after.1 - before.1) / (after.0 - before.0) as u32;
    let (par_cpu, par_rate) = run(&pools, "many", n, concurrency).await;
    println!("creates of a Calico IPPool, {n} each run");
    println!(
        "  cost model off, 1 client:  {free_cpu:>10.2?} CPU/create (process), {free_rate:>7.0} creates/s"
    );
    println!(
        "  cost model on,  1 client:  {cpu:>10.2?} CPU/create (process), {rate:>7.0} creates/s; server accounts {server_avg:.2?}"
    );
    println!(
        "  cost model on, {concurrency:>2} clients: {par_cpu:>10.2?} CPU/create (process), {par_rate:>7.0} creates/s"
    );
    server.shutdown().await;
    Ok(())
}
