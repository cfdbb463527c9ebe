//! Shared by every route: the application state, answers in the documented shapes, and the
//! gate every API route passes (request id, key, rate limit).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use wan_animate_types::ErrorBody;

use crate::state::State;
use crate::world::{Held, World};

/// Shared by every handler.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) secret: [u8; 32],
    /// `http://127.0.0.1:PORT`, set once bound.
    pub(crate) origin: Mutex<String>,
    pub(crate) storage: Storage,
    /// The persistent world, when the simulator keeps one.
    pub(crate) world: Option<World>,
    /// Woken when a task is created or cancelled, so the notifier looks again at once.
    pub(crate) task_created: tokio::sync::Notify,
}

/// Where stored bytes (uploads, fetched inputs) live.
#[derive(Debug)]
pub(crate) enum Storage {
    /// A temporary directory removed with the simulator (in-memory mode).
    Temp(tempfile::TempDir),
    /// The persistent world's `objects/` directory.
    Dir(std::path::PathBuf),
}

impl Storage {
    pub(crate) fn path(&self) -> &std::path::Path {
        match self {
            Storage::Temp(t) => t.path(),
            Storage::Dir(d) => d,
        }
    }
}

/// The state for one transaction: with a persistent world, the file lock is held and the
/// state reloaded on creation, and the state is written back when dropped.
pub(crate) struct StateGuard<'a> {
    state: std::sync::MutexGuard<'a, State>,
    world: Option<(&'a World, Held)>,
    /// The state's revision when the transaction began.
    revision: u64,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        if let Some((world, held)) = &self.world
            && self.state.revision != self.revision
        {
            world.store(&mut self.state, held);
        }
    }
}

pub(crate) type App = Arc<Shared>;

/// Set by the fault injector: cut this result download short.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Truncate(pub(crate) bool);

impl Shared {
    /// The state with its tasks and stored objects up to date: one transaction on the
    /// persistent world when there is one.
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        let mut state = self.lock_local();
        let world = self.world.as_ref().and_then(|w| match w.acquire() {
            Ok(held) => {
                w.load(&mut state);
                Some((w, held))
            }
            Err(e) => {
                tracing::warn!("cannot lock the simulator's world: {e}; using the state in memory");
                None
            }
        });
        let revision = state.revision;
        StateGuard {
            state,
            world,
            revision,
        }
    }

    /// The in-process part of the state only (counters, faults, rate limits, ids, policies):
    /// no file access. Never use it to read or change tasks or stored objects.
    pub(crate) fn lock_local(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn origin(&self) -> String {
        self.origin.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub(crate) fn sign(&self, data: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length works");
        mac.update(data.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

pub(crate) fn request_id(app: &App) -> String {
    app.lock_local().new_id()
}

/// A JSON answer with the request id header.
pub(crate) fn json_response(status: StatusCode, rid: &str, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(rid) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// The documented flat error body.
pub(crate) fn api_error(status: StatusCode, rid: &str, code: &str, message: &str) -> Response {
    let body = serde_json::to_value(ErrorBody::new(code, message).with_request_id(rid))
        .unwrap_or_default();
    json_response(status, rid, body)
}

/// An OSS XML error.
pub(crate) fn oss_error(status: StatusCode, rid: &str, code: &str, message: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n  <RequestId>{rid}</RequestId>\n  <HostId>sim-oss</HostId>\n</Error>\n"
    );
    let mut r = (status, xml).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// Checks `Authorization: Bearer <key>`; the error answer when it fails.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned at once
pub(super) fn authenticate(app: &App, headers: &HeaderMap, rid: &str) -> Result<String, Response> {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            rid,
            "InvalidApiKey",
            "No API-key provided.",
        ));
    };
    let key = value
        .strip_prefix("Bearer ")
        .unwrap_or(value)
        .trim()
        .to_owned();
    let keys = app.lock_local().config.api_keys.clone();
    if key.is_empty() {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            rid,
            "InvalidApiKey",
            "No API-key provided.",
        ));
    }
    if !keys.contains(&key) {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            rid,
            "InvalidApiKey",
            "Invalid API-key provided.",
        ));
    }
    Ok(key)
}

pub(super) fn rate_limited(
    app: &App,
    key: &str,
    class: &'static str,
    rid: &str,
) -> Option<Response> {
    let ok = app.lock_local().take_token(key, class, Instant::now());
    (!ok).then(|| {
        let mut r = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            rid,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        );
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        r
    })
}

/// Every API route's gate: a request id, the caller's key, and its rate limit.
#[allow(clippy::result_large_err)] // the error is the answer itself, returned at once
pub(super) fn admit(
    app: &App,
    headers: &HeaderMap,
    class: &'static str,
) -> Result<(String, String), Response> {
    let rid = request_id(app);
    let key = authenticate(app, headers, &rid)?;
    match rate_limited(app, &key, class, &rid) {
        Some(r) => Err(r),
        None => Ok((rid, key)),
    }
}

/// `GET /__sim/counters`: the counters as JSON, for tests that drive a simulator process.
pub(crate) async fn counters(AxState(app): AxState<App>) -> Response {
    let c = app.lock_local().counters.clone();
    axum::Json(c).into_response()
}
