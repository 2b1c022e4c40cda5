//! Reliability under concurrency and operations: races on one resource and one collection,
//! 200 clients syncing at once, SIGTERM under load, and `davit backup` taken under load and
//! restored. The races run the server in-process; the rest run the real binary
//! (`CARGO_BIN_EXE_davit`), as an operator would.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use davit::store::{HomeKind, Role};
use tokio::sync::Barrier;

use crate::crash::{
    Daemon, Op, Rng, SyncMemory, Tally, Worker, add_user, check_database, davit_command, futures_join_all,
    http_client, listed_members, parse_sync, request, sync_body, test_seed, try_send, unquote,
};
use crate::harness::{Client, TestServer, propfind_body};

fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         DTEND:20240102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn vcard(uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
}

const CONTENDERS: usize = 50;

/// One client per contender, each with its connection open and its login cached, so that
/// after the barrier the requests really arrive together.
async fn contenders(server: &TestServer) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..CONTENDERS {
        let c = server.client("alice");
        c.go("OPTIONS", "/dav/").await.assert_status(200);
        clients.push(c);
    }
    clients
}

/// Sends `CONTENDERS` requests released together; returns (contender, status, ETag).
async fn race(
    clients: &[Client],
    build: impl Fn(usize, &Client) -> reqwest::RequestBuilder,
) -> Vec<(usize, u16, Option<String>)> {
    let barrier = Arc::new(Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let rb = build(i, c);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let resp = rb.send().await.expect("request sent");
            let status = resp.status().as_u16();
            let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let _ = resp.bytes().await;
            (i, status, etag)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally_statuses(results: &[(usize, u16, Option<String>)]) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for (_, s, _) in results {
        *m.entry(*s).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_puts_with_the_same_if_match_have_exactly_one_winner() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let clients = contenders(&server).await;
    for (round, (path, ctype)) in [
        ("/dav/calendars/alice/calendar/race.ics", "text/calendar"),
        ("/dav/addressbooks/alice/contacts/race.vcf", "text/vcard"),
        ("/dav/calendars/alice/calendar/race.ics", "text/calendar"),
    ]
    .into_iter()
    .enumerate()
    {
        let body =
            |who: &str| if ctype == "text/calendar" { ics("race-1", who) } else { vcard("race-1", who) };
        let r = c.put(path, ctype, &body(&format!("original {round}"))).await;
        assert!(r.status.is_success(), "{}", r.status);
        let etag = r.etag();
        let results = race(&clients, |i, cl| {
            cl.request("PUT", path)
                .header("Content-Type", ctype)
                .header("If-Match", &etag)
                .body(body(&format!("contender {i}")))
        })
        .await;
        let statuses = tally_statuses(&results);
        println!("round {round}: {CONTENDERS} PUTs with If-Match {etag} on {path}: {statuses:?}");
        let winners: Vec<_> = results.iter().filter(|(_, s, _)| *s == 204).collect();
        assert_eq!(winners.len(), 1, "exactly one PUT may win: {statuses:?}");
        assert_eq!(statuses.get(&412), Some(&(CONTENDERS - 1)), "the others get 412: {statuses:?}");
        let (winner, _, winner_etag) = winners[0];
        let g = c.go("GET", path).await;
        g.assert_status(200);
        assert_eq!(g.body, body(&format!("contender {winner}")), "the stored body is the winner's");
        assert_eq!(Some(g.etag()), winner_etag.clone(), "and so is the ETag");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_of_one_url_or_one_uid_have_exactly_one_winner() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let clients = contenders(&server).await;
    // The same URL, If-None-Match: *.
    for (path, ctype) in [
        ("/dav/calendars/alice/calendar/new.ics", "text/calendar"),
        ("/dav/addressbooks/alice/contacts/new.vcf", "text/vcard"),
    ] {
        let body = |who: &str| if ctype == "text/calendar" { ics("new-1", who) } else { vcard("new-1", who) };
        let results = race(&clients, |i, cl| {
            cl.request("PUT", path)
                .header("Content-Type", ctype)
                .header("If-None-Match", "*")
                .body(body(&format!("creator {i}")))
        })
        .await;
        let statuses = tally_statuses(&results);
        println!("{CONTENDERS} creates of {path} with If-None-Match: *: {statuses:?}");
        let winners: Vec<_> = results.iter().filter(|(_, s, _)| *s == 201).collect();
        assert_eq!(winners.len(), 1, "exactly one create may win: {statuses:?}");
        assert_eq!(statuses.get(&412), Some(&(CONTENDERS - 1)), "the others get 412: {statuses:?}");
        let g = c.go("GET", path).await;
        g.assert_status(200);
        assert_eq!(g.body, body(&format!("creator {}", winners[0].0)));
        assert_eq!(Some(g.etag()), winners[0].2.clone());
    }
    // The same UID under different URLs: one resource, the rest no-uid-conflict (RFC 4791
    // §5.3.2.1).
    let results = race(&clients, |i, cl| {
        cl.request("PUT", &format!("/dav/calendars/alice/calendar/uid-{i}.ics"))
            .header("Content-Type", "text/calendar")
            .body(ics("shared-uid", &format!("claimant {i}")))
    })
    .await;
    let statuses = tally_statuses(&results);
    println!("{CONTENDERS} creates of one UID under different URLs: {statuses:?}");
    assert_eq!(statuses.get(&201), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&409), Some(&(CONTENDERS - 1)), "{statuses:?}");
    let alice = server.store().principal_by_slug("alice").unwrap().unwrap();
    let home = server.store().home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let cal = server.store().child_collection(home.id, "calendar").unwrap().unwrap();
    let holders: Vec<String> = server
        .store()
        .members(cal.id)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            davit::store::Member::Object(o) if o.uid.as_deref() == Some("shared-uid") => Some(o.segment),
            _ => None,
        })
        .collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    check_database(&server.state.config.database_path()).unwrap();
    server.stop().await;
}

