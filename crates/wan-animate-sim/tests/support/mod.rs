//! Plain-HTTP helpers shared by the world and notifier tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use serde_json::{Value, json};
use wan_animate_sim::SimHandle;

pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/samples");

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{ROOT}/{name}")).unwrap()
}

pub struct Api<'a> {
    pub sim: &'a SimHandle,
    pub http: reqwest::Client,
}

impl Api<'_> {
    pub fn new(sim: &SimHandle) -> Api<'_> {
        Api {
            sim,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    pub async fn json(&self, req: reqwest::RequestBuilder) -> Value {
        let resp = req.bearer_auth(self.sim.api_key()).send().await.unwrap();
        resp.json().await.unwrap()
    }

    pub async fn upload(&self, model: &str, name: &str, bytes: Vec<u8>) -> String {
        let policy = self
            .json(self.http.get(format!(
                "{}/uploads?action=getPolicy&model={model}",
                self.sim.base_url()
            )))
            .await;
        let d = &policy["data"];
        let key = format!("{}/{name}", d["upload_dir"].as_str().unwrap());
        let text = |f: &str| d[f].as_str().unwrap().to_owned();
        let form = reqwest::multipart::Form::new()
            .text("OSSAccessKeyId", text("oss_access_key_id"))
            .text("policy", text("policy"))
            .text("Signature", text("signature"))
            .text("key", key.clone())
            .text("x-oss-object-acl", text("x_oss_object_acl"))
            .text("x-oss-forbid-overwrite", text("x_oss_forbid_overwrite"))
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            );
        let resp = self
            .http
            .post(text("upload_host"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        format!("oss://{key}")
    }

    /// Uploads the samples (or `image` instead of the sample image) and creates a task.
    pub async fn create(&self, model: &str, image: Option<Vec<u8>>) -> String {
        let image = self
            .upload(
                model,
                "person.jpg",
                image.unwrap_or_else(|| sample("person.jpg")),
            )
            .await;
        let video = self.upload(model, "dance.mp4", sample("dance.mp4")).await;
        let created = self
            .json(
                self.http
                    .post(format!(
                        "{}/services/aigc/image2video/video-synthesis",
                        self.sim.base_url()
                    ))
                    .header("X-DashScope-Async", "enable")
                    .header("X-DashScope-OssResourceResolve", "enable")
                    .json(&json!({"model": model, "input": {"image_url": image, "video_url": video}, "parameters": {"mode": "wan-std"}})),
            )
            .await;
        created["output"]["task_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no task id: {created}"))
            .to_owned()
    }

    pub async fn get(&self, id: &str) -> Value {
        self.json(self.http.get(format!("{}/tasks/{id}", self.sim.base_url())))
            .await
    }

    pub async fn status(&self, id: &str) -> String {
        self.get(id).await["output"]["task_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn list_ids(&self) -> Vec<String> {
        let v = self
            .json(
                self.http
                    .get(format!("{}/tasks?page_size=100", self.sim.base_url())),
            )
            .await;
        v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data: {v}"))
            .iter()
            .map(|t| t["task_id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn wait_for(&self, id: &str, status: &str) -> Value {
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
