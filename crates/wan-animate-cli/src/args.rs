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
pub struct GlobalArgs {
    /// API key (also read from DASHSCOPE_API_KEY, DASHSCOPE_API_KEY_FILE_PATH or ~/.dashscope/api_key).
    /// Never echoed, never logged.
    #[arg(
        long,
        global = true,
        env = "DASHSCOPE_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
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
    #[arg(long, global = true, env = "WAN_ANIMATE_SIM", hide_env_values = true, action = clap::ArgAction::SetTrue)]
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
    #[arg(long, global = true, value_name = "N", default_value_t = 4)]
    pub retries: u32,

    /// Overall deadline of the command, e.g. 90s, 15m, 3h. On expiry the task id is printed
    /// so the task can be resumed with `wan-animate wait ID`.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight local files, upload them, submit, wait, and download the result.
    Run(RunArgs),
    /// Submit only; prints the task id (JSON: the create response).
    Submit(SubmitArgs),
    /// Query a task once.
    Status(TaskIdArgs),
    /// Wait for a task to end, then download the result unless told not to.
    Wait(WaitArgs),
    /// Cancel a PENDING task.
    Cancel(TaskIdArgs),
    /// List tasks of the account.
    List(ListArgs),
    /// Resumable, atomic download of a result (by task id or URL).
    Download(DownloadArgs),
    /// Upload a local file to temporary storage; prints the oss:// URL (valid 48 h).
    Upload(UploadArgs),
    /// Check local media against the documented limits, without network.
    Check(CheckArgs),
    /// Many jobs from a manifest: resumable, rate-aware, with a durable ledger and a report.
    Batch(BatchArgs),
    /// Run the simulator as a server until interrupted; prints its base URL.
    Sim(SimArgs),
    /// Receive task completion events (EventBridge HTTP target) until interrupted; prints
    /// each accepted event as one NDJSON line.
    Listen(ListenArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

/// Inputs of a new task (shared by `run` and `submit`).
#[derive(Debug, Args)]
pub struct TaskInputArgs {
    /// `mix` (swap the person into the video), `move` (animate the image) or a full model name.
    #[arg(long, value_parser = parse_model)]
    pub model: Model,
    /// The character image: a local path, an https:// URL or an oss:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub image: String,
    /// The driving video: a local path, an https:// URL or an oss:// URL.
    #[arg(long, value_name = "PATH|URL")]
    pub video: String,
    /// `std` (faster, cheaper) or `pro` (smoother, pricier); also `wan-std`, `wan-pro`.
    #[arg(long, default_value = "std", value_parser = parse_mode)]
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
    /// The task's inputs.
    #[command(flatten)]
    pub input: TaskInputArgs,
    /// Where to write the video (default: ./<task_id>.mp4).
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
    /// Print NDJSON status events on stdout (with --json).
    #[arg(long)]
    pub events: bool,
}

/// `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The task's inputs.
    #[command(flatten)]
    pub input: TaskInputArgs,
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
    /// The task id printed by `submit` or `run`.
    #[arg(value_name = "TASK_ID")]
    pub task_id: String,
    /// Where to write the video (default: ./<task_id>.mp4).
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
    /// Print NDJSON status events on stdout (with --json).
    #[arg(long)]
    pub events: bool,
}

/// `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this status (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, UNKNOWN).
    #[arg(long, value_parser = parse_status)]
    pub status: Option<TaskStatus>,
    /// Only tasks of this model (`mix`, `move` or a full name).
    #[arg(long, value_parser = parse_model)]
    pub model: Option<Model>,
    /// Window start: a duration ago (`2h`) or YYYYMMDDhhmmss (UTC+8). The window is at most 24 h.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Window end: a duration ago (`10m`) or YYYYMMDDhhmmss (UTC+8).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Page number, from 1.
    #[arg(long, value_name = "N")]
    pub page: Option<u32>,
    /// Tasks per page (service default 10).
    #[arg(long, value_name = "N")]
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
    #[arg(long, value_parser = parse_model)]
    pub model: Model,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Images and videos to check.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
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
    #[arg(long, default_value_t = 5.0, value_name = "N")]
    pub create_rps: f64,
    /// Task queries per second, all jobs together (documented limit: 20).
    #[arg(long, default_value_t = 20.0, value_name = "N")]
    pub task_rps: f64,
    /// Submitted but unfinished tasks per model.
    #[arg(long, default_value_t = 2, value_name = "N")]
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
    #[arg(long, default_value_t = 60.0, value_name = "FACTOR")]
    pub time_scale: f64,
    /// API key the simulator accepts (default: the built-in simulator key).
    #[arg(long = "accept-key", value_name = "KEY")]
    pub accept_keys: Vec<String>,
    /// Seed of the fault injector; with --fault-rate, the same seed gives the same faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability (0..1) of injecting a fault into a request (429, 5xx, dropped connection, slow reply).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
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

/// `90s`, `15m`, `3h`, `1h30m`, `250ms`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse::<u64>().map(Duration::from_millis).map_err(|_| {
            format!(
                "invalid duration {s:?}: use a number with ms, s, m or h, e.g. 500ms, 90s, 15m, 3h"
            )
        });
    }
    let bad = || format!("invalid duration {s:?}: use a number with s, m or h, e.g. 90s, 15m, 3h");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in s.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            's' | 'm' | 'h' => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                total += n * match c {
                    's' => 1.0,
                    'm' => 60.0,
                    _ => 3600.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
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