// --- a storm on one collection -------------------------------------------------------------

const STORM_WORKERS: usize = 8;
const STORM_TIME: Duration = Duration::from_secs(4);
const CAL_A: &str = "/dav/calendars/alice/calendar/";
const CAL_B: &str = "/dav/calendars/alice/other/";

fn storm_names() -> Vec<String> {
    let mut names: Vec<String> = (0..16).map(|i| format!("{CAL_A}s{i}.ics")).collect();
    names.extend((0..6).map(|i| format!("{CAL_B}s{i}.ics")));
    names
}

/// ETags of the members of `coll` by PROPFIND Depth 1.
async fn listing(c: &Client, coll: &str) -> BTreeMap<String, String> {
    let r = c.propfind(coll, "1", &propfind_body(&["D:getetag"])).await;
    r.assert_status(207);
    listed_members(&r.body, coll)
}

async fn sync(c: &Client, coll: &str, token: &str) -> crate::crash::SyncAnswer {
    let r = c.body("REPORT", coll, &sync_body(token)).await;
    r.assert_status(207);
    parse_sync(&r.body, coll)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_delete_put_storm_leaves_no_orphans_and_a_sound_sync_log() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    c.go("MKCALENDAR", CAL_B).await.assert_status(201);
    let names = storm_names();
    for (i, n) in names.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        c.put(n, "text/calendar", &ics(&format!("seed-{i}"), "seed")).await.assert_status(201);
    }
    let mut early = HashMap::new();
    for coll in [CAL_A, CAL_B] {
        let s = sync(&c, coll, "").await;
        early.insert(coll, (s.token, listing(&c, coll).await));
    }
    let uids = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + STORM_TIME;
    let seed = test_seed(0x5707_0001);
    let mut tasks = Vec::new();
    for w in 0..STORM_WORKERS {
        let c = server.client("alice");
        let names = names.clone();
        let uids = uids.clone();
        let base = c.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed ^ (w as u64 + 1));
            let mut seen: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
            let mut bad = Vec::new();
            while Instant::now() < deadline {
                let name = rng.pick(&names).clone();
                let other = rng.pick(&names).clone();
                let roll = rng.below(100);
                let (method, rb, allowed): (&str, _, &[u16]) = if roll < 35 {
                    let uid = format!("storm-{}", uids.fetch_add(1, Ordering::Relaxed));
                    let rb = c
                        .request("PUT", &name)
                        .header("Content-Type", "text/calendar")
                        .body(ics(&uid, &format!("worker {w}")));
                    ("PUT", rb, &[201, 204])
                } else if roll < 55 {
                    ("DELETE", c.request("DELETE", &name), &[204, 404])
                } else if roll < 75 {
                    let overwrite = if rng.chance(70) { "T" } else { "F" };
                    let rb = c
                        .request("MOVE", &name)
                        .header("Destination", format!("{base}{other}"))
                        .header("Overwrite", overwrite);
                    // 403: onto itself; 409: the UID is already in the destination collection.
                    ("MOVE", rb, &[201, 204, 403, 404, 409, 412])
                } else if roll < 82 {
                    let rb = c.request("COPY", &name).header("Destination", format!("{base}{other}"));
                    ("COPY", rb, &[201, 204, 403, 404, 409, 412])
                } else if roll < 91 {
                    let coll = if rng.chance(70) { CAL_A } else { CAL_B };
                    let rb = c
                        .request("PROPFIND", coll)
                        .header("Depth", "1")
                        .body(propfind_body(&["D:getetag", "D:sync-token"]));
                    ("PROPFIND", rb, &[207])
                } else {
                    let coll = if rng.chance(70) { CAL_A } else { CAL_B };
                    ("REPORT", c.request("REPORT", coll).body(sync_body("")), &[207])
                };
                match rb.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        *seen.entry(method.to_owned()).or_default().entry(status).or_default() += 1;
                        if !allowed.contains(&status) {
                            bad.push(format!("{method} {name} (→ {other}): {status} {body}"));
                        }
                    }
                    Err(e) => bad.push(format!("{method} {name}: transport error {e}")),
                }
            }
            (seen, bad)
        }));
    }
    let mut seen: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    let mut bad = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        for (m, st) in s {
            for (code, n) in st {
                *seen.entry(m.clone()).or_default().entry(code).or_default() += n;
            }
        }
        bad.extend(b);
    }
    let total: u64 = seen.values().flat_map(|m| m.values()).sum();
    println!("storm: {total} requests by {STORM_WORKERS} clients in {STORM_TIME:?}: {seen:?}");
    assert!(
        bad.is_empty(),
        "{} unexpected answers, e.g.:\n{}",
        bad.len(),
        bad[..bad.len().min(10)].join("\n")
    );

    let alice = server.store().principal_by_slug("alice").unwrap().unwrap();
    let home = server.store().home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    for coll in [CAL_A, CAL_B] {
        let members = listing(&c, coll).await;
        // Everything listed can be fetched, with the listed ETag…
        for (href, etag) in &members {
            let g = c.go("GET", href).await;
            assert_eq!(g.status.as_u16(), 200, "{href} is listed but GET says {}", g.status);
            assert_eq!(&unquote(&g.etag()), etag, "{href}");
        }
        // …and every name not listed is really gone.
        for name in names.iter().filter(|n| n.starts_with(coll) && !members.contains_key(*n)) {
            c.go("GET", name).await.assert_status(404);
        }
        // The store agrees with the listing (no orphan rows, none missing).
        let segment = coll.trim_end_matches('/').rsplit('/').next().unwrap();
        let stored = server.store().child_collection(home.id, segment).unwrap().unwrap();
        assert_eq!(server.store().members(stored.id).unwrap().len(), members.len(), "{coll}");
        // An initial sync lists exactly the live members.
        let initial = sync(&c, coll, "").await;
        let synced: BTreeMap<String, String> =
            initial.members.iter().map(|(h, e)| (h.clone(), e.clone().unwrap_or_default())).collect();
        assert_eq!(synced, members, "initial sync of {coll} vs PROPFIND");
        // A sync from the token taken before the storm reports every difference, and nothing
        // that contradicts the present.
        let (token, before) = &early[coll];
        let delta = sync(&c, coll, token).await;
        assert!(!delta.truncated, "{coll}: {} members cannot overflow one answer", names.len());
        for (href, etag) in &delta.members {
            assert_eq!(etag.as_ref(), members.get(href), "sync from the early token: {href}");
        }
        let all: BTreeSet<&String> = before.keys().chain(members.keys()).collect();
        for href in all {
            if before.get(href) != members.get(href) {
                assert!(delta.members.contains_key(href), "sync from the early token misses {href}");
            }
        }
        assert_eq!(delta.token, initial.token, "{coll}: both syncs end at the current token");
    }
    check_database(&server.state.config.database_path()).unwrap();
    server.stop().await;
}

