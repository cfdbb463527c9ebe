//! Benchmark: upload a large file and download a large result over loopback with the real
//! reqwest backend, and print the process's peak resident memory. Run through
//! `cargo xtask bench transfer` (docs/benchmarks.md); one direction per process so each peak
//! is attributable.
//!
//! `transfer_bench upload BYTES` / `transfer_bench download BYTES`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wan_animate_reqwest::download::DownloadOptions;
use wan_animate_reqwest::types::Model;
use wan_animate_reqwest::{ClientConfig, RetryPolicy};

/// A loopback server that never buffers: it discards upload bodies as they arrive and
/// generates download bodies on the fly.
async fn server(download_len: u64) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut head = Vec::new();
                let split = loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let text = String::from_utf8_lossy(&head[..split]).to_ascii_lowercase();
                let first = text.lines().next().unwrap_or_default().to_owned();
                if first.starts_with("get /api/v1/uploads") {
                    let body = format!(
                        r#"{{"request_id":"r","data":{{"policy":"p","signature":"s","upload_dir":"bench/dir","upload_host":"http://{addr}/oss","expire_in_seconds":300,"max_file_size_mb":1024,"oss_access_key_id":"k","x_oss_object_acl":"private","x_oss_forbid_overwrite":"true"}}}}"#
                    );
                    let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
                } else if first.starts_with("post /oss") {
                    let len: u64 = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut got = (head.len() - split) as u64;
                    while got < len {
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        got += n as u64;
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                } else {
                    let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: {download_len}\r\n\r\n").as_bytes()).await;
                    let chunk = vec![0x5Au8; 256 * 1024];
                    let mut sent = 0u64;
                    while sent < download_len {
                        let n = (chunk.len() as u64).min(download_len - sent) as usize;
                        if s.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        sent += n as u64;
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, bytes) = match (
        args.get(1).map(String::as_str),
        args.get(2).and_then(|b| b.parse::<u64>().ok()),
    ) {
        (Some(m @ ("upload" | "download")), Some(b)) => (m.to_owned(), b),
        _ => {
            eprintln!("usage: transfer_bench upload|download BYTES");
            std::process::exit(2);
        }
    };
    let addr = server(bytes).await;
    let config = ClientConfig::new("sk-bench")
        .with_base_url(format!("http://{addr}/api/v1"))
        .unwrap()
        .with_retry(RetryPolicy::none());
    let client = wan_animate_reqwest::client(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let start;
    if mode == "upload" {
        let path = dir.path().join("big.mp4");
        {
            // Written in 1 MiB pieces so making the file does not raise the peak.
            let mut f = std::fs::File::create(&path).unwrap();
            let piece = vec![7u8; 1024 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(piece.len() as u64) as usize;
                std::io::Write::write_all(&mut f, &piece[..n]).unwrap();
                left -= n as u64;
            }
        }
        start = Instant::now();
        let up = client
            .upload_file(&Model::AnimateMix, &path, None)
            .await
            .unwrap();
        assert_eq!(up.bytes, bytes);
    } else {
        start = Instant::now();
        let dest = dir.path().join("result.mp4");
        let done = client
            .download(
                &format!("http://{addr}/results/r.mp4"),
                &dest,
                DownloadOptions::new(),
            )
            .await
            .unwrap();
        assert_eq!(done.bytes, bytes);
        assert_eq!(std::fs::metadata(&dest).unwrap().len(), bytes);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode:<8} bytes={bytes} seconds={secs:.2} MB/s={:.1} peak_rss_MiB={:.1}",
        bytes as f64 / 1_048_576.0 / secs,
        peak_rss_mib()
    );
}
