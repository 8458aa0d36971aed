//! Fault injection: shares of requests answered 429 (with `Retry-After`), 500 or 503, or
//! whose connection is dropped, plus added latency and a rate limit of the simulator's own.
//!
//! Decisions come from one RNG seeded by `Faults::seed`, drawn once per request in arrival
//! order, so a client that sends requests one at a time sees the same faults every run.
//! Half of the 5xx and half of the drops happen *after* the request was applied — the
//! ambiguous failures a client must not repeat blindly.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use std::sync::Arc;

use super::SimState;
use super::shapes;

#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Share of requests answered 429 with `Retry-After` (0.0–1.0).
    pub rate_limited: f64,
    /// Share answered 500 (after applying the request) or 503 (before).
    pub server_errors: f64,
    /// Share whose connection is dropped without an answer (before or after applying).
    pub dropped: f64,
    /// Added to every answer.
    pub latency: Duration,
    /// The `Retry-After` sent with a 429, in whole seconds.
    pub retry_after_secs: u64,
    /// The simulator's own rate limit, requests per second.
    pub rate_limit: Option<u32>,
    pub seed: u64,
    /// Answer `run` without `creditsSpent`, as some Clay deployments do: a client must not
    /// take that for "nothing was spent".
    pub omit_run_credits: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rate_limited: 0.0,
            server_errors: 0.0,
            dropped: 0.0,
            latency: Duration::ZERO,
            retry_after_secs: 1,
            rate_limit: None,
            seed: 0,
            omit_run_credits: false,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    pub requests: u64,
    pub rate_limited: u64,
    pub server_errors: u64,
    pub dropped: u64,
}

enum Decision {
    Pass,
    TooMany,
    FailBefore,
    FailAfter,
    DropBefore,
    DropAfter,
}

pub(crate) struct FaultState {
    faults: Faults,
    rng: Mutex<StdRng>,
    limiter: Option<DefaultDirectRateLimiter>,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    dropped: AtomicU64,
}

impl FaultState {
    pub(crate) fn new(faults: &Faults) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
            limiter: faults
                .rate_limit
                .and_then(NonZeroU32::new)
                .map(|n| RateLimiter::direct(Quota::per_second(n))),
            faults: faults.clone(),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> FaultStats {
        FaultStats {
            requests: self.requests.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn decide(&self) -> Decision {
        let f = &self.faults;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let r: f64 = rng.random();
        let after: bool = rng.random();
        if r < f.rate_limited {
            Decision::TooMany
        } else if r < f.rate_limited + f.server_errors {
            if after {
                Decision::FailAfter
            } else {
                Decision::FailBefore
            }
        } else if r < f.rate_limited + f.server_errors + f.dropped {
            if after {
                Decision::DropAfter
            } else {
                Decision::DropBefore
            }
        } else {
            Decision::Pass
        }
    }

    fn too_many(&self) -> Response {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(shapes::error(
                "RateLimited",
                "too many requests; slow down",
                None,
            )),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.faults.retry_after_secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }

    fn server_error(&self, status: StatusCode) -> Response {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
        (
            status,
            axum::Json(shapes::error("InternalServerError", "injected fault", None)),
        )
            .into_response()
    }

    /// An answer whose body fails: hyper aborts the connection mid-response.
    fn drop_connection(&self) -> Response {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let stream = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("injected dropped connection"))
        });
        Response::new(Body::from_stream(stream))
    }
}

/// Middleware: the simulator's rate limit, latency and injected faults. Log-in is exempt,
/// so a fault run starts from a working session.
pub(crate) async fn inject(
    State(state): State<Arc<SimState>>,
    req: Request,
    next: Next,
) -> Response {
    let f = &state.faults;
    f.requests.fetch_add(1, Ordering::Relaxed);
    if req.uri().path() == "/v3/auth/login" {
        return next.run(req).await;
    }
    if let Some(limiter) = &f.limiter
        && limiter.check().is_err()
    {
        return f.too_many();
    }
    if !f.faults.latency.is_zero() {
        tokio::time::sleep(f.faults.latency).await;
    }
    match f.decide() {
        Decision::Pass => next.run(req).await,
        Decision::TooMany => f.too_many(),
        Decision::FailBefore => f.server_error(StatusCode::SERVICE_UNAVAILABLE),
        Decision::FailAfter => {
            let _applied = next.run(req).await;
            f.server_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Decision::DropBefore => f.drop_connection(),
        Decision::DropAfter => {
            let _applied = next.run(req).await;
            f.drop_connection()
        }
    }
}
