//! Results and the printed report: per-server tables, davit/Radicale ratios, ceilings,
//! the sync-scaling comparison, and the targets of the performance issue (met or missed —
//! reported, never adjusted).

use std::fmt::Write as _;
use std::time::Duration;

use crate::Settings;
use crate::ceilings::SqliteCeiling;
use crate::load::RunResult;
use crate::servers::{Kind, Server};
use crate::workloads::Workload;

#[derive(Debug, Default, Clone)]
pub struct Measured {
    /// Bytes of the warm-up answer, if it succeeded.
    pub warmup: Option<usize>,
    pub warmup_error: Option<String>,
    /// One client.
    pub solo: RunResult,
    /// The configured number of clients.
    pub run: RunResult,
    pub server_cpu_s: Option<f64>,
    /// CPU seconds used by every other process on the machine during the run.
    pub other_cpu_s: Option<f64>,
    pub peak_rss_kb: u64,
    pub note: String,
}

impl Measured {
    pub fn summary(&self) -> String {
        format!(
            "{:.1} req/s, p50 {} ms, p99 {} ms (solo p50 {} ms), {} ok / {} errors / {} cut, server CPU {}, peak RSS {}, load-generator CPU {:.0} %, other processes {}{}",
            self.run.rps(),
            ms(self.run.p50_ms()),
            ms(self.run.p99_ms()),
            ms(self.solo.p50_ms()),
            self.run.ok,
            self.run.errors,
            self.run.cut,
            self.server_cpu_pct().map_or("?".into(), |p| format!("{p:.0} %")),
            mb(self.peak_rss_kb),
            self.run.client_cpu_pct(),
            self.other_cpu_pct().map_or("?".into(), |p| format!("{p:.0} %")),
            if self.warmup.is_some() {
                format!(", answer {} kB", self.warmup.unwrap_or(0) / 1000)
            } else {
                String::new()
            }
        )
    }
    /// The better of the solo and the concurrent throughput, and which one it was. Used for
    /// the baseline of the ratios, so that a server that cannot use the concurrency (or whose
    /// concurrent requests got cut at the time bound) is not under-rated.
    pub fn best_rps(&self) -> (f64, &'static str) {
        let (run, solo) = (self.run.rps(), self.solo.rps());
        if solo > run { (solo, "solo") } else { (run, "concurrent") }
    }
    pub fn server_cpu_pct(&self) -> Option<f64> {
        let s = self.run.elapsed.as_secs_f64();
        self.server_cpu_s.map(|c| if s > 0.0 { 100.0 * c / s } else { 0.0 })
    }
    pub fn other_cpu_pct(&self) -> Option<f64> {
        let s = self.run.elapsed.as_secs_f64();
        self.other_cpu_s.map(|c| if s > 0.0 { 100.0 * c / s } else { 0.0 })
    }
    fn gen_us_per_request(&self) -> f64 {
        let n = (self.run.ok + self.run.errors).max(1);
        self.run.client_cpu_s * 1e6 / n as f64
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Ran(Box<Measured>),
    NotAvailable(String),
    Failed(String),
}

impl Outcome {
    pub fn measured(&self) -> Option<&Measured> {
        match self {
            Outcome::Ran(m) => Some(m.as_ref()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SeedStep {
    pub what: String,
    pub elapsed: Duration,
    pub note: String,
}

impl SeedStep {
    pub fn line(&self) -> String {
        format!("{}: {:.1} s ({})", self.what, self.elapsed.as_secs_f64(), self.note)
    }
}

#[derive(Debug, Clone)]
pub struct SyncRow {
    pub items: usize,
    pub seed_rate: f64,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub struct ServerReport {
    pub kind: Kind,
    pub version: String,
    pub seed: Vec<SeedStep>,
    /// Members found after seeding (events, cards).
    pub items: (usize, usize),
    pub rss_after_seed_kb: Option<u64>,
    pub rss_end_kb: Option<u64>,
    pub db_size: u64,
    /// RSS at notable moments, in order.
    pub rss_notes: Vec<String>,
    /// Peak RSS while seeding by PUT (a fresh server doing nothing but PUTs).
    pub seed_peak_rss_kb: Option<u64>,
    /// PUT throughput while the big sync collection grew, by size range.
    pub put_rate_by_size: Vec<String>,
    /// The SQLite ceiling's slices, taken in turns with the PUT workload's.
    pub sqlite_during_put: Vec<SqliteCeiling>,
    pub workloads: Vec<(Workload, Outcome)>,
    pub sync_rows: Vec<SyncRow>,
    pub problems: Vec<String>,
}

impl ServerReport {
    pub fn new(server: &Server) -> Self {
        ServerReport {
            kind: server.kind,
            version: server.version.clone(),
            seed: Vec::new(),
            items: (0, 0),
            rss_after_seed_kb: None,
            rss_end_kb: None,
            db_size: 0,
            rss_notes: Vec::new(),
            seed_peak_rss_kb: None,
            put_rate_by_size: Vec::new(),
            sqlite_during_put: Vec::new(),
            workloads: Vec::new(),
            sync_rows: Vec::new(),
            problems: Vec::new(),
        }
    }
    fn workload(&self, w: Workload) -> Option<&Outcome> {
        self.workloads.iter().find(|(x, _)| *x == w).map(|(_, o)| o)
    }

    /// The ceiling the PUT workload is compared with: the commits of its slices together.
    pub fn put_ceiling(&self) -> Option<(SqliteCeiling, String)> {
        let slices = &self.sqlite_during_put;
        if slices.is_empty() {
            return None;
        }
        let together = SqliteCeiling {
            commits: slices.iter().map(|c| c.commits).sum(),
            elapsed: slices.iter().map(|c| c.elapsed).sum(),
        };
        Some((together, format!("in {} slices taken in turns with PUT's, together", slices.len())))
    }
}

pub struct Report {
    pub settings: Settings,
    pub loadavg_at_start: String,
    pub data_note: String,
    pub sqlite: Option<SqliteCeiling>,
    pub health: Option<Measured>,
    pub servers: Vec<ServerReport>,
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 1000.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

pub fn mb(kb: u64) -> String {
    if kb == 0 { "?".into() } else { format!("{:.1} MB", kb as f64 / 1024.0) }
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), Linux {}", kernel.trim())
}

impl Report {
    pub fn new(settings: &Settings) -> Self {
        Report {
            settings: settings.clone(),
            loadavg_at_start: crate::servers::loadavg(),
            data_note: String::new(),
            sqlite: None,
            health: None,
            servers: Vec::new(),
        }
    }

    pub fn header(&self) -> String {
        let s = &self.settings;
        format!(
            "davit-bench{}: {} events, {} vCards, {} clients, {:.1} s / {} requests per workload and server\nmachine: {}; load average at start {}",
            if s.quick { " (quick)" } else { "" },
            s.events,
            s.cards,
            s.clients,
            s.duration.as_secs_f64(),
            s.max_requests,
            machine(),
            self.loadavg_at_start
        )
    }

    fn server(&self, k: Kind) -> Option<&ServerReport> {
        self.servers.iter().find(|r| r.kind == k)
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let s = &self.settings;
        let _ = writeln!(o, "==================== davit-bench results ====================");
        let _ = writeln!(o, "{}", self.header());
        let _ = writeln!(o, "data: {}", self.data_note);
        let _ = writeln!(
            o,
            "each workload: 1 warm-up request, a solo run (1 client, {:.1} s / 500 requests), then {} clients for {:.1} s or {} requests; latencies of successful requests, exact percentiles",
            s.solo_duration.as_secs_f64(),
            s.clients,
            s.duration.as_secs_f64(),
            s.max_requests
        );

        let _ = writeln!(o, "\nCEILINGS (this machine, this run)");
        match &self.sqlite {
            Some(c) => {
                let _ = writeln!(
                    o,
                    "  SQLite commits/s, WAL + synchronous=FULL, 1 writer, one 1 KiB row per transaction: {:.0}/s ({} commits in {:.1} s)",
                    c.per_second(),
                    c.commits,
                    c.elapsed.as_secs_f64()
                );
            }
            None => {
                let _ = writeln!(o, "  SQLite commits/s: not measured");
            }
        }
        if let Some(d) = self.server(Kind::Davit)
            && let Some((c, _)) = d.put_ceiling()
        {
            let slices: Vec<String> =
                d.sqlite_during_put.iter().map(|c| format!("{:.0}", c.per_second())).collect();
            let _ = writeln!(
                o,
                "  SQLite commits/s again, in slices taken in turns with davit's PUT workload: {:.0}/s ({} commits in {:.1} s; slices {})",
                c.per_second(),
                c.commits,
                c.elapsed.as_secs_f64(),
                slices.join(", ")
            );
        }
        match &self.health {
            Some(m) => {
                let _ = writeln!(
                    o,
                    "  load generator vs davit /health ({} clients): {} req/s, p50 {} ms, p99 {} ms; load-generator CPU {:.0} % of one core ({:.1} µs/request); davit CPU {}",
                    s.clients,
                    rate(m.run.rps()),
                    ms(m.run.p50_ms()),
                    ms(m.run.p99_ms()),
                    m.run.client_cpu_pct(),
                    m.gen_us_per_request(),
                    m.server_cpu_pct().map_or("?".into(), |p| format!("{p:.0} %"))
                );
            }
            None => {
                let _ = writeln!(o, "  load generator vs trivial endpoint: not measured (needs davit)");
            }
        }

        let _ = writeln!(o, "\nSEEDING");
        for r in &self.servers {
            for st in &r.seed {
                let _ = writeln!(o, "  {:<9} {}", r.kind.name(), st.line());
            }
            if !r.put_rate_by_size.is_empty() {
                let _ = writeln!(
                    o,
                    "  {:<9} PUT rate while the big sync collection grew: {}",
                    r.kind.name(),
                    r.put_rate_by_size.join(", ")
                );
            }
            let _ = writeln!(
                o,
                "  {:<9} members found: {} events, {} vCards; RSS after seeding {}; data on disk at the end {:.1} MB",
                r.kind.name(),
                r.items.0,
                r.items.1,
                mb(r.rss_after_seed_kb.unwrap_or(0)),
                r.db_size as f64 / 1e6
            );
        }

        for r in &self.servers {
            let _ = writeln!(
                o,
                "\nRESULTS: {} (RSS after seeding {}, at the end {})",
                r.version,
                mb(r.rss_after_seed_kb.unwrap_or(0)),
                mb(r.rss_end_kb.unwrap_or(0))
            );
            if !r.rss_notes.is_empty() {
                let _ = writeln!(o, "  RSS: {}", r.rss_notes.join("; "));
            }
            let _ = writeln!(
                o,
                "  {:<32} {:>9} {:>9} {:>9} {:>9} {:>13} {:>8} {:>9} {:>8} {:>9} {:>9}",
                "workload",
                "req/s",
                "p50 ms",
                "p99 ms",
                "solo p50",
                "ok/errors",
                "srv CPU",
                "peak RSS",
                "gen CPU",
                "gen µs/rq",
                "other CPU"
            );
            for (w, outcome) in &r.workloads {
                let _ = writeln!(o, "  {}", row(w.label(), outcome));
            }
        }

        if let (Some(d), Some(rad)) = (self.server(Kind::Davit), self.server(Kind::Radicale)) {
            let _ = writeln!(
                o,
                "\nDAVIT / RADICALE (same data, same clients, same machine; target ≥ 50× on every workload)"
            );
            let _ = writeln!(
                o,
                "  Radicale req/s is the better of its solo and {}-client throughput (marked s when solo)",
                s.clients
            );
            let _ = writeln!(
                o,
                "  {:<32} {:>11} {:>15} {:>9} {:>8} {:>12} {:>7}",
                "workload", "davit req/s", "Radicale req/s", "req/s ×", "p50 ×", "solo p50 ×", "≥ 50×"
            );
            for w in Workload::ALL {
                let (dm, rm) =
                    (d.workload(w).and_then(Outcome::measured), rad.workload(w).and_then(Outcome::measured));
                let line = match (dm, rm) {
                    (Some(dm), Some(rm)) if dm.run.ok > 0 && rm.best_rps().0 > 0.0 => {
                        let (base, which) = rm.best_rps();
                        let ratio = dm.run.rps() / base;
                        format!(
                            "{:>11} {:>15} {:>9} {:>8} {:>12} {:>7}",
                            rate(dm.run.rps()),
                            format!("{}{}", rate(base), if which == "solo" { " s" } else { "" }),
                            format!("{ratio:.1}"),
                            ratio_of(rm.run.p50_ms(), dm.run.p50_ms()),
                            ratio_of(rm.solo.p50_ms(), dm.solo.p50_ms()),
                            if ratio >= 50.0 { "met" } else { "MISSED" }
                        )
                    }
                    (Some(dm), Some(_)) if dm.run.ok > 0 => format!(
                        "{:>11} {:>15} {:>9} {:>8} {:>12} {:>7}",
                        rate(dm.run.rps()),
                        "none done",
                        "-",
                        "-",
                        "-",
                        "?"
                    ),
                    _ => format!(
                        "  n/a: davit {}, Radicale {}",
                        availability(d.workload(w)),
                        availability(rad.workload(w))
                    ),
                };
                let _ = writeln!(o, "  {:<32} {line}", w.label());
            }
        }

        if let Some(d) = self.server(Kind::Davit).filter(|d| !d.sync_rows.is_empty()) {
            let _ = writeln!(o, "\nSYNC-COLLECTION AFTER ONE CHANGE vs COLLECTION SIZE (davit)");
            let _ = writeln!(
                o,
                "  {:<32} {:>9} {:>9} {:>9} {:>9} {:>13} {:>8} {:>9} {:>8} {:>9} {:>9}",
                "collection",
                "req/s",
                "p50 ms",
                "p99 ms",
                "solo p50",
                "ok/errors",
                "srv CPU",
                "peak RSS",
                "gen CPU",
                "gen µs/rq",
                "other CPU"
            );
            for sr in &d.sync_rows {
                let _ = writeln!(
                    o,
                    "  {}",
                    row(&format!("{} items (seeded {:.0}/s)", sr.items, sr.seed_rate), &sr.outcome)
                );
            }
            if let Some(big) = d.sync_rows.last() {
                for small in &d.sync_rows[..d.sync_rows.len() - 1] {
                    if let (Some(b), Some(sm)) = (big.outcome.measured(), small.outcome.measured()) {
                        let _ = writeln!(
                            o,
                            "  {} vs {} items: p50 {}×, solo p50 {}×, req/s {}×",
                            big.items,
                            small.items,
                            ratio(b.run.p50_ms(), sm.run.p50_ms()),
                            ratio(b.solo.p50_ms(), sm.solo.p50_ms()),
                            ratio(Some(sm.run.rps()), Some(b.run.rps()))
                        );
                    }
                }
            }
        }

        let _ = writeln!(o, "\nTARGETS (from the issue; reported as measured)");
        for t in self.targets() {
            let _ = writeln!(o, "  {t}");
        }

        let problems: Vec<String> = self
            .servers
            .iter()
            .flat_map(|r| {
                let mut v: Vec<String> =
                    r.problems.iter().map(|p| format!("{}: {p}", r.kind.name())).collect();
                let all = r.workloads.iter().map(|(w, o)| (w.label().to_owned(), o)).chain(
                    r.sync_rows
                        .iter()
                        .map(|sr| (format!("sync after 1 change, {} items", sr.items), &sr.outcome)),
                );
                for (label, o) in all {
                    match o {
                        Outcome::Failed(e) => v.push(format!("{}: {label}: FAILED: {e}", r.kind.name())),
                        Outcome::Ran(m) => {
                            if let Some(e) = &m.warmup_error {
                                v.push(format!("{}: {label}: {e}", r.kind.name()));
                            }
                            if m.run.errors > 0 || m.solo.errors > 0 {
                                v.push(format!(
                                    "{}: {label}: {} errors (statuses {:?}), e.g. {}",
                                    r.kind.name(),
                                    m.run.errors + m.solo.errors,
                                    m.run.bad_statuses,
                                    m.run
                                        .error_samples
                                        .first()
                                        .or(m.solo.error_samples.first())
                                        .cloned()
                                        .unwrap_or_default()
                                ));
                            }
                            if m.note.starts_with("WARNING") {
                                v.push(format!("{}: {label}: {}", r.kind.name(), m.note));
                            }
                        }
                        Outcome::NotAvailable(_) => {}
                    }
                }
                v
            })
            .collect();
        let _ = writeln!(o, "\nPROBLEMS SEEN");
        if problems.is_empty() {
            let _ = writeln!(o, "  none");
        }
        for p in problems {
            let _ = writeln!(o, "  - {p}");
        }
        o
    }

    fn targets(&self) -> Vec<String> {
        let mut t = Vec::new();
        let mark = |ok: bool| if ok { "[met]   " } else { "[MISSED]" };
        let d = self.server(Kind::Davit);
        let rad = self.server(Kind::Radicale);
        if let (Some(d), Some(rad)) = (d, rad) {
            let mut worst: Option<(f64, &str)> = None;
            let mut compared = 0;
            for w in Workload::ALL {
                if let (Some(dm), Some(rm)) =
                    (d.workload(w).and_then(Outcome::measured), rad.workload(w).and_then(Outcome::measured))
                {
                    if rm.best_rps().0 <= 0.0 || dm.run.ok == 0 {
                        continue;
                    }
                    compared += 1;
                    let r = dm.run.rps() / rm.best_rps().0;
                    if worst.is_none_or(|(x, _)| r < x) {
                        worst = Some((r, w.label()));
                    }
                }
            }
            if let Some((r, label)) = worst {
                t.push(format!(
                    "{} every workload ≥ 50× Radicale: lowest ratio {r:.1}× ({label}; {compared} workloads compared)",
                    mark(r >= 50.0)
                ));
            }
        } else {
            t.push("[n/a]    ≥ 50× Radicale: needs both servers".into());
        }
        if let Some(d) = d {
            if let (Some(put), Some((c, when))) = (
                d.workload(Workload::PutNew).and_then(Outcome::measured),
                d.put_ceiling().or_else(|| self.sqlite.clone().map(|c| (c, "at the start".to_owned()))),
            ) {
                t.push(format!(
                    "{} PUT ≥ SQLite FULL commit rate (measured {when}): {:.0} PUT/s vs {:.0} commits/s ({:.0} %)",
                    mark(put.run.rps() >= c.per_second()),
                    put.run.rps(),
                    c.per_second(),
                    100.0 * put.run.rps() / c.per_second()
                ));
            }
            if d.sync_rows.len() == 3 {
                let (small, mid, big) = (&d.sync_rows[0], &d.sync_rows[1], &d.sync_rows[2]);
                if let (Some(sm), Some(m1), Some(b)) =
                    (small.outcome.measured(), mid.outcome.measured(), big.outcome.measured())
                {
                    let r = b.run.p50_ms().unwrap_or(0.0) / m1.run.p50_ms().unwrap_or(f64::MAX);
                    let rs = b.solo.p50_ms().unwrap_or(0.0) / m1.solo.p50_ms().unwrap_or(f64::MAX);
                    t.push(format!(
                        "{} sync after 1 change on {} items within 1.2× of 1,000 items: p50 {r:.2}× (solo p50 {rs:.2}×){}",
                        mark(r <= 1.2),
                        big.items,
                        if big.items < 100_000 { " — NOT 100,000 items, see seeding" } else { "" }
                    ));
                    t.push(format!(
                        "[info]   sync after 1 change, {} vs 100 items: p50 {:.2}×, solo p50 {:.2}×",
                        big.items,
                        b.run.p50_ms().unwrap_or(0.0) / sm.run.p50_ms().unwrap_or(f64::MAX),
                        b.solo.p50_ms().unwrap_or(0.0) / sm.solo.p50_ms().unwrap_or(f64::MAX)
                    ));
                }
            }
            let mut over = Vec::new();
            let mut checked = 0;
            for (w, o) in &d.workloads {
                if let (true, Some(m)) = (w.p99_target_applies(), o.measured()) {
                    checked += 1;
                    if m.run.p99_ms().is_none_or(|p| p >= 50.0) {
                        over.push(format!("{} {} ms", w.label(), ms(m.run.p99_ms())));
                    }
                }
            }
            t.push(format!(
                "{} p99 < 50 ms except PROPFIND Depth 1 and the feed ({checked} workloads checked){}",
                mark(over.is_empty()),
                if over.is_empty() { String::new() } else { format!(": over: {}", over.join(", ")) }
            ));
            if let Some(put) = d.workload(Workload::PutNew).and_then(Outcome::measured) {
                t.push(format!(
                    "{} RSS < 60 MB during PUT: peak {} in the PUT workload (after the read workloads)",
                    mark(put.peak_rss_kb > 0 && put.peak_rss_kb < 60 * 1024),
                    mb(put.peak_rss_kb)
                ));
            }
            if let Some(kb) = d.seed_peak_rss_kb {
                t.push(format!(
                    "{} RSS < 60 MB during PUT on a fresh server (the seeding PUTs): peak {}",
                    mark(kb > 0 && kb < 60 * 1024),
                    mb(kb)
                ));
            }
            if let Some(q) = d.workload(Workload::CalendarQueryMonth).and_then(Outcome::measured) {
                t.push(format!(
                    "[info]   calendar-query, 1 month over {} events: solo p50 {} ms, p99 {} ms at {} clients",
                    d.items.0,
                    ms(q.solo.p50_ms()),
                    ms(q.run.p99_ms()),
                    self.settings.clients
                ));
            }
            if let Some(q) = d.workload(Workload::AddressbookQuery).and_then(Outcome::measured) {
                t.push(format!(
                    "[info]   addressbook-query text-match over {} contacts: solo p50 {} ms, p99 {} ms at {} clients",
                    d.items.1,
                    ms(q.solo.p50_ms()),
                    ms(q.run.p99_ms()),
                    self.settings.clients
                ));
            }
        }
        if let Some(h) = &self.health {
            let max_dav = d
                .map(|d| {
                    d.workloads
                        .iter()
                        .filter_map(|(_, o)| o.measured())
                        .map(|m| m.run.rps())
                        .fold(0.0, f64::max)
                })
                .unwrap_or(0.0);
            t.push(format!(
                "[info]   load generator: {} req/s on /health at {:.0} % CPU of one core; the fastest DAV workload ran at {} req/s ({:.0} % of that ceiling)",
                rate(h.run.rps()),
                h.run.client_cpu_pct(),
                rate(max_dav),
                100.0 * max_dav / h.run.rps().max(1e-9)
            ));
        }
        t
    }
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}", a / b),
        _ => "-".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn availability(o: Option<&Outcome>) -> String {
    match o {
        None => "not run".into(),
        Some(Outcome::Ran(m)) if m.run.ok == 0 => "0 requests completed".into(),
        Some(Outcome::Ran(_)) => "ran".into(),
        Some(Outcome::NotAvailable(why)) => format!("not available ({why})"),
        Some(Outcome::Failed(e)) => format!("failed ({})", e.chars().take(80).collect::<String>()),
    }
}

fn row(label: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ran(m) => format!(
            "{:<32} {:>9} {:>9} {:>9} {:>9} {:>13} {:>8} {:>9} {:>8} {:>9} {:>9}",
            label,
            rate(m.run.rps()),
            ms(m.run.p50_ms()),
            ms(m.run.p99_ms()),
            ms(m.solo.p50_ms()),
            if m.run.cut > 0 {
                format!("{}/{} +{}cut", m.run.ok, m.run.errors, m.run.cut)
            } else {
                format!("{}/{}", m.run.ok, m.run.errors)
            },
            m.server_cpu_pct().map_or("?".into(), |p| format!("{p:.0} %")),
            mb(m.peak_rss_kb),
            format!("{:.0} %", m.run.client_cpu_pct()),
            format!("{:.0}", m.gen_us_per_request()),
            m.other_cpu_pct().map_or("?".into(), |p| format!("{p:.0} %"))
        ),
        Outcome::NotAvailable(why) => format!("{label:<32} not available: {why}"),
        Outcome::Failed(e) => format!("{label:<32} FAILED: {}", e.chars().take(200).collect::<String>()),
    }
}
