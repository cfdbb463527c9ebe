//! The command-line surface, exactly as `docs/cli.md` documents it (that file is generated
//! from these definitions by `cargo xtask codegen`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wan_animate_types::{Mode, Model, TaskStatus};

/// Animate a character image with a driving video on Alibaba Cloud Model Studio (Wan 2.2 Animate).
///
/// `mix` puts the image's person into the video in place of its performer; `move` makes the
/// image's person perform the video's motion. Every task is billed per second of output video:
/// task ids are printed as soon as they exist so nothing paid for is lost.
#[derive(Debug, Parser)]
#[command(
    name = "wan-animate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// API key (also read from DASHSCOPE_API_KEY, DASHSCOPE_API_KEY_FILE_PATH or ~/.dashscope/api_key).
    /// Never echoed, never logged.
    #[arg(
        long,
        global = true,
        env = "DASHSCOPE_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = parse_api_key
    )]
    pub api_key: Option<String>,

    /// Region: cn-beijing (default) or ap-southeast-1; also `beijing`, `singapore`.
    #[arg(
        long,
        global = true,
        env = "WAN_ANIMATE_REGION",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub region: Option<String>,

    /// Workspace id (sent as a header).
    #[arg(
        long,
        global = true,
        env = "DASHSCOPE_WORKSPACE_ID",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub workspace: Option<String>,

    /// Base URL ending in /api/v1, possibly behind a proxy prefix; overrides --region.
    #[arg(
        long,
        global = true,
        env = "DASHSCOPE_HTTP_BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub base_url: Option<String>,

    /// Start the built-in simulator on loopback and talk to it: no key, no network, no cost.
    #[arg(
        long,
        global = true,
        env = "WAN_ANIMATE_SIM",
        hide_env_values = true,
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub sim: bool,

    /// Print exactly one JSON document on stdout (NDJSON events with --events); nothing else.
    #[arg(long, global = true)]
    pub json: bool,

    /// Quieter diagnostics on stderr (no progress).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// More verbose diagnostics on stderr (repeatable; RUST_LOG also works).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Retries of transient failures per request (throttling, 5xx, network), with backoff.
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,

    /// Overall deadline of the command, e.g. 90s, 15m, 3h. On expiry the task id is printed
    /// so the task can be resumed with `wan-animate wait ID`.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Print times in UTC instead of the local time zone (JSON always uses ISO 8601 with an offset).
    #[arg(long, global = true)]
    pub utc: bool,

    /// A JSON price table used for cost estimates instead of the built-in one
    /// (see `wan-animate check --help` for its format).
    #[arg(long, global = true, env = "WAN_ANIMATE_PRICES", value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight local files, upload them, submit, wait, and download the result.
    #[command(
        after_help = r#"Every created task id is printed at once and appended to the task journal:
$WAN_ANIMATE_JOURNAL, else $XDG_STATE_HOME/wan-animate/tasks.jsonl, else
~/.local/state/wan-animate/tasks.jsonl (one JSON object per line: task_id, model, base_url,
request_id, recorded_at_unix_ms; never the key). WAN_ANIMATE_JOURNAL=off turns it off.
Ctrl-C, SIGTERM and SIGHUP during the create wait for its answer so the id is not lost
(exit 130, 143, 129); a second signal exits at once.

Examples:
  wan-animate run --model mix --image me.jpg --video dance.mp4 -o out.mp4
  wan-animate run --model move --mode pro --image me.jpg --video dance.mp4 --timeout 30m
  wan-animate run --model mix --image me.jpg --video dance.mp4 --dry-run   # estimate, pay nothing
  wan-animate run --model mix --image me.jpg --video dance.mp4 -o - > out.mp4
  wan-animate --sim run --model mix --image me.jpg --video dance.mp4       # offline, free"#
    )]
    Run(RunArgs),
    /// Submit only; prints the task id (JSON: the create response).
    #[command(
        after_help = r#"The task id is also appended to the task journal (see `wan-animate run --help`).

Examples:
  id=$(wan-animate submit --model mix --image me.jpg --video dance.mp4)
  wan-animate wait "$id" -o out.mp4
  wan-animate submit --model move --image https://x/me.jpg --video https://x/d.mp4 --dry-run"#
    )]
    Submit(SubmitArgs),
    /// Query a task once.
    #[command(
        after_help = r#"Exits by the task's state, like `wait`: 0 while PENDING or RUNNING and when SUCCEEDED,
