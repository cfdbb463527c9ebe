//! The API key never appears in Debug, Display or errors, and is sent only to the API base.

use std::time::Duration;

use wan_animate_core::test_util::{ManualClock, MockHttp, MockReply};
use wan_animate_core::types::{CreateTaskRequest, Mode, Model};
use wan_animate_core::{Client, ClientConfig, RetryPolicy};

const KEY: &str = "sk-test-SECRET123";

#[tokio::test]
async fn debug_of_client_and_config_and_every_error_display_hide_the_key() {
    let config = ClientConfig::new(KEY)
        .with_retry(RetryPolicy::none())
        .with_request_timeout(Duration::from_secs(1));
    assert!(!format!("{config:?}").contains("SECRET123"));
    let clock = ManualClock::new();
    let replies = [
        r#"{"code":"InvalidApiKey","message":"Invalid API-key provided."}"#,
        r#"{"code":"Throttling.RateQuota","message":"slow"}"#,
        "not json at all",
    ];
    for body in replies {
        let http = MockHttp::new(move |_| MockReply::json(401, body));
        let client = Client::builder(config.clone())
            .http_client(http)
            .sleep(clock.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        assert!(!format!("{client:?}").contains("SECRET123"));
        let e = client.get("t").await.unwrap_err();
        for text in [e.to_string(), format!("{e:?}"), format!("{e:#}")] {
            assert!(!text.contains("SECRET123"), "{text}");
        }
        let e = client
            .submit(&CreateTaskRequest::new(
                Model::AnimateMix,
                "https://x/a.jpg",
                "https://x/b.mp4",
                Mode::Standard,
            ))
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("SECRET123"));
    }
    let missing = ClientConfig::from_env_vars(|_| None, None).unwrap_err();
    assert!(missing.to_string().contains("DASHSCOPE_API_KEY"));
}

#[tokio::test]
async fn downloads_never_send_the_key_to_the_storage_host() {
    let clock = ManualClock::new();
    let http = MockHttp::new(|_| MockReply::Response {
        status: 200,
        headers: vec![("content-length".into(), "3".into())],
        body: bytes::Bytes::from_static(b"abc"),
    });
    let client = Client::builder(ClientConfig::new(KEY))
        .http_client(http.clone())
        .sleep(clock.clone())
        .clock(clock)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    client
        .download(
            "https://result.example/v.mp4?Expires=1",
            &dir.path().join("v.mp4"),
            Default::default(),
        )
        .await
        .unwrap();
    let req = &http.requests()[0];
    assert!(req.header("authorization").is_none());
    assert!(
        req.headers
            .iter()
            .all(|(_, v)| !v.to_str().unwrap_or_default().contains("SECRET123"))
    );
}

#[test]
fn config_presets_proxy_prefix_loopback_rule_and_env_precedence() {
    use wan_animate_core::Region;
    let c = ClientConfig::new(KEY)
        .with_region_name("singapore")
        .unwrap();
    assert_eq!(c.base_url(), "https://dashscope-intl.aliyuncs.com/api/v1");
    let ws = ClientConfig::new(KEY).with_workspace_host(Region::CnBeijing, "ws-abc");
    assert_eq!(
        ws.base_url(),
        "https://ws-abc.cn-beijing.maas.aliyuncs.com/api/v1"
    );
    assert_eq!(ws.workspace(), Some("ws-abc"));
    let proxy = ClientConfig::new(KEY)
        .with_base_url("https://gateway.example/qwen/api/v1/")
        .unwrap();
    assert_eq!(proxy.base_url(), "https://gateway.example/qwen/api/v1");
    assert!(
        ClientConfig::new(KEY)
            .with_base_url("http://127.0.0.1:9/api/v1")
            .is_ok()
    );
    assert!(
        ClientConfig::new(KEY)
            .with_base_url("http://[::1]:9/api/v1")
            .is_ok()
    );
    // Plain http to a remote host is refused by `validate`, whatever the order of the calls.
    let plain = ClientConfig::new(KEY)
        .with_base_url("http://proxy.internal/api/v1")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(plain.to_string().contains("unencrypted"), "{plain}");
    for allowed in [
        ClientConfig::new(KEY)
            .allow_insecure_http(true)
            .with_base_url("http://proxy.internal/api/v1")
            .unwrap(),
        ClientConfig::new(KEY)
            .with_base_url("http://proxy.internal/api/v1")
            .unwrap()
            .allow_insecure_http(true),
    ] {
        allowed.validate().unwrap();
    }
    assert!(ClientConfig::new(KEY).with_region_name("mars").is_err());

    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".dashscope")).unwrap();
    std::fs::write(home.path().join(".dashscope/api_key"), "sk-from-home\n").unwrap();
    let key_file = home.path().join("other");
    std::fs::write(&key_file, "sk-from-file").unwrap();
    let kf = key_file.display().to_string();
    let env = |vars: Vec<(&'static str, String)>| {
        move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    let c = ClientConfig::from_env_vars(
        env(vec![
            ("DASHSCOPE_API_KEY", "sk-env".into()),
            ("DASHSCOPE_API_KEY_FILE_PATH", kf.clone()),
        ]),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(c.api_key().expose_secret(), "sk-env");
    let c = ClientConfig::from_env_vars(
        env(vec![("DASHSCOPE_API_KEY_FILE_PATH", kf)]),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(c.api_key().expose_secret(), "sk-from-file");
    let c = ClientConfig::from_env_vars(
        env(vec![(
            "DASHSCOPE_HTTP_BASE_URL",
            "https://g.example/api/v1".into(),
        )]),
        Some(home.path()),
    )
    .unwrap();
    assert_eq!(
        (c.api_key().expose_secret(), c.base_url()),
        ("sk-from-home", "https://g.example/api/v1")
    );
}
