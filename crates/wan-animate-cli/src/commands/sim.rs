//! `sim`: run the simulator as a server until interrupted.

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
    let sim = builder.start().await.map_err(|e| {
        Failure::new(
            Exit::Unavailable,
            "simulator",
            format!("cannot start the simulator on {}: {e}", args.listen),
        )
    })?;
    if printer.json {
        printer.json_document(
            &serde_json::json!({ "base_url": sim.base_url(), "api_key": sim.api_key() }),
        );
    } else {
        printer.result(sim.base_url());
        printer.note(&format!(
            "simulator listening; try:\n  DASHSCOPE_HTTP_BASE_URL={} DASHSCOPE_API_KEY={} wan-animate run --model mix --image tests/samples/person.jpg --video tests/samples/dance.mp4\nCtrl-C stops it.",
            sim.base_url(),
            sim.api_key()
        ));
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(())
}
