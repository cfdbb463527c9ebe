//! Builds the client once per invocation: from flags and the environment, or pointed at an
//! in-process simulator with `--sim`.
//!
//! Every `--sim` command works on one simulated account, the persistent world kept under the
//! state directory (`$WAN_ANIMATE_STATE_DIR/sim`, else `$XDG_STATE_HOME/wan-animate/sim`, else
//! `~/.local/state/wan-animate/sim`), so `--sim submit` in one process and `--sim status` in
//! the next see the same task, as on the real service. `wan-animate sim --reset` empties it.

use wan_animate_core::config::ConfigOverrides;
use wan_animate_core::{Client, ClientBuilder, ClientConfig, CompletionSignals};

use crate::args::{CallbackArgs, GlobalArgs};
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::Printer;

/// Everything a command needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) printer: Printer,
    /// The base URL in use (recorded in the task journal; never holds the key).
    pub(crate) base_url: String,
    /// Keeps the in-process simulator alive for the command's lifetime.
    pub(crate) sim: Option<wan_animate_sim::SimHandle>,
    /// How every client of this invocation is built (see [`Context::client_builder`]).
    build: ClientRecipe,
    /// The completion-event receiver of `--callback-listen`, alive for the command's lifetime.
    _callback: Option<wan_animate_callback::CallbackServer>,
}

/// What every client of one invocation shares: configuration, backend (with `-v` logging),
/// push wake-ups, and the `--timeout` deadline.
#[derive(Debug, Clone)]
struct ClientRecipe {
    config: ClientConfig,
    verbose: u8,
    deadline: Option<std::time::Instant>,
    signals: Option<CompletionSignals>,
}

impl ClientRecipe {
    fn builder(&self) -> Result<ClientBuilder, Failure> {
        let http = crate::http_log::http(self.verbose).map_err(Failure::from)?;
        let mut b = Client::builder(self.config.clone()).shared_http_client(http);
        if let Some(s) = &self.signals {
            b = b.completion_signals(s.clone());
        }
        Ok(b)
    }

    fn finish(&self, client: Client) -> Client {
        match self.deadline {
            Some(d) => client.with_deadline(d),
            None => client,
        }
    }
}

impl Context {
    /// A builder for another client of this invocation (the batch's, with its task-API
    /// budget): same configuration, backend and push wake-ups. Pass what it builds through
    /// [`Context::finish_client`] so `--timeout` bounds it too.
    pub(crate) fn client_builder(&self) -> Result<ClientBuilder, Failure> {
        self.build.builder()
    }

    /// Applies the invocation's deadline (`--timeout`) to a client built from
    /// [`Context::client_builder`].
    pub(crate) fn finish_client(&self, client: Client) -> Client {
        self.build.finish(client)
    }

    /// The context of a command. With `push` (`--callback-listen`), a receiver of completion
    /// events is started first and every wait of the command is woken by them.
    pub(crate) async fn new(
        global: &GlobalArgs,
        printer: Printer,
        push: Option<&CallbackArgs>,
    ) -> Result<Self, Failure> {
        let (callback, signals) = match push {
            Some(args) => match start_receiver(args, &printer).await? {
                Some((server, signals)) => (Some(server), Some(signals)),
                None => (None, None),
            },
            None => (None, None),
        };
        let mut ctx = Self::connect(global, printer, signals).await?;
        ctx._callback = callback;
        Ok(ctx)
    }

