//! The batch manifest: one job per line, as JSON Lines or CSV, validated up front.
//!
//! Every problem is reported with its line number before anything is uploaded or
//! submitted, so a typo on line 317 never costs the 316 jobs before it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wan_animate_types::{Mode, Model};

/// Where a job's image or video comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum MediaSource {
    /// A local file, resolved against the manifest's directory.
    File(PathBuf),
    /// An `http(s)://` URL the service fetches itself.
    Url(String),
    /// An `oss://` temporary-upload URL.
    Oss(String),
}

impl MediaSource {
    /// Classifies a manifest value: URLs by scheme, everything else a path relative to `base`.
    pub fn parse(value: &str, base: &Path) -> Self {
        let lower = value.to_ascii_lowercase();
        if lower.starts_with("oss://") {
            Self::Oss(value.to_owned())
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(value.to_owned())
        } else {
            let path = Path::new(value.strip_prefix("file://").unwrap_or(value));
            Self::File(if path.is_absolute() {
                path.to_path_buf()
            } else {
                base.join(path)
            })
        }
    }
}

impl fmt::Display for MediaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Url(u) | Self::Oss(u) => f.write_str(u),
        }
    }
}

/// One validated job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The stable id that ties the job to its ledger row across runs.
    pub id: String,
    /// The manifest line it came from (1-based).
    pub line: usize,
    /// The model.
    pub model: Model,
    /// The character image.
    pub image: MediaSource,
    /// The driving video.
    pub video: MediaSource,
    /// `wan-std` or `wan-pro`.
    pub mode: Mode,
    /// `input.watermark`, if set.
    pub watermark: Option<bool>,
    /// `parameters.check_image`, if set.
    pub check_image: Option<bool>,
    /// Output file name, relative to the output directory.
    pub output: PathBuf,
}

/// A problem with one line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestProblem {
    /// 1-based line number (for CSV: the physical line of the record).
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a manifest was rejected: every problem found, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestError {
    /// The manifest path.
    pub path: PathBuf,
    /// Every problem.
    pub problems: Vec<ManifestProblem>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} has {} problem(s); nothing was uploaded or submitted:",
            self.path.display(),
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// A line of the manifest before validation. Every field is optional so that a missing
/// field is reported as such instead of as a parse error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: Option<String>,
    model: Option<String>,
    image: Option<String>,
    video: Option<String>,
    mode: Option<String>,
    watermark: Option<RawBool>,
    check_image: Option<RawBool>,
    output: Option<String>,
}

/// Booleans as JSON booleans or as the strings spreadsheets produce.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawBool {
    Bool(bool),
    Text(String),
}

impl RawBool {
    fn value(&self) -> Result<Option<bool>, String> {
        match self {
            RawBool::Bool(b) => Ok(Some(*b)),
            RawBool::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "yes" | "1" => Ok(Some(true)),
                "false" | "no" | "0" => Ok(Some(false)),
                other => Err(format!("{other:?} is not a boolean (use true or false)")),
            },
        }
    }
}

