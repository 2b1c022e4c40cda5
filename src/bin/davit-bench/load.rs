//! The load generator: N concurrent tasks on one tokio thread, each with its own keep-alive
//! HTTP/1.1 connection, bounded in request count and in time; exact p50/p99 from the sorted
//! latency samples; the generator's own CPU time from `/proc/self/stat`.
//!
//! The HTTP client is a minimal HTTP/1.1 implementation over `tokio::net::TcpStream` rather
//! than hyper's client: davit's `Cargo.toml` enables only hyper's server side, and this tool
//! may not change the dependency list. It is enough for what the benchmark sends and gets
//! back: requests with a `Content-Length` body, responses framed by `Content-Length`, by
//! `Transfer-Encoding: chunked` or by the connection closing (Radicale answers HTTP/1.0-style
//! and closes every connection; the client reconnects transparently).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go and how they authenticate.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// The full `Authorization` header value (`Basic …`), if any.
    pub authorization: Option<String>,
}

impl Target {
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Target { addr, authorization: Some(format!("Basic {token}")) }
    }
    pub fn anonymous(addr: SocketAddr) -> Self {
        Target { addr, authorization: None }
    }
}

/// One request. `body` is shared so that generators can hand out big bodies cheaply.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Arc<[u8]>,
}

impl Req {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Req { method, path: path.into(), headers: Vec::new(), body: Arc::from(&b""[..]) }
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Arc::from(body.into());
        self
    }
    pub fn shared_body(mut self, body: Arc<[u8]>) -> Self {
        self.body = body;
        self
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection, re-opened whenever the server closes it.
pub struct Conn {
    target: Arc<Target>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    out: Vec<u8>,
    /// Connections opened (for the report: Radicale opens one per request).
    pub connects: u64,
}

impl Conn {
    pub fn new(target: Arc<Target>) -> Self {
        Conn {
            target,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            out: Vec::with_capacity(16 * 1024),
            connects: 0,
        }
    }

    /// Sends `req` and reads the whole response. A request on a reused connection that fails
    /// before any response byte arrived (the server closed an idle keep-alive connection) is
    /// retried once on a fresh connection.
    pub async fn send(&mut self, req: &Req) -> anyhow::Result<Resp> {
        let reused = self.stream.is_some();
        match self.try_send(req).await {
            Ok(r) => Ok(r),
            Err(SendError::BeforeResponse(_)) if reused => {
                self.close();
                self.try_send(req).await.map_err(SendError::into_anyhow)
            }
            Err(e) => {
                self.close();
                Err(e.into_anyhow())
            }
        }
    }

    fn close(&mut self) {
        self.stream = None;
        self.buf.clear();
        self.pos = 0;
    }

    async fn try_send(&mut self, req: &Req) -> Result<Resp, SendError> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.target.addr).await.map_err(|e| SendError::Connect(e.into()))?;
            s.set_nodelay(true).ok();
            self.stream = Some(s);
            self.connects += 1;
            self.buf.clear();
            self.pos = 0;
        }
        self.out.clear();
        self.out.extend_from_slice(req.method.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(req.path.as_bytes());
        self.out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.out.extend_from_slice(self.target.addr.to_string().as_bytes());
        self.out.extend_from_slice(b"\r\n");
        if let Some(a) = &self.target.authorization {
            self.out.extend_from_slice(b"Authorization: ");
            self.out.extend_from_slice(a.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        for (n, v) in &req.headers {
            self.out.extend_from_slice(n.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(v.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if !req.body.is_empty() || matches!(req.method, "PUT" | "POST" | "REPORT" | "PROPFIND" | "PROPPATCH")
        {
            self.out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        let stream = self.stream.as_mut().expect("connected above");
        if req.body.len() <= 64 * 1024 {
            self.out.extend_from_slice(&req.body);
            stream.write_all(&self.out).await.map_err(|e| SendError::BeforeResponse(e.into()))?;
        } else {
            stream.write_all(&self.out).await.map_err(|e| SendError::BeforeResponse(e.into()))?;
            stream.write_all(&req.body).await.map_err(|e| SendError::BeforeResponse(e.into()))?;
        }
        self.read_response(req.method == "HEAD").await
    }

    /// Reads more bytes into `buf`; returns how many (0 at EOF). The bytes land in the spare
    /// capacity directly. Zero-filling that capacity (64-80 KiB) before each read made the
    /// generator the bottleneck of the feed workload: 1,485 µs of its CPU per 4-5 MB answer
    /// (91 % of a core) against 844 µs without, and the feed went from 613 to 901 req/s.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 16 * 1024 {
            self.buf.reserve(64 * 1024);
        }
        let stream = self.stream.as_mut().expect("connected");
        stream.read_buf(&mut self.buf).await
    }

    async fn read_response(&mut self, head_request: bool) -> Result<Resp, SendError> {
        // Status line and headers.
        let header_end = loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n\r\n") {
                break self.pos + i + 4;
            }
            let got_any = self.buf.len() > self.pos;
            match self.fill().await {
                Ok(0) if !got_any => {
                    return Err(SendError::BeforeResponse(anyhow::anyhow!("connection closed")));
                }
                Ok(0) => return Err(SendError::During(anyhow::anyhow!("connection closed in the headers"))),
                Ok(_) => {}
                Err(e) if !got_any => return Err(SendError::BeforeResponse(e.into())),
                Err(e) => return Err(SendError::During(e.into())),
            }
        };
        let head = std::str::from_utf8(&self.buf[self.pos..header_end - 4])
            .map_err(|_| SendError::During(anyhow::anyhow!("response head is not UTF-8")))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SendError::During(anyhow::anyhow!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        self.pos = header_end;
        let get =
            |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let connection = get("connection").map(str::to_ascii_lowercase).unwrap_or_default();
        let mut close =
            connection.contains("close") || (version == "HTTP/1.0" && !connection.contains("keep-alive"));
        let chunked = get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length: Option<usize> = get("content-length").and_then(|v| v.parse().ok());
        let body = if head_request || status / 100 == 1 || status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            self.read_chunked().await.map_err(SendError::During)?
        } else if let Some(n) = length {
            while self.buf.len() - self.pos < n {
                if self.fill().await.map_err(|e| SendError::During(e.into()))? == 0 {
                    return Err(SendError::During(anyhow::anyhow!("connection closed in the body")));
                }
            }
            let b = self.buf[self.pos..self.pos + n].to_vec();
            self.pos += n;
            b
        } else {
            // Delimited by the connection closing.
            while self.fill().await.map_err(|e| SendError::During(e.into()))? > 0 {}
            close = true;
            let b = self.buf[self.pos..].to_vec();
            self.pos = self.buf.len();
            b
        };
        if close {
            self.close();
        }
        Ok(Resp { status, body })
    }

    async fn read_chunked(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                    break self.pos + i;
                }
                if self.fill().await? == 0 {
                    bail!("connection closed in a chunk header");
                }
            };
            let line = std::str::from_utf8(&self.buf[self.pos..line_end])?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            self.pos = line_end + 2;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                        let empty = i == 0;
                        self.pos += i + 2;
                        if empty {
                            return Ok(body);
                        }
                    } else if self.fill().await? == 0 {
                        bail!("connection closed in the trailers");
                    }
                }
            }
            while self.buf.len() - self.pos < size + 2 {
                if self.fill().await? == 0 {
                    bail!("connection closed in a chunk");
                }
            }
            body.extend_from_slice(&self.buf[self.pos..self.pos + size]);
            self.pos += size + 2;
        }
    }
}