    async fn connect(
        global: &GlobalArgs,
        printer: Printer,
        signals: Option<CompletionSignals>,
    ) -> Result<Self, Failure> {
        let recipe = |config: ClientConfig| ClientRecipe {
            config,
            verbose: global.verbose,
            deadline: global
                .timeout
                .and_then(|t| std::time::Instant::now().checked_add(t)),
            signals: signals.clone(),
        };
        if global.sim {
            let sim = start_sim(&printer).await?;
            // Simulated tasks take seconds, so poll quickly.
            let poll = wan_animate_core::PollPolicy::default()
                .with_initial_delay(std::time::Duration::from_millis(300))
                .with_max_delay(std::time::Duration::from_secs(2));
            let config = ClientConfig::new(sim.api_key())
                .with_base_url(sim.base_url())
                .map_err(Failure::from)?
                .with_poll(poll)
                .with_retry(retry_policy(global));
            let build = recipe(config);
            let client = build.finish(build.builder()?.build().map_err(Failure::from)?);
            return Ok(Self {
                client,
                printer,
                base_url: sim.base_url().to_owned(),
                sim: Some(sim),
                build,
                _callback: None,
            });
        }
        // One place decides: flags (and the env names clap reads for them) win over the
        // SDKs' environment names, then the key file, which is not read when a key is given.
        // A bad region, base URL or workspace is a usage error naming the value (exit 2); a
        // missing or empty key is an authentication error (exit 3).
        let mut overrides = ConfigOverrides::new();
        if let Some(key) = &global.api_key {
            overrides = overrides.with_api_key(key.clone());
        }
        if let Some(region) = &global.region {
            overrides = overrides.with_region(region.clone());
        }
        if let Some(base) = &global.base_url {
            overrides = overrides.with_base_url(base.clone());
        }
        if let Some(ws) = &global.workspace {
            overrides = overrides.with_workspace(ws.clone());
        }
        let mut config = ClientConfig::from_env_with(&overrides).map_err(|e| {
            let mut failure = Failure::from(e);
            let empty_key = global.api_key.as_deref().is_some_and(|k| k.trim().is_empty());
            if empty_key && failure.exit == Exit::Auth {
                // clap fills --api-key from DASHSCOPE_API_KEY too: name both.
                failure.message = "the API key given by --api-key (or DASHSCOPE_API_KEY) is empty; give the key, or unset DASHSCOPE_API_KEY to use the key file".to_owned();
            }
            failure
        })?;
        crate::output::register_secret(config.api_key().expose_secret());
        config = config.with_retry(retry_policy(global));
        // Recorded in the journal and printed: never with credentials (they are refused
        // anyway; this keeps it so if that rule ever loosens).
        let base_url = wan_animate_core::config::redact_userinfo(config.base_url());
        let build = recipe(config);
        let client = build.finish(build.builder()?.build().map_err(Failure::from)?);
        Ok(Self {
            client,
            printer,
            base_url,
            sim: None,
            build,
            _callback: None,
        })
    }
}

/// Starts the in-process simulator on the persistent world; when that world cannot be
/// opened (no home directory, a read-only disk), on a fresh world in memory, with a warning.
async fn start_sim(printer: &Printer) -> Result<wan_animate_sim::SimHandle, Failure> {
    // A simulated task of a few seconds of video takes about a minute of service time; at
    // 60x it finishes in about a second of real time.
    let builder = wan_animate_sim::Sim::builder().time_scale(60.0);
    let started = match crate::state::sim_world_dir() {
        Some(dir) => match builder.clone().state_dir(&dir).start().await {
            Ok(sim) => Ok((sim, Some(dir))),
            Err(e) => {
                printer.warn(&format!(
                    "cannot open the simulator's world in {}: {e}; using a fresh world in memory that ends with this command (set WAN_ANIMATE_STATE_DIR to a writable directory to keep tasks between commands)",
                    dir.display()
                ));
                builder.start().await.map(|s| (s, None))
            }
        },
        None => builder.start().await.map(|s| (s, None)),
    };
    let (sim, dir) = started.map_err(|e| {
        Failure::new(
            Exit::Failure,
            "simulator",
            format!("cannot start the built-in simulator: {e}"),
        )
    })?;
    let world = match &dir {
        Some(d) => format!("world {}", d.display()),
        None => "world in memory".to_owned(),
    };
    printer.note(&format!(
        "simulator: {} (offline, nothing is billed; {world})",
        sim.base_url()
    ));
    Ok(sim)
}

/// Starts the receiver of completion events for `--callback-listen`, forwarding each event's
/// task id to the waits' wake-up hub. `None` when the flag is absent.
async fn start_receiver(
    args: &CallbackArgs,
    printer: &Printer,
) -> Result<Option<(wan_animate_callback::CallbackServer, CompletionSignals)>, Failure> {
    let Some(addr) = args.callback_listen else {
        return Ok(None);
    };
    let usage =
        |e: wan_animate_callback::ConfigError| Failure::new(Exit::Usage, "usage", e.to_string());
    let token =
        wan_animate_callback::CallbackToken::new(args.callback_token.clone().unwrap_or_default())
            .map_err(usage)?;
    let (server, mut events) = wan_animate_callback::CallbackServer::builder(token)
        .bind(addr)
        .await
        .map_err(|e| {
            Failure::new(
                Exit::Unavailable,
                "listen",
                format!("cannot listen for completion events on {addr}: {e}"),
            )
            .with_hint("choose a free port, or drop --callback-listen to wait by polling")
        })?;
    printer.note(&format!(
        "waiting by push: completion events accepted on http://{} (Authorization: Bearer TOKEN); a slow safety poll covers lost events",
        server.local_addr()
    ));
    let signals = CompletionSignals::new();
    let hub = signals.clone();
    tokio::spawn(async move {
        // Events for tasks nobody waits for are ignored by the hub.
        while let Some(event) = events.recv().await {
            hub.notify(&event.data.task_id);
        }
    });
    Ok(Some((server, signals)))
}

fn retry_policy(global: &GlobalArgs) -> wan_animate_core::RetryPolicy {
    wan_animate_core::RetryPolicy::default().with_max_attempts(global.retries.saturating_add(1))
}
