//! `wan-animate completions SHELL`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell as S;

use crate::args::{Cli, CompletionsArgs, Shell};

pub(crate) fn run(args: CompletionsArgs) {
    let script = script(args.shell);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(script.as_bytes());
    let _ = out.flush();
}

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "wan-animate", &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => fix_bash(&text),
        _ => text,
    }
}

/// clap_complete names the states of a hyphenated binary two ways in bash (clap issue #6421):
/// the loop that tracks the subcommand sets `wan__animate__subcmd__run`, while the `case`
/// that completes it expects `wan__subcmd__animate__subcmd__run`, so nothing after the
/// subcommand completes. Use the first spelling everywhere.
fn fix_bash(script: &str) -> String {
    script.replace("wan__subcmd__animate", "wan__animate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_states_are_spelled_one_way() {
        let s = script(Shell::Bash);
        assert!(!s.contains("wan__subcmd__animate"));
        assert!(s.contains("wan__animate__subcmd__run)"));
    }
}
