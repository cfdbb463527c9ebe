//! `listen`: receive task completion events until interrupted, one NDJSON line per new event.

use wan_animate_callback::{CallbackServer, CallbackToken, TokenLocation};

use crate::args::ListenArgs;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::Printer;

/// Tokens shorter than this are accepted with a warning: they can be guessed.
const SHORT_TOKEN: usize = 16;

pub(crate) async fn run(args: ListenArgs, printer: &Printer) -> Result<(), Failure> {
    let usage =
        |e: wan_animate_callback::ConfigError| Failure::new(Exit::Usage, "usage", e.to_string());
    let token = CallbackToken::new(args.callback_token).map_err(usage)?;
    if token.len() < SHORT_TOKEN {
        printer.warn(&format!(
            "the callback token has {} characters; use at least {SHORT_TOKEN} random ones (e.g. `openssl rand -hex 32`)",
            token.len()
        ));
    }
    let location = match (&args.token_header, &args.token_query) {
        (Some(name), _) => TokenLocation::header(name).map_err(usage)?,
        (None, Some(name)) => TokenLocation::query(name).map_err(usage)?,
        (None, None) => TokenLocation::AuthorizationBearer,
    };
    let described = match &location {
        TokenLocation::Header(name) => format!("header `{name}: TOKEN`"),
        TokenLocation::Query(name) => format!("query parameter `?{name}=TOKEN`"),
        _ => "header `Authorization: Bearer TOKEN`".to_owned(),
    };
    // One Ctrl-C listener for the whole run, installed (by polling it once) before anything
    // can arrive: a signal right after the first event, or between two, is not lost.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    if futures_util::FutureExt::now_or_never(&mut ctrl_c).is_some() {
        return Ok(());
    }
    let (server, mut events) = CallbackServer::builder(token)
        .token_location(location)
        .bind(args.listen)
        .await
        .map_err(|e| {
            Failure::new(
                Exit::Unavailable,
                "listen",
                format!("cannot listen on {}: {e}", args.listen),
            )
            .with_hint("choose a free port, or port 0 for any free one")
        })?;
    printer.note(&format!(
        "listening on http://{} for task completion events (requests must carry the {described}); Ctrl-C stops it",
        server.local_addr()
    ));

    let print =
        |event: &wan_animate_callback::TaskCompletionEvent| match serde_json::to_value(event) {
            Ok(value) => printer.json_event(&value),
            Err(e) => printer.warn(&format!("cannot print event {}: {e}", event.id)),
        };
    let ended_by_itself = loop {
        tokio::select! {
            biased;
            _ = &mut ctrl_c => break false,
            event = events.recv() => match event {
                Some(event) => print(&event),
                None => break true,
            },
        }
    };
    server_summary(printer, &server.stats());
    server.shutdown().await;
    // Events accepted while stopping were acknowledged to the sender: print them too.
    while let Some(event) = events.recv().await {
        print(&event);
    }
    if ended_by_itself {
        return Err(Failure::new(
            Exit::Unavailable,
            "listen",
            "the receiver stopped unexpectedly",
        ));
    }
    Ok(())
}

fn server_summary(printer: &Printer, stats: &wan_animate_callback::ReceiverStats) {
    printer.note(&format!(
        "stopping: {} event(s) printed, {} duplicate(s), {} ignored, {} unauthorized, {} too large, {} malformed",
        stats.delivered,
        stats.duplicates,
        stats.ignored,
        stats.unauthorized,
        stats.too_large,
        stats.malformed
    ));
}
