//! `mini-apiserver`: runs the in-memory Kubernetes API server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mini_apiserver::{ApiServer, Options, parse_duration};

/// An in-memory Kubernetes API server (plain HTTP, no authentication) for tests and
/// sandboxes. Prints its URL on the first line of stdout.
#[derive(Parser, Debug)]
#[command(name = "mini-apiserver", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Latency added to every write request, e.g. 3ms.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    latency: Duration,
    /// Time between the creation of a CRD and its Established condition.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    crd_establish_delay: Duration,
    /// Write a kubeconfig for the server to this file.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Name of the context (and cluster and user) in the kubeconfig.
    #[arg(long, default_value = "mini-apiserver")]
    context: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let opts = Options {
        latency: args.latency,
        crd_establish_delay: args.crd_establish_delay,
        ..Options::default()
    };
    let server = ApiServer::bind(args.listen, opts).await?;
    if let Some(path) = &args.kubeconfig_out {
        std::fs::write(path, server.kubeconfig(&args.context))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    println!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
