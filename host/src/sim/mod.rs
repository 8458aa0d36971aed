//! `kiln clay-sim`: an embedded workspace served over Clay's v3 paths, methods, bodies and
//! response envelopes, with cookie log-in against the workspace's members and injectable
//! faults — so everything kiln (or a user's script) does against Clay can be tried, failures
//! included, over real HTTP on this machine.
//!
//! The simulator writes Clay's answers with its own writer (`shapes`), not with the parser
//! the HTTP backend reads them with, and applies requests to a [`LocalBackend`] acting as
//! the logged-in member.

mod faults;
mod routes;
mod sessions;
pub mod shapes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::backend::local::LocalBackend;
pub use faults::{FaultStats, Faults};

/// How the simulator behaves. Secrets are `SecretString`s: never logged, never in `Debug`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The password every member of the workspace logs in with; `None` disables log-in.
    pub password: Option<SecretString>,
    /// An API key accepted as `Authorization: <key>`, acting as the first admin.
    pub api_key: Option<SecretString>,
    /// How long a session cookie stays valid.
    pub session_ttl: Duration,
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            password: None,
            api_key: None,
            session_ttl: Duration::from_secs(24 * 3600),
            faults: Faults::default(),
        }
    }
}

pub(crate) struct SimState {
    backend: LocalBackend,
    config: SimConfig,
    sessions: sessions::Sessions,
    faults: faults::FaultState,
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<SimState>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Serves `backend` on `listener` (bind `127.0.0.1:0` for a free port).
    pub fn start(
        listener: TcpListener,
        backend: LocalBackend,
        config: SimConfig,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState {
            backend,
            sessions: sessions::Sessions::new(config.session_ttl),
            faults: faults::FaultState::new(&config.faults),
            config,
        });
        let app = routes::router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "clay-sim stopped");
            }
        });
        Ok(Self { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give `--clay-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the fault injector did so far.
    pub fn fault_stats(&self) -> FaultStats {
        self.state.faults.stats()
    }

    /// Ends every session, as when cookies expire.
    pub fn expire_sessions(&self) {
        self.state.sessions.clear();
    }

    /// Serves until the task ends (the CLI's foreground mode).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
