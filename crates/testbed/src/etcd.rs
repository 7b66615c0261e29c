//! A real etcd server (Debian's `etcd-server`) started on free ports with a temporary data
//! directory, in plain or TLS-with-client-certificate mode, and stopped on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use tempfile::TempDir;

use crate::pki::Pki;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdMode {
    /// `http://`, no authentication.
    Plain,
    /// `https://` with a server certificate, and client certificates required.
    Tls,
}

/// Paths of the PEM files a TLS etcd was started with, as a client would use them.
#[derive(Clone, Debug)]
pub struct ClientFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub other_ca: PathBuf,
}

pub struct Etcd {
    child: Child,
    dir: TempDir,
    endpoint: String,
    pki: Option<Pki>,
    files: Option<ClientFiles>,
    auth: Option<(String, String)>,
}

impl Etcd {
    pub fn start(mode: EtcdMode) -> Result<Etcd> {
        let binary = etcd_binary()?;
        let dir = tempfile::Builder::new().prefix("etcd-test").tempdir()?;
        let pki = match mode {
            EtcdMode::Plain => None,
            EtcdMode::Tls => Some(Pki::generate()?),
        };
        let files = pki
            .as_ref()
            .map(|pki| write_pki(dir.path(), pki))
            .transpose()?;
        // Two free ports; another process could take one between here and etcd's bind, so retry.
        let mut last_error = None;
        for _ in 0..5 {
            let (client_port, peer_port) = (free_port()?, free_port()?);
            let scheme = if pki.is_some() { "https" } else { "http" };
            let client_url = format!("{scheme}://127.0.0.1:{client_port}");
            let peer_url = format!("http://127.0.0.1:{peer_port}");
            let mut cmd = Command::new(&binary);
            cmd.arg("--name=t")
                .arg(format!("--data-dir={}", dir.path().join("data").display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=t={peer_url}"))
                .args(["--initial-cluster-state=new", "--heartbeat-interval=10"])
                .args(["--election-timeout=100", "--log-level=error"])
                .stdout(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(
                    dir.path().join("etcd.log"),
                )?));
            if let Some(files) = &files {
                cmd.arg(format!(
                    "--cert-file={}",
                    dir.path().join("server.pem").display()
                ))
                .arg(format!(
                    "--key-file={}",
                    dir.path().join("server-key.pem").display()
                ))
                .arg(format!("--trusted-ca-file={}", files.ca.display()))
                .arg("--client-cert-auth");
            }
            let mut child = cmd
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let addr: SocketAddr = ([127, 0, 0, 1], client_port).into();
            match wait_for_port(&mut child, addr, Duration::from_secs(10)) {
                Ok(()) => {
                    let etcd = Etcd {
                        child,
                        dir,
                        endpoint: client_url,
                        pki,
                        files,
                        auth: None,
                    };
                    etcd.wait_ready()?;
                    return Ok(etcd);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log =
                        std::fs::read_to_string(dir.path().join("etcd.log")).unwrap_or_default();
                    last_error = Some(e.context(log));
                    let _ = std::fs::remove_dir_all(dir.path().join("data"));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("etcd did not start")))
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn pki(&self) -> Option<&Pki> {
        self.pki.as_ref()
    }

    /// Client-side PEM files (CA, client certificate and key, and an unrelated CA).
    pub fn client_files(&self) -> Option<&ClientFiles> {
        self.files.as_ref()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Connect options that work for this server (TLS and credentials as configured).
    pub fn connect_options(&self) -> ConnectOptions {
        let mut options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(5));
        if let Some(pki) = &self.pki {
            options = options.with_tls(
                TlsOptions::new()
                    .ca_certificate(Certificate::from_pem(&pki.ca_cert))
                    .identity(Identity::from_pem(&pki.client_cert, &pki.client_key)),
            );
        }
        if let Some((user, password)) = &self.auth {
            options = options.with_user(user.clone(), password.clone());
        }
        options
    }

    pub async fn client(&self) -> Result<Client> {
        let client =
            Client::connect([self.endpoint.as_str()], Some(self.connect_options())).await?;
        Ok(client)
    }

    /// Turns on etcd authentication with a `root` user and the given password; later clients
    /// of this handle log in as root.
    pub fn enable_auth(&mut self, password: &str) -> Result<()> {
        crate::block_on(async {
            let mut client = self.client().await?;
            client.user_add("root", password, None).await?;
            client.user_grant_role("root", "root").await?;
            client.auth_enable().await?;
            anyhow::Ok(())
        })?;
        self.auth = Some(("root".to_string(), password.to_string()));
        Ok(())
    }

    pub fn put(&self, key: &str, value: &str) -> Result<i64> {
        crate::block_on(async {
            let mut client = self.client().await?;
            let response = client.put(key, value, None).await?;
            Ok(response.header().map(|h| h.revision()).unwrap_or_default())
        })
    }

    pub fn put_all<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<()> {
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::block_on(async {
            let mut client = self.client().await?;
            for batch in batches(&pairs) {
                let ops: Vec<etcd_client::TxnOp> = batch
                    .iter()
                    .map(|(k, v)| etcd_client::TxnOp::put(k.as_str(), v.as_str(), None))
                    .collect();
                client.txn(etcd_client::Txn::new().and_then(ops)).await?;
            }
            anyhow::Ok(())
        })
    }

    /// Puts the pairs in order, `per_transaction` in each transaction (etcd allows 128 by
    /// default), so that a captured datastore's revisions can be reproduced; the last revision.
    pub fn put_in_transactions(
        &self,
        pairs: &[(String, String)],
        per_transaction: usize,
    ) -> Result<i64> {
        crate::block_on(async {
            let mut client = self.client().await?;
            let mut revision = 0;
            for chunk in pairs.chunks(per_transaction.max(1)) {
                let ops: Vec<etcd_client::TxnOp> = chunk
                    .iter()
                    .map(|(k, v)| etcd_client::TxnOp::put(k.as_str(), v.as_str(), None))
                    .collect();
                let response = client.txn(etcd_client::Txn::new().and_then(ops)).await?;
                revision = response.header().map(|h| h.revision()).unwrap_or_default();
            }
            Ok(revision)
        })
    }

    /// The value and mod revision of a key, or None.
    pub fn get(&self, key: &str) -> Result<Option<(String, i64)>> {
        crate::block_on(async {
            let mut client = self.client().await?;
            let response = client.get(key, None).await?;
            Ok(response.kvs().first().map(|kv| {
                (
                    String::from_utf8_lossy(kv.value()).into_owned(),
                    kv.mod_revision(),
                )
            }))
        })
    }

    /// Deletes one key (as Calico does when it releases an IP, say).
    pub fn delete(&self, key: &str) -> Result<()> {
        crate::block_on(async {
            let mut client = self.client().await?;
            client.delete(key, None).await?;
            Ok(())
        })
    }

    /// Every key and value under a prefix, in key order, read in pages (a response may not
    /// exceed the client's 4 MiB).
    pub fn dump(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        const PAGE: i64 = 1000;
        crate::block_on(async {
            let mut client = self.client().await?;
            let mut end = prefix.as_bytes().to_vec();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            let mut pairs = Vec::new();
            let mut from = prefix.as_bytes().to_vec();
            loop {
                let options = etcd_client::GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(PAGE);
                let response = client.get(from.clone(), Some(options)).await?;
                for kv in response.kvs() {
                    pairs.push((
                        String::from_utf8_lossy(kv.key()).into_owned(),
                        String::from_utf8_lossy(kv.value()).into_owned(),
                    ));
                }
                match response.kvs().last() {
                    Some(last) if response.more() => {
                        from = last.key().to_vec();
                        from.push(0);
                    }
                    _ => return Ok(pairs),
                }
            }
        })
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let attempt = crate::block_on(async {
                let mut client = self.client().await?;
                client.status().await?;
                anyhow::Ok(())
            });
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context("etcd never became ready"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Etcd {
    /// Kills the server, as a crash or a lost machine would stop it; clients then find the
    /// endpoint refusing connections.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Transactions of at most 100 puts and about 1 MiB: etcd refuses requests over 1.5 MiB.
pub fn batches(pairs: &[(String, String)]) -> Vec<&[(String, String)]> {
    const MAX_BYTES: usize = 1 << 20;
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (k, v)) in pairs.iter().enumerate() {
        let size = k.len() + v.len();
        if i > start && (i - start == 100 || bytes + size > MAX_BYTES) {
            batches.push(&pairs[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < pairs.len() {
        batches.push(&pairs[start..]);
    }
    batches
}

/// Debian's etcd-server installs /usr/bin/etcd; `ETCD_BINARY` points elsewhere.
pub fn etcd_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ETCD_BINARY") {
        return Ok(PathBuf::from(path));
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let candidate = dir.join("etcd");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("etcd not found on PATH: install Debian's etcd-server package (or set ETCD_BINARY)")
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(child: &mut Child, addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("etcd exited early with {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("etcd did not listen on {addr} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn write_pki(dir: &Path, pki: &Pki) -> Result<ClientFiles> {
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    write("server.pem", &pki.server_cert)?;
    write("server-key.pem", &pki.server_key)?;
    Ok(ClientFiles {
        ca: write("ca.pem", &pki.ca_cert)?,
        cert: write("client.pem", &pki.client_cert)?,
        key: write("client-key.pem", &pki.client_key)?,
        other_ca: write("other-ca.pem", &pki.other_ca_cert)?,
    })
}
