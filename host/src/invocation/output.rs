//! Guest stdout/stderr: forwarded line by line to the host log, tagged with the plugin, and
//! the tail of stderr kept so a panic message can be quoted in the error that follows it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::capabilities::LogBudget;

/// How much of stderr to keep for error messages.
const TAIL_BYTES: usize = 2048;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Shared between the WASI stream and the invocation that reports errors.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
    budget: LogBudget,
    state: Arc<Mutex<OutputState>>,
}

#[derive(Default)]
struct OutputState {
    partial: Vec<u8>,
    tail: Vec<u8>,
}

impl GuestOutput {
    pub(crate) fn new(plugin: Arc<str>, stream: Stream, budget: LogBudget) -> Self {
        Self {
            plugin,
            stream,
            budget,
            state: Arc::new(Mutex::new(OutputState::default())),
        }
    }

    /// The last bytes written, as text (for quoting a panic message).
    pub(crate) fn tail(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::from_utf8_lossy(&state.tail).into_owned();
        text.push_str(&String::from_utf8_lossy(&state.partial));
        text.trim().to_string()
    }

    /// Forwards `buf`; past the invocation's log budget the write fails, which ends the
    /// guest with the log-volume limit.
    fn write(&self, buf: &[u8]) -> io::Result<()> {
        if !self.budget.take(buf.len()) {
            return Err(io::Error::other(format!(
                "the plugin's log limit of {} bytes is used up",
                self.budget.limit()
            )));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.tail.extend_from_slice(buf);
        if state.tail.len() > TAIL_BYTES {
            let cut = state.tail.len() - TAIL_BYTES;
            state.tail.drain(..cut);
        }
        state.partial.extend_from_slice(buf);
        while let Some(pos) = state.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = state.partial.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        // A guest that never prints a newline must not grow our buffer without bound.
        if state.partial.len() > TAIL_BYTES {
            let line = std::mem::take(&mut state.partial);
            self.emit(&line);
        }
        Ok(())
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "kiln::guest", plugin = %self.plugin, stream = "stdout", "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "kiln::guest", plugin = %self.plugin, stream = "stderr", "{text}")
            }
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.write(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
