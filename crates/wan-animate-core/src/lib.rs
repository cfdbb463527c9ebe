//! A transport-agnostic client for Alibaba Cloud Model Studio (DashScope) **Wan 2.2 Animate**.
//!
//! - [`Client`]: submit, get, cancel, list, wait (and watch as a stream of events), upload
//!   local files, download results. Cheap to clone, not generic.
//! - [`http`]: the seam. Any HTTP backend implements [`http::HttpClient`]; the reqwest one is
//!   in `wan-animate-reqwest`, which also has the one-line `client()`.
//! - [`Error`]: one error type that always carries what the service said and a [`ErrorKind`].
//!
//! Paid tasks are never lost or paid twice: `submit` hands out the task id before anything
//! waits, retries the create request only when nothing can have been created, reconciles
//! with the task list after an ambiguous failure (adopting only a task provably its own:
//! [`Client::reconcile_create`]), and records every task in a [`TaskJournal`] when one is
//! configured. [`TaskOutcome`] is the one mapping from a finished task to a result; every
//! operation can be bounded with [`Client::with_deadline`].
//!
//! ```
//! use wan_animate_core::test_util::{MockHttp, MockReply};
//! use wan_animate_core::types::{CreateTaskRequest, Mode, Model};
//! use wan_animate_core::{Client, ClientConfig};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // An in-memory backend standing in for the service.
//! let http = MockHttp::new(|req| match req.path() {
//!     "/api/v1/services/aigc/image2video/video-synthesis" => MockReply::json(200, r#"{"output":{"task_id":"t-1","task_status":"PENDING"},"request_id":"r-1"}"#),
//!     _ => MockReply::json(200, r#"{"output":{"task_id":"t-1","task_status":"SUCCEEDED","results":{"video_url":"https://x/t-1.mp4"}}}"#),
//! });
//! let client = Client::new(ClientConfig::new("sk-example"), http)?;
//!
//! let request = CreateTaskRequest::new(Model::AnimateMix, "https://x/me.jpg", "https://x/dance.mp4", Mode::Standard);
//! let task = client.submit(&request).await?;
//! let done = client.wait(&task.task_id).await?;
//! assert_eq!(done.output.video_url(), Some("https://x/t-1.mp4"));
//! # Ok::<(), wan_animate_core::Error>(()) }).unwrap();
//! ```
//!
//! Every main method has an example that runs against the in-memory doubles of
//! `test_util` (feature `test-util`): [`Client::submit`], [`Client::get`],
//! [`Client::wait`], [`Client::watch`] (the event stream), [`Client::cancel`],
//! [`Client::list`], [`Client::list_all`], `Client::upload_file`,
//! `Client::download_result` (to a temporary directory), and handling an [`Error`] by its
//! kind. Your own tests can use the same doubles, or run the simulator (`wan-animate-sim`).
//!
//! To use the library in a program, depend on `wan-animate-reqwest` (the ready-made HTTP
//! backend) and `tokio`, and build the client with `wan_animate_reqwest::client_from_env()`.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
#[cfg(feature = "rt-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
pub mod download;
// Some helpers serve only the file-based parts (uploads, downloads).
#[cfg_attr(not(feature = "rt-tokio"), allow(dead_code))]
pub mod error;
pub mod http;
#[cfg(feature = "rt-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
pub mod input;
pub mod journal;
pub mod poll;
pub mod predict;
pub mod pricing;
pub mod progress;
pub(crate) mod protocol;
pub mod retry;
pub mod rt;
#[cfg(feature = "rt-tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
pub mod upload;

mod budget;
mod client;
mod intents;
mod list;
mod outcome;
mod reconcile;
mod signals;
mod skew;
mod submit;
mod wait;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

pub use ::http as http_types;
pub use client::{Client, ClientBuilder};
pub use journal::{JournalEntry, TaskJournal};
pub use list::LIST_ALL_MAX_PAGES;
pub use outcome::TaskOutcome;
// Kept until batch uses the lifecycle (`Client::reconcile_create`).
pub use config::{ApiKey, ClientConfig, ConfigOverrides, Region};
pub use error::{Error, ErrorKind, NextStep, Setting};
pub use poll::{PollPolicy, TaskEvent};
#[doc(hidden)]
pub use reconcile::{RECONCILE_MAX_PAGES, ReconcileRequest, Reconciled};
pub use retry::RetryPolicy;
pub use signals::CompletionSignals;
pub use submit::SubmittedTask;
#[cfg(feature = "rt-tokio")]
pub use upload::{AnimateJob, AnimateSubmission, UploadedFile};
pub use wan_animate_types as types;
