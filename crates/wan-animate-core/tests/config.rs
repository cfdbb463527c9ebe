//! Configuration validated at the edge: empty keys, credentials in base URLs, bad regions,
//! key files that are not regular files, SDK 1.x and 2.0 environment names and precedence,
//! validation that does not depend on the order of the setters.

use std::path::Path;

use wan_animate_core::config::ConfigOverrides;
use wan_animate_core::error::{NextStep, Setting};
use wan_animate_core::test_util::{MockHttp, MockReply};
use wan_animate_core::{Client, ClientConfig, ErrorKind};

fn env(vars: &[(&'static str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(&'static str, String)> =
        vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

fn sources(
    o: &ConfigOverrides,
    vars: &[(&'static str, &str)],
) -> Result<ClientConfig, wan_animate_core::Error> {
    ClientConfig::from_sources(o, env(vars), None)
}

#[test]
fn an_empty_key_is_refused_and_never_sent_as_bearer() {
    let e = sources(
        &ConfigOverrides::new().with_api_key(""),
        &[("DASHSCOPE_API_KEY", "sk-env")],
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("empty"), "{e}");
    assert_eq!(e.next_step(), Some(&NextStep::FixCredentials));
    assert!(sources(&ConfigOverrides::new().with_api_key("  "), &[]).is_err());

    // A library user who builds the config by hand gets the same refusal before any request.
    let http = MockHttp::new(|_| MockReply::json(200, "{}"));
    let client = Client::new(ClientConfig::new(""), http.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(client.get("t-1")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(http.requests().is_empty());
}

#[test]
fn credentials_in_a_base_url_are_refused_and_never_shown() {
    for base in [
        "https://alice:hunter2@gw.example/api/v1",
        "https://hunter2@gw.example/api/v1",
        "http://alice:hunter2@127.0.0.1:8/api/v1",
    ] {
        let e = ClientConfig::new("sk-x").with_base_url(base).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        assert!(e.to_string().contains("gw.example") || e.to_string().contains("127.0.0.1"));
        assert_eq!(
            e.next_step(),
            Some(&NextStep::FixSetting {
                setting: Setting::BaseUrl
            })
        );
        let e = sources(
            &ConfigOverrides::new().with_api_key("sk-x"),
            &[("DASHSCOPE_BASE_URL", base)],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("DASHSCOPE_BASE_URL"), "{e}");
    }
}

#[test]
fn a_bad_region_is_a_setting_error_naming_the_value_and_its_source() {
    let e = sources(
        &ConfigOverrides::new()
            .with_api_key("sk-x")
            .with_region("mars"),
        &[],
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("\"mars\""), "{e}");
    assert_eq!(
        e.next_step(),
        Some(&NextStep::FixSetting {
            setting: Setting::Region
        })
    );
    let e = sources(
        &ConfigOverrides::new().with_api_key("sk-x"),
        &[("DASHSCOPE_REGION", "mars\u{1b}[2J")],
    )
    .unwrap_err();
    assert!(e.to_string().contains("DASHSCOPE_REGION"), "{e}");
    assert!(!e.to_string().contains('\u{1b}'), "{e:?}");
}

#[test]
fn validation_does_not_depend_on_the_order_of_setters() {
    let a = ClientConfig::new("sk-x")
        .allow_insecure_http(true)
        .with_base_url("http://gw.internal/api/v1")
        .unwrap();
    let b = ClientConfig::new("sk-x")
        .with_base_url("http://gw.internal/api/v1")
        .unwrap()
        .allow_insecure_http(true);
    assert!(a.validate().is_ok());
    assert!(b.validate().is_ok());
    let c = ClientConfig::new("sk-x")
        .allow_insecure_http(true)
        .with_base_url("http://gw.internal/api/v1")
        .unwrap()
        .allow_insecure_http(false);
    assert!(c.validate().is_err());
}

#[test]
fn workspace_ids_are_checked() {
    for bad in ["ws 1", "ws\r\nX-Evil: 1", "ws.evil.example/", ""] {
        let e = sources(
            &ConfigOverrides::new()
                .with_api_key("sk-x")
                .with_workspace(bad),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.next_step(),
            Some(&NextStep::FixSetting {
                setting: Setting::Workspace
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn sdk_1x_and_2_0_names_are_read_with_a_documented_precedence() {
    let o = ConfigOverrides::new;
    // SDK 2.0 names alone.
    let c = sources(
        &o(),
        &[
            ("DASHSCOPE_API_KEY", "sk-env"),
            ("DASHSCOPE_BASE_URL", "https://v2.example/api/v1"),
            ("DASHSCOPE_WORKSPACE", "ws-two"),
        ],
    )
    .unwrap();
    assert_eq!(c.base_url(), "https://v2.example/api/v1");
    assert_eq!(c.workspace(), Some("ws-two"));
    // SDK 1.x names win over 2.0 names.
    let c = sources(
        &o(),
        &[
            ("DASHSCOPE_API_KEY", "sk-env"),
            ("DASHSCOPE_HTTP_BASE_URL", "https://v1.example/api/v1"),
            ("DASHSCOPE_BASE_URL", "https://v2.example/api/v1"),
            ("DASHSCOPE_WORKSPACE_ID", "ws-one"),
            ("DASHSCOPE_WORKSPACE", "ws-two"),
        ],
    )
    .unwrap();
    assert_eq!(c.base_url(), "https://v1.example/api/v1");
    assert_eq!(c.workspace(), Some("ws-one"));
    // Explicit settings win over everything.
    let c = sources(
        &o().with_api_key("sk-flag")
            .with_base_url("https://flag.example/api/v1")
            .with_workspace("ws-flag"),
        &[
            ("DASHSCOPE_API_KEY", "sk-env"),
            ("DASHSCOPE_HTTP_BASE_URL", "https://v1.example/api/v1"),
            ("DASHSCOPE_WORKSPACE_ID", "ws-one"),
        ],
    )
    .unwrap();
    assert_eq!(c.api_key().expose_secret(), "sk-flag");
    assert_eq!(c.base_url(), "https://flag.example/api/v1");
    assert_eq!(c.workspace(), Some("ws-flag"));
    // Region alone: the shared host. Region and workspace: the workspace host (SDK 2.0).
    let c = sources(
        &o(),
        &[
            ("DASHSCOPE_API_KEY", "k"),
            ("DASHSCOPE_REGION", "ap-southeast-1"),
        ],
    )
    .unwrap();
    assert_eq!(c.base_url(), "https://dashscope-intl.aliyuncs.com/api/v1");
    assert_eq!(c.workspace(), None);
    let c = sources(
        &o().with_region("cn-beijing"),
        &[
            ("DASHSCOPE_API_KEY", "k"),
            ("DASHSCOPE_WORKSPACE", "ws-abc"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.base_url(),
        "https://ws-abc.cn-beijing.maas.aliyuncs.com/api/v1"
    );
    assert_eq!(c.workspace(), Some("ws-abc"));
    // A base URL wins over a region, and a workspace then goes in the header.
    let c = sources(
        &o().with_region("singapore"),
        &[
            ("DASHSCOPE_API_KEY", "k"),
            ("DASHSCOPE_BASE_URL", "https://gw.example/qwen/api/v1"),
            ("DASHSCOPE_WORKSPACE", "ws-abc"),
        ],
    )
    .unwrap();
    assert_eq!(c.base_url(), "https://gw.example/qwen/api/v1");
    assert_eq!(c.workspace(), Some("ws-abc"));
}

fn home_with_key(key: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".dashscope")).unwrap();
    std::fs::write(home.path().join(".dashscope/api_key"), key).unwrap();
    home
}

#[test]
fn an_explicit_key_means_the_key_file_is_not_read() {
    // The key file is a directory: reading it would fail. With an explicit key it is never read.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".dashscope/api_key")).unwrap();
    let c = ClientConfig::from_sources(
        &ConfigOverrides::new().with_api_key("sk-flag"),
        env(&[]),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(c.api_key().expose_secret(), "sk-flag");
    let e = ClientConfig::from_sources(&ConfigOverrides::new(), env(&[]), Some(home.path()))
        .unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");

    let home = home_with_key("sk-home\n");
    let c =
        ClientConfig::from_sources(&ConfigOverrides::new(), env(&[]), Some(home.path())).unwrap();
    assert_eq!(c.api_key().expose_secret(), "sk-home");
}

#[cfg(unix)]
#[test]
fn a_fifo_as_key_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key-fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return; // mkfifo unavailable: nothing to test here.
    }
    // Run on a thread so a regression hangs only that thread and the test fails by message.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.display().to_string();
    std::thread::spawn(move || {
        let r = ClientConfig::from_sources(
            &ConfigOverrides::new(),
            env(&[("DASHSCOPE_API_KEY_FILE_PATH", path.as_str())]),
            None::<&Path>,
        );
        let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("reading a FIFO key file blocked");
    let e = r.unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    // Unblock a regressed reader, if any, so its thread ends.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(0o4000) // O_NONBLOCK on Linux: fails at once when nobody reads.
            .open(&fifo);
    }
}
