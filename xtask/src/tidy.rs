//! Layering and hygiene rules, checked from `cargo metadata` and the sources.
//!
//! The rules are the invariants of ARCHITECTURE.md; each problem names the crate,
//! the rule and how to fix it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Normal (non-dev) dependencies each library crate may have. `None`: no allowlist.
fn allowlist(package: &str) -> Option<&'static [&'static str]> {
    match package {
        // Users must be able to depend on the data model alone.
        "wan-animate-types" => Some(&["serde", "serde_json"]),
        // Pure header parsing: nothing at all, so both core and the simulator can use it.
        "wan-animate-media" => Some(&[]),
        // Transport-agnostic: no HTTP client, no server framework.
        "wan-animate-core" => Some(&[
            "wan-animate-types",
            "wan-animate-media",
            "http",
            "http-body",
            "http-body-util",
            "bytes",
            "futures-core",
            "futures-util",
            "sync_wrapper",
            "pin-project-lite",
            "thiserror",
            "tracing",
            "serde",
            "serde_json",
            "percent-encoding",
            "tokio",
        ]),
        // The completion-event receiver: a small server, and nothing of the client side
        // (no core, no HTTP client), so a web service can embed it without the SDK.
        "wan-animate-callback" => Some(&[
            "wan-animate-types",
            "axum",
            "tokio",
            "http",
            "http-body-util",
            "bytes",
            "serde_json",
            "sha2",
            "percent-encoding",
            "tracing",
        ]),
        _ => None,
    }
}

/// Crates that only the listed members may name as a normal dependency.
const OWNED_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("reqwest", &["wan-animate-reqwest"]),
    // The two servers: the simulator and the completion-event receiver.
    ("axum", &["wan-animate-sim", "wan-animate-callback"]),
    ("hyper", &["wan-animate-sim"]),
    ("rusqlite", &["wan-animate-batch"]),
];

/// Runs every rule and returns the problems found (empty: all rules hold).
pub(crate) fn run(root: &Path) -> Result<Vec<String>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let mut problems = check_metadata(&metadata);
    problems.extend(check_sources(root, &metadata)?);
    Ok(problems)
}

fn packages(metadata: &Value) -> impl Iterator<Item = &Value> {
    metadata["packages"].as_array().into_iter().flatten()
}

/// Dependency rules over the metadata of the workspace members.
pub(crate) fn check_metadata(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for pkg in packages(metadata) {
        let name = pkg["name"].as_str().unwrap_or_default();
        let deps: Vec<&Value> = pkg["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let normal: BTreeSet<&str> = deps
            .iter()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str())
            .collect();
        if let Some(allowed) = allowlist(name) {
            for dep in &normal {
                if !allowed.contains(dep) {
                    problems.push(format!(
                        "{name} depends on `{dep}`, which its layer does not allow (allowed: {allowed:?}); move that code to another crate or update ARCHITECTURE.md and xtask/src/tidy.rs together"
                    ));
                }
            }
        }
        for (dep, owners) in OWNED_DEPENDENCIES {
            if normal.contains(dep) && !owners.contains(&name) {
                let owners = owners.join(" or ");
                problems.push(format!(
                    "{name} depends on `{dep}`, which only {owners} may name; go through {owners} instead"
                ));
            }
        }
        for dep in &deps {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if dep["path"].is_string() && dep["kind"].is_null() && dep["req"] == "*" {
                problems.push(format!(
                    "{name}: path dependency `{dep_name}` has no version; add it in [workspace.dependencies] so the crate can be published"
                ));
            }
        }
        if pkg["description"].as_str().unwrap_or_default().is_empty() {
            problems.push(format!("{name}: [package] has no description"));
        }
    }
    problems
}

/// Source rules: workspace lints, crate attributes, no `dbg!`.
fn check_sources(root: &Path, metadata: &Value) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for pkg in packages(metadata) {
        let name = pkg["name"].as_str().unwrap_or_default();
        let manifest = Path::new(pkg["manifest_path"].as_str().unwrap_or_default());
        let manifest_text = std::fs::read_to_string(manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        if !manifest_text.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{name}: Cargo.toml must say `[lints]` / `workspace = true` so the shared lints apply"
            ));
        }
        for target in pkg["targets"].as_array().into_iter().flatten() {
            let is_lib = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib"));
            let src = target["src_path"].as_str().unwrap_or_default();
            if is_lib && name.starts_with("wan-animate-") && name != "wan-animate-e2e" {
                let text = std::fs::read_to_string(src)?;
                if !text.contains("#![deny(missing_docs)]") {
                    problems.push(format!(
                        "{name}: {src} must start with #![deny(missing_docs)] (library crates are API boundaries)"
                    ));
                }
            }
        }
        let crate_dir = manifest.parent().unwrap_or(root);
        for file in rust_files(crate_dir) {
            let text = std::fs::read_to_string(&file)?;
            if text.lines().any(|l| {
                let code = l.split("//").next().unwrap_or_default();
                // Spelled in two pieces so this file does not match itself.
                code.contains(concat!("dbg", "!("))
            }) {
                problems.push(format!("{}: remove dbg!", file.display()));
            }
        }
    }
    Ok(problems)
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "fixtures" && name != "samples" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_workspace_obeys_its_layering_rules() {
        let problems = run(&crate::workspace_root()).expect("tidy runs");
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    fn package(name: &str, deps: &[(&str, Option<&str>)]) -> Value {
        json!({
            "name": name,
            "description": "d",
            "dependencies": deps.iter().map(|(d, kind)| json!({"name": d, "kind": kind, "req": "^1"})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn types_depending_on_http_is_reported() {
        let meta =
            json!({"packages": [package("wan-animate-types", &[("serde", None), ("http", None)])]});
        let problems = check_metadata(&meta);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`http`"));
    }

    #[test]
    fn core_depending_on_reqwest_is_reported_twice() {
        let meta = json!({"packages": [package("wan-animate-core", &[("reqwest", None)])]});
        let problems = check_metadata(&meta);
        assert!(problems.iter().any(|p| p.contains("does not allow")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("only wan-animate-reqwest"))
        );
    }

    #[test]
    fn dev_dependencies_do_not_count_against_layers() {
        let meta = json!({"packages": [package("wan-animate-types", &[("serde", None), ("tempfile", Some("dev"))])]});
        assert!(check_metadata(&meta).is_empty());
    }

    #[test]
    fn axum_outside_the_two_servers_is_reported() {
        let meta = json!({"packages": [package("wan-animate-cli", &[("axum", None)])]});
        let problems = check_metadata(&meta);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("wan-animate-sim or wan-animate-callback"));
    }

    #[test]
    fn the_receiver_may_use_axum_but_not_the_client_side() {
        let ok = json!({"packages": [package("wan-animate-callback", &[("axum", None), ("wan-animate-types", None), ("tokio", None)])]});
        assert!(check_metadata(&ok).is_empty(), "{:?}", check_metadata(&ok));
        let meta = json!({"packages": [package("wan-animate-callback", &[("wan-animate-core", None), ("hyper", None), ("reqwest", None)])]});
        let problems = check_metadata(&meta);
        for dep in ["wan-animate-core", "hyper", "reqwest"] {
            assert!(
                problems.iter().any(|p| p.contains(&format!("`{dep}`"))),
                "{dep}: {problems:?}"
            );
        }
    }
}
