//! `download TASK_ID|URL [-o FILE|-]`: resumable, atomic download of a result (core's
//! `Client::download`/`download_result`); `-o -` streams it to standard output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use serde_json::json;
use wan_animate_core::Error;
use wan_animate_core::download::{DownloadOptions, default_output_name, output_name_for_url};

use crate::args::DownloadArgs;
use crate::context::Context;
use crate::failure::Failure;
use crate::progress::{byte_bar, feed};

pub(crate) async fn run(ctx: &Context, args: DownloadArgs) -> Result<(), Failure> {
    let lower = args.target.to_ascii_lowercase();
    let is_url = lower.starts_with("http://") || lower.starts_with("https://");
    let task_id = (!is_url).then(|| args.target.clone());
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    let bar = byte_bar(ctx.printer.progress, "download");
    let mut opts = DownloadOptions::new().with_overwrite(args.force);
    if let Some(b) = bar.clone() {
        opts = opts.with_progress(feed(b));
    }
    if to_stdout {
        let mut out = StdoutWriter(std::io::stdout());
        let result = match &task_id {
            Some(id) => {
                ctx.client
                    .download_result_to_writer(id, &mut out, opts)
                    .await
            }
            None => {
                ctx.client
                    .download_to_writer(&args.target, &mut out, opts)
                    .await
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let bytes = result.map_err(|e| failure(e, task_id.as_deref()))?;
        ctx.printer
            .note(&format!("{bytes} bytes written to standard output"));
        return Ok(());
    }
    let dest = args.output.unwrap_or_else(|| {
        PathBuf::from(match &task_id {
            Some(id) => default_output_name(id),
            None => output_name_for_url(&args.target),
        })
    });
    // SIGINT, SIGTERM and SIGHUP stop the download cleanly: the part file named after the
    // output stays, and the same command resumes it.
    let mut signals = crate::signals::Signals::install();
    let download = async {
        match &task_id {
            Some(id) => ctx.client.download_result(id, &dest, opts).await,
            None => ctx.client.download(&args.target, &dest, opts).await,
        }
    };
    let result = tokio::select! {
        r = download => r,
        sig = signals.recv() => {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let mut f = super::task::interrupted(
                sig,
                format!("{} while downloading to {}", sig.name(), dest.display()),
            )
            .with_hint("the part of the file already downloaded is kept: run the same command again to resume");
            if let Some(id) = &task_id {
                f = f.with_task_id(id);
            }
            return Err(f);
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let downloaded = result.map_err(|e| failure(e, task_id.as_deref()))?;
    if ctx.printer.json {
        ctx.printer.json_document(&json!({
            "task_id": task_id,
            "url": if is_url { Some(args.target.as_str()) } else { None },
            "local": { "output_path": downloaded.path.display().to_string(), "bytes": downloaded.bytes },
        }));
    } else {
        ctx.printer.result(&downloaded.path.display().to_string());
    }
    Ok(())
}

/// A failure with core's advice (resume, free disk space, wait for the task: `Failure::from`
/// keeps it) and the task id.
fn failure(e: Error, task_id: Option<&str>) -> Failure {
    let f = Failure::from(e);
    match task_id {
        Some(id) => f.with_task_id(id),
        None => f,
    }
}

/// Standard output as an async writer. Writes block briefly (a pipe's buffer), which is
/// what a download to a pipe should do: go at the reader's pace.
struct StdoutWriter(std::io::Stdout);

impl tokio::io::AsyncWrite for StdoutWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().0.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }
}
