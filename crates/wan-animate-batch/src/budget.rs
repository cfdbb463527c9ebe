//! `--budget`: every job priced before anything is paid, and a running total of the estimates
//! of the jobs submitted, checked before each create.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ledger::{JobRecord, JobState};
use crate::manifest::{Job, ManifestProblem, MediaSource};
use crate::report::{BudgetOutcome, Pricing};

/// The estimates of a batch's jobs and what is committed of the budget.
#[derive(Debug)]
pub(crate) struct BudgetState {
    amount: f64,
    currency: String,
    estimates: HashMap<String, f64>,
    spent: Mutex<f64>,
    held: Mutex<Vec<String>>,
}

/// Whether a job in `state` counts against the budget: a create was sent or may have been.
pub(crate) fn counts(state: JobState) -> bool {
    matches!(
        state,
        JobState::Submitting | JobState::Submitted | JobState::Succeeded | JobState::Downloaded
    )
}

impl BudgetState {
    /// Prices every job (the video's duration probed once per file): a job whose cost cannot
    /// be known is a problem on its line, as is a second currency.
    pub(crate) fn plan(
        amount: f64,
        jobs: &[Job],
        pricing: &Pricing,
    ) -> Result<Self, Vec<ManifestProblem>> {
        let mut problems = Vec::new();
        let mut estimates = HashMap::new();
        let mut currency: Option<String> = None;
        let mut durations: HashMap<std::path::PathBuf, Result<f64, String>> = HashMap::new();
        for job in jobs {
            let (model, mode) = (job.model.as_str(), job.mode.as_str());
            let mut problem = |message: String| {
                problems.push(ManifestProblem {
                    line: job.line,
                    message,
                })
            };
            let Some(price) = pricing.table.lookup(model, mode, &pricing.region) else {
                problem(format!(
                    "no price is known for {model} {mode} in {}, so this job cannot be kept within --budget; give its price with --prices FILE or run it without --budget",
                    pricing.region
                ));
                continue;
            };
            let seconds = match &job.video {
                MediaSource::File(path) => durations
                    .entry(path.clone())
                    .or_insert_with(|| match wan_animate_media::probe_file(path) {
                        Ok(info) => info
                            .duration_secs
                            .ok_or_else(|| format!("{} states no duration", path.display())),
                        Err(e) => Err(format!("{} cannot be probed: {e}", path.display())),
                    })
                    .clone(),
                MediaSource::Url(u) | MediaSource::Oss(u) => Err(format!(
                    "the video {u} is not a local file, so its duration (and the job's cost) is unknown"
                )),
            };
            let seconds = match seconds {
                Ok(s) => s,
                Err(why) => {
                    problem(format!(
                        "the cost of this job is unknown ({why}); with --budget give the video as a local file, or run without --budget"
                    ));
                    continue;
                }
            };
            match &currency {
                Some(c) if c != &price.currency => {
                    problem(format!(
                        "the price of {model} {mode} is in {}, other jobs' in {c}: one budget needs one currency",
                        price.currency
                    ));
                    continue;
                }
                Some(_) => {}
                None => currency = Some(price.currency.clone()),
            }
            let estimate = pricing
                .table
                .estimate(model, mode, &pricing.region, seconds);
            estimates.insert(job.id.clone(), estimate.cost.unwrap_or(0.0));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            amount,
            currency: currency.unwrap_or_default(),
            estimates,
            spent: Mutex::new(0.0),
            held: Mutex::new(Vec::new()),
        })
    }

    /// Counts the jobs the ledger shows as submitted (earlier runs).
    pub(crate) fn count_recorded(&self, records: &[JobRecord]) {
        let already: f64 = records
            .iter()
            .filter(|r| counts(r.state()))
            .map(|r| self.estimates.get(&r.job_id).copied().unwrap_or(0.0))
            .sum();
        *self.spent.lock().unwrap_or_else(|p| p.into_inner()) += already;
    }

    /// Commits `job_id`'s estimate if it fits; `Err` with the note to record if it does not.
    pub(crate) fn reserve(&self, job_id: &str) -> Result<(), String> {
        let cost = self.estimates.get(job_id).copied().unwrap_or(0.0);
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        // A millionth of tolerance: estimates are rounded to a millionth.
        if *spent + cost > self.amount + 1e-6 {
            let note = format!(
                "held back by the budget: estimated {cost:.2} {c} on top of {spent:.2} {c} already committed would pass --budget {amount} {c}; not submitted",
                c = self.currency,
                spent = *spent,
                amount = self.amount
            );
            drop(spent);
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if !held.iter().any(|h| h == job_id) {
                held.push(job_id.to_owned());
            }
            return Err(note);
        }
        *spent += cost;
        Ok(())
    }

    /// Gives back a reservation of a job that ended without a task.
    pub(crate) fn release(&self, job_id: &str) {
        let cost = self.estimates.get(job_id).copied().unwrap_or(0.0);
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        *spent = (*spent - cost).max(0.0);
    }

    /// What the budget did.
    pub(crate) fn outcome(&self) -> BudgetOutcome {
        let spent = *self.spent.lock().unwrap_or_else(|p| p.into_inner());
        BudgetOutcome {
            amount: self.amount,
            currency: self.currency.clone(),
            spent_estimate: (spent * 1e6).round() / 1e6,
            held_back: self.held.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wan_animate_types::{Mode, Model};

    fn sample(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/samples")
            .join(name)
    }

    fn job(id: &str, line: usize, model: Model, video: MediaSource) -> Job {
        Job {
            id: id.into(),
            line,
            model,
            image: MediaSource::File(sample("person.jpg")),
            video,
            mode: Mode::Standard,
            watermark: None,
            check_image: None,
            output: format!("{id}.mp4").into(),
        }
    }

    fn mix(id: &str) -> Job {
        job(
            id,
            1,
            Model::AnimateMix,
            MediaSource::File(sample("dance.mp4")),
        )
    }

    #[test]
    fn jobs_without_a_price_or_a_probed_duration_are_refused_by_line() {
        let jobs = [
            mix("a"),
            job(
                "b",
                2,
                Model::AnimateMove,
                MediaSource::File(sample("dance.mp4")),
            ),
            job(
                "c",
                3,
                Model::AnimateMix,
                MediaSource::Url("https://x/v.mp4".into()),
            ),
        ];
        let problems = BudgetState::plan(10.0, &jobs, &Pricing::builtin()).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(
            problems[0]
                .message
                .contains("no price is known for wan2.2-animate-move")
        );
        assert!(problems[1].message.contains("https://x/v.mp4"));
    }

    #[test]
    fn a_job_that_would_pass_the_budget_is_held_and_a_failed_one_gives_its_estimate_back() {
        let jobs = [mix("a"), mix("b"), mix("c")];
        let b = BudgetState::plan(4.0, &jobs, &Pricing::builtin()).unwrap();
        assert!(b.reserve("a").is_ok()); // 1.8
        assert!(b.reserve("b").is_ok()); // 3.6
        let note = b.reserve("c").unwrap_err();
        assert!(
            note.contains("--budget 4 CNY") && note.contains("3.60"),
            "{note}"
        );
        b.release("b");
        assert!(b.reserve("c").is_ok());
        let o = b.outcome();
        assert_eq!(o.spent_estimate, 3.6);
        assert_eq!(o.held_back, ["c"]);
        assert_eq!(o.currency, "CNY");
    }

    #[test]
    fn jobs_submitted_by_an_earlier_run_count_against_the_budget() {
        let jobs = [mix("a"), mix("b"), mix("c")];
        let b = BudgetState::plan(4.0, &jobs, &Pricing::builtin()).unwrap();
        let rec = |id: &str, state| JobRecord {
            job_id: id.into(),
            state: Some(state),
            ..JobRecord::default()
        };
        b.count_recorded(&[
            rec("a", JobState::Downloaded),
            rec("b", JobState::Submitted),
            rec("c", JobState::Queued),
        ]);
        assert!(b.reserve("c").is_err(), "3.6 committed, 1.8 more passes 4");
    }
}
