//! A faithful local simulator of the DashScope Wan 2.2 Animate API.
//!
//! A real HTTP server on loopback that behaves like the documented service: the task state
//! machine (`PENDING` → `RUNNING` → `SUCCEEDED`/`FAILED`, `CANCELED`, `UNKNOWN` after
//! expiry) with one running task per model, validation of the media with the documented
//! `InvalidFile.*` codes, the rate limits, temporary uploads through an OSS-style form host,
//! signed result links with `Range` support, and seeded fault injection. Time can be scaled
//! so a minutes-long task takes a second. Counters let tests assert that a client never
//! submitted twice.
//!
//! By default the world (tasks, uploads, results) lives in memory and ends with the simulator.
//! With [`SimBuilder::state_dir`] it is kept in a directory instead and shared by every
//! simulator on that directory, in this process or another, like one account: task times are
//! wall-clock times, so a task keeps progressing while no simulator runs (the CLI keeps its
//! world under its state directory); [`reset_world`] empties a world.
//!
//! With [`SimBuilder::notify`] the simulator announces every task that ends by POSTing its
//! EventBridge completion event (spec §17) to a loopback callback URL, with retries and, on
//! request, a hostile delivery ([`NotifyHostility`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let sim = wan_animate_sim::Sim::builder().time_scale(600.0).start().await?;
//! assert!(sim.base_url().starts_with("http://127.0.0.1:"));
//! assert!(sim.base_url().ends_with("/api/v1"));
//! assert_eq!(sim.counters().created_total(), 0);
//! sim.shutdown().await;
//! # Ok::<(), std::io::Error>(()) }).unwrap();
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod notify;
mod routes;
mod state;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

pub use config::{DEFAULT_API_KEY, FaultPlan, RateLimits, SimConfig, TaskDurations};
pub use notify::{NotifyConfig, NotifyHostility};
pub use state::Counters;
pub use world::reset_world;

use routes::{App, Shared, Storage, Truncate};
use state::{Fault, State};

