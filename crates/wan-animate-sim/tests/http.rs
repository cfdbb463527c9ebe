//! Every route and documented error of the simulator, driven through plain HTTP (reqwest),
//! independent of our client.

use std::time::Duration;

use serde_json::{Value, json};
use wan_animate_sim::{FaultPlan, RateLimits, Sim, SimHandle, TaskDurations};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/samples");

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn start(b: wan_animate_sim::SimBuilder) -> SimHandle {
    b.start().await.unwrap()
}

struct Api<'a> {
    sim: &'a SimHandle,
    http: reqwest::Client,
}

impl Api<'_> {
    fn new(sim: &SimHandle) -> Api<'_> {
        Api { sim, http: http() }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(self.sim.api_key())
    }

    async fn create(&self, body: Value, oss: bool) -> (u16, Value) {
        let mut req = self
            .auth(self.http.post(format!(
                "{}/services/aigc/image2video/video-synthesis",
                self.sim.base_url()
            )))
            .header("X-DashScope-Async", "enable")
            .json(&body);
        if oss {
            req = req.header("X-DashScope-OssResourceResolve", "enable");
        }
        let (s, _, v) = self.send(req).await;
        (s, v)
    }

    async fn get(&self, id: &str) -> Value {
        self.send(self.auth(self.http.get(format!("{}/tasks/{id}", self.sim.base_url()))))
            .await
            .2
    }

    async fn upload(&self, model: &str, file: &str) -> String {
        let (s, _, policy) = self
            .send(self.auth(self.http.get(format!(
                "{}/uploads?action=getPolicy&model={model}",
                self.sim.base_url()
            ))))
            .await;
        assert_eq!(s, 200, "{policy}");
        let d = &policy["data"];
        let key = format!("{}/{}", d["upload_dir"].as_str().unwrap(), file);
        let bytes = std::fs::read(format!("{ROOT}/{file}")).unwrap();
        let form = reqwest::multipart::Form::new()
            .text(
                "OSSAccessKeyId",
                d["oss_access_key_id"].as_str().unwrap().to_owned(),
            )
            .text("policy", d["policy"].as_str().unwrap().to_owned())
            .text("Signature", d["signature"].as_str().unwrap().to_owned())
            .text("key", key.clone())
            .text(
                "x-oss-object-acl",
                d["x_oss_object_acl"].as_str().unwrap().to_owned(),
            )
            .text(
                "x-oss-forbid-overwrite",
                d["x_oss_forbid_overwrite"].as_str().unwrap().to_owned(),
            )
            .text("success_action_status", "200")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(file.to_owned()),
            );
        let resp = self
            .http
            .post(d["upload_host"].as_str().unwrap())
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        format!("oss://{key}")
    }

    async fn wait_for(&self, id: &str, status: &str) -> Value {
        for _ in 0..400 {
            let t = self.get(id).await;
            if t["output"]["task_status"] == status {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("task {id} never became {status}: {}", self.get(id).await);
    }
}

fn body(model: &str, image: &str, video: &str) -> Value {
    json!({"model": model, "input": {"image_url": image, "video_url": video}, "parameters": {"mode": "wan-std"}})
}

fn fast() -> wan_animate_sim::SimBuilder {
    Sim::builder()
        .time_scale(600.0)
        .limits(RateLimits::unlimited())
}

#[tokio::test]
async fn uploaded_inputs_run_pending_to_succeeded_with_usage_and_a_playable_result() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
    let (s, created) = api
        .create(body("wan2.2-animate-mix", &image, &video), true)
        .await;
    assert_eq!(s, 200, "{created}");
    assert_eq!(created["output"]["task_status"], "PENDING");
    let id = created["output"]["task_id"].as_str().unwrap().to_owned();
    let done = api.wait_for(&id, "SUCCEEDED").await;
    let o = &done["output"];
    for field in ["submit_time", "scheduled_time", "end_time"] {
        assert!(
            wan_animate_types::ServiceTime::new(o[field].as_str().unwrap())
                .to_unix_millis()
                .is_some(),
            "{field}"
        );
    }
    assert_eq!(
        done["usage"],
        json!({"video_duration": 3.0, "video_ratio": "standard"})
    );
    let url = o["results"]["video_url"].as_str().unwrap();
    let video_bytes = http().get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(
        &video_bytes[..],
        &std::fs::read(format!("{ROOT}/dance.mp4")).unwrap()[..]
    );
    // Range requests.
    let part = http()
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", video_bytes.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &video_bytes[100..200]);
    let c = sim.counters();
    assert_eq!(c.created_for_model("wan2.2-animate-mix"), 1);
    assert_eq!(c.uploads_stored, 2);
    assert_eq!(c.storage_requests_with_authorization, 0);
}

