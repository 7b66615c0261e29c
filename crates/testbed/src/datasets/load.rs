//! Loading datasets into etcd quickly: transactions of 100 puts (etcd's default limit is 128
//! operations per transaction) sent concurrently over several connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use etcd_client::{Txn, TxnOp};

use crate::calico::Dataset;
use crate::etcd::Etcd;

/// Puts per transaction.
pub const TXN_OPS: usize = 100;
/// Connections [`load_fast`] uses by default.
pub const DEFAULT_CONNECTIONS: usize = 8;

/// Writes all pairs with `connections` concurrent clients, each sending transactions of
/// [`TXN_OPS`] puts. Returns how long it took.
pub fn load_fast(etcd: &Etcd, pairs: &[(String, String)], connections: usize) -> Result<Duration> {
    let start = Instant::now();
    let connections = connections.max(1);
    let chunks: Arc<Vec<Vec<(String, String)>>> =
        Arc::new(pairs.chunks(TXN_OPS).map(|c| c.to_vec()).collect());
    crate::block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..connections {
            let mut client = etcd.client().await?;
            let chunks = Arc::clone(&chunks);
            tasks.spawn(async move {
                for chunk in chunks.iter().skip(worker).step_by(connections) {
                    let ops: Vec<TxnOp> = chunk
                        .iter()
                        .map(|(k, v)| TxnOp::put(k.as_str(), v.as_str(), None))
                        .collect();
                    client
                        .txn(Txn::new().and_then(ops))
                        .await
                        .context("etcd transaction")?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.context("loader task")??;
        }
        anyhow::Ok(())
    })?;
    Ok(start.elapsed())
}

impl Dataset {
    /// Loads the keys into etcd with [`load_fast`] and [`DEFAULT_CONNECTIONS`] connections.
    pub fn load_into(&self, etcd: &Etcd) -> Result<Duration> {
        load_fast(etcd, &self.kvs, DEFAULT_CONNECTIONS)
    }

    /// Total bytes of keys and values.
    pub fn byte_size(&self) -> usize {
        self.kvs.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}
