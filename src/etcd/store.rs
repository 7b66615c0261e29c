//! Reads of the etcd datastore, and the one write this tool ever makes there: the lock flag,
//! by compare-and-swap on the key's revision.

use etcd_client::{Client, Compare, CompareOp, GetOptions, KvClient, Txn, TxnOp};
use serde_json::Value;

use super::connect::EtcdError;
use crate::convert::cluster_info::{ReadyChange, datastore_ready, with_datastore_ready};
use crate::kinds::CLUSTER_INFORMATION_KEY;

/// How often the lock is retried when someone else changes the key between read and write.
const LOCK_ATTEMPTS: u32 = 5;

pub struct EtcdStore {
    kv: KvClient,
}

/// The largest response accepted. A page of well-used IPAM blocks is several megabytes, over
/// gRPC's 4 MiB default; pages are sized by bytes too (see [`next_page_size`]).
const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Bytes a page aims at, so that memory stays bounded whatever the values' sizes.
const PAGE_TARGET_BYTES: usize = 8 << 20;
const MIN_PAGE: i64 = 50;
const MAX_PAGE: i64 = 10_000;

/// The next page's size: as many keys as fit the byte target at the last page's average size.
/// Larger pages mean fewer round trips, and fewer of etcd's range counts, which cost it time
/// in proportion to what is left of the range.
pub fn next_page_size(current: i64, keys: usize, bytes: usize) -> i64 {
    if keys == 0 || bytes == 0 {
        return current;
    }
    let per_key = (bytes / keys).max(1);
    ((PAGE_TARGET_BYTES / per_key) as i64).clamp(MIN_PAGE, MAX_PAGE)
}

/// A key's value with the revision it was last modified at.
#[derive(Clone, Debug)]
pub struct Versioned {
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

/// A paged, consistent read of every key under a prefix at one revision: never one unbounded
/// range request, so memory stays bounded by the page size.
pub struct Scan {
    next: Vec<u8>,
    end: Vec<u8>,
    revision: i64,
    page_size: i64,
    keys_only: bool,
    done: bool,
}

/// The first key after every key that starts with `prefix` (etcd's range end for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl Scan {
    pub fn new(prefix: &str, revision: i64, page_size: i64) -> Scan {
        Scan {
            next: prefix.as_bytes().to_vec(),
            end: prefix_end(prefix.as_bytes()),
            revision,
            page_size: page_size.max(1),
            keys_only: false,
            done: false,
        }
    }

    /// Reads keys without their values.
    pub fn keys_only(mut self) -> Scan {
        self.keys_only = true;
        self
    }

    /// The next page of (key, value) pairs, in key order; None once everything was read.
    pub async fn next_page(
        &mut self,
        store: &mut EtcdStore,
    ) -> Result<Option<Vec<(String, Vec<u8>)>>, EtcdError> {
        if self.done {
            return Ok(None);
        }
        let mut options = GetOptions::new()
            .with_range(self.end.clone())
            .with_revision(self.revision)
            .with_limit(self.page_size);
        if self.keys_only {
            options = options.with_keys_only();
        }
        let response = store
            .kv
            .get(self.next.clone(), Some(options))
            .await
            .map_err(|e| read_error(e, self.revision))?;
        let kvs: Vec<(String, Vec<u8>)> = response
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.value().to_vec(),
                )
            })
            .collect();
        let bytes: usize = kvs.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.page_size = next_page_size(self.page_size, kvs.len(), bytes);
        match response.kvs().last() {
            Some(last) if response.more() => {
                let mut next = last.key().to_vec();
                next.push(0);
                self.next = next;
            }
            _ => self.done = true,
        }
        Ok(if kvs.is_empty() && self.done {
            None
        } else {
            Some(kvs)
        })
    }
}

/// A read at a fixed revision fails once etcd has compacted past it.
fn read_error(error: etcd_client::Error, revision: i64) -> EtcdError {
    if detail_of(&error).contains("required revision has been compacted") {
        EtcdError::Compacted { revision }
    } else {
        request_error("reading")(error)
    }
}

fn request_error(doing: &str) -> impl FnOnce(etcd_client::Error) -> EtcdError + '_ {
    move |error| {
        let doing = doing.to_string();
        let detail = detail_of(&error);
        if connection_lost(&error) {
            EtcdError::ConnectionLost { doing, detail }
        } else {
            EtcdError::Request { doing, detail }
        }
    }
}

/// What an etcd error says: a gRPC status's message, or the error itself.
fn detail_of(error: &etcd_client::Error) -> String {
    match error {
        etcd_client::Error::GRpcStatus(status) => status.message().to_string(),
        other => other.to_string(),
    }
}