#[tokio::test]
async fn authentication_and_header_errors_have_the_documented_shapes() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let url = format!(
        "{}/services/aigc/image2video/video-synthesis",
        sim.base_url()
    );
    let (s, h, v) = api
        .send(
            api.http
                .post(&url)
                .header("X-DashScope-Async", "enable")
                .json(&json!({})),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["message"].as_str()),
        (401, Some("InvalidApiKey"), Some("No API-key provided."))
    );
    assert_eq!(
        h["x-request-id"].to_str().unwrap(),
        v["request_id"].as_str().unwrap()
    );
    let (s, _, v) = api
        .send(api.http.post(&url).bearer_auth("sk-wrong").json(&json!({})))
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (401, Some("Invalid API-key provided."))
    );
    let (s, _, v) = api
        .send(api.auth(api.http.post(&url)).json(&body(
            "wan2.2-animate-mix",
            "https://x/a.jpg",
            "https://x/b.mp4",
        )))
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["message"].as_str()),
        (
            403,
            Some("AccessDenied"),
            Some("current user api does not support synchronous calls.")
        )
    );
}

#[tokio::test]
async fn bad_bodies_and_models_are_400_invalid_parameter() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let cases = [
        (
            json!({"model": "wan9-nope", "input": {"image_url": "a", "video_url": "b"}, "parameters": {"mode": "wan-std"}}),
            "InvalidParameter",
            "Model not exist.",
        ),
        (
            json!({"model": "wan2.2-animate-mix", "input": {"video_url": "b"}, "parameters": {"mode": "wan-std"}}),
            "InvalidParameter",
            "Field required: input.image_url",
        ),
        (
            json!({"model": "wan2.2-animate-mix", "input": {"image_url": "a", "video_url": "b"}}),
            "BadRequest.EmptyParameters",
            "Required parameter \"parameters\" missing from request.",
        ),
        (
            json!({"input": {}}),
            "BadRequest.EmptyModel",
            "Required parameter \"model\" missing from request.",
        ),
        (
            json!({"model": "wan2.2-animate-mix", "input": {"image_url": "a", "video_url": "b"}, "parameters": {"mode": "fast"}}),
            "InvalidParameter",
            "The parameters.mode must be one of: wan-std, wan-pro.",
        ),
    ];
    for (b, code, message) in cases {
        let (s, v) = api.create(b, false).await;
        assert_eq!(
            (s, v["code"].as_str(), v["message"].as_str()),
            (400, Some(code), Some(message))
        );
    }
    let url = format!(
        "{}/services/aigc/image2video/video-synthesis",
        sim.base_url()
    );
    let (s, _, v) = api
        .send(
            api.auth(api.http.post(&url))
                .header("X-DashScope-Async", "enable")
                .body("{not json"),
        )
        .await;
    assert_eq!(
        (s, v["message"].as_str()),
        (
            400,
            Some("Required body invalid, please check the request body format.")
        )
    );
    assert_eq!(sim.counters().created_total(), 0);
}

