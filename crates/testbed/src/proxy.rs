//! A TCP proxy between the plugin and an API server, for faults no server offers on its own:
//! the server restarting (every connection reset, the port refusing connections for a while,
//! then the same server back with its state), connections reset in the middle of a response,
//! and responses that trickle in. It forwards bytes and never looks at them, so it works in
//! front of the local server's plain HTTP and a real cluster's TLS alike.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Bytes forwarded per read; slow responses are sent in pieces of this size.
const CHUNK: usize = 4096;

#[derive(Default)]
struct Rules {
    /// Until when the port refuses connections.
    down_until: Option<Instant>,
    /// The next `.1` connections are reset once the server sent them `.0` bytes.
    reset_after: Option<(u64, u32)>,
    /// Pause before each piece of a response.
    response_delay: Duration,
}

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    rules: Mutex<Rules>,
    /// The open connections.
    open: Mutex<Vec<Connection>>,
    accepted: AtomicU64,
    resets: AtomicU64,
    /// Bytes sent to clients.
    forwarded: AtomicU64,
}

#[derive(Clone)]
struct Connection {
    client: Arc<TcpStream>,
    server: Arc<TcpStream>,
    closed: Arc<AtomicBool>,
}

impl Connection {
    /// Ends the connection with a TCP reset (RST) to the client, as a server process that
    /// dies does, and closes the server side.
    fn reset(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                self.client.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        // Wakes both copiers; with linger 0 the last close of the client socket sends RST.
        let _ = self.client.shutdown(Shutdown::Read);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            rules: Mutex::new(Rules::default()),
            open: Mutex::new(Vec::new()),
            accepted: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let thread = std::thread::spawn({
            let shared = shared.clone();
            move || accept_loop(&shared, listener)
        });
        Ok(Proxy {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server restarts: every open connection is reset, and the port refuses connections
    /// for `down_for`, after which the same server answers again.
    pub fn restart(&self, down_for: Duration) {
        self.rules().down_until = Some(Instant::now() + down_for);
        for connection in self.open_connections() {
            connection.reset();
            self.shared.resets.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The next `connections` connections that the server sends `bytes` bytes are reset there:
    /// in the middle of a response when responses are larger.
    pub fn reset_responses_after(&self, bytes: u64, connections: u32) {
        self.rules().reset_after = (connections > 0).then_some((bytes, connections));
    }

    /// Responses arrive in pieces of 4 KiB, each `delay` after the previous one.
    pub fn slow_responses(&self, delay: Duration) {
        self.rules().response_delay = delay;
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections reset so far.
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Bytes of responses passed on so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.shared.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_connections(&self) -> Vec<Connection> {
        self.shared
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for connection in self.open_connections() {
            connection.reset();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until stopped; while the server is "down" the port is closed (clients
/// get connection refused), and it is bound again afterwards.
fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    let addr = listener.local_addr().expect("a bound listener");
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        let down = {
            let rules = shared.rules.lock().unwrap_or_else(|p| p.into_inner());
            rules.down_until.is_some_and(|until| Instant::now() < until)
        };
        if down {
            listener = None;
        } else if listener.is_none() {
            listener = TcpListener::bind(addr).ok();
        }
        let Some(bound) = &listener else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = bound.set_nonblocking(true);
        match bound.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                std::thread::spawn(move || serve(&shared, client));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Forwards one connection both ways under the current rules.
fn serve(shared: &Arc<Shared>, client: TcpStream) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(shared.target) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_reader), Ok(server_writer)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let connection = Connection {
        client: Arc::new(client),
        server: Arc::new(server),
        closed: Arc::new(AtomicBool::new(false)),
    };
    // Every connection accepted while the rule holds is cut at its limit, until the rule's
    // count of cuts is used up (connections that close earlier do not use it up).
    let reset_after = shared
        .rules
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .reset_after
        .map(|(bytes, _)| bytes);
    shared
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(connection.clone());
    let upstream = std::thread::spawn(move || copy(client_reader, server_writer));
    let mut sent = 0u64;
    let mut buffer = [0u8; CHUNK];
    let mut reader = &*connection.server;
    let mut writer = &*connection.client;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = shared
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .response_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if let Some(limit) = reset_after
            && sent + n as u64 >= limit
            && take_reset(shared)
        {
            let part = (limit - sent) as usize;
            let _ = writer.write_all(&buffer[..part]);
            connection.reset();
            shared.resets.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if writer.write_all(&buffer[..n]).is_err() {
            break;
        }
        sent += n as u64;
        shared.forwarded.fetch_add(n as u64, Ordering::SeqCst);
    }
    if !connection.closed.swap(true, Ordering::SeqCst) {
        let _ = connection.client.shutdown(Shutdown::Write);
    }
    let _ = upstream.join();
    // The last handles go here: a reset connection's socket closes with RST.
    shared
        .open
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|c| !Arc::ptr_eq(&c.closed, &connection.closed));
}

/// Uses up one cut of the reset rule; false when none is left.
fn take_reset(shared: &Shared) -> bool {
    let mut rules = shared.rules.lock().unwrap_or_else(|p| p.into_inner());
    match rules.reset_after {
        Some((bytes, left)) => {
            rules.reset_after = (left > 1).then_some((bytes, left - 1));
            true
        }
        None => false,
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; CHUNK];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every connection with `size` bytes of 'x'.
    fn server(size: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut request = [0u8; 16];
                    let _ = stream.read(&mut request);
                    let _ = stream.write_all(&vec![b'x'; size]);
                });
            }
        });
        addr
    }

    fn fetch(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(b"hello")?;
        stream.shutdown(Shutdown::Write)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn forwards_resets_mid_response_and_restarts() {
        let proxy = Proxy::start(server(100_000)).unwrap();
        assert_eq!(fetch(proxy.addr()).unwrap().len(), 100_000);

        proxy.reset_responses_after(10_000, 1);
        let error = fetch(proxy.addr()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(proxy.resets(), 1);
        assert_eq!(fetch(proxy.addr()).unwrap().len(), 100_000, "one-shot");

        proxy.restart(Duration::from_millis(300));
        std::thread::sleep(Duration::from_millis(50));
        let refused = TcpStream::connect(proxy.addr()).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(fetch(proxy.addr()).unwrap().len(), 100_000, "back up");

        proxy.slow_responses(Duration::from_millis(10));
        let started = Instant::now();
        assert_eq!(fetch(proxy.addr()).unwrap().len(), 100_000);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(proxy.accepted(), 5);
        assert!(proxy.forwarded() >= 400_000);
    }
}
