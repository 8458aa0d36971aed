//! One HTTP exchange with Clay, made resilient: a client-side rate limit, connect and request
//! timeouts, and bounded retries with exponential backoff and jitter on 429 (honouring
//! `Retry-After`), 5xx and connection errors.
//!
//! A retry is only safe when repeating the request cannot do anything twice. Requests marked
//! [`Safety::Once`] are not repeated after an *ambiguous* failure (the request may have
//! landed: a timeout, a connection dropped mid-answer, a 5xx); the caller gets
//! [`Failure::Ambiguous`] and checks what landed before sending again.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng as _;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde_json::Value;

use super::auth::{AuthKind, Credentials};
use super::errors;
use crate::backend::ClayError;

/// How kiln talks to Clay. The defaults suit the live API.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// e.g. `https://api.clay.com`; paths start with `/v3`.
    pub base_url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Retries after the first attempt, per request.
    pub max_retries: u32,
    /// Total time one request may spend retrying.
    pub max_retry_time: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Client-side rate limit (Clay allows about 10 requests/s per workspace).
    pub requests_per_second: u32,
    /// Read new rows back after writing them and warn about values that did not land
    /// (Clay has been reported to drop values; its updates apply asynchronously).
    pub verify_writes: bool,
    /// How long a read-back waits for values still being applied.
    pub verify_wait: Duration,
    /// Record every request and answer, secrets removed, to this file (`--trace-http`).
    pub trace_file: Option<std::path::PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_CLAY_URL.into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_retries: 8,
            max_retry_time: Duration::from_secs(120),
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            requests_per_second: 10,
            verify_writes: true,
            verify_wait: Duration::from_secs(5),
            trace_file: None,
        }
    }
}

pub const DEFAULT_CLAY_URL: &str = "https://api.clay.com";

/// Whether a request may be repeated blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Repeating it changes nothing (reads, deletes by id, setting cells to values).
    Idempotent,
    /// Repeating it could do something twice (create a row, spend credits).
    Once,
    /// Repeating it is harmless, but a repeat of one that landed finds nothing to delete:
    /// a 404 after an unanswered attempt means the delete happened.
    Delete,
}

#[derive(Debug)]
pub enum Failure {
    /// Clay answered, or retries ran out: the final word.
    Clay(ClayError),
    /// A `Once` request failed in a way that does not say whether it landed.
    Ambiguous(String),
}

impl From<ClayError> for Failure {
    fn from(e: ClayError) -> Self {
        Failure::Clay(e)
    }
}

/// Counters of what the transport did, for reports (`kiln run` prints the retries).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HttpStats {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
    pub connection_errors: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    connection_errors: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        Self::bump(&self.retries);
    }

    fn snapshot(&self) -> HttpStats {
        HttpStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            connection_errors: self.connection_errors.load(Ordering::Relaxed),
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<u8>),
    /// Rejected before doing anything: safe to repeat.
    Rejected {
        wait: Option<Duration>,
        error: ClayError,
    },
    /// May have landed.
    Unsure {
        error: String,
    },
    /// Did not reach Clay (connect failure): safe to repeat.
    Unsent {
        error: String,
    },
    Final(ClayError),
}

pub(crate) struct Transport {
    client: reqwest::Client,
    base: Url,
    creds: Credentials,
    limiter: DefaultDirectRateLimiter,
    config: HttpConfig,
    pub(crate) counters: Arc<Counters>,
    trace: Option<super::trace::Trace>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("`{0}` is not a valid Clay URL (expected e.g. https://api.clay.com)")]
    BadUrl(String),
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Auth(#[from] super::auth::AuthError),
    #[error(transparent)]
    Trace(#[from] super::trace::TraceError),
}

pub(crate) fn parse_base(url: &str) -> Result<Url, SetupError> {
    let parsed = Url::parse(url.trim()).map_err(|_| SetupError::BadUrl(url.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
        return Err(SetupError::BadUrl(url.to_string()));
    }
    Ok(parsed)
}

pub(crate) fn client(
    config: &HttpConfig,
    creds: &Credentials,
) -> Result<reqwest::Client, SetupError> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .default_headers(creds.headers()?)
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SetupError::Client(e.without_url().to_string()))
}

