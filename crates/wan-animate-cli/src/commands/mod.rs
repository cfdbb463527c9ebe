//! One module per subcommand. Each parses nothing (clap did), calls core, prints.

mod batch;
mod check;
mod completions;
mod download;
mod list;
mod listen;
mod run;
mod sim;
mod task;
mod upload;

use crate::args::{Cli, Command};
use crate::context::Context;
use crate::cost::Costing;
use crate::failure::Failure;
use crate::output::Printer;

/// Runs the parsed command.
pub(crate) async fn dispatch(cli: Cli, printer: &Printer) -> Result<(), Failure> {
    let Cli { global, command } = cli;
    crate::clock::init(global.utc);
    match command {
        // Commands that need no client.
        Command::Check(args) => check::run(args, printer, &Costing::from_global(&global)?),
        // Dry runs pay nothing and need no key: they never build a client.
        Command::Run(args) if args.dry_run => {
            run::dry_run(&args.input, printer, &Costing::from_global(&global)?)
        }
        Command::Submit(args) if args.dry_run => {
            run::dry_run(&args.input, printer, &Costing::from_global(&global)?)
        }
        Command::Completions(args) => {
            completions::run(args);
            Ok(())
        }
        Command::Sim(args) => sim::run(args, printer).await,
        Command::Listen(args) => listen::run(args, printer).await,
        Command::Batch(args) if args.action.is_some() => {
            batch::status(args, printer, &Costing::from_global(&global)?)
        }
        // Commands that talk to the service (or the in-process simulator).
        command => {
            // Only the commands that estimate read the price table: a broken one must not
            // stop `status` or `list`.
            let costing = match &command {
                Command::Run(_) | Command::Wait(_) | Command::Batch(_) => {
                    Some(Costing::from_global(&global)?)
                }
                _ => None,
            };
            // Waiting by push (`--callback-listen`): the receiver starts before anything waits.
            let push = match &command {
                Command::Run(a) => Some(&a.callback),
                Command::Wait(a) => Some(&a.callback),
                Command::Batch(a) => Some(&a.run.callback),
                _ => None,
            };
            let ctx = Context::new(&global, printer.clone(), push).await?;
            let deadline = global.timeout;
            match command {
                Command::Run(args) => {
                    run::run(&ctx, args, deadline, &Costing::or_builtin(costing, &global)).await
                }
                Command::Submit(args) => run::submit(&ctx, args).await,
                Command::Status(args) => task::status(&ctx, args).await,
                Command::Wait(args) => {
                    task::wait(&ctx, args, deadline, &Costing::or_builtin(costing, &global)).await
                }
                Command::Cancel(args) => task::cancel(&ctx, args).await,
                Command::List(args) => list::run(&ctx, args).await,
                Command::Download(args) => download::run(&ctx, args).await,
                Command::Upload(args) => upload::run(&ctx, args).await,
                Command::Batch(args) => {
                    batch::run(&ctx, args, &Costing::or_builtin(costing, &global)).await
                }
                Command::Check(_)
                | Command::Completions(_)
                | Command::Sim(_)
                | Command::Listen(_) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}
