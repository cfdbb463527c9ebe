//! The HTTP routes: the DashScope API under the base path, the OSS-style upload host and the
//! result files. Every answer has the documented shape and an `X-Request-ID`.

mod common;
mod results;
mod tasks;
mod uploads;

pub(crate) use common::{App, Shared, Storage, Truncate, api_error, counters};
pub(crate) use results::result_file;
pub(crate) use tasks::{cancel_task, create_task, get_task, list_tasks};
pub(crate) use uploads::{get_policy, oss_upload};