/// The connection to etcd broke under a request (etcd stopped, or the network between):
/// refused or reset connections, and HTTP/2 streams cut off in the middle.
fn connection_lost(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::GRpcStatus(status) => {
            matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Cancelled
            ) || ["h2 protocol error", "transport error", "connection"]
                .iter()
                .any(|part| status.message().contains(part))
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

impl EtcdStore {
    pub fn new(client: Client) -> EtcdStore {
        EtcdStore {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
        }
    }

    pub async fn get(&mut self, key: &str) -> Result<Option<Versioned>, EtcdError> {
        let response = self
            .kv
            .get(key, None)
            .await
            .map_err(request_error("reading"))?;
        Ok(response.kvs().first().map(|kv| Versioned {
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
        }))
    }

    /// A key's value as of `revision`.
    pub async fn get_at(
        &mut self,
        key: &str,
        revision: i64,
    ) -> Result<Option<Versioned>, EtcdError> {
        let options = GetOptions::new().with_revision(revision);
        let response = self
            .kv
            .get(key, Some(options))
            .await
            .map_err(|e| read_error(e, revision))?;
        Ok(response.kvs().first().map(|kv| Versioned {
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
        }))
    }

    /// The store's current revision.
    pub async fn revision(&mut self) -> Result<i64, EtcdError> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .kv
            .get(CLUSTER_INFORMATION_KEY, Some(options))
            .await
            .map_err(request_error("reading the revision"))?;
        Ok(response.header().map(|h| h.revision()).unwrap_or_default())
    }

    /// How many keys start with `prefix`, as of `revision`.
    pub async fn count_prefix(&mut self, prefix: &str, revision: i64) -> Result<u64, EtcdError> {
        let options = GetOptions::new()
            .with_prefix()
            .with_count_only()
            .with_revision(revision);
        let response = self
            .kv
            .get(prefix, Some(options))
            .await
            .map_err(|e| read_error(e, revision))?;
        Ok(response.count().max(0) as u64)
    }

    /// ClusterInformation/default as JSON, with its revision.
    pub async fn cluster_information(&mut self) -> Result<Option<(Value, i64)>, EtcdError> {
        let Some(found) = self.get(CLUSTER_INFORMATION_KEY).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&found.value)
            .map_err(|e| EtcdError::BadClusterInformation(e.to_string()))?;
        Ok(Some((value, found.mod_revision)))
    }

    /// Writes `value` to `key` only if the key is still at `mod_revision`. Returns whether the
    /// write happened; a concurrent change makes it return false and write nothing.
    pub async fn put_if_unchanged(
        &mut self,
        key: &str,
        mod_revision: i64,
        value: Vec<u8>,
    ) -> Result<bool, EtcdError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, mod_revision)])
            .and_then([TxnOp::put(key, value, None)]);
        let response = self.kv.txn(txn).await.map_err(request_error("writing"))?;
        Ok(response.succeeded())
    }

    /// Sets `spec.datastoreReady` of ClusterInformation/default, changing nothing else. A
    /// datastore already in the wanted state is left untouched.
    pub async fn set_datastore_ready(&mut self, ready: bool) -> Result<ReadyChange, EtcdError> {
        let mut conflicts = 0;
        while conflicts < LOCK_ATTEMPTS {
            let (current, revision) = self
                .cluster_information()
                .await?
                .ok_or(EtcdError::NoClusterInformation)?;
            let before = datastore_ready(&current);
            if before == Some(ready) {
                return Ok(ReadyChange {
                    before,
                    changed: false,
                    conflicts,
                });
            }
            let updated = with_datastore_ready(&current, ready);
            let bytes = go_compat::json::marshal(&updated).into_bytes();
            if self
                .put_if_unchanged(CLUSTER_INFORMATION_KEY, revision, bytes)
                .await?
            {
                return Ok(ReadyChange {
                    before,
                    changed: true,
                    conflicts,
                });
            }
            conflicts += 1;
        }
        Err(EtcdError::Conflict {
            attempts: LOCK_ATTEMPTS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_sized_by_bytes() {
        // 16 KB IPAM blocks: about 512 per 8 MB page.
        assert_eq!(next_page_size(500, 500, 500 * 16_384), 512);
        // Tiny keys-only pages grow to the cap; huge values shrink to the floor.
        assert_eq!(next_page_size(500, 1000, 1000 * 60), MAX_PAGE);
        assert_eq!(next_page_size(500, 10, 10 * (1 << 20)), MIN_PAGE);
        assert_eq!(next_page_size(700, 0, 0), 700);
    }

    #[test]
    fn a_broken_connection_is_told_apart_from_a_refused_request() {
        let status = |code, message: &str| {
            etcd_client::Error::GRpcStatus(tonic::Status::new(code, message.to_string()))
        };
        let lost = read_error(
            status(
                tonic::Code::Unknown,
                "h2 protocol error: error reading a body from connection",
            ),
            7,
        );
        assert!(
            matches!(&lost, EtcdError::ConnectionLost { doing, .. } if doing == "reading"),
            "{lost:?}"
        );
        assert!(matches!(
            request_error("writing")(status(tonic::Code::Unavailable, "transport is closing")),
            EtcdError::ConnectionLost { .. }
        ));
        assert!(matches!(
            read_error(
                status(
                    tonic::Code::OutOfRange,
                    "required revision has been compacted"
                ),
                7
            ),
            EtcdError::Compacted { revision: 7 }
        ));
        assert!(matches!(
            request_error("writing")(status(tonic::Code::InvalidArgument, "too many operations")),
            EtcdError::Request { .. }
        ));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/calico/"), b"/calico0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