1 when FAILED, 7 when CANCELED or UNKNOWN.

Examples:
  wan-animate status 0385dc79-5ff8-4d82-bcb6-000000000000
  wan-animate --json status 0385dc79-5ff8-4d82-bcb6-000000000000 | jq .output.task_status"#
    )]
    Status(TaskIdArgs),
    /// Wait for a task to end, then download the result unless told not to.
    #[command(after_help = r#"Examples:
  wan-animate wait 0385dc79-5ff8-4d82-bcb6-000000000000 -o out.mp4
  wan-animate wait 0385dc79-5ff8-4d82-bcb6-000000000000 --no-download --timeout 10m
  wan-animate --json wait 0385dc79-5ff8-4d82-bcb6-000000000000 --events"#)]
    Wait(WaitArgs),
    /// Cancel a PENDING task.
    #[command(after_help = r#"Examples:
  wan-animate cancel 0385dc79-5ff8-4d82-bcb6-000000000000"#)]
    Cancel(TaskIdArgs),
    /// List tasks of the account.
    #[command(after_help = r#"Examples:
  wan-animate list --status RUNNING
  wan-animate list --model mix --since 6h --all
  wan-animate list --since 20261124080000 --until 20261124200000   # UTC+8, at most 24 h"#)]
    List(ListArgs),
    /// Resumable, atomic download of a result (by task id or URL).
    #[command(after_help = r#"Examples:
  wan-animate download 0385dc79-5ff8-4d82-bcb6-000000000000 -o out.mp4
  wan-animate download 'https://result.example/x.mp4?Expires=1' -o x.mp4"#)]
    Download(DownloadArgs),
    /// Upload a local file to temporary storage; prints the oss:// URL (valid 48 h).
    #[command(after_help = r#"Examples:
  wan-animate upload me.jpg --model mix"#)]
    Upload(UploadArgs),
    /// Check local media against the documented limits, without network.
    #[command(
        after_help = r#"With a video, the billable seconds and the estimated cost are printed. Prices come from
--prices FILE (or WAN_ANIMATE_PRICES), else the built-in table: a JSON array of objects
{"model", "mode", "region", "price_per_second", "currency", "source", "date"}.

Examples:
  wan-animate check me.jpg dance.mp4
  wan-animate check dance.mp4 --model mix --mode pro"#
    )]
    Check(CheckArgs),
    /// Many jobs from a manifest: resumable, rate-aware, with a durable ledger and a report.
    #[command(after_help = r#"Examples:
  wan-animate batch jobs.jsonl --out-dir out
  wan-animate batch status --ledger out/batch.sqlite"#)]
    Batch(BatchArgs),
    /// Run the simulator as a server until interrupted; prints its base URL.
    #[command(after_help = r#"Examples:
  wan-animate sim --listen 127.0.0.1:0"#)]
    Sim(SimArgs),
    /// Receive task completion events (EventBridge HTTP target) until interrupted; prints
    /// each accepted event as one NDJSON line.
    Listen(ListenArgs),
    /// Print shell completions.
    #[command(after_help = r#"Examples:
  wan-animate completions bash > ~/.local/share/bash-completion/completions/wan-animate
  wan-animate completions zsh > ~/.zfunc/_wan-animate
  wan-animate completions fish > ~/.config/fish/completions/wan-animate.fish"#)]
    Completions(CompletionsArgs),
}