/// Entry point: `Sim::builder()...start().await`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// A builder with the documented defaults (real time, documented limits, no faults).
    pub fn builder() -> SimBuilder {
        SimBuilder {
            config: SimConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// Configures a simulator.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    config: SimConfig,
    listen: SocketAddr,
}

impl SimBuilder {
    /// Accepts this API key (repeatable). Without any, [`DEFAULT_API_KEY`] is accepted.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_keys.push(key.into());
        self
    }

    /// The API's path prefix (default `/api/v1`; a proxy-like `/qwen/api/v1` works too).
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        let p = path.into();
        self.config.base_path = format!("/{}", p.trim_matches('/'));
        self
    }

    /// Simulated seconds per real second.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.config.time_scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        self
    }

    /// Task durations (simulated).
    pub fn durations(mut self, d: TaskDurations) -> Self {
        self.config.durations = d;
        self
    }

    /// When tasks become `UNKNOWN` (simulated).
    pub fn task_ttl(mut self, ttl: Duration) -> Self {
        self.config.task_ttl = ttl;
        self
    }

    /// When result links expire (simulated).
    pub fn result_ttl(mut self, ttl: Duration) -> Self {
        self.config.result_ttl = ttl;
        self
    }

    /// How long upload policies are valid (real time).
    pub fn policy_ttl(mut self, ttl: Duration) -> Self {
        self.config.policy_ttl = ttl;
        self
    }

    /// The largest upload, in MiB.
    pub fn max_upload_mb(mut self, mb: u64) -> Self {
        self.config.max_upload_mb = mb;
        self
    }

    /// Tasks processed at once per key and model (the service: 1).
    pub fn max_running_per_model(mut self, n: usize) -> Self {
        self.config.max_running_per_model = n.max(1);
        self
    }

    /// Rate limits.
    pub fn limits(mut self, limits: RateLimits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Fault injection.
    pub fn faults(mut self, faults: FaultPlan) -> Self {
        self.config.faults = faults;
        self
    }

    /// Keeps the world in `dir` (created if needed): tasks, uploads and results outlive
    /// this simulator and are shared with every other simulator on the same directory, in
    /// this process or another. Without it the world lives in memory.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir()?;
    /// let sim = wan_animate_sim::Sim::builder().state_dir(dir.path()).start().await?;
    /// assert!(dir.path().join("world.json").exists());
    /// sim.shutdown().await;
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.state_dir = Some(dir.into());
        self
    }

    /// POSTs the completion event of every task that ends (spec §17) as `config` says.
    /// [`SimBuilder::start`] fails when the URL is not `http://` on loopback.
    pub fn notify(mut self, config: NotifyConfig) -> Self {
        self.config.notify = Some(config);
        self
    }

    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(mut self) -> std::io::Result<SimHandle> {
        if self.config.api_keys.is_empty() {
            self.config.api_keys.push(DEFAULT_API_KEY.to_owned());
        }
        if let Some(n) = &self.config.notify {
            n.validate()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        let listener = tokio::net::TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let mut secret = [0u8; 32];
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
            ^ u64::from(addr.port());
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&state::splitmix(&mut seed).to_le_bytes());
        }
        let mut state = State::new(self.config.clone());
        let (world, secret, storage) = match &self.config.state_dir {
            Some(dir) => {
                let (world, secret) = world::World::open(dir, &mut state, secret)?;
                let objects = world.objects_dir();
                (Some(world), secret, Storage::Dir(objects))
            }
            None => (None, secret, Storage::Temp(tempfile::tempdir()?)),
        };
        let app: App = Arc::new(Shared {
            state: Mutex::new(state),
            secret,
            origin: Mutex::new(format!("http://{addr}")),
            storage,
            world,
            task_created: tokio::sync::Notify::new(),
        });
        let router = router(&self.config.base_path).with_state(app.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let notifier = self
            .config
            .notify
            .clone()
            .map(|n| tokio::spawn(notify::run(app.clone(), n, stop_rx.clone())));
        let server = tokio::spawn(serve(
            listener,
            router,
            app.clone(),
            self.config.base_path.clone(),
            stop_rx,
        ));
        Ok(SimHandle {
            app,
            base_url: format!("http://{addr}{}", self.config.base_path),
            addr,
            api_key: self.config.api_keys[0].clone(),
            stop: stop_tx,
            server: Mutex::new(Some(server)),
            notifier: Mutex::new(notifier),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    app: App,
    base_url: String,
    addr: SocketAddr,
    api_key: String,
    stop: watch::Sender<bool>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    notifier: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for SimHandle {
    /// The address and world; never a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .field("state_dir", &self.state_dir())
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The API base, e.g. `http://127.0.0.1:40123/api/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first accepted API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The directory of the persistent world, or `None` when the world is in memory.
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        self.app.world.as_ref().map(|w| w.dir())
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.app.lock_local().counters.clone()
    }

    /// Replaces the fault plan (the random sequence restarts from its seed).
    pub fn set_faults(&self, faults: FaultPlan) {
        let mut st = self.app.lock_local();
        st.config.faults = faults;
    }

    /// Replaces the rate limits.
    pub fn set_limits(&self, limits: RateLimits) {
        self.app.lock_local().config.limits = limits;
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.server.lock().ok().and_then(|mut s| s.take());
        if let Some(t) = task {
            let _ = t.await;
        }
        let notifier = self.notifier.lock().ok().and_then(|mut s| s.take());
        if let Some(t) = notifier {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn router(base: &str) -> Router<App> {
    Router::new()
        .route(
            &format!("{base}/services/aigc/image2video/video-synthesis"),
            post(routes::create_task),
        )
        .route(&format!("{base}/tasks"), get(routes::list_tasks))
        .route(&format!("{base}/tasks/{{id}}"), get(routes::get_task))
        .route(
            &format!("{base}/tasks/{{id}}/cancel"),
            post(routes::cancel_task),
        )
        .route(&format!("{base}/uploads"), get(routes::get_policy))
        .route("/oss/{bucket}", post(routes::oss_upload))
        .route("/results/{name}", get(routes::result_file))
        // The simulator's own introspection (not part of the DashScope API).
        .route("/__sim/counters", get(routes::counters))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// The route name of a path, for counters and fault filters.
fn route_name(base: &str, method: &http::Method, path: &str) -> &'static str {
    let rest = path.strip_prefix(base).unwrap_or(path);
    if rest.starts_with("/services/") {
        "create"
    } else if rest == "/tasks" {
        "list"
    } else if rest.starts_with("/tasks/") && rest.ends_with("/cancel") {
        "cancel"
    } else if rest.starts_with("/tasks/") && method == http::Method::GET {
        "get"
    } else if rest.starts_with("/uploads") {
        "policy"
    } else if path.starts_with("/oss/") {
        "upload"
    } else if path.starts_with("/results/") {
        "result"
    } else {
        "other"
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    app: App,
    base: String,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let router = router.clone();
        let app = app.clone();
        let base = base.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |mut req: http::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    let app = app.clone();
                    let base = base.clone();
                    async move {
                        // Tolerate trailing slashes (older docs and SDKs use `/tasks/`).
                        let path = req.uri().path().to_owned();
                        if path.len() > 1 && path.ends_with('/') {
                            let pq = format!(
                                "{}{}",
                                path.trim_end_matches('/'),
                                req.uri()
                                    .query()
                                    .map(|q| format!("?{q}"))
                                    .unwrap_or_default()
                            );
                            if let Ok(uri) = pq.parse() {
                                *req.uri_mut() = uri;
                            }
                        }
                        let route = route_name(&base, req.method(), req.uri().path());
                        let (fault, slow, retry_after) = {
                            let mut st = app.lock_local();
                            *st.counters.requests.entry(route.to_owned()).or_default() += 1;
                            let f = st.draw_fault(route);
                            (
                                f,
                                st.config.faults.slow_delay,
                                st.config.faults.retry_after_secs,
                            )
                        };
                        let rid = || app.lock_local().new_id();
                        let response = match fault {
                            Some(Fault::DropBefore) => return Err(Dropped),
                            Some(Fault::Throttle) => {
                                let mut r = routes::api_error(
                                    http::StatusCode::TOO_MANY_REQUESTS,
                                    &rid(),
                                    "Throttling.RateQuota",
                                    "Requests rate limit exceeded, please try again later.",
                                );
                                if let Ok(v) = http::HeaderValue::from_str(&retry_after.to_string())
                                {
                                    r.headers_mut().insert("retry-after", v);
                                }
                                r
                            }
                            Some(Fault::Internal) => routes::api_error(
                                http::StatusCode::INTERNAL_SERVER_ERROR,
                                &rid(),
                                "InternalError",
                                "An internal error has occured, try again later or contact service support.",
                            ),
                            Some(Fault::Unavailable) => routes::api_error(
                                http::StatusCode::SERVICE_UNAVAILABLE,
                                &rid(),
                                "ModelUnavailable",
                                "Model is unavailable, try again later.",
                            ),
                            other => {
                                if other == Some(Fault::Slow) {
                                    tokio::time::sleep(slow).await;
                                }
                                req.extensions_mut()
                                    .insert(Truncate(other == Some(Fault::Truncate)));
                                let req = req.map(axum::body::Body::new);
                                let response = tower::ServiceExt::oneshot(router, req)
                                    .await
                                    .unwrap_or_else(|e| match e {});
                                if other == Some(Fault::DropAfter) {
                                    // The work is done (a task may exist); the client never hears.
                                    drop(response);
                                    return Err(Dropped);
                                }
                                response
                            }
                        };
                        Ok::<_, Dropped>(response)
                    }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {}
            }
        });
    }
}
