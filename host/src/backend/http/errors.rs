//! Clay's status codes and typed errors (`{"type":"NotFound","message":…}`) as `ClayError`s.
//!
//! Messages quote Clay's own `type` and `message` (cut short), never a request: bodies and
//! headers may carry secrets.

use serde_json::Value;

use crate::backend::ClayError;

use super::auth::AuthKind;

/// What a user logged in with decides what a 401 asks them to do.
pub fn unauthorized(auth: AuthKind) -> ClayError {
    ClayError::Denied(match auth {
        AuthKind::Session => "your Clay session has expired, run `kiln login`".into(),
        AuthKind::ApiKey => {
            "Clay rejected the API key in CLAY_API_KEY; check it, or unset it and run `kiln login`"
                .into()
        }
        AuthKind::None => "not logged in to Clay, run `kiln login`".into(),
    })
}

fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Maps a non-success answer. `what` names the operation (`GET /v3/tables/t_1`).
pub fn from_status(status: u16, body: &[u8], what: &str, auth: AuthKind) -> ClayError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let kind = json
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = json
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(short)
        .unwrap_or_default();
    // Clay's `details` say which input is wrong (`{"inputFieldIdsWithErrors":["f_1"]}`):
    // the part a user needs to fix it. Kept compact and bounded.
    let details = json
        .as_ref()
        .and_then(|v| v.get("details"))
        .filter(|d| !d.is_null() && d.as_object().is_none_or(|o| !o.is_empty()))
        .map(|d| format!(" (details: {})", short(&d.to_string())))
        .unwrap_or_default();
    // A specific type (`DagIsCyclical`) says more than the status does; the generic ones
    // are what the variant already says.
    const GENERIC: [&str; 8] = [
        "BadRequest",
        "NotFound",
        "Forbidden",
        "Unauthorized",
        "Upstream",
        "Conflict",
        "RateLimited",
        "InternalServerError",
    ];
    let message = if kind.is_empty() || GENERIC.contains(&kind) || message.contains(kind) {
        message
    } else if message.is_empty() {
        short(kind)
    } else {
        format!("{}: {message}", short(kind))
    };
    let detail = if message.is_empty() {
        format!("{what}: HTTP {status}{details}")
    } else {
        format!("{what}: {message}{details}")
    };
    match (status, kind) {
        (401, _) | (_, "Unauthorized") => unauthorized(auth),
        (_, "FieldNameAlreadyExists") | (409, _) => ClayError::Conflict(detail),
        (_, "Upstream") => ClayError::Upstream(detail),
        (_, "NoMatchingURL") => ClayError::NotFound(format!(
            "{what}: Clay has no such endpoint (its v3 API may have changed)"
        )),
        (404, _) | (_, "NotFound") => ClayError::NotFound(detail),
        (402, _) => {
            ClayError::BudgetExhausted(format!("{detail} (the workspace is out of Clay credits)"))
        }
        (403, _) | (_, "Forbidden") => ClayError::Denied(detail),
        (429, _) => ClayError::RateLimited(0),
        (400 | 413 | 422, _) | (_, "BadRequest") => ClayError::Invalid(detail),
        (500..=599, _) => ClayError::Upstream(format!(
            "{what}: Clay answered HTTP {status}{}",
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        )),
        _ => ClayError::Upstream(detail),
    }
}

/// The status and typed error the simulator answers a `ClayError` with.
pub fn to_status(e: &ClayError) -> (u16, &'static str) {
    match e {
        ClayError::NotFound(_) => (404, "NotFound"),
        ClayError::Denied(_) => (403, "Forbidden"),
        ClayError::Invalid(_) => (400, "BadRequest"),
        ClayError::RateLimited(_) => (429, "RateLimited"),
        ClayError::BudgetExhausted(_) => (402, "PaymentRequired"),
        ClayError::Conflict(_) => (409, "Conflict"),
        // Clay-side failures that are not the transport's (an integration's credentials
        // stopped working…): not retryable, so not a 5xx.
        ClayError::Upstream(_) => (424, "Upstream"),
        ClayError::Unavailable(_) => (503, "ServiceUnavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_map_onto_variants() {
        let nf = br#"{"type":"NotFound","message":"Table t_x not found"}"#;
        assert!(
            matches!(from_status(404, nf, "GET", AuthKind::Session), ClayError::NotFound(m) if m.contains("t_x"))
        );
        let bad = br#"{"type":"BadRequest","message":"bad"}"#;
        assert!(matches!(
            from_status(400, bad, "POST", AuthKind::Session),
            ClayError::Invalid(_)
        ));
        let e = from_status(401, b"<html>login</html>", "GET", AuthKind::Session);
        assert_eq!(
            e.to_string(),
            "denied: your Clay session has expired, run `kiln login`"
        );
        // A hand-written body as Clay sends it for a cyclic formula.
        let cyclic = br#"{"type":"DagIsCyclical","message":"Adding this field would create a cycle","details":{"inputFieldIdsWithErrors":["f_1","f_2"]}}"#;
        let e = from_status(400, cyclic, "PATCH /v3/tables/t_1", AuthKind::Session);
        assert!(matches!(e, ClayError::Invalid(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            r#"invalid request: PATCH /v3/tables/t_1: DagIsCyclical: Adding this field would create a cycle (details: {"inputFieldIdsWithErrors":["f_1","f_2"]})"#
        );
        let typed = br#"{"type":"BadRequest","message":"bad input","details":{"inputFieldIdsWithErrors":["f_1"]}}"#;
        let e = from_status(400, typed, "POST", AuthKind::Session).to_string();
        assert!(
            e.ends_with(r#"bad input (details: {"inputFieldIdsWithErrors":["f_1"]})"#),
            "{e}"
        );
        let huge = format!(
            r#"{{"type":"BadRequest","message":"m","details":{{"ids":["{}"]}}}}"#,
            "f_x".repeat(10_000)
        );
        let e = from_status(400, huge.as_bytes(), "POST", AuthKind::Session).to_string();
        assert!(
            e.len() < 600 && e.contains("(details: {\"ids\""),
            "bounded: {}",
            e.len()
        );
        let empty = br#"{"type":"BadRequest","message":"m","details":{}}"#;
        assert!(
            !from_status(400, empty, "POST", AuthKind::Session)
                .to_string()
                .contains("details")
        );
        assert!(matches!(
            from_status(503, b"", "GET", AuthKind::Session),
            ClayError::Upstream(_)
        ));
        assert!(matches!(
            from_status(
                409,
                br#"{"type":"FieldNameAlreadyExists"}"#,
                "x",
                AuthKind::Session
            ),
            ClayError::Conflict(_)
        ));
    }
}
