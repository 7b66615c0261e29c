//! Fault injection, from Rust and over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mini_apiserver::Options;
use serde_json::json;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str) -> serde_json::Value {
    obj("v1", "ConfigMap", name, json!({"data": {}}))
}

#[test]
fn fail_writes_after_n_with_retry_after() {
    let (s, c) = server();
    let f = s.faults();
    assert_eq!(f.writes(), 0);
    f.fail_writes_after(2, 503, Some(7));
    c.create(CMS, &cm("a"));
    c.create(CMS, &cm("b"));
    let r = c.post(CMS, &cm("c"));
    let st = r.status_of(503, "ServiceUnavailable");
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(st["details"]["retryAfterSeconds"], 7);
    // every write fails from now on, reads do not
    let r = c.delete(&format!("{CMS}/a"));
    assert_eq!(r.status, 503);
    assert_eq!(c.get(&format!("{CMS}/a")).status, 200);
    c.get(&format!("{CMS}/c")).status_of(404, "NotFound");
    assert_eq!(f.writes(), 2);
    f.clear();
    c.create(CMS, &cm("c"));
    assert_eq!(f.writes(), 3);

    f.fail_writes_after(0, 429, Some(1));
    let r = c.post(CMS, &cm("d"));
    failure(
        &r,
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    f.fail_writes_after(0, 500, None);
    let r = c.post(CMS, &cm("d"));
    let st = r.status_of(500, "InternalError");
    assert!(r.header("retry-after").is_none());
    assert_message_starts_with(&st, "Internal error occurred");
}

#[test]
fn fail_next_writes_then_recover() {
    let (s, c) = server();
    let f = s.faults();
    f.fail_next_writes(2, 500, None);
    assert_eq!(c.post(CMS, &cm("a")).status, 500);
    assert_eq!(c.put(&format!("{CMS}/a"), &cm("a")).status, 500);
    c.create(CMS, &cm("a"));
    assert_eq!(f.writes(), 1);
    // failed and read requests are counted as requests, not as writes
    let before = f.requests();
    c.get(CMS);
    assert_eq!(f.requests(), before + 1);
    assert_eq!(f.writes(), 1);
}

#[test]
fn delays_and_latency() {
    let (s, c) = server_with_options(Options {
        latency: Duration::from_millis(40),
        crd_establish_delay: Duration::from_millis(5),
        ..Options::default()
    });
    let t = Instant::now();
    c.create(CMS, &cm("a"));
    assert!(
        t.elapsed() >= Duration::from_millis(40),
        "latency from options"
    );
    let t = Instant::now();
    c.get(CMS);
    assert!(
        t.elapsed() < Duration::from_millis(40),
        "reads are not delayed"
    );

    let f = s.faults();
    f.set_latency(Duration::ZERO);
    f.delay_writes_after(1, Duration::from_millis(150));
    let t = Instant::now();
    c.create(CMS, &cm("b"));
    assert!(t.elapsed() < Duration::from_millis(150));
    let t = Instant::now();
    c.create(CMS, &cm("c"));
    assert!(t.elapsed() >= Duration::from_millis(150));
    f.clear();
    let t = Instant::now();
    c.create(CMS, &cm("d"));
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[test]
fn a_delayed_run_can_be_interrupted_halfway() {
    let (s, c) = server();
    s.faults().delay_writes_after(3, Duration::from_secs(30));
    let writer = {
        let c = c.clone();
        std::thread::spawn(move || {
            for i in 0..10 {
                let r = c.post(CMS, &cm(&format!("x{i}")));
                if r.status != 201 {
                    break;
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.faults().writes() < 3 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(s.faults().writes(), 3, "the fourth write is held");
    assert_eq!(c.get_json(CMS)["items"].as_array().unwrap().len(), 3);
    // stopping the server ends the held request
    drop(s);
    let _ = writer.join();
}

#[test]
fn controls_over_http() {
    let (s, c) = server();
    let stats = c.get_json("/_mini/stats");
    assert_eq!(
        (&stats["requests"], &stats["writes"]),
        (&json!(0), &json!(0))
    );
    c.create(CMS, &cm("a"));
    let stats = c.get_json("/_mini/stats");
    assert_eq!(
        (&stats["requests"], &stats["writes"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(stats["cpu"]["create"]["requests"], 1, "{stats}");

    let r = c.post(
        "/_mini/faults",
        &json!({"fail_writes_after": {"n": 1, "status": 503, "retry_after_secs": 3}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    c.create(CMS, &cm("b"));
    let r = c.post(CMS, &cm("c"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("3"));

    c.post(
        "/_mini/faults",
        &json!({"clear": true, "fail_next_writes": {"n": 1, "status": 500}}),
    );
    assert_eq!(c.post(CMS, &cm("c")).status, 500);
    assert_eq!(c.post(CMS, &cm("c")).status, 201);

    c.post(
        "/_mini/faults",
        &json!({"fail_next_writes": {"count": 1, "status": 429, "retry_after_secs": 2}}),
    );
    assert_eq!(c.post(CMS, &cm("d")).status, 429);

    c.post("/_mini/faults", &json!({"latency_ms": 60}));
    let t = Instant::now();
    c.create(CMS, &cm("d"));
    assert!(t.elapsed() >= Duration::from_millis(60));
    c.post(
        "/_mini/faults",
        &json!({"clear": true, "delay_writes_after": {"n": 0, "delay_ms": 80}}),
    );
    let t = Instant::now();
    c.create(CMS, &cm("e"));
    assert!(t.elapsed() >= Duration::from_millis(80));
    c.post("/_mini/faults", &json!({"clear": true}));

    let stats = c.get_json("/_mini/stats");
    assert_eq!(stats["writes"], s.faults().writes());
    assert_eq!(stats["requests"], s.faults().requests());
    c.post("/_mini/faults", &json!({"bogus": 1}))
        .status_of(400, "BadRequest");
    c.request("POST", "/_mini/faults", &[], Some(b"{"))
        .status_of(400, "BadRequest");
    c.delete("/_mini/stats").status_of(405, "MethodNotAllowed");
}
