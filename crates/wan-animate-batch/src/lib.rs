//! Resumable, rate-aware batches of Wan 2.2 Animate jobs.
//!
//! - [`manifest`]: JSON Lines or CSV, one job per line, validated up front with every
//!   problem (outputs included) reported by line number.
//! - [`engine`]: the scheduler ([`run`]); [`report`]: the report it writes.
//! - [`ledger`]: the narrow interface ([`ledger::LedgerStore`]) the scheduler writes through,
//!   with its guarantees (one writer, compare-and-set transitions, durable before returning),
//!   and its SQLite implementation; [`store`]: the thread that runs it off the async workers.
//! - [`endpoint`]: where a ledger's tasks live, checked on resume.
//!
//! ```
//! use wan_animate_batch::ledger::{JobState, Ledger, LedgerStore};
//! # let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open(&dir.path().join("batch.sqlite"))?;
//! assert_eq!(ledger.summary()?.total, 0);
//! assert!(JobState::Downloaded.is_final());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
pub mod endpoint;
pub mod engine;
pub mod ledger;
pub mod lock;
pub mod manifest;
mod rate;
pub mod report;
pub mod store;

pub use endpoint::EndpointIdentity;
pub use engine::{BatchError, BatchOptions, run, run_with_ledger};
pub use report::{BudgetOutcome, CostTotals, JobReport, ParkedDownload, Pricing, Report};