// --- 200 clients ----------------------------------------------------------------------------

const CLIENTS: usize = 200;
const LOAD_USERS: usize = 8;
const LOAD_TIME: Duration = Duration::from_secs(22);
/// The least warm-up before memory is judged (see the load test).
const WARM_UP: Duration = Duration::from_secs(5);

struct Sample {
    at: Duration,
    kib: u64,
    threads: u64,
}
const EVENTS_PER_USER: usize = 20;
const CARDS_PER_USER: usize = 10;

#[derive(Default)]
struct LoadStats {
    requests: u64,
    server_errors: Vec<String>,
    errors: Vec<String>,
}

impl LoadStats {
    fn absorb(&mut self, other: LoadStats) {
        self.requests += other.requests;
        self.server_errors.extend(other.server_errors);
        self.errors.extend(other.errors);
    }
}

/// One simulated client: discovery, then sync + multiget loops on a calendar and an address
/// book, and now and then a conditional PUT of its own event.
struct SimClient {
    http: reqwest::Client,
    base: String,
    user: String,
    id: usize,
    stats: LoadStats,
}

impl SimClient {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
        want: u16,
    ) -> Option<crate::crash::Answer> {
        let mut rb = request(&self.http, &self.base, &self.user, method, path);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.stats.requests += 1;
        match try_send(rb.body(body)).await {
            Ok(a) if a.status == want => Some(a),
            Ok(a) if a.status >= 500 => {
                self.stats.server_errors.push(format!("{method} {path}: {} {}", a.status, a.body));
                None
            }
            Ok(a) => {
                self.stats
                    .errors
                    .push(format!("{method} {path}: expected {want}, got {} {}", a.status, a.body));
                None
            }
            Err(e) => {
                self.stats.errors.push(format!("{method} {path}: {e}"));
                None
            }
        }
    }

    async fn run(mut self, deadline: Instant) -> LoadStats {
        let user = self.user.clone();
        let own = format!("/dav/calendars/{user}/calendar/client-{}.ics", self.id);
        let Some(a) = self
            .call(
                "PUT",
                &own,
                &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
                ics(&format!("client-{}", self.id), "v0"),
                201,
            )
            .await
        else {
            return self.stats;
        };
        let mut etag = a.etag().unwrap_or_default();
        let mut tokens: HashMap<String, String> = HashMap::new();
        let mut round = 0u64;
        while Instant::now() < deadline {
            round += 1;
            // Discovery, as a client does on start and now and then.
            let d0 = propfind_body(&["D:current-user-principal"]);
            if self.call("PROPFIND", "/dav/", &[("Depth", "0")], d0, 207).await.is_none() {
                continue;
            }
            let d1 = propfind_body(&["C:calendar-home-set", "CR:addressbook-home-set", "D:displayname"]);
            self.call("PROPFIND", &format!("/dav/principals/{user}/"), &[("Depth", "0")], d1, 207).await;
            let d2 = propfind_body(&[
                "D:resourcetype",
                "D:displayname",
                "CS:getctag",
                "D:sync-token",
                "C:supported-calendar-component-set",
            ]);
            self.call("PROPFIND", &format!("/dav/calendars/{user}/"), &[("Depth", "1")], d2, 207).await;
            // Sync, then fetch what changed.
            let books = if round.is_multiple_of(3) {
                vec![
                    (format!("/dav/calendars/{user}/calendar/"), true),
                    (format!("/dav/addressbooks/{user}/contacts/"), false),
                ]
            } else {
                vec![(format!("/dav/calendars/{user}/calendar/"), true)]
            };
            for (coll, calendar) in books {
                let token = tokens.get(&coll).cloned().unwrap_or_default();
                let Some(a) = self.call("REPORT", &coll, &[("Depth", "0")], sync_body(&token), 207).await
                else {
                    continue;
                };
                let s = parse_sync(&a.body, &coll);
                tokens.insert(coll.clone(), s.token);
                let changed: Vec<&String> =
                    s.members.iter().filter(|(_, e)| e.is_some()).map(|(h, _)| h).take(25).collect();
                if changed.is_empty() {
                    continue;
                }
                let hrefs: String = changed.iter().map(|h| format!("<D:href>{h}</D:href>")).collect();
                let body = if calendar {
                    format!(
                        "<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
                    )
                } else {
                    format!(
                        "<CR:addressbook-multiget xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:prop><D:getetag/><CR:address-data/></D:prop>{hrefs}</CR:addressbook-multiget>"
                    )
                };
                if let Some(a) = self.call("REPORT", &coll, &[("Depth", "1")], body, 207).await {
                    let n = a.body.matches("HTTP/1.1 200 OK").count();
                    if n < changed.len() {
                        self.stats
                            .errors
                            .push(format!("multiget of {} hrefs in {coll}: only {n} found", changed.len()));
                    }
                }
            }
            if round.is_multiple_of(5) {
                let body = ics(&format!("client-{}", self.id), &format!("v{round}"));
                let if_match = format!("\"{etag}\"");
                if let Some(a) = self
                    .call(
                        "PUT",
                        &own,
                        &[("Content-Type", "text/calendar"), ("If-Match", &if_match)],
                        body,
                        204,
                    )
                    .await
                {
                    etag = a.etag().unwrap_or_default();
                }
            }
        }
        self.stats
    }
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_syncing_get_no_errors_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("davit.log");
    let users: Vec<String> = (0..LOAD_USERS).map(|i| format!("user{i}")).collect();
    for u in &users {
        add_user(&data, u);
    }
    let mut daemon = Daemon::start(&data, &log).await;
    let http = http_client();
    let base = daemon.base();
    for u in &users {
        for i in 0..EVENTS_PER_USER {
            let path = format!("/dav/calendars/{u}/calendar/e{i}.ics");
            let a = try_send(
                request(&http, &base, u, "PUT", &path)
                    .header("Content-Type", "text/calendar")
                    .body(ics(&format!("{u}-e{i}"), "seed")),
            )
            .await
            .unwrap();
            assert_eq!(a.status, 201, "{}", a.body);
        }
        for i in 0..CARDS_PER_USER {
            let path = format!("/dav/addressbooks/{u}/contacts/c{i}.vcf");
            let a = try_send(
                request(&http, &base, u, "PUT", &path)
                    .header("Content-Type", "text/vcard")
                    .body(vcard(&format!("{u}-c{i}"), &format!("Person {i}"))),
            )
            .await
            .unwrap();
            assert_eq!(a.status, 201, "{}", a.body);
        }
    }
    let started = Instant::now();
    let deadline = started + LOAD_TIME;
    let stop = Arc::new(AtomicBool::new(false));
    let pid = daemon.pid();
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let field = |name: &str| {
                    status
                        .lines()
                        .find(|l| l.starts_with(name))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                if let (Some(kib), Some(threads)) = (field("VmRSS:"), field("Threads:")) {
                    samples.push(Sample { at: started.elapsed(), kib, threads });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            samples
        })
    };
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let client = SimClient {
            http: http_client(),
            base: base.clone(),
            user: users[id % LOAD_USERS].clone(),
            id,
            stats: LoadStats::default(),
        };
        tasks.push(tokio::spawn(client.run(deadline)));
    }
    let mut stats = LoadStats::default();
    for t in tasks {
        stats.absorb(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    // Warm-up (200 connections, logins, full initial syncs) ends when the server's thread count
    // stops rising: tokio's blocking pool grows towards its cap of 512 threads under this load,
    // and RSS grows with it. Stability is judged on the rest, at least the last 9 s.
    let top = samples.iter().map(|s| s.threads).max().unwrap_or(0);
    let reached = samples.iter().find(|s| s.threads == top).map_or(Duration::ZERO, |s| s.at);
    let warm =
        (reached + Duration::from_secs(1)).max(WARM_UP).min(LOAD_TIME.saturating_sub(Duration::from_secs(9)));
    let steady: Vec<u64> = samples.iter().filter(|s| s.at >= warm).map(|s| s.kib).collect();
    let n = steady.len();
    assert!(n >= 30, "too few RSS samples: {n}");
    let (first, last) = (median(&mut steady[..n / 3].to_vec()), median(&mut steady[n - n / 3..].to_vec()));
    let peak = samples.iter().map(|s| s.kib).max().unwrap();
    let curve: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 10).max(1))
        .map(|s| format!("{:.0}s:{}/{}", s.at.as_secs_f64(), s.kib / 1024, s.threads))
        .collect();
    println!("load: server RSS MiB / threads over time: {}", curve.join(" "));
    println!(
        "load: {CLIENTS} clients, {} requests in {:.1} s ({:.0}/s), {} 5xx, {} other errors; server RSS \
         after {warm:.1?} of warm-up: median of the first third {} MiB, of the last third {} MiB, peak {} MiB \
         ({top} threads)",
        stats.requests,
        elapsed.as_secs_f64(),
        stats.requests as f64 / elapsed.as_secs_f64(),
        stats.server_errors.len(),
        stats.errors.len(),
        first / 1024,
        last / 1024,
        peak / 1024
    );
    assert!(elapsed < LOAD_TIME + Duration::from_secs(30), "the clients did not stop in time: {elapsed:?}");
    assert!(
        stats.server_errors.is_empty(),
        "5xx under load, e.g.:\n{}",
        stats.server_errors[..stats.server_errors.len().min(10)].join("\n")
    );
    assert!(
        stats.errors.is_empty(),
        "errors under load ({}), e.g.:\n{}",
        stats.errors.len(),
        stats.errors[..stats.errors.len().min(10)].join("\n")
    );
    // Memory is stable: the last third of the run does not sit 30 % above the first third (a
    // 90 s run plateaus: 132 MiB at 9 s, 146 MiB at 90 s).
    assert!(last * 10 <= first * 13, "server RSS grew from {first} KiB to {last} KiB under steady load");
    check_database(&daemon.database()).unwrap();
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(40)).await.expect("davit stops after SIGTERM");
    assert!(status.success(), "{status}\n{}", daemon.log_tail());
}

