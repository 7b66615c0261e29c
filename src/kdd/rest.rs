//! Raw JSON requests to the API server for bulk work: writes admitted by an adaptive
//! concurrency limit (see [`super::limiter`]) and an optional client-side rate, retries with
//! exponential backoff on 429, 5xx and timeouts that honour `Retry-After`, the server's
//! `Warning` headers kept (they name fields the CRD schema dropped), and lists read in
//! consistent pages sized by what the server sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::Mutex;

use super::limiter::{AdaptiveLimiter, Answer as Observed};
use crate::batch::{self, Batcher};

/// The field manager of every write: `metadata.managedFields` then says which objects the
/// migration wrote (and only those are ever deleted by it).
pub const FIELD_MANAGER: &str = "kubectl-calico-migrate";

/// Writes in flight at most unless `--concurrency` says otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// How bulk requests are paced and retried.
#[derive(Clone, Debug)]
pub struct RestOptions {
    /// Requests per second across all workers; None for no client-side limit.
    pub qps: Option<f64>,
    /// Attempts per request, including the first.
    pub attempts: u32,
    /// First backoff; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Time allowed for one attempt.
    pub timeout: Duration,
    /// Writes in flight at most; the adaptive limit starts lower and follows the server.
    pub max_concurrency: usize,
}

impl Default for RestOptions {
    fn default() -> RestOptions {
        RestOptions {
            qps: None,
            attempts: 8,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
        }
    }
}

/// A Kubernetes `Status` failure, or a transport problem.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RestError {
    #[error("{message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("{0}")]
    Transport(String),
}

impl RestError {
    pub fn code(&self) -> Option<u16> {
        match self {
            RestError::Api { code, .. } => Some(*code),
            RestError::Transport(_) => None,
        }
    }

    pub fn is(&self, code: u16) -> bool {
        self.code() == Some(code)
    }
}

/// A successful answer with the server's warnings.
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub warnings: Vec<String>,
    /// With [`Parse::Raw`], the body as it came (and `body` is null).
    raw: Vec<u8>,
}

/// How an answer's body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parse {
    /// Into `Answer::body`.
    Json,
    /// Kept as bytes, for a caller that parses it into its own types.
    Raw,
}

/// A list answer, its items parsed into `T`.
#[derive(serde::Deserialize)]
struct Page<T> {
    #[serde(default)]
    metadata: PageMetadata,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Default, serde::Deserialize)]
