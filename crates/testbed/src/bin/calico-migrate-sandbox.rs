//! A sandbox for people without a cluster: a real etcd (TLS with client certificates) holding a
//! small etcd-mode Calico install, and the local Kubernetes API server with that install's
//! ConfigMap, Secret and Nodes. It prints a kubeconfig to use and runs until interrupted.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use testbed::{CalicoInstall, EtcdMode, KubeSide, calico};

#[derive(Parser)]
#[command(about = "Run a local etcd-mode Calico install for kubectl calico-migrate to work on")]
struct Args {
    /// Where to write the kubeconfig
    #[arg(long, default_value = "sandbox/kubeconfig")]
    kubeconfig_out: PathBuf,
    /// Serve etcd over plain http instead of TLS with client certificates
    #[arg(long)]
    plain: bool,
    /// Latency the API server adds to every write (models a real server)
    #[arg(long, value_name = "MILLISECONDS", default_value_t = 0)]
    latency_ms: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mode = if args.plain {
        EtcdMode::Plain
    } else {
        EtcdMode::Tls
    };
    let options = mini_apiserver::Options {
        latency: Duration::from_millis(args.latency_ms),
        ..Default::default()
    };
    let install = CalicoInstall::with_kube(mode, KubeSide::local(options)?)?;
    install.load(&calico::sandbox_cluster())?;

    if let Some(dir) = args
        .kubeconfig_out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)?;
    }
    // Written last, by rename, so that a script can wait for the file to know we are ready.
    let temporary = args.kubeconfig_out.with_extension("tmp");
    std::fs::copy(install.kube.kubeconfig(), &temporary)?;
    std::fs::rename(&temporary, &args.kubeconfig_out)?;
    let kubeconfig = std::fs::canonicalize(&args.kubeconfig_out)?;

    println!("Sandbox is up.");
    println!(
        "  etcd:       {} ({})",
        install.etcd.endpoint(),
        if args.plain {
            "plain"
        } else {
            "TLS, client certificates required"
        }
    );
    println!(
        "  Kubernetes: {}",
        install.kube.local_url().unwrap_or_default()
    );
    println!(
        "  Calico:     etcd-mode v3.28.0 install in namespace kube-system (ConfigMap calico-config, Secret calico-etcd-secrets)"
    );
    println!();
    println!("Use it with:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl calico-migrate status");
    println!();
    println!("Press Ctrl-C to stop.");

    testbed::block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    })
    .context("waiting for Ctrl-C")?;
    let _ = std::fs::remove_file(&args.kubeconfig_out);
    Ok(())
}
