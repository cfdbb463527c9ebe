//! `upload PATH --model M`: temporary upload; prints the `oss://` URL (valid 48 h).

use serde_json::json;

use crate::args::UploadArgs;
use crate::context::Context;
use crate::failure::Failure;
use crate::progress::{byte_bar, feed};

pub(crate) async fn run(ctx: &Context, args: UploadArgs) -> Result<(), Failure> {
    // Refused from metadata alone: missing, a directory, a FIFO or device (never opened).
    let meta = wan_animate_core::input::regular_file(&args.path, "file").map_err(Failure::from)?;
    if meta.len() == 0 {
        return Err(Failure::invalid_input(format!(
            "{} is empty (0 bytes); give an image or a video",
            args.path.display()
        )));
    }
    // Only images and videos are worth an upload: the service takes nothing else.
    match wan_animate_media::probe_file(&args.path) {
        Ok(_) => {}
        Err(wan_animate_media::ProbeError::Io(e)) => {
            return Err(Failure::from(wan_animate_core::Error::local_io(
                "read the file",
                &args.path,
                e,
            )));
        }
        Err(e) => return Err(Failure::invalid_input(format!(
            "{} is not an image or video the service accepts: {e}",
            args.path.display()
        ))
        .with_hint("inputs are JPEG, PNG, BMP or WEBP images and MP4, MOV or AVI videos; `wan-animate check FILE` tells more")),
    }
    let bar = byte_bar(ctx.printer.progress, "upload");
    let progress = bar.clone().map(feed);
    let result = ctx
        .client
        .upload_file(&args.model, &args.path, progress)
        .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let uploaded = result.map_err(|e| {
        let hint = e.hint().map(str::to_owned);
        let f = Failure::from(e);
        match hint {
            Some(h) => f.with_hint(h),
            None => f,
        }
    })?;
    if ctx.printer.json {
        let expires = wan_animate_core::types::EpochMillis::from_system_time(uploaded.expires_at);
        ctx.printer.json_document(&json!({
            "oss_url": uploaded.oss_url,
            "model": args.model.as_str(),
            "bytes": uploaded.bytes,
            "expires_at_unix_ms": expires.as_millis(),
        }));
    } else {
        ctx.printer.result(&uploaded.oss_url);
        ctx.printer
            .note(&format!("valid for 48 h, only with model {}", args.model));
    }
    Ok(())
}
