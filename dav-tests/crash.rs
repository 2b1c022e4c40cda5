//! Crash safety: the real `davit` binary under concurrent PUT/DELETE/MOVE load is killed with
//! SIGKILL at random moments and restarted, again and again. After every restart each write
//! that was acknowledged with a 2xx must be there with its ETag (or gone, if an acknowledged
//! DELETE/MOVE removed it), a write that was in flight must be either wholly there or wholly
//! absent, listings and the sync log must agree with what GET sees, and the database must pass
//! `PRAGMA integrity_check`.
//!
//! Also home of the helpers the other out-of-process tests (`reliability.rs`) share: running
//! the binary on a data directory, a seeded RNG, multistatus parsing and database checks.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use rusqlite::OpenFlags;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::PASSWORD;
use crate::harness::roxml::{DAV, Doc};

// --- a seeded RNG ---------------------------------------------------------------------------

/// SplitMix64: tiny, good enough to pick operations and timings reproducibly.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The seed for a test: `DAVIT_TEST_SEED` if set (to replay a failure), else `default`.
pub(crate) fn test_seed(default: u64) -> u64 {
    std::env::var("DAVIT_TEST_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default)
}

// --- the davit binary -------------------------------------------------------------------------

/// `davit` with a clean `DAVIT_*` environment, quiet logs, on `data`.
pub(crate) fn davit_command(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_davit"));
    for (key, _) in std::env::vars() {
        if key.starts_with("DAVIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env("DAVIT_LOG", "warn").arg("--data-dir").arg(data);
    cmd
}

/// `davit user add NAME --password-stdin` with the harness password.
pub(crate) fn add_user(data: &Path, name: &str) {
    let mut child = davit_command(data)
        .args(["user", "add", name, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run davit user add");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "davit user add {name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `davit serve` child process on a free loopback port. Killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Daemon {
    /// Spawns `davit serve` without waiting for it; stderr goes to `log` (appended).
    pub fn spawn(data: &Path, log: &Path) -> Daemon {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let child = davit_command(data)
            .args(["serve", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn davit serve");
        Daemon { child, addr, data: data.to_owned(), log: log.to_owned() }
    }

    /// Spawns and waits until `/health` answers 200 (retrying on another port if the chosen
    /// one was taken meanwhile).
    pub async fn start(data: &Path, log: &Path) -> Daemon {
        for _ in 0..5 {
            let mut d = Daemon::spawn(data, log);
            match d.wait_ready(Duration::from_secs(30)).await {
                Ok(()) => return d,
                Err(e) if e.contains("exited") => continue,
                Err(e) => panic!("davit did not start: {e}\n{}", d.log_tail()),
            }
        }
        panic!(
            "davit exited during start-up five times:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("davit exited during start-up ({status})"));
            }
            if health(self.addr).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no 200 from /health within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn database(&self) -> PathBuf {
        self.data.join(davit::config::DATABASE_FILE)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }
}

/// True if `GET /health` answers 200 within a second.
async fn health(addr: SocketAddr) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: davit\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        Some(buf.starts_with(b"HTTP/1.1 200"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(1), probe).await, Ok(Some(true)))
}

// --- HTTP without panics ----------------------------------------------------------------------

/// A client for an out-of-process server: no redirects, a generous per-request timeout.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn etag(&self) -> Option<String> {
        self.headers.get("etag").and_then(|v| v.to_str().ok()).map(unquote)
    }
}

/// An entity tag without its quotes (ETag header and getetag property spell it quoted).
pub(crate) fn unquote(tag: &str) -> String {
    tag.trim().trim_start_matches("W/").trim_matches('"').to_owned()
}

/// Starts a request as `user` (harness password) on `base`.
pub(crate) fn request(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    method: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}"))
        .basic_auth(user, Some(PASSWORD))
}

/// Sends, reading the whole answer; transport errors are returned, not panicked on.
pub(crate) async fn try_send(rb: reqwest::RequestBuilder) -> Result<Answer, String> {
    let resp = rb.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| format!("reading the body: {e:?}"))?;
    Ok(Answer { status, headers, body })
}

pub(crate) const GETETAG: &str = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>\
     </D:prop></D:propfind>";

pub(crate) fn sync_body(token: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token>\
         <D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
}

/// Members of a Depth-1 PROPFIND (the collection itself left out): href → ETag.
pub(crate) fn listed_members(body: &str, collection: &str) -> BTreeMap<String, String> {
    let doc = Doc::parse(body);
    let mut out = BTreeMap::new();
    for r in doc.responses() {
        let href = r.href();
        if href == collection {
            continue;
        }
        let etag = r.prop(DAV, "getetag").map(|(e, _)| unquote(&e.text())).unwrap_or_default();
        out.insert(href, etag);
    }
    out
}

/// A sync-collection answer: href → Some(ETag) for a changed member, None for a removed one.
pub(crate) struct SyncAnswer {
    pub members: BTreeMap<String, Option<String>>,
    pub token: String,
    /// A 507 on the collection: more changes than one answer holds.
    pub truncated: bool,
}

pub(crate) fn parse_sync(body: &str, collection: &str) -> SyncAnswer {
    let doc = Doc::parse(body);
    let mut members = BTreeMap::new();
    let mut truncated = false;
    for r in doc.responses() {
        let href = r.href();
        if href == collection {
            truncated |= r.status().is_some_and(|s| s.contains(" 507 "));
            continue;
        }
        let removed = r.status().is_some_and(|s| s.contains(" 404 "));
        let etag = if removed {
            None
        } else {
            Some(r.prop(DAV, "getetag").map(|(e, _)| unquote(&e.text())).unwrap_or_default())
        };
        members.insert(href, etag);
    }
    let token = doc.root.child(DAV, "sync-token").map(|t| t.text().trim().to_owned()).unwrap_or_default();
    SyncAnswer { members, token, truncated }
}

// --- the database itself ----------------------------------------------------------------------

/// Opens the live database read-only (a WAL reader beside the server) and checks it: SQLite's
/// `integrity_check` and `foreign_key_check`, and the invariants of davit's own tables: every
/// object's size is its body's, the change log holds at most one row per member, no change is
/// newer than its collection's revision, and the newest change of every member agrees with
/// whether the member exists.
pub(crate) fn check_database(db: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let q = |sql: &str| -> Result<Vec<String>, String> {
        let mut stmt = conn.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
        let rows = stmt
            .query_map([], |r| {
                let n = r.as_ref().column_count();
                let mut cols = Vec::with_capacity(n);
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    cols.push(format!("{v:?}"));
                }
                Ok(cols.join(" | "))
            })
            .map_err(|e| format!("{sql}: {e}"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| format!("{sql}: {e}"))
    };
    // One read transaction, so the invariants are checked on one snapshot.
    conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
    let integrity = q("PRAGMA integrity_check")?;
    if integrity != ["Text(\"ok\")"] {
        return Err(format!("integrity_check: {integrity:?}"));
    }
    let checks = [
        ("foreign_key_check", "PRAGMA foreign_key_check"),
        ("object sizes", "SELECT id, segment FROM objects WHERE size <> length(body)"),
        (
            "more than one change row per member",
            "SELECT collection_id, segment, is_collection, count(*) FROM changes
             GROUP BY collection_id, segment, is_collection HAVING count(*) > 1",
        ),
        (
            "changes newer than their collection",
            "SELECT ch.collection_id, ch.rev, c.rev FROM changes ch JOIN collections c
             ON c.id = ch.collection_id WHERE ch.rev > c.rev",
        ),
        (
            "objects whose newest change says deleted, or that have no change",
            "SELECT o.collection_id, o.segment FROM objects o WHERE NOT EXISTS
             (SELECT 1 FROM changes ch WHERE ch.collection_id = o.collection_id
              AND ch.segment = o.segment AND ch.is_collection = 0 AND ch.deleted = 0)",
        ),
        (
            "changes saying present for objects that do not exist",
            "SELECT ch.collection_id, ch.segment FROM changes ch WHERE ch.is_collection = 0
             AND ch.deleted = 0 AND NOT EXISTS (SELECT 1 FROM objects o
             WHERE o.collection_id = ch.collection_id AND o.segment = ch.segment)",
        ),
        (
            "changes saying present for collections that do not exist",
            "SELECT ch.collection_id, ch.segment FROM changes ch WHERE ch.is_collection = 1
             AND ch.deleted = 0 AND NOT EXISTS (SELECT 1 FROM collections c
             WHERE c.parent_id = ch.collection_id AND c.segment || '/' = ch.segment)",
        ),
        (
            "collections under a parent without a change saying so",
            "SELECT c.parent_id, c.segment FROM collections c WHERE c.parent_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM changes ch WHERE ch.collection_id = c.parent_id
             AND ch.segment = c.segment || '/' AND ch.is_collection = 1 AND ch.deleted = 0)",
        ),
    ];
    for (what, sql) in checks {
        let rows = q(sql)?;
        if !rows.is_empty() {
            return Err(format!("{what}: {rows:?}"));
        }
    }
    conn.execute_batch("COMMIT").map_err(|e| e.to_string())?;
    Ok(())
}

// --- the crash test ---------------------------------------------------------------------------

/// Cycles with load that end in SIGKILL (the issue asks for at least 50).
const LOAD_CYCLES: usize = 56;
/// Every this many cycles, an extra kill lands during start-up instead (open, migrate, bind).
const STARTUP_KILL_EVERY: usize = 8;
const WORKERS: usize = 4;
const PATHS_PER_WORKER: usize = 4;

/// What a path holds: nothing, or a body with its ETag (unknown for a write never answered).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Slot {
    Absent,
    Present { body: String, uid: String, etag: Option<String> },
}

/// The effect of one request on the paths it touches, applied in full or not at all.
#[derive(Clone, Debug)]
pub(crate) struct Op {
    pub what: String,
    pub effects: Vec<(String, Slot)>,
}

pub(crate) struct Worker {
    id: usize,
    collection: &'static str,
    component: &'static str,
    paths: Vec<String>,
    /// The state every acknowledged write left behind.
    acked: HashMap<String, Slot>,
    seq: u64,
    rng: Rng,
    pub acked_writes: u64,
}

/// One worker's run until the server dies: the request in flight at that moment (if any), and
/// unexpected answers.
pub(crate) struct Outcome {
    pub pending: Option<Op>,
    pub failures: Vec<String>,
}

fn calendar_object(component: &str, uid: &str, summary: &str, filler: usize) -> String {
    let (begin, time) = match component {
        "VTODO" => ("VTODO", "DUE:20240102T110000Z"),
        _ => ("VEVENT", "DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z"),
    };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//crash tests//EN\r\nBEGIN:{begin}\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n{time}\r\nSUMMARY:{summary}\r\n\
         DESCRIPTION:{}\r\nEND:{begin}\r\nEND:VCALENDAR\r\n",
        "x".repeat(filler)
    )
}

impl Worker {
    pub fn new(id: usize, seed: u64) -> Worker {
        let (collection, component) =
            if id.is_multiple_of(2) { ("calendar", "VEVENT") } else { ("tasks", "VTODO") };
        let paths: Vec<String> = (0..PATHS_PER_WORKER)
            .map(|p| format!("/dav/calendars/alice/{collection}/w{id}-{p}.ics"))
            .collect();
        let acked = paths.iter().map(|p| (p.clone(), Slot::Absent)).collect();
        Worker { id, collection, component, paths, acked, seq: 0, rng: Rng::new(seed), acked_writes: 0 }
    }

    fn new_body(&mut self, uid: &str) -> String {
        self.seq += 1;
        let filler = self.rng.below(24 * 1024) as usize;
        let summary = format!("worker {} write {}", self.id, self.seq);
        calendar_object(self.component, uid, &summary, filler)
    }

    /// Sends requests one after another until one fails at the transport level (the kill).
    pub async fn run(&mut self, http: &reqwest::Client, base: &str) -> Outcome {
        let mut failures = Vec::new();
        loop {
            let (rb, op, expected) = self.next_request(http, base);
            match try_send(rb).await {
                Err(_) => return Outcome { pending: Some(op), failures },
                Ok(a) if a.status == expected => {
                    for (path, slot) in op.effects {
                        let slot = match slot {
                            // A PUT's answer carries the ETag of exactly what was stored.
                            Slot::Present { body, uid, etag: None } => match a.etag() {
                                Some(e) => Slot::Present { body, uid, etag: Some(e) },
                                None => {
                                    failures.push(format!("{}: {} without an ETag", op.what, a.status));
                                    Slot::Present { body, uid, etag: None }
                                }
                            },
                            other => other,
                        };
                        self.acked.insert(path, slot);
                    }
                    self.acked_writes += 1;
                }
                Ok(a) => {
                    failures.push(format!("{}: expected {expected}, got {}: {}", op.what, a.status, a.body));
                    // Resynchronise: the state is unknown now, so treat the op as in flight.
                    return Outcome { pending: Some(op), failures };
                }
            }
        }
    }

    fn next_request(&mut self, http: &reqwest::Client, base: &str) -> (reqwest::RequestBuilder, Op, u16) {
        let path = self.rng.pick(&self.paths).clone();
        let current = self.acked[&path].clone();
        let req = |method: &str, p: &str| request(http, base, "alice", method, p);
        match current {
            Slot::Absent => {
                self.seq += 1;
                let uid = format!("crash-w{}-{}", self.id, self.seq);
                let body = self.new_body(&uid);
                let mut rb = req("PUT", &path).header("Content-Type", "text/calendar").body(body.clone());
                if self.rng.chance(50) {
                    rb = rb.header("If-None-Match", "*");
                }
                let op = Op {
                    what: format!("PUT {path} (create)"),
                    effects: vec![(path, Slot::Present { body, uid, etag: None })],
                };
                (rb, op, 201)
            }
            Slot::Present { body: old_body, uid, etag } => {
                let roll = self.rng.below(100);
                if roll < 45 {
                    let body = self.new_body(&uid);
                    let mut rb = req("PUT", &path).header("Content-Type", "text/calendar").body(body.clone());
                    if let Some(e) = etag.as_ref().filter(|_| self.rng.chance(50)) {
                        rb = rb.header("If-Match", format!("\"{e}\""));
                    }
                    let op = Op {
                        what: format!("PUT {path} (replace)"),
                        effects: vec![(path, Slot::Present { body, uid, etag: None })],
                    };
                    (rb, op, 204)
                } else if roll < 70 {
                    let mut rb = req("DELETE", &path);
                    if let Some(e) = etag.as_ref().filter(|_| self.rng.chance(50)) {
                        rb = rb.header("If-Match", format!("\"{e}\""));
                    }
                    (rb, Op { what: format!("DELETE {path}"), effects: vec![(path, Slot::Absent)] }, 204)
                } else {
                    let others: Vec<String> = self.paths.iter().filter(|p| **p != path).cloned().collect();
                    let dest = self.rng.pick(&others).clone();
                    let dest_exists = self.acked[&dest] != Slot::Absent;
                    let rb = req("MOVE", &path)
                        .header("Destination", format!("{base}{dest}"))
                        .header("Overwrite", "T");
                    let moved = Slot::Present { body: old_body, uid, etag };
                    let op = Op {
                        what: format!("MOVE {path} → {dest}"),
                        effects: vec![(path, Slot::Absent), (dest, moved)],
                    };
                    (rb, op, if dest_exists { 204 } else { 201 })
                }
            }
        }
    }
}

/// What GET says about every path: None for 404, else body and ETag.
async fn observe(
    http: &reqwest::Client,
    base: &str,
    paths: &[String],
) -> Result<HashMap<String, Option<(String, String)>>, String> {
    let mut out = HashMap::new();
    for path in paths {
        let a = try_send(request(http, base, "alice", "GET", path)).await?;
        let seen = match a.status {
            404 => None,
            200 => Some((a.body.clone(), a.etag().ok_or_else(|| format!("GET {path}: 200 without ETag"))?)),
            s => return Err(format!("GET {path}: {s} {}", a.body)),
        };
        out.insert(path.clone(), seen);
    }
    Ok(out)
}

/// Whether what GET shows matches `expected` on every path of the worker.
fn agrees(
    expected: &HashMap<String, Slot>,
    seen: &HashMap<String, Option<(String, String)>>,
    paths: &[String],
) -> bool {
    paths.iter().all(|p| match (&expected[p], &seen[p]) {
        (Slot::Absent, None) => true,
        (Slot::Present { body, etag, .. }, Some((b, e))) => body == b && etag.as_ref().is_none_or(|x| x == e),
        _ => false,
    })
}

fn describe(
    expected: &HashMap<String, Slot>,
    seen: &HashMap<String, Option<(String, String)>>,
    paths: &[String],
) -> String {
    let short = |s: &Slot| match s {
        Slot::Absent => "absent".to_owned(),
        Slot::Present { body, etag, .. } => {
            format!("{} etag {etag:?}", body.lines().find(|l| l.starts_with("SUMMARY")).unwrap_or(""))
        }
    };
    paths
        .iter()
        .map(|p| {
            let s = match &seen[p] {
                None => "absent".to_owned(),
                Some((b, e)) => {
                    format!("{} etag {e}", b.lines().find(|l| l.starts_with("SUMMARY")).unwrap_or("?"))
                }
            };
            format!("  {p}: expected {}, found {s}", short(&expected[p]))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Per collection href: the sync token of the last verification and the ETags seen then.
pub(crate) type SyncMemory = HashMap<String, (String, BTreeMap<String, String>)>;

#[derive(Default)]
pub(crate) struct Tally {
    pub committed_in_flight: u64,
    pub lost_in_flight: u64,
}

/// After a restart: resolve every worker's in-flight request against what GET shows, then
/// check listings, sync reports and the database.
pub(crate) async fn verify(
    daemon: &Daemon,
    workers: &mut [Worker],
    pending: &mut [Option<Op>],
    memory: &mut SyncMemory,
    tally: &mut Tally,
    cycle: usize,
) {
    let http = http_client();
    let base = daemon.base();
    let ctx = |msg: String| format!("cycle {cycle}: {msg}\n--- server log ---\n{}", daemon.log_tail());
    let mut live: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (w, op) in workers.iter_mut().zip(pending.iter_mut()) {
        let seen = observe(&http, &base, &w.paths).await.unwrap_or_else(|e| panic!("{}", ctx(e)));
        if !agrees(&w.acked, &seen, &w.paths) {
            let mut with_op = w.acked.clone();
            let Some(inflight) = op.as_ref() else {
                panic!(
                    "{}",
                    ctx(format!(
                        "acknowledged writes lost or changed:\n{}",
                        describe(&w.acked, &seen, &w.paths)
                    ))
                );
            };
            for (p, s) in &inflight.effects {
                with_op.insert(p.clone(), s.clone());
            }
            assert!(
                agrees(&with_op, &seen, &w.paths),
                "{}",
                ctx(format!(
                    "neither the acknowledged state nor the in-flight {} applied in full.\n\
                     without it:\n{}\nwith it:\n{}",
                    inflight.what,
                    describe(&w.acked, &seen, &w.paths),
                    describe(&with_op, &seen, &w.paths)
                ))
            );
            tally.committed_in_flight += 1;
            w.acked = with_op;
        } else if op.is_some() {
            tally.lost_in_flight += 1;
        }
        *op = None;
        // Adopt the ETags GET reports (known now also for writes committed unanswered).
        for p in &w.paths {
            if let (Slot::Present { etag, .. }, Some((_, e))) = (w.acked.get_mut(p).unwrap(), &seen[p]) {
                *etag = Some(e.clone());
            }
        }
        let coll = format!("/dav/calendars/alice/{}/", w.collection);
        let entry = live.entry(coll).or_default();
        for (p, s) in &seen {
            if let Some((_, e)) = s {
                entry.insert(p.clone(), e.clone());
            }
        }
    }
    for (coll, members) in &live {
        // The listing shows exactly what GET sees.
        let a = try_send(request(&http, &base, "alice", "PROPFIND", coll).header("Depth", "1").body(GETETAG))
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(e)));
        assert_eq!(a.status, 207, "{}", ctx(format!("PROPFIND {coll}: {}", a.body)));
        assert_eq!(&listed_members(&a.body, coll), members, "{}", ctx(format!("PROPFIND {coll} vs GET")));
        // An initial sync lists exactly the live members.
        let a =
            try_send(request(&http, &base, "alice", "REPORT", coll).header("Depth", "0").body(sync_body("")))
                .await
                .unwrap_or_else(|e| panic!("{}", ctx(e)));
        assert_eq!(a.status, 207, "{}", ctx(format!("initial sync of {coll}: {}", a.body)));
        let initial = parse_sync(&a.body, coll);
        let listed: BTreeMap<String, String> =
            initial.members.iter().map(|(h, e)| (h.clone(), e.clone().unwrap_or_default())).collect();
        assert_eq!(&listed, members, "{}", ctx(format!("initial sync of {coll} vs GET")));
        // The token of the previous verification is still valid and reports every change since.
        if let Some((token, before)) = memory.get(coll) {
            let a = try_send(
                request(&http, &base, "alice", "REPORT", coll).header("Depth", "0").body(sync_body(token)),
            )
            .await
            .unwrap_or_else(|e| panic!("{}", ctx(e)));
            assert_eq!(a.status, 207, "{}", ctx(format!("sync of {coll} from {token}: {}", a.body)));
            let delta = parse_sync(&a.body, coll);
            for (href, etag) in &delta.members {
                assert_eq!(etag.as_ref(), members.get(href), "{}", ctx(format!("sync from {token}: {href}")));
            }
            let hrefs: std::collections::BTreeSet<&String> = before.keys().chain(members.keys()).collect();
            for href in hrefs {
                if before.get(href) != members.get(href) {
                    assert!(
                        delta.members.contains_key(href),
                        "{}",
                        ctx(format!("sync from {token} misses the change of {href}: {:?}", delta.members))
                    );
                }
            }
        }
        memory.insert(coll.clone(), (initial.token, members.clone()));
    }
    check_database(&daemon.database()).unwrap_or_else(|e| panic!("{}", ctx(e)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let started = Instant::now();
    let seed = test_seed(0x5EED_C0DE_0001);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("davit.log");
    add_user(&data, "alice");
    let mut workers: Vec<Worker> = (0..WORKERS).map(|i| Worker::new(i, rng.next_u64())).collect();
    let mut pending: Vec<Option<Op>> = vec![None; WORKERS];
    let mut memory = SyncMemory::new();
    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();
    let mut startup_kills = 0;
    let mut cycle = 0;
    while cycle < LOAD_CYCLES {
        if cycle % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1 {
            // A kill while the server opens the database and binds.
            let mut d = Daemon::spawn(&data, &log);
            tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
            d.kill9();
            startup_kills += 1;
        }
        let mut daemon = Daemon::start(&data, &log).await;
        verify(&daemon, &mut workers, &mut pending, &mut memory, &mut tally, cycle).await;
        let http = http_client();
        let base = daemon.base();
        let runs = workers.iter_mut().map(|w| {
            let http = http.clone();
            let base = base.clone();
            async move { w.run(&http, &base).await }
        });
        let load = futures_join_all(runs);
        let kill_after = Duration::from_millis(20 + rng.below(380));
        let killer = async {
            tokio::time::sleep(kill_after).await;
            daemon.kill9();
        };
        let (outcomes, ()) = tokio::join!(load, killer);
        for (i, o) in outcomes.into_iter().enumerate() {
            pending[i] = o.pending;
            failures.extend(o.failures.into_iter().map(|f| format!("cycle {cycle}: {f}")));
        }
        cycle += 1;
    }
    // A last restart checks the final kill, then a clean stop.
    let mut daemon = Daemon::start(&data, &log).await;
    verify(&daemon, &mut workers, &mut pending, &mut memory, &mut tally, cycle).await;
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(30)).await.expect("davit stops after SIGTERM");
    assert!(status.success(), "davit exited with {status} after SIGTERM:\n{}", daemon.log_tail());
    let acked: u64 = workers.iter().map(|w| w.acked_writes).sum();
    println!(
        "crash test (seed {seed}): {LOAD_CYCLES} SIGKILLs under load + {startup_kills} during start-up \
         survived; {acked} acknowledged writes all present; in-flight writes at the kill: {} committed, \
         {} not; {:.1} s",
        tally.committed_in_flight,
        tally.lost_in_flight,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "unexpected answers under load:\n{}", failures.join("\n"));
}

/// `join_all` without the futures crate: polls every future to completion concurrently.
pub(crate) async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