impl Transport {
    pub(crate) fn new(config: HttpConfig, creds: Credentials) -> Result<Self, SetupError> {
        let base = parse_base(&config.base_url)?;
        let client = client(&config, &creds)?;
        let rate = NonZeroU32::new(config.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let trace = match &config.trace_file {
            Some(path) => {
                // The credential's text, so that it is scrubbed should Clay ever echo it.
                let secrets = creds
                    .headers()?
                    .values()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| [v.to_string(), v.rsplit('=').next().unwrap_or(v).to_string()])
                    .collect();
                Some(super::trace::Trace::create(path, secrets)?)
            }
            None => None,
        };
        Ok(Self {
            trace,
            client,
            base,
            creds,
            limiter: RateLimiter::direct(Quota::per_second(rate)),
            config,
            counters: Arc::default(),
        })
    }

    pub(crate) fn auth(&self) -> AuthKind {
        self.creds.kind()
    }

    pub(crate) fn stats(&self) -> HttpStats {
        self.counters.snapshot()
    }

    pub(crate) fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// `base` + path segments, each percent-encoded (ids come from users and guests).
    /// An empty last segment gives the trailing slash some v3 paths have.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// Sends a request with retries; the body of the successful answer (JSON, or `Null`
    /// when empty).
    pub(crate) async fn json(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        safety: Safety,
    ) -> Result<Value, Failure> {
        let bytes = self.send(method, url, body, safety).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Clay(ClayError::Upstream(format!(
                "Clay answered something that is not JSON ({e})"
            )))
        })
    }

    /// Like [`json`](Self::json), returning the raw text (record cells keep their order).
    pub(crate) async fn text(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        safety: Safety,
    ) -> Result<String, Failure> {
        let bytes = self.send(method, url, body, safety).await?;
        String::from_utf8(bytes)
            .map_err(|_| Failure::Clay(ClayError::Upstream("Clay answered invalid UTF-8".into())))
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        safety: Safety,
    ) -> Result<Vec<u8>, Failure> {
        let what = format!("{method} {}", url.path());
        let started = Instant::now();
        let mut retries = 0u32;
        let mut unsure = false;
        loop {
            self.limiter.until_ready().await;
            Counters::bump(&self.counters.requests);
            let attempt = self.attempt(method.clone(), url.clone(), body, &what).await;
            let (wait, last) = match attempt {
                Attempt::Done(bytes) => return Ok(bytes),
                Attempt::Final(ClayError::NotFound(_)) if safety == Safety::Delete && unsure => {
                    return Ok(Vec::new());
                }
                Attempt::Final(e) => return Err(Failure::Clay(e)),
                Attempt::Rejected { wait, error } => (wait, error),
                Attempt::Unsent { error } => {
                    (None, ClayError::Unavailable(format!("{what}: {error}")))
                }
                Attempt::Unsure { error } => {
                    if safety == Safety::Once {
                        return Err(Failure::Ambiguous(format!("{what}: {error}")));
                    }
                    unsure = true;
                    (None, ClayError::Unavailable(format!("{what}: {error}")))
                }
            };
            let backoff = self.backoff(retries);
            let delay = wait.map_or(backoff, |w| w.max(backoff));
            let out_of_time = started.elapsed() + delay > self.config.max_retry_time;
            if retries >= self.config.max_retries || out_of_time {
                tracing::warn!(request = %what, attempts = retries + 1, "giving up on Clay");
                return Err(Failure::Clay(match last {
                    ClayError::RateLimited(_) => {
                        ClayError::RateLimited(wait.unwrap_or(backoff).as_millis() as u64)
                    }
                    ClayError::Unavailable(m) => ClayError::Unavailable(format!(
                        "{m} (gave up after {} attempts; try again later)",
                        retries + 1
                    )),
                    other => other,
                }));
            }
            retries += 1;
            self.counters.retried();
            tracing::debug!(request = %what, retry = retries, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Exponential backoff with jitter: a random delay in [cap/2, cap].
    fn backoff(&self, retries: u32) -> Duration {
        let cap = self
            .config
            .backoff_base
            .saturating_mul(1u32 << retries.min(16))
            .min(self.config.backoff_max);
        let half = cap / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    async fn attempt(&self, method: Method, url: Url, body: Option<&str>, what: &str) -> Attempt {
        let Some(trace) = &self.trace else {
            return self.exchange(method, url, body, what, |_| {}).await;
        };
        let (m, u) = (method.to_string(), url.to_string());
        let credential = format!("{:?}", self.auth());
        let started = Instant::now();
        self.exchange(method, url, body, what, |seen: Seen<'_>| {
            trace.record(&super::trace::Exchange {
                method: &m,
                url: &u,
                credential: &credential,
                request_body: body,
                status: seen.status,
                response_headers: seen.headers,
                response_body: seen.body,
                error: seen.error,
                elapsed: started.elapsed(),
            })
        })
        .await
    }

    async fn exchange(
        &self,
        method: Method,
        url: Url,
        body: Option<&str>,
        what: &str,
        seen: impl FnOnce(Seen<'_>),
    ) -> Attempt {
        let mut req = self.client.request(method, url);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                Counters::bump(&self.counters.connection_errors);
                let connect = e.is_connect();
                let error = e.without_url().to_string();
                tracing::debug!(request = %what, %error, "request failed");
                seen(Seen {
                    error: Some(&error),
                    ..Seen::default()
                });
                return if connect {
                    Attempt::Unsent { error }
                } else {
                    Attempt::Unsure { error }
                };
            }
        };
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let headers = resp.headers().clone();
        let bytes = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                Counters::bump(&self.counters.connection_errors);
                let error = format!(
                    "the connection broke while reading the answer ({})",
                    e.without_url()
                );
                tracing::debug!(request = %what, %error, "response lost");
                seen(Seen {
                    status: Some(status.as_u16()),
                    headers: Some(&headers),
                    error: Some(&error),
                    ..Seen::default()
                });
                return Attempt::Unsure { error };
            }
        };
        seen(Seen {
            status: Some(status.as_u16()),
            headers: Some(&headers),
            body: Some(&bytes),
            error: None,
        });
        tracing::debug!(request = %what, status = status.as_u16(), "clay answered");
        if status.is_success() {
            return Attempt::Done(bytes);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            Counters::bump(&self.counters.rate_limited);
            let ms = retry_after.map_or(0, |d| d.as_millis() as u64);
            return Attempt::Rejected {
                wait: retry_after,
                error: ClayError::RateLimited(ms),
            };
        }
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            Counters::bump(&self.counters.server_errors);
            return Attempt::Unsure {
                error: format!("Clay answered HTTP {}", status.as_u16()),
            };
        }
        Attempt::Final(errors::from_status(
            status.as_u16(),
            &bytes,
            what,
            self.auth(),
        ))
    }
}

/// What one attempt saw, for the trace.
#[derive(Default)]
struct Seen<'a> {
    status: Option<u16>,
    headers: Option<&'a reqwest::header::HeaderMap>,
    body: Option<&'a [u8]>,
    error: Option<&'a str>,
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    let ms = at.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(ms.clamp(0, 3_600_000) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let t = Transport::new(HttpConfig::default(), Credentials::None).unwrap();
        for retries in 0..20 {
            let d = t.backoff(retries);
            let cap = Duration::from_millis(250)
                .saturating_mul(1 << retries.min(16))
                .min(Duration::from_secs(15));
            assert!(d >= cap / 2 && d <= cap, "{retries}: {d:?}");
        }
    }
}