#[tokio::test]
async fn oss_inputs_need_the_resolve_header_and_must_exist_for_the_same_model() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-move", "person.jpg").await;
    let video = api.upload("wan2.2-animate-move", "dance.mp4").await;
    let (s, v) = api
        .create(body("wan2.2-animate-move", &image, &video), false)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("InvalidParameter.DataInspection"))
    );
    let (s, v) = api
        .create(body("wan2.2-animate-mix", &image, &video), true)
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("InvalidParameter")),
        "bound to the model it was uploaded for: {v}"
    );
    let (s, _) = api
        .create(body("wan2.2-animate-move", &image, &video), true)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn one_task_runs_per_model_others_wait_pending_and_can_be_canceled() {
    let sim = start(
        Sim::builder()
            .time_scale(60.0)
            .limits(RateLimits::unlimited()),
    )
    .await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, v) = api
            .create(body("wan2.2-animate-mix", &image, &video), true)
            .await;
        ids.push(v["output"]["task_id"].as_str().unwrap().to_owned());
    }
    api.wait_for(&ids[0], "RUNNING").await;
    assert_eq!(
        api.get(&ids[1]).await["output"]["task_status"],
        "PENDING",
        "the second waits while the first runs"
    );
    let cancel = |id: String| {
        let api = &api;
        async move {
            api.send(
                api.auth(
                    api.http
                        .post(format!("{}/tasks/{id}/cancel", api.sim.base_url())),
                ),
            )
            .await
        }
    };
    let (s, _, v) = cancel(ids[0].clone()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("UnsupportedOperation")),
        "a running task cannot be canceled"
    );
    let (s, _, v) = cancel(ids[1].clone()).await;
    assert_eq!((s, v.get("code")), (200, None), "{v}");
    assert_eq!(api.get(&ids[1]).await["output"]["task_status"], "CANCELED");
}

#[tokio::test]
async fn unknown_and_expired_tasks_answer_200_unknown() {
    let sim = start(fast().task_ttl(Duration::from_secs(60))).await;
    let api = Api::new(&sim);
    let unknown = api.get("1111").await;
    assert_eq!(
        unknown["output"],
        json!({"task_id": "1111", "task_status": "UNKNOWN"})
    );
    assert!(unknown["request_id"].is_string());
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
    let (_, v) = api
        .create(body("wan2.2-animate-mix", &image, &video), true)
        .await;
    let id = v["output"]["task_id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await; // 60 s simulated at 600x
    assert_eq!(api.get(id).await["output"]["task_status"], "UNKNOWN");
}

#[tokio::test]
async fn invalid_media_fails_the_task_with_the_documented_code() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    // An image given as the video: a format the video check rejects.
    let (_, v) = api
        .create(body("wan2.2-animate-mix", &image, &image), true)
        .await;
    let done = api
        .wait_for(v["output"]["task_id"].as_str().unwrap(), "FAILED")
        .await;
    assert_eq!(done["output"]["code"], "InvalidFile.Format");
    assert!(done.get("usage").is_none());
}

