//! `wan-animate check PATH...`: preflight local media against the documented limits.

use serde_json::json;

use crate::args::CheckArgs;
use crate::cost::Costing;
use crate::failure::Failure;
use crate::output::Printer;

pub(crate) fn run(args: CheckArgs, printer: &Printer, costing: &Costing) -> Result<(), Failure> {
    let (model, mode) = (args.model.as_str(), args.mode.as_str());
    let mut reports = Vec::new();
    let mut failed = 0usize;
    for path in &args.paths {
        let shown = path.display().to_string();
        match wan_animate_media::check_path(path) {
            Ok((info, violations)) => {
                let kind = match info.format.kind() {
                    wan_animate_media::MediaKind::Image => "image",
                    wan_animate_media::MediaKind::Video => "video",
                };
                let mut summary = format!(
                    "{shown}: {} {kind}, {}x{} px, {} bytes",
                    info.format.name(),
                    info.width,
                    info.height,
                    info.byte_size
                );
                if let Some(d) = info.duration_secs {
                    summary.push_str(&format!(", {d:.2} s"));
                }
                if let Some(fps) = info.frame_rate {
                    summary.push_str(&format!(", {fps:.2} fps"));
                }
                // The output is as long as the driving video: that is what would be billed.
                let estimate = info.duration_secs.map(|d| costing.estimate(model, mode, d));
                if violations.is_empty() {
                    printer.result(&format!("ok    {summary}"));
                    if let Some(e) = &estimate {
                        printer
                            .result(&format!("      cost: {}", costing.describe(model, mode, e)));
                    }
                } else {
                    failed += 1;
                    printer.result(&format!("FAIL  {summary}"));
                    for v in &violations {
                        printer.result(&format!("      - {v}"));
                    }
                }
                reports.push(json!({
                    "path": shown,
                    "ok": violations.is_empty(),
                    "format": info.format.name(),
                    "kind": kind,
                    "width": info.width,
                    "height": info.height,
                    "bytes": info.byte_size,
                    "duration_secs": info.duration_secs,
                    "frame_rate": info.frame_rate,
                    "estimate": estimate.as_ref().map(|e| costing.json(e)),
                    "violations": violations.iter().map(|v| json!({
                        "rule": format!("{:?}", v.rule),
                        "code": v.service_code(),
                        "actual": v.actual,
                        "limit": v.limit,
                        "message": v.to_string(),
                    })).collect::<Vec<_>>(),
                }));
            }
            Err(e) => {
                failed += 1;
                printer.result(&format!("FAIL  {shown}: {e}"));
                reports.push(json!({ "path": shown, "ok": false, "error": e.to_string() }));
            }
        }
    }
    let document = json!({ "ok": failed == 0, "files": reports });
    if failed == 0 {
        if printer.json {
            printer.json_document(&document);
        }
        Ok(())
    } else {
        Err(Failure::invalid_input(format!(
            "{failed} of {} file(s) would be rejected by the service",
            args.paths.len()
        ))
        .with_hint("fix the files listed above (see the documented limits in docs/cli.md), or pass --no-preflight to `run`/`submit` to let the service decide")
        .with_document(document))
    }
}