/// Reads and validates a manifest file. `.csv` files are CSV with a header row; anything
/// else is JSON Lines (blank lines and lines starting with `#` are skipped).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("jobs.jsonl");
/// std::fs::write(&path, r#"{"id":"a","model":"mix","image":"https://x/p.jpg","video":"https://x/v.mp4"}"#)?;
/// let jobs = wan_animate_batch::manifest::load(&path, false)?;
/// assert_eq!(jobs[0].output, std::path::PathBuf::from("a.mp4"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With `check_files`, local inputs must exist (set it when the manifest is about to run).
pub fn load(path: &Path, check_files: bool) -> Result<Vec<Job>, ManifestError> {
    let fail = |line, message: String| ManifestError {
        path: path.to_path_buf(),
        problems: vec![ManifestProblem { line, message }],
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(0, format!("cannot read the manifest: {e}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let raw = if is_csv {
        parse_csv(&text)
    } else {
        parse_jsonl(&text)
    };
    validate(path, base, raw, check_files)
}

/// [`load`] for a run into `out_dir`, with local files checked and the outputs checked by
/// [`check_outputs`]: every problem of both kinds in one list, by line.
pub fn load_for_run(
    path: &Path,
    out_dir: &Path,
    reserved: &[PathBuf],
) -> Result<Vec<Job>, ManifestError> {
    let (jobs, mut problems) = match load(path, true) {
        Ok(jobs) => (jobs, Vec::new()),
        Err(e) => {
            // The jobs that did parse still get their outputs checked, so that one run of
            // the command shows every problem. A read error has nothing more to check.
            let partial = load_lenient(path);
            (partial, e.problems)
        }
    };
    if let Err(e) = check_outputs(path, &jobs, out_dir, reserved) {
        problems.extend(e.problems);
    }
    if problems.is_empty() {
        Ok(jobs)
    } else {
        problems.sort_by_key(|p| p.line);
        problems.dedup();
        Err(ManifestError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// The jobs of a manifest that validate on their own (for reporting more problems).
fn load_lenient(path: &Path) -> Vec<Job> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let raw = if is_csv {
        parse_csv(&text)
    } else {
        parse_jsonl(&text)
    };
    raw.into_iter()
        .filter_map(|one| validate(path, base, vec![one], true).ok())
        .flatten()
        .collect()
}

fn parse_jsonl(text: &str) -> Vec<(usize, Result<RawJob, String>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let parsed = serde_json::from_str::<RawJob>(l).map_err(|e| {
                format!("not a valid job object: {e} (expected JSON like {{\"id\":\"a\",\"model\":\"mix\",\"image\":\"p.jpg\",\"video\":\"v.mp4\"}})")
            });
            (i + 1, parsed)
        })
        .collect()
}

fn parse_csv(text: &str) -> Vec<(usize, Result<RawJob, String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return vec![(1, Err(format!("cannot read the CSV header: {e}")))],
    };
    const COLUMNS: &str = "id,model,image,video,mode,watermark,check_image,output";
    for record in reader.records() {
        match record {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line() as usize);
                let mut job = RawJob::default();
                let mut unknown = Vec::new();
                // Cells are text; empty cells mean "not set", like a missing JSON key.
                for (header, cell) in headers.iter().zip(rec.iter()) {
                    let value = (!cell.is_empty()).then(|| cell.to_owned());
                    match header {
                        "id" => job.id = value,
                        "model" => job.model = value,
                        "image" => job.image = value,
                        "video" => job.video = value,
                        "mode" => job.mode = value,
                        "watermark" => job.watermark = value.map(RawBool::Text),
                        "check_image" => job.check_image = value.map(RawBool::Text),
                        "output" => job.output = value,
                        other => unknown.push(other.to_owned()),
                    }
                }
                let parsed = if unknown.is_empty() {
                    Ok(job)
                } else {
                    Err(format!(
                        "unknown column(s) {unknown:?} (columns: {COLUMNS})"
                    ))
                };
                out.push((line, parsed));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                out.push((line, Err(format!("malformed CSV record: {e}"))));
            }
        }
    }
    out
}