#[tokio::test]
async fn list_filters_pages_and_reports_epoch_milliseconds() {
    let sim = start(fast()).await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
    for _ in 0..3 {
        api.create(body("wan2.2-animate-mix", &image, &video), true)
            .await;
    }
    let url = format!(
        "{}/tasks?model_name=wan2.2-animate-mix&page_size=2&page_no=1",
        sim.base_url()
    );
    let (s, _, page) = api.send(api.auth(api.http.get(&url))).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["total_page"].as_u64(),
            page["data"].as_array().unwrap().len()
        ),
        (Some(3), Some(2), 2)
    );
    let first = &page["data"][0];
    assert!(first["gmt_create"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(first["model_name"], "wan2.2-animate-mix");
    assert!(first.get("task_status").is_none() && first["status"].is_string());
    let none = format!("{}/tasks?model_name=wan2.2-animate-move", sim.base_url());
    assert_eq!(api.send(api.auth(api.http.get(&none))).await.2["total"], 0);
}

#[tokio::test]
async fn the_form_upload_checks_like_oss() {
    let sim = start(fast().max_upload_mb(1)).await;
    let api = Api::new(&sim);
    let (_, _, policy) = api
        .send(api.auth(api.http.get(format!(
            "{}/uploads?action=getPolicy&model=wan2.2-animate-mix",
            sim.base_url()
        ))))
        .await;
    let d = policy["data"].clone();
    let dir = d["upload_dir"].as_str().unwrap().to_owned();
    let form = |key: &str, sig: &str, file: Vec<u8>, file_last: bool| {
        let mut f = reqwest::multipart::Form::new()
            .text("OSSAccessKeyId", "LTAI-sim")
            .text("policy", d["policy"].as_str().unwrap().to_owned())
            .text("Signature", sig.to_owned())
            .text("key", key.to_owned())
            .text("x-oss-object-acl", "private")
            .text("x-oss-forbid-overwrite", "true")
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("f.bin"),
            );
        if !file_last {
            f = f.text("success_action_status", "200");
        }
        f
    };
    let host = d["upload_host"].as_str().unwrap().to_owned();
    let post = |f: reqwest::multipart::Form| {
        let host = host.clone();
        async move {
            let r = http().post(host).multipart(f).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let sig = d["signature"].as_str().unwrap();
    let (s, t) = post(form(&format!("{dir}/a"), "forged", vec![1], true)).await;
    assert_eq!(s, 403, "{t}");
    assert!(t.contains("<Code>SignatureDoesNotMatch</Code>"));
    let (s, t) = post(form("elsewhere/a", sig, vec![1], true)).await;
    assert_eq!(s, 403, "{t}");
    let (s, t) = post(form(
        &format!("{dir}/big"),
        sig,
        vec![0; 1024 * 1024 + 1],
        true,
    ))
    .await;
    assert_eq!(s, 400);
    assert!(t.contains("EntityTooLarge"), "{t}");
    let (s, t) = post(form(&format!("{dir}/late"), sig, vec![1], false)).await;
    assert_eq!(s, 400);
    assert!(t.contains("must be the last field"), "{t}");
    let (s, _) = post(form(&format!("{dir}/ok"), sig, vec![1], true)).await;
    assert_eq!(s, 204, "no success_action_status: OSS's default 204");
    let (s, t) = post(form(&format!("{dir}/ok"), sig, vec![2], true)).await;
    assert_eq!(s, 409, "no overwrite: {t}");
    let with_auth = http()
        .post(&host)
        .bearer_auth("sk-leak")
        .multipart(form(&format!("{dir}/x"), sig, vec![1], true))
        .send()
        .await
        .unwrap();
    assert_eq!(with_auth.status(), 400);
    assert_eq!(sim.counters().storage_requests_with_authorization, 1);
}

#[tokio::test]
async fn an_expired_policy_is_refused_with_the_documented_message() {
    let sim = start(fast().policy_ttl(Duration::from_millis(50))).await;
    let api = Api::new(&sim);
    let (_, _, policy) = api
        .send(api.auth(api.http.get(format!(
            "{}/uploads?action=getPolicy&model=wan2.2-animate-mix",
            sim.base_url()
        ))))
        .await;
    let d = &policy["data"];
    tokio::time::sleep(Duration::from_millis(120)).await;
    let form = reqwest::multipart::Form::new()
        .text("OSSAccessKeyId", "LTAI-sim")
        .text("policy", d["policy"].as_str().unwrap().to_owned())
        .text("Signature", d["signature"].as_str().unwrap().to_owned())
        .text("key", format!("{}/a", d["upload_dir"].as_str().unwrap()))
        .text("x-oss-object-acl", "private")
        .text("x-oss-forbid-overwrite", "true")
        .part("file", reqwest::multipart::Part::bytes(vec![1]));
    let r = http()
        .post(d["upload_host"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid according to Policy: Policy expired.")
    );
}

#[tokio::test]
async fn expired_result_links_answer_403() {
    let sim = start(fast().result_ttl(Duration::from_secs(60))).await;
    let api = Api::new(&sim);
    let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
    let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
    let (_, v) = api
        .create(body("wan2.2-animate-mix", &image, &video), true)
        .await;
    let done = api
        .wait_for(v["output"]["task_id"].as_str().unwrap(), "SUCCEEDED")
        .await;
    let url = done["output"]["results"]["video_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = url.replace("Signature=", "Signature=x");
    assert_eq!(http().get(&forged).send().await.unwrap().status(), 403);
    tokio::time::sleep(Duration::from_millis(1100)).await; // > 60 s simulated; Expires has 1 s resolution
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Request has expired."));
}

#[tokio::test]
async fn rate_limits_answer_429_throttling_rate_quota_with_retry_after() {
    let sim = start(Sim::builder().limits(RateLimits::default())).await;
    let api = Api::new(&sim);
    // One burst of 30 queries at once: the task API allows 20 per second.
    let requests = (0..30).map(|_| {
        api.auth(api.http.get(format!("{}/tasks/x", sim.base_url())))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut throttled = 0;
    for r in responses {
        let r = r.unwrap();
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], "Throttling.RateQuota");
            throttled += 1;
        } else {
            assert_eq!(r.status(), 200);
            ok += 1;
        }
    }
    // A slow machine may see a token or two refill during the burst.
    assert!(
        (20..=25).contains(&ok) && throttled >= 5,
        "{ok} passed, {throttled} throttled"
    );
    assert_eq!(sim.counters().rate_limited, throttled);
}

#[tokio::test]
async fn drop_before_creates_nothing_and_drop_after_creates_the_task() {
    for (plan, created) in [
        (FaultPlan::none().with_drop_before(1.0), 0u64),
        (FaultPlan::none().with_drop_after(1.0), 1),
    ] {
        let sim = start(fast().faults(plan.on_routes(&["create"]))).await;
        let api = Api::new(&sim);
        let image = api.upload("wan2.2-animate-mix", "person.jpg").await;
        let video = api.upload("wan2.2-animate-mix", "dance.mp4").await;
        let r = api
            .auth(api.http.post(format!(
                "{}/services/aigc/image2video/video-synthesis",
                sim.base_url()
            )))
            .header("X-DashScope-Async", "enable")
            .header("X-DashScope-OssResourceResolve", "enable")
            .json(&body("wan2.2-animate-mix", &image, &video))
            .send()
            .await;
        assert!(r.is_err(), "the connection closes without an answer");
        let c = sim.counters();
        assert_eq!(c.faults.values().sum::<u64>(), 1);
        assert_eq!(c.created_total(), created, "{c:?}");
    }
}

#[tokio::test]
async fn a_dropped_connection_sends_no_status_line() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = start(fast().faults(FaultPlan::none().with_drop_before(1.0))).await;
    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    s.write_all(b"GET /api/v1/tasks/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_and_outcomes() {
    async fn sequence(seed: u64) -> Vec<u16> {
        let plan = FaultPlan::none()
            .with_seed(seed)
            .with_429(0.2)
            .with_500(0.2)
            .with_503(0.2);
        let sim = start(fast().faults(plan)).await;
        let api = Api::new(&sim);
        let mut out = Vec::new();
        for i in 0..40 {
            let r = api
                .auth(api.http.get(format!("{}/tasks/t{i}", sim.base_url())))
                .send()
                .await
                .unwrap();
            out.push(r.status().as_u16());
        }
        out
    }
    let a = sequence(42).await;
    assert_eq!(a, sequence(42).await);
    assert_ne!(a, sequence(43).await);
    assert!(
        a.contains(&429) && a.contains(&500) && a.contains(&503) && a.contains(&200),
        "{a:?}"
    );
}

#[tokio::test]
async fn a_proxy_like_base_path_works_and_trailing_slashes_are_tolerated() {
    let sim = start(fast().base_path("/qwen/api/v1")).await;
    assert!(sim.base_url().ends_with("/qwen/api/v1"));
    let r = http()
        .get(format!("{}/tasks/", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = TaskDurations::default();
}
