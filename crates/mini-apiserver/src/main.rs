//! `mini-apiserver`: runs the in-memory Kubernetes API server until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mini_apiserver::{Apf, ApiServer, Options, Rollout, Stall, parse_duration, parse_token_file};

/// An in-memory Kubernetes API server (plain HTTP) for tests and sandboxes. Prints its
/// URL on the first line of stdout. Requests without a token are the admin unless
/// --require-token is given.
#[derive(Parser, Debug)]
#[command(name = "mini-apiserver", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Latency added to every write request, e.g. 3ms.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    latency: Duration,
    /// CPU cost of requests relative to a real kube-apiserver (1: as costly, 0 or off: free).
    #[arg(long, default_value = "1", value_parser = parse_cost)]
    cost: f64,
    /// Time between the creation of a CRD and its Established condition.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    crd_establish_delay: Duration,
    /// Time between a DaemonSet or Deployment change and its status update (and between steps).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    rollout_delay: Duration,
    /// Pods a rollout updates per step (0: all at once).
    #[arg(long, default_value_t = 0)]
    rollout_pods_per_step: u32,
    /// Make rollouts never finish: none, unobserved (status stays at the old
    /// generation) or unavailable (one pod never becomes available).
    #[arg(long, default_value = "none")]
    rollout_stall: Stall,
    /// How long a deleted namespace or CRD stays Terminating (0: deleted at once).
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    deletion_delay: Duration,
    /// API Priority and Fairness: requests executing at once.
    #[arg(long, default_value_t = Apf::default().max_inflight)]
    max_inflight: usize,
    /// API Priority and Fairness: requests waiting for a seat before 429s.
    #[arg(long, default_value_t = Apf::default().queue_length)]
    queue_length: usize,
    /// Users known by bearer token, in kube-apiserver's static token file format
    /// (token,user,uid[,"group1,group2"]).
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Refuse requests without a known token (401).
    #[arg(long)]
    require_token: bool,
    /// Write a kubeconfig for the server to this file.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Name of the context (and cluster and user) in the kubeconfig.
    #[arg(long, default_value = "mini-apiserver")]
    context: String,
}

fn parse_cost(s: &str) -> Result<f64, String> {
    if s == "off" {
        return Ok(0.0);
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| format!("{s:?} is not a factor (a number ≥ 0, or off)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tokens = match &args.token_auth_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            parse_token_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let opts = Options {
        latency: args.latency,
        cost: args.cost,
        crd_establish_delay: args.crd_establish_delay,
        rollout: Rollout {
            delay: args.rollout_delay,
            pods_per_step: args.rollout_pods_per_step,
            stall: args.rollout_stall,
        },
        deletion_delay: args.deletion_delay,
        apf: Apf {
            max_inflight: args.max_inflight,
            queue_length: args.queue_length,
        },
        tokens,
        require_token: args.require_token,
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