fn validate(
    path: &Path,
    base: &Path,
    raw: Vec<(usize, Result<RawJob, String>)>,
    check_files: bool,
) -> Result<Vec<Job>, ManifestError> {
    let mut problems = Vec::new();
    let mut jobs = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut outputs: HashMap<String, usize> = HashMap::new();
    if raw.is_empty() {
        problems.push(ManifestProblem {
            line: 1,
            message: "the manifest has no jobs".into(),
        });
    }
    for (line, parsed) in raw {
        let mut report = |message: String| problems.push(ManifestProblem { line, message });
        let raw = match parsed {
            Ok(r) => r,
            Err(e) => {
                report(e);
                continue;
            }
        };
        let id = match raw.id.as_deref().map(str::trim) {
            None | Some("") => {
                report(
                    "`id` is missing: every job needs a stable id so a re-run can resume it".into(),
                );
                None
            }
            Some(id) if id.len() > 128 || id.chars().any(|c| c.is_control()) => {
                report(format!(
                    "`id` {id:?} must be at most 128 printable characters"
                ));
                None
            }
            Some(id) => {
                if let Some(first) = ids.insert(id.to_owned(), line) {
                    report(format!(
                        "`id` {id:?} is already used on line {first}; ids must be unique"
                    ));
                }
                Some(id.to_owned())
            }
        };
        let model = match raw.model.as_deref().map(str::trim) {
            None => {
                report("`model` is missing: use mix or move".into());
                None
            }
            Some("mix") => Some(Model::AnimateMix),
            Some("move") => Some(Model::AnimateMove),
            Some(full) => match Model::from(full) {
                Model::Unrecognized(_) => {
                    report(format!(
                        "`model` {full:?} is not an animate model: use mix, move, wan2.2-animate-mix or wan2.2-animate-move"
                    ));
                    None
                }
                m => Some(m),
            },
        };
        let mode = match raw.mode.as_deref().map(str::trim) {
            None | Some("std") | Some("wan-std") | Some("standard") => Some(Mode::Standard),
            Some("pro") | Some("wan-pro") => Some(Mode::Pro),
            Some(other) => {
                report(format!("`mode` {other:?} is not valid: use std or pro"));
                None
            }
        };
        let mut media = |field: &str, value: Option<&str>| -> Option<MediaSource> {
            let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
                report(format!(
                    "`{field}` is missing: give a local path or an https:// or oss:// URL"
                ));
                return None;
            };
            let source = MediaSource::parse(value, base);
            if let MediaSource::File(p) = &source
                && check_files
                && !p.is_file()
            {
                report(format!("`{field}` file {} does not exist", p.display()));
                return None;
            }
            Some(source)
        };
        let image = media("image", raw.image.as_deref());
        let video = media("video", raw.video.as_deref());
        let mut flag = |field: &str, v: Option<RawBool>| match v.map(|b| b.value()).transpose() {
            Ok(b) => b.flatten(),
            Err(e) => {
                report(format!("`{field}`: {e}"));
                None
            }
        };
        let watermark = flag("watermark", raw.watermark);
        let check_image = flag("check_image", raw.check_image);
        let output = match (raw.output.as_deref().map(str::trim), &id) {
            (Some(o), _) if !o.is_empty() => match normalize_output(o) {
                Ok(p) => Some(p),
                Err(why) => {
                    report(format!("`output` {o:?} {why}"));
                    None
                }
            },
            (_, Some(id)) => Some(PathBuf::from(format!("{}.mp4", sanitize(id)))),
            (_, None) => None,
        };
        if let Some(o) = &output {
            // Case-insensitive: on macOS and Windows `A.mp4` and `a.mp4` are one file.
            let key = o.to_string_lossy().to_lowercase();
            if let Some(first) = outputs.insert(key, line) {
                let written = raw.output.as_deref().map(str::trim).unwrap_or_default();
                report(if written.is_empty() || Path::new(written) == o.as_path() {
                    format!(
                        "`output` {} is already used on line {first}; each job needs its own output file",
                        o.display()
                    )
                } else {
                    format!(
                        "`output` {written:?} (the file {}) is already used on line {first}; each job needs its own output file",
                        o.display()
                    )
                });
            }
        }
        if let (Some(id), Some(model), Some(image), Some(video), Some(mode), Some(output)) =
            (id, model, image, video, mode, output)
        {
            jobs.push(Job {
                id,
                line,
                model,
                image,
                video,
                mode,
                watermark,
                check_image,
                output,
            });
        }
    }
    if problems.is_empty() {
        Ok(jobs)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(ManifestError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// The extension an output without one gets: the result is always an MP4 video.
pub const DEFAULT_EXTENSION: &str = "mp4";

/// Normalises a manifest `output`: `./` and empty components dropped, `/` as separator, and
/// `.mp4` added when the file name has no extension, so `a`, `./a.mp4` and `a.mp4` are one
/// file. Refuses absolute paths, `..`, and anything that names a directory (`.`, `dir/`).
fn normalize_output(o: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let unified = o.replace('\\', "/");
    if unified.ends_with('/') {
        return Err("names a directory (it ends with /); give a file name such as clip.mp4".into());
    }
    let path = Path::new(&unified);
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err("must be a relative path inside the output directory".into());
            }
        }
    }
    let Some(last) = parts.last_mut() else {
        return Err("names the output directory itself; give a file name such as clip.mp4".into());
    };
    if Path::new(last.as_str()).extension().is_none() {
        last.push('.');
        last.push_str(DEFAULT_EXTENSION);
    }
    Ok(parts.iter().collect())
}