// --- SIGTERM under load ------------------------------------------------------------------------

const TERM_CYCLES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_write() {
    let seed = test_seed(0x7E53_0001);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("davit.log");
    add_user(&data, "alice");
    let mut workers: Vec<Worker> = (0..4).map(|i| Worker::new(i, rng.next_u64())).collect();
    let mut pending: Vec<Option<Op>> = vec![None; workers.len()];
    let mut memory = SyncMemory::new();
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for cycle in 0..TERM_CYCLES {
        let mut daemon = Daemon::start(&data, &log).await;
        crate::crash::verify(&daemon, &mut workers, &mut pending, &mut memory, &mut tally, cycle).await;
        let http = http_client();
        let base = daemon.base();
        let runs = workers.iter_mut().map(|w| {
            let http = http.clone();
            let base = base.clone();
            async move { w.run(&http, &base).await }
        });
        let term_after = Duration::from_millis(200 + rng.below(800));
        let mut exit = None;
        let stopper = async {
            tokio::time::sleep(term_after).await;
            daemon.sigterm();
            exit = daemon.wait_exit(Duration::from_secs(40)).await;
        };
        let (outcomes, ()) = tokio::join!(futures_join_all(runs), stopper);
        let status =
            exit.unwrap_or_else(|| panic!("davit still running 40 s after SIGTERM:\n{}", daemon.log_tail()));
        assert!(status.success(), "davit exited with {status} after SIGTERM:\n{}", daemon.log_tail());
        // A clean stop checkpoints: the database file stands alone.
        let wal = data.join(format!("{}-wal", davit::config::DATABASE_FILE));
        let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(wal_len, 0, "the WAL still holds {wal_len} bytes after a clean stop");
        for (i, o) in outcomes.into_iter().enumerate() {
            pending[i] = o.pending;
            failures.extend(o.failures.into_iter().map(|f| format!("cycle {cycle}: {f}")));
        }
    }
    let daemon = Daemon::start(&data, &log).await;
    crate::crash::verify(&daemon, &mut workers, &mut pending, &mut memory, &mut tally, TERM_CYCLES).await;
    let acked: u64 = workers.iter().map(|w| w.acked_writes).sum();
    println!(
        "SIGTERM under load (seed {seed}): {TERM_CYCLES} stops, {acked} acknowledged writes all present; \
         requests cut off by the stop: {} committed unanswered, {} not committed",
        tally.committed_in_flight, tally.lost_in_flight
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A graceful stop answers every request it executed: nothing is committed unanswered.
    assert_eq!(tally.committed_in_flight, 0, "a request was executed but its answer never sent");
}

// --- backup and restore --------------------------------------------------------------------

/// One write by a backup-test writer: the path's state afterwards, and when it was sent and
/// answered (None: no 2xx).
struct Event {
    path: String,
    after: Option<String>,
    sent: Instant,
    acked: Option<Instant>,
}

/// A writer owning `paths`, writing one request at a time until `stop`.
async fn backup_writer(base: String, id: usize, seed: u64, stop: Arc<AtomicBool>) -> Vec<Event> {
    let http = http_client();
    let mut rng = Rng::new(seed);
    let paths: Vec<String> = (0..5).map(|p| format!("/dav/calendars/alice/calendar/b{id}-{p}.ics")).collect();
    let mut state: HashMap<String, Option<String>> = paths.iter().map(|p| (p.clone(), None)).collect();
    let mut events = Vec::new();
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let path = rng.pick(&paths).clone();
        seq += 1;
        let (rb, after, want) = match &state[&path] {
            Some(_) if rng.chance(30) => (request(&http, &base, "alice", "DELETE", &path), None, 204),
            existing => {
                let body = ics(&format!("b{id}-{path}"), &format!("writer {id} write {seq}"));
                let rb = request(&http, &base, "alice", "PUT", &path)
                    .header("Content-Type", "text/calendar")
                    .body(body.clone());
                (rb, Some(body), if existing.is_some() { 204 } else { 201 })
            }
        };
        let sent = Instant::now();
        let a = try_send(rb).await;
        let ok = matches!(&a, Ok(a) if a.status == want);
        assert!(ok, "{path}: expected {want}, got {:?}", a.map(|a| (a.status, a.body)));
        state.insert(path.clone(), after.clone());
        events.push(Event { path, after, sent, acked: Some(Instant::now()) });
    }
    events
}

