//! `download TASK_ID|URL`: resumable, atomic download of a result.

use std::path::PathBuf;

use serde_json::json;
use wan_animate_core::download::DownloadOptions;

use crate::args::DownloadArgs;
use crate::context::Context;
use crate::failure::Failure;
use crate::progress::{byte_bar, feed};

pub(crate) async fn run(ctx: &Context, args: DownloadArgs) -> Result<(), Failure> {
    let is_url = args.target.starts_with("http://") || args.target.starts_with("https://");
    let (url, default_name, task_id) = if is_url {
        let name = args
            .target
            .split('?')
            .next()
            .and_then(|p| p.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .unwrap_or("result.mp4")
            .to_owned();
        (args.target.clone(), name, None)
    } else {
        let task = ctx
            .client
            .get(&args.target)
            .await
            .map_err(|e| Failure::from(e).with_task_id(&args.target))?;
        let Some(url) = task.output.video_url().map(str::to_owned) else {
            return Err(Failure::invalid_input(format!(
                "task {} is {} and has no result to download",
                args.target, task.output.task_status
            ))
            .with_task_id(&args.target)
            .with_hint(format!(
                "wait for it first: wan-animate wait {}",
                args.target
            )));
        };
        (
            url,
            format!("{}.mp4", args.target),
            Some(args.target.clone()),
        )
    };
    let dest = args.output.unwrap_or_else(|| PathBuf::from(default_name));
    let bar = byte_bar(ctx.printer.progress, "download");
    let mut opts = DownloadOptions::new().with_overwrite(args.force);
    if let Some(b) = bar.clone() {
        opts = opts.with_progress(feed(b));
    }
    let result = ctx.client.download(&url, &dest, opts).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let downloaded = result.map_err(|e| {
        let f = Failure::from(e);
        match &task_id {
            Some(id) => f.with_task_id(id),
            None => f,
        }
    })?;
    if ctx.printer.json {
        ctx.printer.json_document(&json!({
            "task_id": task_id,
            "url": url,
            "local": { "output_path": downloaded.path.display().to_string(), "bytes": downloaded.bytes },
        }));
    } else {
        ctx.printer.result(&downloaded.path.display().to_string());
    }
    Ok(())
}