/// Checks outputs against the output directory, before anything is paid for: none may be a
/// `reserved` file (the ledger and its companions, the reports, the manifest), a temporary
/// download file (`.NAME.XXXXXXXX.part`), an existing directory, or lead outside `out_dir`
/// through a symbolic link. `out_dir` must be canonical, `reserved` absolute. Every problem
/// is reported with its manifest line.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let out = dir.path().canonicalize()?;
/// # let path = out.join("m.jsonl");
/// std::fs::write(&path, r#"{"id":"a","model":"mix","image":"https://x/p.jpg","video":"https://x/v.mp4","output":"batch.sqlite"}"#)?;
/// let jobs = wan_animate_batch::manifest::load(&path, false)?;
/// let err = wan_animate_batch::manifest::check_outputs(&path, &jobs, &out, &[out.join("batch.sqlite")]).unwrap_err();
/// assert_eq!(err.problems[0].line, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_outputs(
    manifest: &Path,
    jobs: &[Job],
    out_dir: &Path,
    reserved: &[PathBuf],
) -> Result<(), ManifestError> {
    let reserved: HashMap<String, &PathBuf> = reserved
        .iter()
        .map(|p| (p.to_string_lossy().to_lowercase(), p))
        .collect();
    let mut problems = Vec::new();
    for job in jobs {
        let target = out_dir.join(&job.output);
        let mut report = |message: String| {
            problems.push(ManifestProblem {
                line: job.line,
                message: format!("`output` {}: {message}", job.output.display()),
            })
        };
        if let Some(r) = reserved.get(&target.to_string_lossy().to_lowercase()) {
            report(format!(
                "is {}, which the batch itself uses (ledger, report or manifest); choose another name",
                r.display()
            ));
            continue;
        }
        let name = job
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') && name.ends_with(".part") {
            report(
                "has the form of a temporary download file (.NAME.part); choose another name"
                    .into(),
            );
            continue;
        }
        if target.is_dir() {
            report("is an existing directory; give a file name".into());
            continue;
        }
        // The deepest existing ancestor must resolve inside the output directory.
        let mut existing = target.parent();
        while let Some(p) = existing {
            if !p.starts_with(out_dir) || p.exists() {
                break;
            }
            existing = p.parent();
        }
        if let Some(p) = existing.filter(|p| p.starts_with(out_dir) && *p != out_dir && p.exists())
        {
            match std::fs::canonicalize(p) {
                Ok(real) if real.starts_with(out_dir) => {}
                Ok(real) => report(format!(
                    "leads outside the output directory (through {}); keep outputs inside {}",
                    real.display(),
                    out_dir.display()
                )),
                Err(e) => report(format!("cannot be checked: {e}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort_by_key(|p| p.line);
        Err(ManifestError {
            path: manifest.to_path_buf(),
            problems,
        })
    }
}

/// A file-name-safe version of a job id.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn jsonl_jobs_parse_with_defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.jpg"), b"x").unwrap();
        let path = write(
            dir.path(),
            "m.jsonl",
            concat!(
                "# a comment\n",
                "{\"id\":\"a\",\"model\":\"mix\",\"image\":\"p.jpg\",\"video\":\"https://x/v.mp4\"}\n",
                "\n",
                "{\"id\":\"b\",\"model\":\"wan2.2-animate-move\",\"image\":\"oss://k/p.jpg\",\"video\":\"https://x/v.mp4\",\"mode\":\"pro\",\"watermark\":true,\"check_image\":\"false\",\"output\":\"out/b.mp4\"}\n",
            ),
        );
        let jobs = load(&path, true).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].line, jobs[1].line), (2, 4));
        assert_eq!(jobs[0].image, MediaSource::File(dir.path().join("p.jpg")));
        assert_eq!(jobs[0].mode, Mode::Standard);
        assert_eq!(jobs[0].output, PathBuf::from("a.mp4"));
        assert_eq!(jobs[1].model, Model::AnimateMove);
        assert_eq!(jobs[1].image, MediaSource::Oss("oss://k/p.jpg".into()));
        assert_eq!(
            (jobs[1].watermark, jobs[1].check_image),
            (Some(true), Some(false))
        );
        assert_eq!(jobs[1].output, PathBuf::from("out/b.mp4"));
    }

    #[test]
    fn csv_jobs_parse_with_empty_cells_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "m.csv",
            "id,model,image,video,mode,watermark,check_image,output\nj1,move,https://x/p.png,https://x/v.mov,,yes,,\nj2,mix,https://x/p.png,https://x/v.mov,pro,,0,j2-out.mp4\n",
        );
        let jobs = load(&path, true).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].line, 2);
        assert_eq!(
            (jobs[0].watermark, jobs[0].mode.clone()),
            (Some(true), Mode::Standard)
        );
        assert_eq!(jobs[1].check_image, Some(false));
        assert_eq!(jobs[1].output, PathBuf::from("j2-out.mp4"));
    }

    #[test]
    fn every_problem_is_reported_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "m.jsonl",
            concat!(
                "{\"id\":\"a\",\"model\":\"mix\",\"image\":\"missing.jpg\",\"video\":\"https://x/v.mp4\"}\n",
                "{\"id\":\"a\",\"model\":\"swap\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\"}\n",
                "not json\n",
                "{\"id\":\"c\",\"model\":\"mix\",\"video\":\"https://x/v.mp4\",\"mode\":\"fast\",\"watermark\":\"maybe\"}\n",
                "{\"id\":\"d\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"../escape.mp4\"}\n",
                "{\"id\":\"e\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"colour\":\"red\"}\n",
            ),
        );
        let err = load(&path, true).unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 2, 2, 2, 3, 4, 4, 4, 5, 6], "{err}");
        let text = err.to_string();
        for needle in [
            "missing.jpg does not exist",
            "already used on line 1",
            "\"swap\" is not an animate model",
            "not a valid job object",
            "`image` is missing",
            "\"fast\"",
            "\"maybe\"",
            "relative path",
            "colour",
        ] {
            assert!(text.contains(needle), "{needle} not in:\n{text}");
        }
        assert!(text.contains("nothing was uploaded or submitted"));
    }

    #[test]
    fn duplicate_outputs_and_empty_manifests_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "m.jsonl",
            concat!(
                "{\"id\":\"a\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"same.mp4\"}\n",
                "{\"id\":\"b\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"same.mp4\"}\n",
            ),
        );
        let err = load(&path, false).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].line, 2);
        let empty = write(dir.path(), "e.jsonl", "\n# nothing\n");
        assert!(
            load(&empty, false)
                .unwrap_err()
                .to_string()
                .contains("no jobs")
        );
        let missing = load(&dir.path().join("nope.jsonl"), false).unwrap_err();
        assert!(missing.to_string().contains("cannot read the manifest"));
    }

    #[test]
    fn outputs_are_normalised_so_spellings_of_one_file_collide() {
        assert_eq!(normalize_output("a").unwrap(), PathBuf::from("a.mp4"));
        assert_eq!(normalize_output("./a.mp4").unwrap(), PathBuf::from("a.mp4"));
        assert_eq!(normalize_output("d/./x").unwrap(), PathBuf::from("d/x.mp4"));
        assert_eq!(
            normalize_output("d\\x.mov").unwrap(),
            PathBuf::from("d/x.mov")
        );
        for bad in [".", "./", "d/", "/abs.mp4", "../x.mp4", "d/../../x"] {
            assert!(normalize_output(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "m.jsonl",
            concat!(
                "{\"id\":\"a\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"A.MP4\"}\n",
                "{\"id\":\"b\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"./a\"}\n",
                "{\"id\":\"c\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"a.mp4\"}\n",
            ),
        );
        let err = load(&path, false).unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3], "{err}");
    }

    #[test]
    fn outputs_may_not_be_temporary_files_directories_or_lead_outside() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        let out = out.canonicalize().unwrap();
        let mut lines = vec![
            ("t", ".clip.mp4.0badf00d.part"),
            ("d", "sub.mp4"),
            ("ok", "sub/fine.mp4"),
        ];
        std::fs::create_dir_all(out.join("sub.mp4")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), out.join("escape")).unwrap();
            lines.push(("s", "escape/x.mp4"));
        }
        let text: String = lines
            .iter()
            .map(|(id, o)| format!("{{\"id\":\"{id}\",\"model\":\"mix\",\"image\":\"https://x/p.jpg\",\"video\":\"https://x/v.mp4\",\"output\":\"{o}\"}}\n"))
            .collect();
        let path = write(dir.path(), "m.jsonl", &text);
        let jobs = load(&path, false).unwrap();
        let err = check_outputs(&path, &jobs, &out, &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 1: `output` .clip.mp4.0badf00d.part: has the form of a temporary"),
            "{text}"
        );
        assert!(
            text.contains("line 2: `output` sub.mp4: is an existing directory"),
            "{text}"
        );
        assert!(!text.contains("line 3"), "{text}");
        #[cfg(unix)]
        assert!(
            text.contains("line 4: `output` escape/x.mp4: leads outside"),
            "{text}"
        );
    }

    #[test]
    fn ids_become_safe_default_file_names() {
        assert_eq!(sanitize("a/b c:d"), "a_b_c_d");
    }
}
