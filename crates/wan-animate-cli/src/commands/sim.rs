//! `sim`: run the simulator as a server until interrupted, on the same persistent world as
//! `--sim` commands by default (`--state-dir DIR` for another, `--no-state` for none);
//! `sim --reset` empties that world and exits. With `--notify-url`, every task that ends is
//! announced by a POST of its EventBridge completion event (spec §17).

use crate::args::SimArgs;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::output::Printer;

pub(crate) async fn run(args: SimArgs, printer: &Printer) -> Result<(), Failure> {
    if !(args.fault_rate >= 0.0 && args.fault_rate <= 1.0) {
        return Err(Failure::new(
            Exit::Usage,
            "usage",
            format!(
                "--fault-rate must be between 0 and 1, got {}",
                args.fault_rate
            ),
        ));
    }
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return Err(Failure::new(
            Exit::Usage,
            "usage",
            format!(
                "--time-scale must be a positive number, got {}",
                args.time_scale
            ),
        ));
    }
    let state_dir = if args.no_state {
        None
    } else {
        args.state_dir.clone().or_else(crate::state::sim_world_dir)
    };
    if args.reset {
        let Some(dir) = state_dir else {
            return Err(Failure::new(
                Exit::Usage,
                "usage",
                "no simulator world to reset: set WAN_ANIMATE_STATE_DIR or HOME, or give --state-dir DIR",
            ));
        };
        wan_animate_sim::reset_world(&dir).map_err(|e| {
            Failure::new(
                Exit::Failure,
                "simulator",
                format!(
                    "cannot reset the simulator's world in {}: {e}",
                    dir.display()
                ),
            )
        })?;
        if printer.json {
            printer.json_document(&serde_json::json!({ "reset": dir.display().to_string() }));
        } else {
            printer.result(&format!(
                "the simulator's world in {} is empty now",
                dir.display()
            ));
        }
        return Ok(());
    }
    let mut builder = wan_animate_sim::Sim::builder()
        .listen(args.listen)
        .time_scale(args.time_scale);
    for key in &args.accept_keys {
        builder = builder.api_key(key.clone());
    }
    if args.no_rate_limits {
        builder = builder.limits(wan_animate_sim::RateLimits::unlimited());
    }
    if args.fault_rate > 0.0 {
        builder = builder.faults(wan_animate_sim::FaultPlan::uniform(
            args.seed,
            args.fault_rate,
        ));
    }
    if let Some(dir) = &state_dir {
        builder = builder.state_dir(dir);
    }
    if let Some(url) = &args.notify_url {
        let hostility =
            wan_animate_sim::NotifyHostility::from_names(args.seed, &args.notify_hostile).map_err(
                |e| Failure::new(Exit::Usage, "usage", format!("--notify-hostile: {e}")),
            )?;
        let mut notify = wan_animate_sim::NotifyConfig::new(url.clone()).with_hostility(hostility);
        if let Some(token) = &args.notify_token {
            notify = notify.with_token(token.clone());
        }
        notify
            .validate()
            .map_err(|e| Failure::new(Exit::Usage, "usage", format!("--notify-url: {e}")))?;
        builder = builder.notify(notify);
    }
    let sim = builder.start().await.map_err(|e| {
        Failure::new(
            Exit::Unavailable,
            "simulator",
            format!("cannot start the simulator on {}: {e}", args.listen),
        )
    })?;
    if printer.json {
        printer.json_document(&serde_json::json!({
            "base_url": sim.base_url(),
            "api_key": sim.api_key(),
            "state_dir": state_dir.as_ref().map(|d| d.display().to_string()),
        }));
    } else {
        printer.result(sim.base_url());
        printer.note(&format!(
            "simulator listening ({}); try:\n  DASHSCOPE_HTTP_BASE_URL={} DASHSCOPE_API_KEY={} wan-animate run --model mix --image tests/samples/person.jpg --video tests/samples/dance.mp4\nCtrl-C stops it.",
            match &state_dir {
                Some(d) => format!("world {}, shared with --sim commands", d.display()),
                None => "world in memory".to_owned(),
            },
            sim.base_url(),
            sim.api_key()
        ));
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(())
}
