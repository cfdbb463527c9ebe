//! Create requests in flight, so that reconciliation never adopts another request's task.
//!
//! Without a `request_id`, reconciliation can only say "the one task of this model created in
//! the request's window". That proves nothing when another create of the same model, from this
//! process or another one sharing the task journal, was in flight at the same moment: its task
//! may be the one in the window, not yet recorded anywhere (its own reconciliation may still be
//! running). So every `submit` announces its create before sending it and records how it ended;
//! a reconciliation by window refuses to adopt while an overlapping create of the same model
//! may have made a task that nobody has recorded yet.
//!
//! Announcements live in memory (this process) and, when a task journal is configured, as extra
//! lines in the journal (other processes). Journal readers that know only task lines skip them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::skew::unix_ms;

/// How long an announced create with no recorded end is presumed able to make a task: longer
/// than any create with its retries and reconciliation. A process killed mid-create leaves such
/// an announcement; past this horizon it no longer blocks anybody.
pub(crate) const UNENDED_HORIZON_MS: i64 = 10 * 60_000;
/// Local clocks of one machine agree; this covers the rounding of the stamps.
const OVERLAP_MARGIN_MS: i64 = 1_000;

/// How an announced create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CreateEnd {
    /// Its task is known (and recorded as a task line).
    Created,
    /// It provably created nothing.
    Nothing,
    /// It may have created a task that nobody identified.
    Unknown,
}

/// One journal line about a create: written once when it starts (no end) and once when it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CreateLine {
    /// The announcement's id (random, unique per `submit` call).
    pub(crate) create_intent: String,
    pub(crate) model: String,
    pub(crate) base_url: String,
    pub(crate) pid: u32,
    pub(crate) started_at_unix_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ended_at_unix_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end: Option<CreateEnd>,
}

/// What is known of one create, merged from its lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Create {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) base_url: String,
    pub(crate) started_ms: i64,
    pub(crate) ended_ms: Option<i64>,
    pub(crate) end: Option<CreateEnd>,
}

impl Create {
    /// Whether this create may have made a task that nobody recorded, during `[from, to]`
    /// (local Unix milliseconds), as seen at `now`.
    pub(crate) fn may_have_made_an_unrecorded_task(&self, from: i64, to: i64, now: i64) -> bool {
        if matches!(self.end, Some(CreateEnd::Created | CreateEnd::Nothing)) {
            return false;
        }
        let until = self
            .ended_ms
            .unwrap_or_else(|| now.min(self.started_ms.saturating_add(UNENDED_HORIZON_MS)));
        self.started_ms <= to + OVERLAP_MARGIN_MS && until >= from - OVERLAP_MARGIN_MS
    }
}

/// Merges journal lines (in file order) into creates.
pub(crate) fn merge(lines: impl IntoIterator<Item = CreateLine>) -> Vec<Create> {
    let mut by_id: HashMap<String, Create> = HashMap::new();
    let mut order = Vec::new();
    for l in lines {
        let c = by_id.entry(l.create_intent.clone()).or_insert_with(|| {
            order.push(l.create_intent.clone());
            Create {
                id: l.create_intent.clone(),
                model: l.model.clone(),
                base_url: l.base_url.clone(),
                started_ms: l.started_at_unix_ms,
                ended_ms: None,
                end: None,
            }
        });
        if l.end.is_some() {
            c.end = l.end;
            c.ended_ms = l.ended_at_unix_ms;
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// The creates of this process.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    creates: Mutex<HashMap<String, Create>>,
}

impl InFlight {
    pub(crate) fn start(&self, c: Create) {
        if let Ok(mut m) = self.creates.lock() {
            // Bounded: ended creates older than the horizon cannot overlap anything new.
            let horizon = c.started_ms - 2 * UNENDED_HORIZON_MS;
            m.retain(|_, old| old.ended_ms.is_none_or(|e| e >= horizon));
            m.insert(c.id.clone(), c);
        }
    }

    pub(crate) fn end(&self, id: &str, end: CreateEnd, at: SystemTime) {
        if let Ok(mut m) = self.creates.lock()
            && let Some(c) = m.get_mut(id)
        {
            c.end = Some(end);
            c.ended_ms = Some(unix_ms(at));
        }
    }

    pub(crate) fn all(&self) -> Vec<Create> {
        self.creates
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(started: i64, ended: Option<i64>, end: Option<CreateEnd>) -> Create {
        Create {
            id: "c".into(),
            model: "m".into(),
            base_url: "b".into(),
            started_ms: started,
            ended_ms: ended,
            end,
        }
    }

    #[test]
    fn only_creates_that_may_hide_a_task_and_overlap_the_window_count() {
        let now = 1_000_000;
        // Still in flight, started inside the window.
        assert!(create(10_000, None, None).may_have_made_an_unrecorded_task(9_000, 12_000, now));
        // Ended with its task known, or with nothing made: harmless.
        assert!(
            !create(10_000, Some(11_000), Some(CreateEnd::Created))
                .may_have_made_an_unrecorded_task(9_000, 12_000, now)
        );
        assert!(
            !create(10_000, Some(11_000), Some(CreateEnd::Nothing))
                .may_have_made_an_unrecorded_task(9_000, 12_000, now)
        );
        // Ended unknown, overlapping: counts.
        assert!(
            create(10_000, Some(11_000), Some(CreateEnd::Unknown))
                .may_have_made_an_unrecorded_task(9_000, 12_000, now)
        );
        // Ended unknown long before the window: does not.
        assert!(
            !create(1_000, Some(2_000), Some(CreateEnd::Unknown))
                .may_have_made_an_unrecorded_task(9_000, 12_000, now)
        );
        // Never ended (its process died): only within the horizon.
        assert!(!create(0, None, None).may_have_made_an_unrecorded_task(
            UNENDED_HORIZON_MS + 5_000,
            UNENDED_HORIZON_MS + 9_000,
            now
        ));
    }

    #[test]
    fn lines_merge_by_announcement() {
        let start = CreateLine {
            create_intent: "a".into(),
            model: "m".into(),
            base_url: "b".into(),
            pid: 1,
            started_at_unix_ms: 5,
            ended_at_unix_ms: None,
            end: None,
        };
        let mut end = start.clone();
        end.ended_at_unix_ms = Some(9);
        end.end = Some(CreateEnd::Created);
        let merged = merge([start.clone(), end]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].end, Some(CreateEnd::Created));
        assert_eq!(merged[0].ended_ms, Some(9));
        let merged = merge([start]);
        assert_eq!(merged[0].end, None);
    }
}
