//! Session cookies: random tokens mapped to the member they log in, with an expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;

use crate::backend::local::LocalBackend;

struct Session {
    backend: LocalBackend,
    expires: Instant,
}

pub(crate) struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for a member; returns the cookie value.
    pub(crate) fn open(&self, backend: LocalBackend) -> String {
        let token: [u8; 24] = rand::rng().random();
        let token = hex::encode(token);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        live.retain(|_, s| s.expires > now);
        live.insert(
            token.clone(),
            Session {
                backend,
                expires: now + self.ttl,
            },
        );
        token
    }

    /// The member's backend, if the cookie names a live session.
    pub(crate) fn get(&self, token: &str) -> Option<LocalBackend> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.backend.clone())
    }

    pub(crate) fn clear(&self) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
