//! `--trace-http FILE`: every request kiln sends Clay and every answer, as JSON lines a user
//! can send when Clay answers in a shape kiln does not understand — with the secrets out.
//!
//! What is removed: the session cookie and API key (kiln never writes request headers, only
//! which kind of credential went along), `Set-Cookie` and any other credential header of an
//! answer, any JSON value under a key that names a secret (`password`, `token`, `cookie`,
//! `apiKey`, `secret`…), and the credential's own text wherever it appears. Log-in itself
//! (`kiln login`) is never traced.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Bytes of one body kept in the trace; the rest is cut, and the trace says so.
pub const MAX_TRACED_BODY: usize = 1 << 20;

const REDACTED: &str = "[redacted]";

/// Header names whose values are credentials.
const SECRET_HEADERS: &[&str] = &[
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "clay-api-key",
    "x-api-key",
    "x-clay-webhook-auth",
];

/// Parts of JSON keys that mark a secret value.
const SECRET_KEYS: &[&str] = &[
    "password", "passwd", "secret", "token", "cookie", "apikey", "api_key", "session",
];

#[derive(Debug, thiserror::Error)]
#[error("cannot write the HTTP trace to {path}: {source}")]
pub struct TraceError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// One exchange, as the transport saw it.
pub(crate) struct Exchange<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub credential: &'a str,
    pub request_body: Option<&'a str>,
    pub status: Option<u16>,
    pub response_headers: Option<&'a HeaderMap>,
    pub response_body: Option<&'a [u8]>,
    pub error: Option<&'a str>,
    pub elapsed: Duration,
}

pub struct Trace {
    out: Mutex<BufWriter<File>>,
    /// The credential's own text, scrubbed wherever it shows up.
    secrets: Vec<String>,
}

impl Trace {
    pub fn create(path: &Path, secrets: Vec<String>) -> Result<Self, TraceError> {
        let file = File::create(path).map_err(|source| TraceError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            out: Mutex::new(BufWriter::new(file)),
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        })
    }

    pub(crate) fn record(&self, x: &Exchange<'_>) {
        let headers: serde_json::Map<String, Value> = x
            .response_headers
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                    REDACTED.to_string()
                } else {
                    self.scrub(&String::from_utf8_lossy(value.as_bytes()))
                };
                (name.as_str().to_string(), Value::String(shown))
            })
            .collect();
        let line = json!({
            "at": jiff::Timestamp::now().to_string(),
            "method": x.method,
            "url": self.scrub(x.url),
            "credential": x.credential,
            "request_body": x.request_body.map(|b| self.body(b.as_bytes())),
            "status": x.status,
            "response_headers": headers,
            "response_body": x.response_body.map(|b| self.body(b)),
            "error": x.error.map(|e| self.scrub(e)),
            "ms": x.elapsed.as_millis() as u64,
        });
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A trace that cannot be written must not stop the run it describes.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }

    fn body(&self, bytes: &[u8]) -> Value {
        let cut = bytes.len() > MAX_TRACED_BODY;
        let kept = &bytes[..bytes.len().min(MAX_TRACED_BODY)];
        let text = String::from_utf8_lossy(kept);
        let mut v = match (cut, serde_json::from_str::<Value>(&text)) {
            (false, Ok(mut v)) => {
                redact_keys(&mut v);
                v
            }
            _ => Value::String(text.into_owned()),
        };
        self.scrub_value(&mut v);
        if cut {
            json!({ "cut_at_bytes": MAX_TRACED_BODY, "total_bytes": bytes.len(), "start": v })
        } else {
            v
        }
    }

    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    fn scrub_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.scrub(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.scrub_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.scrub_value(i)),
            _ => {}
        }
    }
}

fn redact_keys(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(redact_keys),
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let key = k.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|s| key.contains(s)) && !val.is_null() {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact_keys(val);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_leave_the_trace_and_the_shape_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let trace = Trace::create(&path, vec!["s3cr3t-cookie-value".into()]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("set-cookie", "claysession=abc; Path=/".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        trace.record(&Exchange {
            method: "POST",
            url: "https://api.clay.com/v3/tables/t_1/records",
            credential: "session cookie",
            request_body: Some(r#"{"records":[{"id":"r_1","cells":{}}],"apiKey":"k-123"}"#),
            status: Some(200),
            response_headers: Some(&headers),
            response_body: Some(br#"{"records":[{"id":"r_1","note":"s3cr3t-cookie-value"}]}"#),
            error: None,
            elapsed: Duration::from_millis(12),
        });
        let text = std::fs::read_to_string(&path).unwrap();
        for secret in ["s3cr3t-cookie-value", "claysession=abc", "k-123"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["response_body"]["records"][0]["id"], "r_1");
        assert_eq!(line["response_headers"]["content-type"], "application/json");
        assert_eq!(line["status"], 200);
    }

    #[test]
    fn a_huge_body_is_cut_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let trace = Trace::create(&path, vec![]).unwrap();
        let big = vec![b'x'; MAX_TRACED_BODY + 10];
        trace.record(&Exchange {
            method: "GET",
            url: "https://api.clay.com/v3/x",
            credential: "none",
            request_body: None,
            status: Some(200),
            response_headers: None,
            response_body: Some(&big),
            error: None,
            elapsed: Duration::ZERO,
        });
        let line: Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(line["response_body"]["total_bytes"], MAX_TRACED_BODY + 10);
    }
}
