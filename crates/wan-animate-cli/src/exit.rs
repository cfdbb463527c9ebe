//! The exit-code contract of `docs/cli.md`: one table, used by the program and its docs.

/// Every exit code the CLI uses. Scripts branch on these; they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: the task ended `FAILED` (not one of the kinds below), or an unexpected error.
    Failure,
    /// 2: usage error (bad flags).
    Usage,
    /// 3: authentication or permission.
    Auth,
    /// 4: throttled after retries, quota or billing.
    QuotaOrThrottled,
    /// 5: the deadline (`--timeout`) was reached while the task was still running.
    Deadline,
    /// 6: network or service unavailable after retries.
    Unavailable,
    /// 7: the task was `CANCELED`, or is `UNKNOWN` (expired or never existed).
    CanceledOrUnknown,
    /// 8: invalid input (preflight violations, `InvalidParameter*`, `InvalidFile.*`, missing file).
    InvalidInput,
    /// 9: local I/O (no space left, permission denied, read-only or busy file system).
    LocalIo,
    /// 10: content moderation (`DataInspectionFailed`, `IPInfringementSuspect`).
    Moderation,
    /// 129: the terminal hung up (SIGHUP); the task id is printed so it can be resumed.
    HungUp,
    /// 130: interrupted (Ctrl-C, SIGINT).
    Interrupted,
    /// 143: terminated (SIGTERM); the task id is printed so it can be resumed.
    Terminated,
}

impl Exit {
    /// Every code, in the documented order.
    pub const ALL: &'static [Exit] = &[
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::Auth,
        Exit::QuotaOrThrottled,
        Exit::Deadline,
        Exit::Unavailable,
        Exit::CanceledOrUnknown,
        Exit::InvalidInput,
        Exit::LocalIo,
        Exit::Moderation,
        Exit::HungUp,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Auth => 3,
            Exit::QuotaOrThrottled => 4,
            Exit::Deadline => 5,
            Exit::Unavailable => 6,
            Exit::CanceledOrUnknown => 7,
            Exit::InvalidInput => 8,
            Exit::LocalIo => 9,
            Exit::Moderation => 10,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// What the code means, as documented.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Failure => {
                "the task ended `FAILED` (service-side failure that is not one of the kinds below), or an unexpected error"
            }
            Exit::Usage => "usage error (bad flags)",
            Exit::Auth => {
                "authentication or permission (`InvalidApiKey`, `AccessDenied*`, workspace errors, 401/403)"
            }
            Exit::QuotaOrThrottled => {
                "throttled after retries, quota or billing (`Throttling*`, `Arrearage`, overdue bills, free tier exhausted)"
            }
            Exit::Deadline => {
                "deadline reached (`--timeout`), task still running; the task id is printed so it can be resumed"
            }
            Exit::Unavailable => {
                "network or service unavailable after retries (connect errors, 5xx)"
            }
            Exit::CanceledOrUnknown => {
                "the task was `CANCELED`, or is `UNKNOWN` (expired or never existed)"
            }
            Exit::InvalidInput => {
                "invalid input: preflight violations, `InvalidParameter*`, `InvalidFile.*`, `BadRequest.*`, missing file"
            }
            Exit::LocalIo => {
                "local I/O: no space left, permission denied, read-only or busy file system (the task is safe; free space and run again)"
            }
            Exit::Moderation => {
                "content moderation (`DataInspectionFailed`, `IPInfringementSuspect`)"
            }
            Exit::HungUp => {
                "the terminal hung up (SIGHUP); handled like Ctrl-C, the task id is printed so it can be resumed"
            }
            Exit::Interrupted => {
                "interrupted (Ctrl-C); the task id is printed so it can be resumed"
            }
            Exit::Terminated => {
                "terminated (SIGTERM); handled like Ctrl-C, the task id is printed so it can be resumed"
            }
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_contract_table() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 129, 130, 143]);
    }
}
