//! The cost model costs real CPU: a custom-resource create takes about 2.5 ms of the
//! machine's CPU time. Alone in its test binary, so that the process CPU time it reads
//! is only this test's.

mod common;

use std::time::Duration;

use common::*;

/// User plus system CPU time of this process.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// CPU time of the process per create of `n` IPPools.
fn per_create(c: &Client, prefix: &str, n: u32) -> Duration {
    let start = process_cpu();
    create_pools(c, prefix, n);
    (process_cpu() - start) / n
}

#[test]
fn a_custom_resource_create_costs_about_two_and_a_half_milliseconds_of_cpu() {
    let (s, c) = ippool_server_without_cost();
    let controls = s.controls();
    per_create(&c, "warm", 20);
    let free = per_create(&c, "free", 100);
    controls.set_cost(1.0);
    let mut costed = Duration::ZERO;
    let (creates, cpu) = verb_cost(&controls, "create", || {
        costed = per_create(&c, "costed", 100);
    });
    let server_avg = cpu / creates as u32;
    eprintln!(
        "per create: {costed:?} with the cost model, {free:?} without; server average {server_avg:?}"
    );
    // The server accounts at least the target for each create...
    assert!(server_avg >= Duration::from_micros(2450), "{server_avg:?}");
    // ...and the process really spends it (client included, so a little more).
    assert!(costed >= Duration::from_micros(2400), "{costed:?}");
    assert!(costed < Duration::from_millis(6), "{costed:?}");
    assert!(costed > free, "{costed:?} vs {free:?}");
}