/// Inputs of a new task (shared by `run` and `submit`).
#[derive(Debug, Args)]
pub struct TaskInputArgs {
    /// `mix` (swap the person into the video), `move` (animate the image) or a full model name.
    #[arg(long, value_parser = Choices::MODEL)]
    pub model: Model,
    /// The character image: a local path, an https:// URL or an oss:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub image: String,
    /// The driving video: a local path, an https:// URL or an oss:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub video: String,
    /// `std` (faster, cheaper) or `pro` (smoother, pricier); also `wan-std`, `wan-pro`.
    #[arg(long, default_value = "std", value_parser = Choices::MODE)]
    pub mode: Mode,
    /// Add the service's watermark in the lower-right corner.
    #[arg(long)]
    pub watermark: bool,
    /// Ask the service to skip its image check (`check_image: false`).
    #[arg(long)]
    pub no_check_image: bool,
    /// Skip the local preflight against the documented limits.
    #[arg(long)]
    pub no_preflight: bool,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Wait by push (completion events from EventBridge) instead of polling.
    #[command(flatten)]
    pub callback: CallbackArgs,
    /// The task's inputs.
    #[command(flatten)]
    pub input: TaskInputArgs,
    /// Where to write the video (default: ./<task_id>.mp4); `-` streams it to stdout.
    /// Checked before anything is uploaded or paid.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not download the result; print its URL.
    #[arg(long)]
    pub no_download: bool,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// When --timeout expires while the task is still PENDING, cancel it.
    #[arg(long)]
    pub cancel_on_timeout: bool,
    /// Print every status change on stdout: NDJSON with --json, else one line each.
    #[arg(long)]
    pub events: bool,
    /// Preflight, estimate the cost and print the request that would be sent; upload and pay nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The task's inputs.
    #[command(flatten)]
    pub input: TaskInputArgs,
    /// Preflight, estimate the cost and print the request that would be sent; upload and pay nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A single task id.
#[derive(Debug, Args)]
pub struct TaskIdArgs {
    /// The task id printed by `submit` or `run`.
    #[arg(value_name = "TASK_ID")]
    pub task_id: String,
}

/// `wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait by push (completion events from EventBridge) instead of polling.
    #[command(flatten)]
    pub callback: CallbackArgs,
    /// The task id printed by `submit` or `run`.
    #[arg(value_name = "TASK_ID")]
    pub task_id: String,
    /// Where to write the video (default: ./<task_id>.mp4); `-` streams it to stdout.
    /// Checked before anything is uploaded or paid.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Do not download the result; print its URL.
    #[arg(long)]
    pub no_download: bool,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// When --timeout expires while the task is still PENDING, cancel it.
    #[arg(long)]
    pub cancel_on_timeout: bool,
    /// Print every status change on stdout: NDJSON with --json, else one line each.
    #[arg(long)]
    pub events: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this status (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN).
    #[arg(long, value_parser = Choices::STATUS)]
    pub status: Option<TaskStatus>,
    /// Only tasks of this model (`mix`, `move` or a full name).
    #[arg(long, value_parser = Choices::MODEL)]
    pub model: Option<Model>,
    /// Window start: a duration ago (`2h`, `1d`) or YYYYMMDDhhmmss (UTC+8). The window is at most 24 h.
    #[arg(long, value_name = "T", value_parser = parse_window_time)]
    pub since: Option<WindowTime>,
    /// Window end: a duration ago (`10m`) or YYYYMMDDhhmmss (UTC+8).
    #[arg(long, value_name = "T", value_parser = parse_window_time)]
    pub until: Option<WindowTime>,
    /// Page number, from 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub page: Option<u32>,
    /// Tasks per page (service default 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,
    /// Fetch every page.
    #[arg(long)]
    pub all: bool,
}

/// `download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// A task id (its result URL is looked up) or a result URL.
    #[arg(value_name = "TASK_ID|URL")]
    pub target: String,
    /// Where to write the video (default: ./<task_id>.mp4 or the URL's file name).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The local file.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The model that will use the file (uploads are bound to one model).
    #[arg(long, value_parser = Choices::MODEL)]
    pub model: Model,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Images and videos to check.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// The model the cost is estimated for (`mix`, `move` or a full name).
    #[arg(long, default_value = "mix", value_parser = Choices::MODEL)]
    pub model: Model,
    /// The mode the cost is estimated for (`std` or `pro`).
    #[arg(long, default_value = "std", value_parser = Choices::MODE)]
    pub mode: Mode,
}

/// `batch`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    /// `status`: read the ledger without running anything.
    #[command(subcommand)]
    pub action: Option<BatchAction>,
    /// Running a manifest.
    #[command(flatten)]
    pub run: BatchRunArgs,
}

/// `batch` subcommands.
#[derive(Debug, Subcommand)]
pub enum BatchAction {
    /// Show the state of every job from the ledger (no network).
    Status(BatchStatusArgs),
}

