//! A scripted loopback HTTP/1.1 server for hostile-server tests: raw tokio sockets, one
//! request per connection, and a script that decides per request how to misbehave
//! (answer, lie, cut the body short, drop the connection, stall).

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The start of `Range: bytes=START-`, if any.
    pub fn range_start(&self) -> Option<usize> {
        self.header("range")?
            .strip_prefix("bytes=")?
            .trim_end_matches('-')
            .parse()
            .ok()
    }
}

/// What to do with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer `status` with `headers` and `body`; with `cut_after`, send only that many body
    /// bytes and close the connection.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        cut_after: Option<usize>,
        /// Stall (hold the connection open, send nothing more) instead of closing after a cut.
        stall_after_cut: bool,
    },
    /// Close the connection without answering.
    Drop,
    /// Hold the connection open and never answer.
    Stall,
}

impl Action {
    /// A complete answer with a correct `Content-Length`.
    pub fn ok(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut h: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        h.push(("content-length".into(), body.len().to_string()));
        Action::Reply {
            status,
            headers: h,
            body: body.to_vec(),
            cut_after: None,
            stall_after_cut: false,
        }
    }

    /// An answer with exactly these headers (no `Content-Length` added): the body is
    /// delimited by closing the connection.
    pub fn raw(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Action::Reply {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            cut_after: None,
            stall_after_cut: false,
        }
    }

    /// Sends only the first `n` bytes of the body, then closes.
    pub fn cut(mut self, n: usize) -> Self {
        if let Action::Reply { cut_after, .. } = &mut self {
            *cut_after = Some(n);
        }
        self
    }

    /// Sends only the first `n` bytes of the body, then stalls.
    pub fn cut_and_stall(mut self, n: usize) -> Self {
        if let Action::Reply {
            cut_after,
            stall_after_cut,
            ..
        } = &mut self
        {
            *cut_after = Some(n);
            *stall_after_cut = true;
        }
        self
    }
}

type Script = dyn Fn(usize, &Seen) -> Action + Send + Sync;

/// A running scripted server; stopped when dropped.
pub struct ScriptedServer {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl ScriptedServer {
    /// Starts on `127.0.0.1:0`. `script(n, request)` is called for the n-th request (from 0).
    pub async fn start(script: impl Fn(usize, &Seen) -> Action + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            // Connection tasks end with the server: dropping the set aborts them.
            let mut held = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let index = n;
                n += 1;
                let script = script.clone();
                let seen = seen2.clone();
                held.spawn(async move {
                    serve(stream, index, script, seen).await;
                });
            }
        });
        Self { addr, seen, task }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests read so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut s: TcpStream, index: usize, script: Arc<Script>, seen: Arc<Mutex<Vec<Seen>>>) {
    let Some(request) = read_request(&mut s).await else {
        return;
    };
    seen.lock().unwrap().push(request.clone());
    match script(index, &request) {
        Action::Drop => {}
        Action::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Action::Reply {
            status,
            headers,
            body,
            cut_after,
            stall_after_cut,
        } => {
            let mut head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
            for (n, v) in &headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let n = cut_after.unwrap_or(body.len()).min(body.len());
            let _ = s.write_all(&body[..n]).await;
            let _ = s.flush().await;
            if cut_after.is_some() && stall_after_cut {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            let _ = s.shutdown().await;
        }
    }
}

async fn read_request(s: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let k = s.read(&mut chunk).await.ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let mut parts = first.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end..].to_vec();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let k = s.read(&mut chunk).await.ok()?;
            if k == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..k]);
        }
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let k = s.read(&mut chunk).await.ok()?;
            if k == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..k]);
        }
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}