struct PageMetadata {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

/// The bytes of a response as they arrive, for a parser on a blocking thread.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len() - self.at);
        buffer[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Items handed from the parser to the caller at once.
const ITEMS_PER_BATCH: usize = 256;

/// A list read as it is parsed: its `items` are sent on as they are read.
struct ListSeed<T> {
    items: Batcher<T>,
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::DeserializeSeed<'de> for &mut ListSeed<T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for &mut ListSeed<T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes list")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<str>>()? {
            if key == "items" {
                map.next_value_seed(ItemsSeed {
                    items: &mut self.items,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `items` of a list, sent on as they are read.
struct ItemsSeed<'a, T> {
    items: &'a mut Batcher<T>,
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::DeserializeSeed<'de> for ItemsSeed<'_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for ItemsSeed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the items of a list")
    }

    // `null` items: an empty list.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            self.items
                .push(item)
                .map_err(|_| serde::de::Error::custom("the reader of the list stopped"))?;
        }
        Ok(())
    }
}

/// Spaces requests evenly at a rate (a burst of one).
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

#[derive(Clone)]
pub struct Rest {
    client: kube::Client,
    options: RestOptions,
    rate: Option<Arc<RateLimiter>>,
    writes: Arc<AdaptiveLimiter>,
    retries: Arc<AtomicU64>,
    throttled: Arc<AtomicU64>,
}

/// Writes in flight when nothing is known about the server yet.
const INITIAL_CONCURRENCY: usize = 4;
/// The slowest client-side rate: one request an hour.
const SLOWEST_INTERVAL: Duration = Duration::from_secs(3600);
/// What a page of a list should weigh (the API server's responses stay well under its limits).
const PAGE_BYTES: usize = 4 << 20;

enum Attempt {
    Done(Result<(Answer, usize), RestError>),
    Retry {
        error: RestError,
        after: Option<Duration>,
    },
}

impl Rest {
    pub fn new(client: kube::Client, options: RestOptions) -> Rest {
        let rate = options.qps.filter(|q| *q > 0.0).map(|qps| {
            Arc::new(RateLimiter {
                interval: Duration::try_from_secs_f64(1.0 / qps)
                    .unwrap_or(SLOWEST_INTERVAL)
                    .min(SLOWEST_INTERVAL),
                next: Mutex::new(Instant::now()),
            })
        });
        let writes = Arc::new(AdaptiveLimiter::new(
            INITIAL_CONCURRENCY,
            options.max_concurrency,
        ));
        Rest {
            client,
            options,
            rate,
            writes,
            retries: Arc::new(AtomicU64::new(0)),
            throttled: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Caps the writes in flight (the adaptive limit stays below it).
    pub fn set_max_concurrency(&mut self, max: usize) {
        self.options.max_concurrency = max.max(1);
        self.writes = Arc::new(AdaptiveLimiter::new(
            INITIAL_CONCURRENCY.min(self.options.max_concurrency),
            self.options.max_concurrency,
        ));
    }

    /// How many requests had to be repeated so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// How many answers were 429 Too Many Requests.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The writes allowed in flight now.
    pub fn concurrency(&self) -> usize {
        self.writes.limit()
    }

    pub async fn get(&self, path: &str) -> Result<Option<Value>, RestError> {
        match self.call(Method::GET, path, None, None).await {
            Ok(answer) => Ok(Some(answer.body)),
            Err(e) if e.is(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(&self, collection: &str, body: &Value) -> Result<Answer, RestError> {
        self.call(
            Method::POST,
            &managed(collection),
            Some(body),
            Some("application/json"),
        )
        .await
    }

    pub async fn replace(&self, path: &str, body: &Value) -> Result<Answer, RestError> {
        self.call(
            Method::PUT,
            &managed(path),
            Some(body),
            Some("application/json"),
        )
        .await
    }

    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Answer, RestError> {
        self.call(
            Method::PATCH,
            &managed(path),
            Some(patch),
            Some("application/merge-patch+json"),
        )
        .await
    }

    /// A JSON patch (RFC 6902) of `path`.
    pub async fn json_patch(&self, path: &str, patch: &Value) -> Result<Answer, RestError> {
        self.call(
            Method::PATCH,
            &managed(path),
            Some(patch),
            Some("application/json-patch+json"),
        )
        .await
    }

    /// Server-side apply of `body` (force: take over fields other managers own).
    pub async fn apply(&self, path: &str, body: &Value) -> Result<Answer, RestError> {
        self.call(
            Method::PATCH,
            &format!("{}&force=true", managed(path)),
            Some(body),
            Some("application/apply-patch+yaml"),
        )
        .await
    }

    /// Deletes `path` if it is still at `resource_version` (a 409 says it changed). Gone already
    /// counts as done.
    pub async fn delete(
        &self,
        path: &str,
        resource_version: Option<&str>,
    ) -> Result<(), RestError> {
        let body = serde_json::json!({
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"resourceVersion": resource_version},
        });
        match self
            .call(Method::DELETE, path, Some(&body), Some("application/json"))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes every object of a collection (one namespace's, or a cluster-scoped kind's).
    pub async fn delete_collection(&self, collection: &str) -> Result<(), RestError> {
        let body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        match self
            .call(
                Method::DELETE,
                collection,
                Some(&body),
                Some("application/json"),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// POST of an object that is not stored (reviews: SelfSubjectAccessReview).
    pub async fn review(&self, collection: &str, body: &Value) -> Result<Value, RestError> {
        self.call(
            Method::POST,
            collection,
            Some(body),
            Some("application/json"),
        )
        .await
        .map(|answer| answer.body)
    }

    /// Every item of a list, page by page. The pages after the first continue the first's
    /// snapshot (the server keeps the list consistent across `continue`), and their size
    /// follows the items' size so that each response weighs about [`PAGE_BYTES`].
    pub async fn list_all(&self, path: &str, each: impl FnMut(Value)) -> Result<(), RestError> {
        self.list_all_as(path, each).await
    }

    /// [`Rest::list_all`] with each item read into `T` (only the fields `T` names are kept:
    /// cheaper than a JSON value when few are needed).
    pub async fn list_all_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        mut each: impl FnMut(T),
    ) -> Result<(), RestError> {
        let mut token: Option<String> = None;
        let mut limit = 500u32;
        loop {
            let (items, next, bytes) = self
                .list_page_sized::<T>(path, limit, token.as_deref())
                .await?;
            if !items.is_empty() {
                let per_item = (bytes / items.len()).max(1);
                limit = (PAGE_BYTES / per_item).clamp(100, 10_000) as u32;
            }
            items.into_iter().for_each(&mut each);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Every item of a list as the API server's watch cache holds it, at least as recent as
    /// `not_older_than` (a resourceVersion of this collection; without one, the cache as it
    /// is): far cheaper for the server than [`Rest::list_all_as`], whose pages it reads from
    /// etcd. The cache ignores `limit`, so the whole collection comes in one response, which
    /// is read as it arrives, item by item, never whole. One attempt: on any failure the
    /// caller starts again with [`Rest::list_all_as`], which retries.
    pub async fn list_cached_as<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        not_older_than: Option<u64>,
        mut each: impl FnMut(T),
    ) -> Result<(), RestError> {
        let query = match not_older_than {
            Some(version) => {
                format!("{path}?resourceVersion={version}&resourceVersionMatch=NotOlderThan")
            }
            None => format!("{path}?resourceVersion=0"),
        };
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        let request = Request::builder()
            .method(Method::GET)
            .uri(&query)
            .header("accept", "application/json")
            .body(kube::client::Body::empty())
            .map_err(|e| RestError::Transport(format!("bad request for {path}: {e}")))?;
        let streamed = tokio::time::timeout(self.options.timeout, async {
            let (parts, mut body) = self.send(request).await?;
            if !parts.status.is_success() {
                let bytes = body
                    .collect()
                    .await
                    .map_err(|e| RestError::Transport(e.to_string()))?
                    .to_bytes();
                return Err(status_error(parts.status, &bytes));
            }
            // The body goes to a parser on a blocking thread chunk by chunk; the items come
            // back in batches.
            let (chunks, chunks_in) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
            let (items_out, mut items) = batch::channel::<T>(ITEMS_PER_BATCH, 4 * ITEMS_PER_BATCH);
            let parser = tokio::task::spawn_blocking(move || {
                let reader = ChunkReader {
                    chunks: chunks_in,
                    current: Vec::new(),
                    at: 0,
                };
                // serde_json reads a reader byte by byte: buffered, each byte is a copy, not
                // a call.
                let reader = std::io::BufReader::with_capacity(64 * 1024, reader);
                let mut json = serde_json::Deserializer::from_reader(reader);
                let mut seed = ListSeed { items: items_out };
                serde::de::DeserializeSeed::deserialize(&mut seed, &mut json)?;
                seed.items.finish().map_err(|_| {
                    <serde_json::Error as serde::de::Error>::custom(
                        "the reader of the list stopped",
                    )
                })
            });
            let feeder = tokio::spawn(async move {
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| e.to_string())?;
                    if let Ok(data) = frame.into_data()
                        && chunks.send(data.to_vec()).await.is_err()
                    {
                        break;
                    }
                }
                Ok::<(), String>(())
            });
            while let Some(item) = items.next().await {
                each(item);
            }
            let fed = feeder.await.map_err(|e| e.to_string());
            let parsed = parser.await.map_err(|e| e.to_string());
            match (fed, parsed) {
                (Ok(Err(e)) | Err(e), _) => Err(RestError::Transport(e)),
                (_, Err(e)) => Err(RestError::Transport(e)),
                (_, Ok(Err(e))) => Err(RestError::Transport(format!(
                    "reading the list {path}: {e}"
                ))),
                (Ok(Ok(())), Ok(Ok(()))) => Ok(()),
            }
        })
        .await;
        streamed.unwrap_or_else(|_| {
            Err(RestError::Transport(format!(
                "no answer within {}s",
                self.options.timeout.as_secs_f64()
            )))
        })
    }

    /// One request, as it is answered: the status and headers, and the body to read.
    async fn send(
        &self,
        request: Request<kube::client::Body>,
    ) -> Result<(http::response::Parts, kube::client::Body), RestError> {
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| RestError::Transport(root_cause(&e)))?;
        Ok(response.into_parts())
    }

    async fn list_page_sized<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>, usize), RestError> {
        let mut query = format!("{path}?limit={limit}");
        if let Some(token) = token {
            query.push_str("&continue=");
            query.push_str(&percent_encode(token));
        }
        let (answer, bytes) = self
            .call_sized(Method::GET, &query, None, None, Parse::Raw)
            .await?;
        let page: Page<T> = serde_json::from_slice(&answer.raw)
            .map_err(|e| RestError::Transport(format!("reading the list {path}: {e}")))?;
        let next = page.metadata.next.filter(|t| !t.is_empty());
        Ok((page.items, next, bytes))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        content_type: Option<&str>,
    ) -> Result<Answer, RestError> {
        self.call_sized(method, path, body, content_type, Parse::Json)
            .await
            .map(|(answer, _)| answer)
    }

    /// A request with its retries; also says how many bytes the answer had.
    async fn call_sized(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        content_type: Option<&str>,
        parse: Parse,
    ) -> Result<(Answer, usize), RestError> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON values serialize"))
            .unwrap_or_default();
        let mut backoff = self.options.backoff;
        let mut attempt = 1;
        loop {
            if let Some(rate) = &self.rate {
                rate.acquire().await;
            }
            let outcome = if method == Method::GET {
                self.attempt(&method, path, &bytes, content_type, parse)
                    .await
            } else {
                let permit = self.writes.acquire().await;
                let started = Instant::now();
                let outcome = self
                    .attempt(&method, path, &bytes, content_type, parse)
                    .await;
                permit.done(match &outcome {
                    Attempt::Retry { error, .. } if error.is(429) => Observed::TooMany,
                    _ => Observed::Took(started.elapsed()),
                });
                outcome
            };
            if matches!(&outcome, Attempt::Retry { error, .. } if error.is(429)) {
                self.throttled.fetch_add(1, Ordering::Relaxed);
            }
            match outcome {
                Attempt::Done(result) => return result,
                Attempt::Retry { error, after } => {
                    if attempt >= self.options.attempts {
                        return Err(error);
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = after.unwrap_or(backoff).min(Duration::from_secs(60));
                    tokio::time::sleep(jitter(wait)).await;
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: &[u8],
        content_type: Option<&str>,
        parse: Parse,
    ) -> Attempt {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("accept", "application/json");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = match request.body(kube::client::Body::from(body.to_vec())) {
            Ok(request) => request,
            Err(e) => {
                return Attempt::Done(Err(RestError::Transport(format!(
                    "bad request for {path}: {e}"
                ))));
            }
        };
        let sent = tokio::time::timeout(self.options.timeout, async {
            let (parts, body) = self.send(request).await?;
            let bytes = body
                .collect()
                .await
                .map_err(|e| RestError::Transport(e.to_string()))?
                .to_bytes();
            Ok::<_, RestError>((parts, bytes))
        })
        .await;
        let (parts, bytes) = match sent {
            Err(_) => {
                let error = RestError::Transport(format!(
                    "no answer within {}s",
                    self.options.timeout.as_secs_f64()
                ));
                return Attempt::Retry { error, after: None };
            }
            Ok(Err(error)) => return Attempt::Retry { error, after: None },
            Ok(Ok(answer)) => answer,
        };
        let status = parts.status;
        if status.is_success() {
            let size = bytes.len();
            let warnings = parts
                .headers
                .get_all("warning")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(warning_text)
                .collect();
            let answer = match parse {
                Parse::Json => Answer {
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    warnings,
                    raw: Vec::new(),
                },
                Parse::Raw => Answer {
                    body: Value::Null,
                    warnings,
                    raw: Vec::from(bytes),
                },
            };
            return Attempt::Done(Ok((answer, size)));
        }
        let error = status_error(status, &bytes);
        let retry_after = parts
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504) {
            Attempt::Retry {
                error,
                after: retry_after,
            }
        } else {
            Attempt::Done(Err(error))
        }
    }
}

/// `path` with the migration's field manager in its query.
fn managed(path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}fieldManager={FIELD_MANAGER}")
}

/// The `Status` body of a failure, or a plain description when there is none.
fn status_error(status: StatusCode, body: &[u8]) -> RestError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    RestError::Api {
        code: status.as_u16(),
        reason: field("reason").unwrap_or_default(),
        message: field("message").unwrap_or_else(|| {
            format!(
                "{status}: {}",
                String::from_utf8_lossy(body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        }),
    }
}

/// `299 - "unknown field \"spec.x\""` → `unknown field "spec.x"`.
fn warning_text(header: &str) -> String {
    let text = header.splitn(3, ' ').nth(2).unwrap_or(header).trim();
    match serde_json::from_str::<String>(text) {
        Ok(unquoted) => unquoted,
        Err(_) => text.trim_matches('"').to_string(),
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Spreads retries of many workers apart: between 75% and 125% of the wait.
fn jitter(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    wait.mul_f64(0.75 + f64::from(nanos % 1000) / 2000.0)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_unquoted() {
        assert_eq!(
            warning_text(r#"299 - "unknown field \"spec.ipCooldownSeconds\"""#),
            r#"unknown field "spec.ipCooldownSeconds""#
        );
        assert_eq!(warning_text("299 - plain"), "plain");
    }

    #[test]
    fn status_bodies_become_errors() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"ippools.crd.projectcalico.org \"x\" already exists","reason":"AlreadyExists","code":409}"#;
        let error = status_error(StatusCode::CONFLICT, body);
        assert!(error.is(409));
        assert_eq!(
            error.to_string(),
            "ippools.crd.projectcalico.org \"x\" already exists"
        );
        assert!(
            status_error(StatusCode::BAD_GATEWAY, b"<html>")
                .to_string()
                .starts_with("502 Bad Gateway")
        );
    }

    #[test]
    fn continue_tokens_are_encoded() {
        assert_eq!(percent_encode("eyJ2Ijoi+/="), "eyJ2Ijoi%2B%2F%3D");
    }

    #[test]
    fn jitter_stays_near_the_wait() {
        let wait = Duration::from_millis(1000);
        let jittered = jitter(wait);
        assert!(jittered >= Duration::from_millis(750) && jittered <= Duration::from_millis(1250));
    }
}