/// `batch MANIFEST`.
#[derive(Debug, Args)]
pub struct BatchRunArgs {
    /// Wait by push (completion events from EventBridge) instead of polling.
    #[command(flatten)]
    pub callback: CallbackArgs,
    /// The manifest: JSON Lines (one job per line) or CSV with a header row
    /// (id,model,image,video,mode,watermark,check_image,output). Running it again resumes.
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifest: Option<PathBuf>,
    /// Where outputs and report.json/report.csv go.
    #[arg(long, default_value = "batch-out", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// The ledger (default: DIR/batch.sqlite).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Task creations per second (documented limit: 5).
    #[arg(long, default_value_t = 5.0, value_name = "N", value_parser = parse_rate)]
    pub create_rps: f64,
    /// Task queries per second, all jobs together (documented limit: 20).
    #[arg(long, default_value_t = 20.0, value_name = "N", value_parser = parse_rate)]
    pub task_rps: f64,
    /// Submitted but unfinished tasks per model.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = parse_in_flight)]
    pub max_in_flight: usize,
    /// Time between queries of one task.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,
    /// After an interrupted create, how long to let the task list settle before concluding
    /// that no task was made.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub reconcile_settle: Duration,
    /// Resume a ledger against an endpoint (base URL, region, workspace or key) other than the
    /// one its tasks were created at. Only for a deliberate move: tasks exist at one endpoint.
    #[arg(long)]
    pub allow_endpoint_change: bool,
    /// Stop submitting before the estimated cost would pass AMOUNT, in the price table's
    /// currency (CNY for the built-in table). Jobs that would pass it are not submitted (they
    /// stay queued, and a later run with a larger budget submits them); jobs whose cost is
    /// unknown (no price, e.g. `move`, or a video given as a URL) are refused up front.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_budget)]
    pub budget: Option<f64>,
}

/// A budget: a positive, finite amount.
pub fn parse_budget(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!(
            "{s:?} is not a number: give an amount in the price table's currency, e.g. 50 or 12.5"
        )
    })?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!(
            "{s:?} is not a usable budget: give a positive amount, e.g. 50"
        ));
    }
    Ok(v)
}

/// `batch status`.
#[derive(Debug, Args)]
pub struct BatchStatusArgs {
    /// The ledger to read.
    #[arg(long, default_value = "batch-out/batch.sqlite", value_name = "FILE")]
    pub ledger: PathBuf,
}

/// `sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Simulated seconds per real second (60: a 2-minute task takes 2 s).
    #[arg(long, default_value_t = 60.0, value_name = "FACTOR", value_parser = parse_time_scale)]
    pub time_scale: f64,
    /// API key the simulator accepts (default: the built-in simulator key).
    #[arg(long = "accept-key", value_name = "KEY")]
    pub accept_keys: Vec<String>,
    /// Seed of the fault injector; with --fault-rate, the same seed gives the same faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability (0..1) of injecting a fault into a request (429, 5xx, dropped connection, slow reply).
    #[arg(long, default_value_t = 0.0, value_name = "P", value_parser = parse_probability)]
    pub fault_rate: f64,
    /// Disable the documented rate limits.
    #[arg(long)]
    pub no_rate_limits: bool,
    /// The world to serve: the directory of the simulated account that `--sim` commands use too
    /// [default: $WAN_ANIMATE_STATE_DIR/sim, else $XDG_STATE_HOME/wan-animate/sim, else
    /// ~/.local/state/wan-animate/sim].
    #[arg(long, value_name = "DIR", conflicts_with = "no_state")]
    pub state_dir: Option<std::path::PathBuf>,
    /// Serve a fresh world kept in memory only, forgotten when the simulator stops.
    #[arg(long)]
    pub no_state: bool,
    /// Empty the world (every task, upload and result of the simulated account), then exit.
    #[arg(long, conflicts_with = "no_state")]
    pub reset: bool,
    /// POST the completion event (EventBridge `dashscope:System:AsyncTaskFinish`, spec §17) of
    /// every task that ends to this http:// loopback URL.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
    /// Shared secret sent with each event as `Authorization: Bearer TOKEN` (with --notify-url).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "WAN_ANIMATE_NOTIFY_TOKEN",
        hide_env_values = true
    )]
    pub notify_token: Option<String>,
    /// Make event delivery hostile, reproducibly from --seed: any of `duplicate`, `delay`,
    /// `reorder`, `fail-first` (a first attempt cut off, then a retry), comma-separated, or `all`.
    #[arg(
        long,
        value_name = "MODES",
        value_delimiter = ',',
        requires = "notify_url"
    )]
    pub notify_hostile: Vec<String>,
}

