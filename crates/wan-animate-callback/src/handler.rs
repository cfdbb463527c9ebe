//! One request: authenticate, bound, parse, deduplicate, deliver. Never panics on input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wan_animate_types::TaskCompletionEvent;

use crate::dedup::{Seen, keys};
use crate::{CallbackToken, ReceiverStats, TokenLocation};

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) token: CallbackToken,
    pub(crate) location: TokenLocation,
    pub(crate) max_body_bytes: usize,
    pub(crate) seen: Mutex<Seen>,
    /// Taken away at shutdown, so that [`crate::Events`] ends even if a connection lingers.
    pub(crate) sink: Mutex<Option<mpsc::Sender<TaskCompletionEvent>>>,
    pub(crate) counters: Counters,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    duplicates: AtomicU64,
    ignored: AtomicU64,
    unauthorized: AtomicU64,
    too_large: AtomicU64,
    malformed: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ReceiverStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReceiverStats {
            delivered: get(&self.delivered),
            duplicates: get(&self.duplicates),
            ignored: get(&self.ignored),
            unauthorized: get(&self.unauthorized),
            too_large: get(&self.too_large),
            malformed: get(&self.malformed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn outcome(status: StatusCode, outcome: &str) -> Response {
    (status, axum::Json(json!({ "status": outcome }))).into_response()
}

fn rejected(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// The one handler, for every path and method.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    // 1. Authenticate before anything else, and say nothing about why it failed. Neither the
    //    presented value nor the expected one is ever logged.
    let authorized = shared
        .location
        .presented(&headers, query.as_deref())
        .is_some_and(|presented| shared.token.matches(&presented));
    if !authorized {
        bump(&shared.counters.unauthorized);
        tracing::debug!("rejected a request without the right callback token (401)");
        return StatusCode::UNAUTHORIZED.into_response();
    }

    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            axum::Json(json!({ "error": "send the event with POST" })),
        )
            .into_response();
    }

    // 2. Bound the body: refuse a declared length beyond the cap without reading it, and stop
    //    reading an undeclared one as soon as it goes beyond.
    let limit = shared.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes; a completion event is about 1 kB"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        bump(&shared.counters.too_large);
        tracing::warn!(declared, limit, "refused an oversized body (413)");
        return too_large();
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            bump(&shared.counters.too_large);
            tracing::warn!(limit, "refused an oversized body (413)");
            return too_large();
        }
        Err(e) => {
            bump(&shared.counters.malformed);
            tracing::debug!("could not read a request body: {e}");
            return rejected(StatusCode::BAD_REQUEST, "could not read the body".into());
        }
    };

    // 3. Parse: JSON first, then the event. Events of other sources or types are accepted
    //    (so the sender does not retry them forever) but not delivered.
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            bump(&shared.counters.malformed);
            tracing::warn!("refused a body that is not JSON (400): {e}");
            return rejected(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let source = value.get("source").and_then(Value::as_str);
    let event_type = value.get("type").and_then(Value::as_str);
    if source.is_some_and(|s| s != TaskCompletionEvent::SOURCE)
        || event_type.is_some_and(|t| t != TaskCompletionEvent::TYPE)
    {
        bump(&shared.counters.ignored);
        tracing::info!(
            source = source.unwrap_or_default(),
            r#type = event_type.unwrap_or_default(),
            "ignored an event that is not a DashScope task completion"
        );
        return outcome(StatusCode::OK, "ignored");
    }
    let event: TaskCompletionEvent = match serde_json::from_value(value) {
        Ok(e) => e,
        Err(e) => {
            bump(&shared.counters.malformed);
            tracing::warn!("refused JSON that is not a task completion event (400): {e}");
            return rejected(
                StatusCode::BAD_REQUEST,
                format!(
                    "not a task completion event ({e}); set the EventBridge target's body to the complete event"
                ),
            );
        }
    };

    // 4. Deliver once. Keys are recorded before the (possibly waiting) send so that a
    //    concurrent duplicate is recognised, and forgotten again if delivery fails.
    let keys = keys(&event);
    let fresh = shared
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert_all(&keys);
    if !fresh {
        bump(&shared.counters.duplicates);
        tracing::debug!(
            id = %event.id,
            task_id = %event.data.task_id,
            "duplicate completion event acknowledged, not delivered again"
        );
        return outcome(StatusCode::OK, "duplicate");
    }
    let (id, task_id, status) = (
        event.id.clone(),
        event.data.task_id.clone(),
        event.data.task_status.clone(),
    );
    let sink = shared
        .sink
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let sent = match sink {
        Some(sink) => sink.send(event).await.is_ok(),
        None => false,
    };
    if !sent {
        shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove_all(&keys);
        tracing::warn!(%id, %task_id, "no one is receiving events any more (503)");
        return rejected(
            StatusCode::SERVICE_UNAVAILABLE,
            "the receiver is shutting down; deliver again later".into(),
        );
    }
    bump(&shared.counters.delivered);
    tracing::info!(%id, %task_id, %status, "completion event delivered");
    outcome(StatusCode::OK, "accepted")
}
