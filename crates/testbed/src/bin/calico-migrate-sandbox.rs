//! A sandbox for people without a cluster: a real etcd (TLS with client certificates) holding a
//! small etcd-mode Calico install, and the local Kubernetes API server with that install as
//! Calico's etcd manifest puts it there (ConfigMap, Secret, RBAC, the calico-node DaemonSet and
//! the calico-kube-controllers Deployment) and its Nodes. Next to the kubeconfig it writes the two
//! manifests a migration needs: `calico.yaml` (Kubernetes datastore) and `calico-etcd.yaml` (the
//! etcd one, filled in, for a rollback). It runs until interrupted.

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
    install.apply_etcd_manifest()?;

    let dir = args
        .kubeconfig_out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir)?;
    let kdd_manifest = dir.join("calico.yaml");
    let etcd_manifest = dir.join("calico-etcd.yaml");
    std::fs::write(
        &kdd_manifest,
        install.manifest(testbed::install::KDD_MANIFEST),
    )?;
    std::fs::write(&etcd_manifest, install.etcd_manifest()?)?;
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
        "  Calico:     etcd-mode v3.28.0 install in namespace kube-system (calico-etcd.yaml applied: ConfigMap calico-config, Secret calico-etcd-secrets, calico-node, calico-kube-controllers)"
    );
    println!(
        "  Manifests:  {} (Kubernetes datastore), {} (etcd, for a rollback)",
        kdd_manifest.display(),
        etcd_manifest.display()
    );
    println!();
    println!("Use it with:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!(
        "  kubectl calico-migrate plan --manifest {}",
        kdd_manifest.display()
    );
    println!(
        "  kubectl calico-migrate run --manifest {}",
        kdd_manifest.display()
    );
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
    let _ = std::fs::remove_file(&kdd_manifest);
    let _ = std::fs::remove_file(&etcd_manifest);
    Ok(())
}