/// `listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on, e.g. 127.0.0.1:8090 behind a TLS reverse proxy (port 0: any free
    /// port; the bound address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// The shared secret every request must carry (by default as `Authorization: Bearer
    /// TOKEN`). Prefer the environment variable, which `ps` does not show.
    #[arg(
        long,
        env = "WAN_ANIMATE_CALLBACK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub callback_token: String,
    /// Read the token from this header (its whole value) instead of `Authorization: Bearer`.
    #[arg(long, value_name = "NAME", conflicts_with = "token_query")]
    pub token_header: Option<String>,
    /// Read the token from this query parameter instead (URLs are often logged: prefer a header).
    #[arg(long, value_name = "NAME")]
    pub token_query: Option<String>,
}

/// Waiting by push: Model Studio's completion events (EventBridge HTTP target, spec §17).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Completion events (wait by push)")]
pub struct CallbackArgs {
    /// Receive completion events on ADDR (the EventBridge HTTP target, usually behind a TLS
    /// reverse proxy; docs/callbacks.md): a task is queried once when its event arrives, and
    /// otherwise only by a slow safety poll, in case an event is lost.
    #[arg(long, value_name = "ADDR", requires = "callback_token")]
    pub callback_listen: Option<std::net::SocketAddr>,
    /// The shared secret every event request must carry as `Authorization: Bearer TOKEN`.
    /// Prefer the environment variable, which `ps` does not show.
    #[arg(
        long,
        env = "WAN_ANIMATE_CALLBACK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub callback_token: Option<String>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// Elvish.
    Elvish,
}

/// A value parser with a lenient parse function and the values shells complete: models,
/// modes and statuses accept more spellings than they suggest.
#[derive(Clone, Copy)]
pub struct Choices<T: 'static> {
    parse: fn(&str) -> Result<T, String>,
    suggest: &'static [&'static str],
}

impl<T> std::fmt::Debug for Choices<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Choices")
            .field("suggest", &self.suggest)
            .finish()
    }
}

impl Choices<Model> {
    /// `--model`.
    pub const MODEL: Self = Self {
        parse: parse_model,
        suggest: &["mix", "move", "wan2.2-animate-mix", "wan2.2-animate-move"],
    };
}

impl Choices<Mode> {
    /// `--mode`.
    pub const MODE: Self = Self {
        parse: parse_mode,
        suggest: &["std", "pro"],
    };
}

impl Choices<TaskStatus> {
    /// `--status`.
    pub const STATUS: Self = Self {
        parse: parse_status,
        suggest: &[
            "PENDING",
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "CANCELED",
            "UNKNOWN",
        ],
    };
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Choices<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg.map(|a| format!(" for '{a}'")).unwrap_or_default();
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                format!("invalid UTF-8 value{flag}\n"),
            )
        })?;
        (self.parse)(text).map_err(|e| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("invalid value '{text}'{flag}: {e}\n"),
            )
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.suggest
                .iter()
                .map(|v| clap::builder::PossibleValue::new(*v)),
        ))
    }
}

/// `mix`, `move`, or a full model name.
pub fn parse_model(s: &str) -> Result<Model, String> {
    match s.trim() {
        "mix" => Ok(Model::AnimateMix),
        "move" => Ok(Model::AnimateMove),
        "" => Err("a model is required: `mix` or `move`".into()),
        full if full.starts_with("wan") => Ok(Model::from(full)),
        other => Err(format!(
            "unknown model {other:?}: use `mix` (swap the person into the video), `move` (animate the image), or a full name such as wan2.2-animate-mix"
        )),
    }
}

/// `std`/`pro` or `wan-std`/`wan-pro`.
pub fn parse_mode(s: &str) -> Result<Mode, String> {
    match s.trim() {
        "std" | "standard" | "wan-std" => Ok(Mode::Standard),
        "pro" | "wan-pro" => Ok(Mode::Pro),
        other => Err(format!("unknown mode {other:?}: use `std` or `pro`")),
    }
}

