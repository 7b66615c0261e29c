//! The `/_mini/` control endpoints: what [`crate::Faults`] and [`crate::Controls`]
//! offer in Rust, over HTTP for a server running as its own process. Every `POST`
//! takes a JSON object whose keys are all optional (an unknown key is a 400) and
//! answers with the resulting settings; `GET` answers with them.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::controls::{Apf, Controls, Denial, Stall, TokenUser};
use crate::errors::ApiError;
use crate::faults::Faults;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailSpec {
    #[serde(alias = "count")]
    n: u64,
    status: u16,
    #[serde(default)]
    retry_after_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelaySpec {
    n: u64,
    delay_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleSpec {
    #[serde(alias = "count")]
    n: u64,
    #[serde(default = "one")]
    retry_after_secs: u64,
}

fn one() -> u64 {
    1
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default)]
    clear: bool,
    latency_ms: Option<u64>,
    fail_writes_after: Option<FailSpec>,
    fail_next_writes: Option<FailSpec>,
    delay_writes_after: Option<DelaySpec>,
    throttle_next_requests: Option<ThrottleSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RolloutRequest {
    delay_ms: Option<u64>,
    pods_per_step: Option<u32>,
    stall: Option<Stall>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AuthRequest {
    #[serde(default)]
    clear_tokens: bool,
    #[serde(default)]
    tokens: Vec<TokenUser>,
    require_token: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DenialRequest {
    #[serde(default)]
    clear: bool,
    #[serde(default)]
    add: Vec<Denial>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CostRequest {
    factor: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApfRequest {
    max_inflight: Option<usize>,
    queue_length: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeletionRequest {
    delay_ms: Option<u64>,
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn stats(f: &Faults, c: &Controls) -> Value {
    let cpu: serde_json::Map<String, Value> = c
        .cost_stats()
        .by_verb
        .iter()
        .map(|(verb, (n, d))| {
            (
                verb.clone(),
                json!({"requests": n, "cpu_ms": d.as_secs_f64() * 1000.0}),
            )
        })
        .collect();
    let (executing, waiting) = c.limiter().load();
    json!({
        "requests": f.requests(),
        "writes": f.writes(),
        "cpu": cpu,
        "apf": {"executing": executing, "waiting": waiting}
    })
}

fn rollout_json(c: &Controls) -> Value {
    let r = c.rollout();
    json!({
        "delay_ms": r.delay.as_millis() as u64,
        "pods_per_step": r.pods_per_step,
        "stall": r.stall
    })
}

/// The users known by token (never the tokens themselves).
fn auth_json(c: &Controls) -> Value {
    let s = &c.lock().options;
    let users: Vec<Value> = s
        .tokens
        .iter()
        .map(|t| json!({"user": t.user, "groups": t.groups}))
        .collect();
    json!({"users": users, "require_token": s.require_token})
}

/// Handles `/_mini/{what}`.
pub(crate) fn handle(
    faults: &Faults,
    controls: &Controls,
    what: &str,
    post: bool,
    body: &[u8],
) -> Result<Value, ApiError> {
    match what {
        "stats" if !post => Ok(stats(faults, controls)),
        "faults" => {
            if post {
                let req: FaultRequest = parse(body)?;
                let f = faults;
                if req.clear {
                    f.clear();
                }
                if let Some(ms) = req.latency_ms {
                    f.set_latency(Duration::from_millis(ms));
                }
                if let Some(s) = req.fail_writes_after {
                    f.fail_writes_after(s.n, s.status, s.retry_after_secs);
                }
                if let Some(s) = req.fail_next_writes {
                    f.fail_next_writes(s.n, s.status, s.retry_after_secs);
                }
                if let Some(d) = req.delay_writes_after {
                    f.delay_writes_after(d.n, Duration::from_millis(d.delay_ms));
                }
                if let Some(t) = req.throttle_next_requests {
                    f.throttle_next_requests(t.n, t.retry_after_secs);
                }
            }
            Ok(stats(faults, controls))
        }
        "rollout" => {
            if post {
                let req: RolloutRequest = parse(body)?;
                let mut r = controls.rollout();
                if let Some(ms) = req.delay_ms {
                    r.delay = Duration::from_millis(ms);
                }
                if let Some(n) = req.pods_per_step {
                    r.pods_per_step = n;
                }
                if let Some(s) = req.stall {
                    r.stall = s;
                }
                controls.set_rollout(r);
            }
            Ok(rollout_json(controls))
        }
        "auth" => {
            if post {
                let req: AuthRequest = parse(body)?;
                if req.clear_tokens {
                    controls.clear_tokens();
                }
                for t in req.tokens {
                    controls.add_token(t);
                }
                if let Some(on) = req.require_token {
                    controls.require_token(on);
                }
            }
            Ok(auth_json(controls))
        }
        "denials" => {
            if post {
                let req: DenialRequest = parse(body)?;
                if req.clear {
                    controls.clear_denials();
                }
                for d in req.add {
                    controls.deny(d);
                }
            }
            Ok(json!({"denials": controls.lock().options.denials.clone()}))
        }
        "cost" => {
            if post {
                let req: CostRequest = parse(body)?;
                if let Some(f) = req.factor {
                    controls.set_cost(f);
                }
            }
            Ok(json!({"factor": controls.cost()}))
        }
        "apf" => {
            if post {
                let req: ApfRequest = parse(body)?;
                let mut a: Apf = controls.apf();
                if let Some(n) = req.max_inflight {
                    a.max_inflight = n;
                }
                if let Some(n) = req.queue_length {
                    a.queue_length = n;
                }
                controls.set_apf(a);
            }
            Ok(serde_json::to_value(controls.apf()).unwrap_or_default())
        }
        "deletion" => {
            if post {
                let req: DeletionRequest = parse(body)?;
                if let Some(ms) = req.delay_ms {
                    controls.set_deletion_delay(Duration::from_millis(ms));
                }
            }
            Ok(json!({"delay_ms": controls.deletion_delay().as_millis() as u64}))
        }
        "stats" => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::path_not_found()),
    }
}
