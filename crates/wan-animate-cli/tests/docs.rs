//! `docs/cli.md` is generated from the clap definitions (help of every subcommand and the
//! exit-code table). This test fails when it is stale; `cargo xtask codegen` rewrites it
//! (it runs this test with WAN_ANIMATE_UPDATE_DOCS=1).

use std::path::Path;

#[test]
fn docs_cli_md_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let generated = wan_animate_cli::docs::markdown();
    if std::env::var_os("WAN_ANIMATE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    assert!(
        current == generated,
        "docs/cli.md is stale: run `cargo xtask codegen` and commit the result"
    );
}

#[test]
fn every_subcommand_and_exit_code_is_documented() {
    let md = wan_animate_cli::docs::markdown();
    for cmd in [
        "run",
        "submit",
        "status",
        "wait",
        "cancel",
        "list",
        "download",
        "upload",
        "check",
        "sim",
        "listen",
        "completions",
    ] {
        assert!(md.contains(&format!("## `wan-animate {cmd}`")), "{cmd}");
    }
    for code in [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 130] {
        assert!(md.contains(&format!("| {code} |")), "{code}");
    }
}