/// The states of `paths` after the first `k` events.
fn state_after(events: &[Event], k: usize) -> BTreeMap<String, Option<String>> {
    let mut s = BTreeMap::new();
    for e in &events[..k] {
        s.insert(e.path.clone(), e.after.clone());
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_is_a_consistent_snapshot_a_server_restores_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("davit.log");
    add_user(&data, "alice");
    let mut daemon = Daemon::start(&data, &log).await;
    let base = daemon.base();
    let stop = Arc::new(AtomicBool::new(false));
    let seed = test_seed(0xBAC0_0001);
    let writers: Vec<_> = (0..3)
        .map(|i| tokio::spawn(backup_writer(base.clone(), i, seed ^ (i as u64 + 1), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let output = dir.path().join("backup.sqlite3");
    let t0 = Instant::now();
    let out = {
        let mut cmd = davit_command(&data);
        cmd.arg("backup").arg(&output);
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
    };
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut events = Vec::new();
    for w in writers {
        events.push(w.await.unwrap());
    }
    assert!(
        out.status.success(),
        "davit backup failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "backup: {} in {:?} while {} writes ran",
        String::from_utf8_lossy(&out.stdout).trim(),
        t1 - t0,
        events.iter().map(Vec::len).sum::<usize>()
    );
    // The copy stands alone (no WAL needed) and is sound.
    let copy =
        rusqlite::Connection::open_with_flags(&output, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mode: String = copy.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    drop(copy);
    check_database(&output).unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
    // Running the live server on, the backup does not disturb it; now stop it and restore.
    daemon.sigterm();
    assert!(daemon.wait_exit(Duration::from_secs(40)).await.is_some_and(|s| s.success()));
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&output, restored.join(davit::config::DATABASE_FILE)).unwrap();
    let daemon = Daemon::start(&restored, &log).await;
    let http = http_client();
    let base = daemon.base();
    let mut snapshot_points = Vec::new();
    for (w, evs) in events.iter().enumerate() {
        let paths: BTreeSet<String> =
            (0..5).map(|p| format!("/dav/calendars/alice/calendar/b{w}-{p}.ics")).collect();
        let mut restored_state = BTreeMap::new();
        for p in &paths {
            let a = try_send(request(&http, &base, "alice", "GET", p)).await.unwrap();
            let s = match a.status {
                200 => Some(a.body),
                404 => None,
                s => panic!("GET {p} on the restored server: {s}"),
            };
            restored_state.insert(p.clone(), s);
        }
        // The copy holds one prefix of this writer's writes: everything answered before the
        // backup started, and nothing sent after it ended.
        let k_min = evs.iter().take_while(|e| e.acked.is_some_and(|a| a < t0)).count();
        let k_max = evs.iter().take_while(|e| e.sent < t1).count();
        let full = |k: usize| {
            let mut s: BTreeMap<String, Option<String>> = paths.iter().map(|p| (p.clone(), None)).collect();
            s.extend(state_after(evs, k));
            s
        };
        let k = (k_min..=k_max).find(|&k| full(k) == restored_state);
        let Some(k) = k else {
            panic!(
                "writer {w}: the restored data is no prefix of its writes between {k_min} and {k_max}:\n{restored_state:#?}"
            );
        };
        snapshot_points.push((k_min, k, k_max));
    }
    println!(
        "backup snapshot points per writer (answered before / in the copy / sent before end): {snapshot_points:?}"
    );
    // The restored server is whole: listing, sync and a user login all work.
    let cal = "/dav/calendars/alice/calendar/";
    let a = try_send(
        request(&http, &base, "alice", "PROPFIND", cal).header("Depth", "1").body(crate::crash::GETETAG),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 207);
    let members = listed_members(&a.body, cal);
    let a = try_send(request(&http, &base, "alice", "REPORT", cal).body(sync_body(""))).await.unwrap();
    let synced: BTreeMap<String, String> =
        parse_sync(&a.body, cal).members.into_iter().map(|(h, e)| (h, e.unwrap_or_default())).collect();
    assert_eq!(synced, members);
    check_database(&daemon.database()).unwrap();
    drop(daemon);
    // The restored data directory is an ordinary one for the other commands too.
    let out = davit_command(&restored).args(["user", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));
}

#[tokio::test]
async fn backup_refuses_to_overwrite_and_needs_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice");
    let existing = dir.path().join("existing.sqlite3");
    std::fs::write(&existing, b"precious").unwrap();
    let out = davit_command(&data).arg("backup").arg(&existing).output().unwrap();
    assert!(!out.status.success(), "backup overwrote {}", existing.display());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");
    // No database there: an error, and no empty database created as a side effect.
    let empty = dir.path().join("empty");
    let out = davit_command(&empty).arg("backup").arg(dir.path().join("x.sqlite3")).output().unwrap();
    assert!(!out.status.success());
    assert!(!empty.join(davit::config::DATABASE_FILE).exists());
    assert!(!dir.path().join("x.sqlite3").exists());
    // And a fresh name works, with the server not running (a cold copy).
    let fresh = dir.path().join("fresh.sqlite3");
    let out = davit_command(&data).arg("backup").arg(&fresh).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_database(&fresh).unwrap();
}
