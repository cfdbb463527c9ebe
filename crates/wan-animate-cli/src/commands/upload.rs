//! `upload PATH --model M`: temporary upload; prints the `oss://` URL (valid 48 h).

use serde_json::json;

use crate::args::UploadArgs;
use crate::context::Context;
use crate::failure::Failure;
use crate::progress::{byte_bar, feed};

pub(crate) async fn run(ctx: &Context, args: UploadArgs) -> Result<(), Failure> {
    if !args.path.is_file() {
        return Err(Failure::invalid_input(format!(
            "{} does not exist or is not a file",
            args.path.display()
        )));
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
    let uploaded = result.map_err(Failure::from)?;
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
