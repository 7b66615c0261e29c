//! API Priority and Fairness, injected throttling, and the cost model's knobs.

mod common;

use std::time::Duration;

use common::*;
use mini_apiserver::{Apf, BackgroundServer, Options};
use serde_json::json;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// Sends `n` creates at once; returns the responses.
fn burst(c: &Client, n: usize, prefix: &str) -> Vec<Resp> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let c = c.clone();
            let body = obj("v1", "ConfigMap", &format!("{prefix}-{i}"), json!({}));
            std::thread::spawn(move || c.post(CMS, &body))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn start(apf: Apf) -> (BackgroundServer, Client) {
    server_with_options(Options {
        latency: Duration::from_millis(100),
        apf,
        cost: 0.0,
        ..Options::default()
    })
}

#[test]
fn a_low_limit_rejects_a_burst_with_429() {
    let (s, c) = start(Apf {
        max_inflight: 4,
        queue_length: 8,
    });
    let rs = burst(&c, 64, "a");
    let rejected: Vec<&Resp> = rs.iter().filter(|r| r.status == 429).collect();
    let created = rs.iter().filter(|r| r.status == 201).count();
    assert!(rejected.len() >= 40, "{} rejected", rejected.len());
    assert!(created >= 12, "{created} created");
    assert_eq!(created + rejected.len(), 64);
    for r in rejected {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.text(), "Too many requests, please try again later.\n");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    assert_eq!(s.faults().writes(), created as u64);
    // raised over HTTP, the limit takes the burst
    let r = c.post("/_mini/apf", &json!({"max_inflight": 64}));
    assert_eq!(r.json(), json!({"max_inflight": 64, "queue_length": 8}));
    assert!(burst(&c, 64, "b").iter().all(|r| r.status == 201));
}

#[test]
fn the_default_limits_take_a_burst_of_64() {
    let (_s, c) = start(Apf::default());
    let rs = burst(&c, 64, "a");
    assert!(
        rs.iter().all(|r| r.status == 201),
        "{:?}",
        rs.iter().map(|r| r.status).collect::<Vec<_>>()
    );
}

#[test]
fn injected_throttling() {
    let (s, c) = server();
    s.faults().throttle_next_requests(2, 3);
    let r = c.get(CMS);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(r.text(), "Too many requests, please try again later.\n");
    assert_eq!(
        c.post(CMS, &obj("v1", "ConfigMap", "a", json!({}))).status,
        429
    );
    assert_eq!(c.get(CMS).status, 200);
    // over HTTP
    c.post(
        "/_mini/faults",
        &json!({"throttle_next_requests": {"n": 1}}),
    );
    let r = c.get(CMS);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(c.get(CMS).status, 200);
}

#[test]
fn cost_and_deletion_knobs_over_http() {
    let (s, c) = server();
    assert_eq!(c.get_json("/_mini/cost"), json!({"factor": 1.0}));
    assert_eq!(
        c.post("/_mini/cost", &json!({"factor": 0.5})).json(),
        json!({"factor": 0.5})
    );
    assert_eq!(s.controls().cost(), 0.5);
    c.post("/_mini/cost", &json!({"factor": -3})).json();
    assert_eq!(s.controls().cost(), 0.0);
    assert_eq!(
        c.post("/_mini/deletion", &json!({"delay_ms": 40})).json(),
        json!({"delay_ms": 40})
    );
    assert_eq!(s.controls().deletion_delay(), Duration::from_millis(40));
    c.post("/_mini/cost", &json!({"factors": 1}))
        .status_of(400, "BadRequest");
    c.post("/_mini/nope", &json!({})).status_of(404, "NotFound");
}
