//! The proof that the simulator speaks the real protocol: the official DashScope Python SDK
//! (pinned, installed by tests/python/setup.sh, which .ci/run calls) runs unchanged against
//! it: create through the generic async call, fetch, wait, cancel, list, and its own upload.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a test that reports what the SDK printed
use std::path::Path;
use std::time::Duration;

#[test]
fn python_sdk_works_against_the_simulator() {
    let python = match std::env::var("WAN_ANIMATE_PYTHON") {
        Ok(p) => p,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must set WAN_ANIMATE_PYTHON (see .ci/run)")
        }
        Err(_) => {
            eprintln!(
                "skipped: set WAN_ANIMATE_PYTHON to a python with the dashscope SDK (crates/wan-animate-sim/tests/python/setup.sh prints one)"
            );
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt
        .block_on(wan_animate_sim::Sim::builder().time_scale(60.0).start())
        .unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new(python)
        .arg(here.join("tests/python/sdk_against_sim.py"))
        .env("DASHSCOPE_HTTP_BASE_URL", sim.base_url())
        .env("DASHSCOPE_API_KEY", sim.api_key())
        .env("SAMPLES", here.join("../../tests/samples"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: the script takes a few seconds; give up after two minutes.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the python SDK script did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python SDK failed against the simulator:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all calls succeeded"));
    let c = sim.counters();
    assert_eq!(c.created_for_model("wan2.2-animate-mix"), 2);
    assert_eq!(c.uploads_stored, 2);
    assert_eq!(
        c.storage_requests_with_authorization, 0,
        "the SDK's upload carries no key either"
    );
}
