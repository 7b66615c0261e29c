//! The CPU cost model: every request costs the server about the CPU time a real
//! kube-apiserver spends on it, so that a client sees the throughput of a real cluster
//! and concurrent clients compete for the machine's cores as they would.
//!
//! The reference figure is a measurement: a kube-apiserver v1.24 on a 2-core machine
//! spent about 2.4 ms of CPU per custom-resource create (the real import peaked at
//! about 450 objects/s). The other verbs are scaled from it by what they do on the real
//! server:
//!
//! | request | CPU at factor 1 | why |
//! |---|---|---|
//! | create | 2.5 ms | decode, defaulting, admission, validation, conversion, etcd write, watch event, encode |
//! | update (PUT) | 2.5 ms | the same pipeline as a create, on top of a read from the watch cache |
//! | patch | 2.7 ms | an update plus reading the current object and applying the patch |
//! | apply | 3.2 ms | a patch plus the structured merge over `managedFields` (about a quarter more) |
//! | delete | 1.5 ms | no body to decode or validate; etcd delete and watch event |
//! | get | 0.25 ms | a quorum read from etcd and one encode |
//! | list, watch from the watch cache | 0.2 ms + 0.03 ms per object | the encoding of each object (about 1 KiB of JSON) dominates |
//! | list from etcd | 0.2 ms + 0.12 ms per object | each object read from etcd, decoded, converted and encoded again |
//!
//! Which lists the real server reads from etcd is its own rule (`shouldDelegateList` in
//! kube-apiserver 1.28): those without a resourceVersion, those with a `continue` token,
//! those with a `limit` (unless `resourceVersion=0`), and `resourceVersionMatch=Exact`. The
//! list figures are measurements of a kube-apiserver v1.28 on this kind of machine: 20,000
//! custom resources of about 700 bytes took 0.63 s from the watch cache and 2.8 s from etcd.
//! | review, discovery | 0.1 ms | no storage |
//!
//! The server measures the CPU time its own handling of a request took (thread CPU
//! time) and adds busy work (hashing, on a blocking thread, where it takes a real core)
//! until the request has cost its share. The factor scales every figure; 0 turns the
//! model off.

use std::time::{Duration, Instant};

/// What a request does, for the cost model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    Create,
    Update,
    Patch,
    Apply,
    Delete,
    Get,
    /// A list (or the initial events of a watch) of this many objects, from the watch cache.
    List(usize),
    /// A list of this many objects read from etcd.
    StorageList(usize),
    Light,
}

impl Work {
    /// The CPU time of the request at factor 1.
    pub(crate) fn cost(self) -> Duration {
        let us = |n: u64| Duration::from_micros(n);
        match self {
            Work::Create | Work::Update => us(2500),
            Work::Patch => us(2700),
            Work::Apply => us(3200),
            Work::Delete => us(1500),
            Work::Get => us(250),
            Work::List(n) => us(200) + us(30) * n.min(u32::MAX as usize) as u32,
            Work::StorageList(n) => us(200) + us(120) * n.min(u32::MAX as usize) as u32,
            Work::Light => us(100),
        }
    }

    /// The verb under which the cost is reported.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Work::Create => "create",
            Work::Update => "update",
            Work::Patch => "patch",
            Work::Apply => "apply",
            Work::Delete => "delete",
            Work::Get => "get",
            Work::List(_) | Work::StorageList(_) => "list",
            Work::Light => "other",
        }
    }
}

/// CPU time consumed by the calling thread (wall time where the platform lacks it).
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    } else {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Keeps the calling thread busy hashing until it has used `d` of CPU time.
pub(crate) fn burn(d: Duration) {
    if d.is_zero() {
        return;
    }
    let start = thread_cpu_time();
    let mut block = [0u8; 4096];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    loop {
        // FNV-1a over a block that changes with the hash, a few microseconds a round.
        for b in block.iter_mut() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            *b = (h >> 24) as u8;
        }
        std::hint::black_box(&block);
        if thread_cpu_time().saturating_sub(start) >= d {
            break;
        }
    }
}

/// The busy work still owed by a request of this kind that has already used `spent`.
pub(crate) fn owed(work: Work, factor: f64, spent: Duration) -> Duration {
    if factor <= 0.0 {
        return Duration::ZERO;
    }
    work.cost().mul_f64(factor).saturating_sub(spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_uses_cpu_not_sleep() {
        let wall = Instant::now();
        let cpu = thread_cpu_time();
        burn(Duration::from_millis(20));
        let used = thread_cpu_time() - cpu;
        assert!(used >= Duration::from_millis(20), "{used:?}");
        assert!(wall.elapsed() >= used);
    }

    #[test]
    fn costs_scale() {
        assert_eq!(
            owed(Work::Create, 1.0, Duration::from_micros(500)),
            Duration::from_micros(2000)
        );
        assert_eq!(owed(Work::Create, 0.0, Duration::ZERO), Duration::ZERO);
        assert_eq!(Work::List(100).cost(), Duration::from_micros(3200));
        assert_eq!(Work::StorageList(100).cost(), Duration::from_micros(12_200));
        assert_eq!(
            owed(Work::Get, 1.0, Duration::from_millis(1)),
            Duration::ZERO
        );
    }
}
