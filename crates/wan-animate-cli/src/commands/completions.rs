//! `wan-animate completions SHELL`.

use clap::CommandFactory;
use clap_complete::Shell as S;

use crate::args::{Cli, CompletionsArgs, Shell};

pub(crate) fn run(args: CompletionsArgs) {
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "wan-animate",
        &mut std::io::stdout(),
    );
}