/// A documented task status, case-insensitive.
pub fn parse_status(s: &str) -> Result<TaskStatus, String> {
    let upper = s.trim().to_ascii_uppercase();
    TaskStatus::KNOWN
        .iter()
        .find(|k| k.as_str() == upper)
        .cloned()
        .ok_or_else(|| {
            format!(
                "unknown status {s:?}: use PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED or UNKNOWN"
            )
        })
}

/// The longest duration any flag accepts: a year. Longer values are surely mistakes, and
/// bounding them keeps every deadline computation far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// `90s`, `15m`, `3h`, `2d`, `1h30m`, `250ms`, or plain seconds; at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_unbounded(s)?;
    if d > MAX_DURATION {
        return Err(format!("duration {s:?} is too long: at most 366d"));
    }
    Ok(d)
}

fn parse_duration_unbounded(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "invalid duration {s:?}: use a number with ms, s, m, h or d, e.g. 500ms, 90s, 15m, 3h, 1d"
        )
    };
    if let Some(ms) = s.strip_suffix("ms") {
        let n: u64 = ms.parse().map_err(|_| bad())?;
        return Ok(Duration::from_millis(n));
    }
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in s.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            's' | 'm' | 'h' | 'd' => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                total += n * match c {
                    's' => 1.0,
                    'm' => 60.0,
                    'h' => 3600.0,
                    _ => 86_400.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() {
        return Err(bad());
    }
    if !total.is_finite() {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// A non-empty API key without spaces or control characters. The key itself is never echoed.
pub fn parse_api_key(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("the API key is empty: give a key (sk-...), or leave --api-key out to use DASHSCOPE_API_KEY or ~/.dashscope/api_key".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "the API key contains spaces or control characters (a stray newline or quote?)".into(),
        );
    }
    Ok(s.to_owned())
}

/// A rate in requests per second: a number from 0.01 to 1000.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number: give requests per second, e.g. 5 or 0.5"))?;
    if !(0.01..=1000.0).contains(&v) {
        return Err(format!(
            "{s:?} is out of range: give from 0.01 to 1000 requests per second"
        ));
    }
    Ok(v)
}

/// A count of tasks in flight: 1 to 1000.
pub fn parse_in_flight(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a count from 1 to 1000")),
    }
}

/// A simulator time scale: from 0.001 to 1,000,000 simulated seconds per real second.
pub fn parse_time_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.001..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a factor from 0.001 to 1000000")),
    }
}

/// A probability from 0 to 1.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a probability from 0 to 1")),
    }
}

/// One end of a `list` window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowTime {
    /// That long before now.
    Ago(Duration),
    /// A literal service time, `YYYYMMDDhhmmss` in UTC+8.
    At(String),
}

/// `2h`, `1d` (that long ago) or `YYYYMMDDhhmmss` (UTC+8).
pub fn parse_window_time(s: &str) -> Result<WindowTime, String> {
    let s = s.trim();
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        if wan_animate_types::ListTime::new(s)
            .to_unix_millis()
            .is_none()
        {
            return Err(format!("{s:?} is not a valid YYYYMMDDhhmmss time"));
        }
        return Ok(WindowTime::At(s.to_owned()));
    }
    parse_duration(s).map(WindowTime::Ago).map_err(|_| {
        format!("{s:?} is neither a duration ago (90m, 6h, 1d) nor a time YYYYMMDDhhmmss (UTC+8)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_the_documented_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("3h"), Ok(Duration::from_secs(10_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "10x", "-5s", "5 m", "1h30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn models_and_modes_accept_short_and_full_names() {
        assert_eq!(parse_model("mix"), Ok(Model::AnimateMix));
        assert_eq!(parse_model("wan2.2-animate-move"), Ok(Model::AnimateMove));
        assert!(parse_model("swap").unwrap_err().contains("`mix`"));
        assert_eq!(parse_mode("pro"), Ok(Mode::Pro));
        assert_eq!(parse_mode("wan-std"), Ok(Mode::Standard));
        assert!(parse_mode("fast").is_err());
        assert_eq!(parse_status("running"), Ok(TaskStatus::Running));
        assert!(parse_status("DONE").is_err());
    }
}