enum SendError {
    Connect(anyhow::Error),
    BeforeResponse(anyhow::Error),
    During(anyhow::Error),
}

impl SendError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            SendError::Connect(e) => e.context("connect"),
            SendError::BeforeResponse(e) => e.context("sending the request"),
            SendError::During(e) => e.context("reading the response"),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends one request on a fresh connection (set-up and seeding steps).
pub async fn once(target: &Arc<Target>, req: &Req, timeout: Duration) -> anyhow::Result<Resp> {
    let mut c = Conn::new(target.clone());
    tokio::time::timeout(timeout, c.send(req))
        .await
        .with_context(|| format!("{} {} timed out after {timeout:?}", req.method, req.path))?
        .with_context(|| format!("{} {}", req.method, req.path))
}

/// Builds request number `seq` (global, 0-based) for client `client`.
pub type Gen = Arc<dyn Fn(usize, u64) -> Req + Send + Sync>;

/// What counts as success for a workload.
#[derive(Debug, Clone)]
pub struct Expect {
    pub statuses: Vec<u16>,
}

impl Expect {
    pub fn status(s: u16) -> Self {
        Expect { statuses: vec![s] }
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub clients: usize,
    /// No request is started after this.
    pub duration: Duration,
    pub max_requests: u64,
    /// Per-request limit; a request that exceeds it is an error.
    pub timeout: Duration,
    /// Requests still in flight `grace` after `duration` are abandoned and counted as cut,
    /// not as errors: the run is bounded in time even when single requests take longer.
    pub grace: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct RunResult {
    /// Requests answered with an expected status.
    pub ok: u64,
    /// Unexpected statuses, timeouts and I/O errors.
    pub errors: u64,
    /// Requests abandoned at the end of the grace period.
    pub cut: u64,
    pub elapsed: Duration,
    /// Latencies of the successful requests in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    pub bytes_in: u64,
    pub connects: u64,
    /// CPU seconds this process used during the run (all threads).
    pub client_cpu_s: f64,
    /// Up to five distinct error descriptions.
    pub error_samples: Vec<String>,
    /// Status code counts of unexpected answers.
    pub bad_statuses: std::collections::BTreeMap<u16, u64>,
}

impl RunResult {
    /// Adds another run's counts and samples (latencies are left unsorted: sort at the end).
    pub fn merge(&mut self, other: RunResult) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.cut += other.cut;
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.bytes_in += other.bytes_in;
        self.connects += other.connects;
        self.client_cpu_s += other.client_cpu_s;
        for (k, v) in other.bad_statuses {
            *self.bad_statuses.entry(k).or_default() += v;
        }
        for e in other.error_samples {
            if self.error_samples.len() < 5 && !self.error_samples.contains(&e) {
                self.error_samples.push(e);
            }
        }
    }
    pub fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }
    /// Exact nearest-rank percentile (`p` in 0..=100) of the sorted samples, in ms.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies_us, p).map(|us| us as f64 / 1000.0)
    }
    pub fn p50_ms(&self) -> Option<f64> {
        self.percentile_ms(50.0)
    }
    pub fn p99_ms(&self) -> Option<f64> {
        self.percentile_ms(99.0)
    }
    /// Client CPU as a percentage of one core over the run.
    pub fn client_cpu_pct(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { 100.0 * self.client_cpu_s / s } else { 0.0 }
    }
}

pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Runs `make_req` with `cfg.clients` concurrent clients until `cfg.max_requests` requests have
/// been issued or `cfg.duration` has passed (requests in flight then are finished, and
/// counted). Every client keeps one connection.
pub async fn run(target: &Arc<Target>, cfg: &RunConfig, make_req: &Gen, expect: &Expect) -> RunResult {
    let issued = Arc::new(AtomicU64::new(0));
    let cpu0 = self_cpu_seconds();
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let hard_deadline = deadline + cfg.grace;
    let mut tasks = Vec::with_capacity(cfg.clients);
    for client in 0..cfg.clients {
        let target = target.clone();
        let make_req = make_req.clone();
        let expect = expect.clone();
        let issued = issued.clone();
        let max = cfg.max_requests;
        let timeout = cfg.timeout;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(target);
            let mut out = RunResult::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = issued.fetch_add(1, Ordering::Relaxed);
                if seq >= max {
                    break;
                }
                let req = make_req(client, seq);
                let t0 = Instant::now();
                let limit = timeout.min(hard_deadline.saturating_duration_since(t0));
                let res = tokio::time::timeout(limit, conn.send(&req)).await;
                let us = t0.elapsed().as_micros() as u64;
                match res {
                    Ok(Ok(resp)) if expect.statuses.contains(&resp.status) => {
                        out.ok += 1;
                        out.bytes_in += resp.body.len() as u64;
                        out.latencies_us.push(us);
                    }
                    Ok(Ok(resp)) => {
                        out.errors += 1;
                        *out.bad_statuses.entry(resp.status).or_default() += 1;
                        if out.error_samples.len() < 3 {
                            let text = resp.text();
                            let text: String = text.chars().take(300).collect();
                            out.error_samples.push(format!(
                                "{} {} -> {}: {}",
                                req.method,
                                req.path,
                                resp.status,
                                text.trim()
                            ));
                        }
                    }
                    Ok(Err(e)) => {
                        out.errors += 1;
                        if out.error_samples.len() < 3 {
                            out.error_samples.push(format!("{} {}: {e:#}", req.method, req.path));
                        }
                    }
                    Err(_) if Instant::now() >= hard_deadline && limit < timeout => {
                        conn = Conn::new(conn.target.clone());
                        out.cut += 1;
                    }
                    Err(_) => {
                        // The connection is in an unknown state: drop it.
                        conn = Conn::new(conn.target.clone());
                        out.errors += 1;
                        if out.error_samples.len() < 3 {
                            out.error_samples
                                .push(format!("{} {}: timed out after {timeout:?}", req.method, req.path));
                        }
                    }
                }
            }
            out.connects = conn.connects;
            out
        }));
    }
    let mut total = RunResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => {
                total.ok += r.ok;
                total.errors += r.errors;
                total.cut += r.cut;
                total.bytes_in += r.bytes_in;
                total.connects += r.connects;
                total.latencies_us.extend(r.latencies_us);
                for (k, v) in r.bad_statuses {
                    *total.bad_statuses.entry(k).or_default() += v;
                }
                for s in r.error_samples {
                    if total.error_samples.len() < 5 && !total.error_samples.contains(&s) {
                        total.error_samples.push(s);
                    }
                }
            }
            Err(e) => {
                total.errors += 1;
                total.error_samples.push(format!("client task failed: {e}"));
            }
        }
    }
    total.elapsed = started.elapsed();
    total.client_cpu_s = (self_cpu_seconds() - cpu0).max(0.0);
    total.latencies_us.sort_unstable();
    total
}

/// CPU seconds (user + system) of this process, all threads, from `/proc/self/stat`.
pub fn self_cpu_seconds() -> f64 {
    crate::servers::cpu_seconds_of("self").unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
