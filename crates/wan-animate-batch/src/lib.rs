//! Resumable, rate-aware batches of Wan 2.2 Animate jobs.
//!
//! - [`manifest`]: JSON Lines or CSV, one job per line, validated up front with every
//!   problem reported by line number.
//! - [`engine`]: the scheduler ([`run`]) and the report.
//! - [`ledger`]: a SQLite file (WAL) holding each job's state; every transition is one
//!   transaction written before the action it records, so a re-run resumes without paying twice.
//!
//! ```
//! use wan_animate_batch::ledger::{JobState, Ledger};
//! # let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open(&dir.path().join("batch.sqlite"))?;
//! assert_eq!(ledger.summary()?.total, 0);
//! assert!(JobState::Downloaded.is_final());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod engine;
pub mod ledger;
pub mod manifest;

pub use engine::{BatchError, BatchOptions, JobReport, Report, run};
