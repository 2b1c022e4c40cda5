//! davit-bench: seeds davit and Radicale with the same realistic data, runs the same
//! workloads against both with N concurrent clients, measures two ceilings of this machine,
//! and prints requests/s, p50/p99 latency, server RSS and CPU, and davit/Radicale ratios.
//!
//! ```text
//! cargo run --release --bin davit-bench -- [--quick] [--only davit|radicale] [--events N]
//!     [--cards N] [--clients 8] [--duration-secs S] [--sync-items N] [--sync-seed-secs S]
//! ```
//!
//! See README.md, section "Benchmarks".

mod ceilings;
mod load;
mod report;
mod seed;
mod servers;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::load::{Expect, Gen, Req, RunConfig, RunResult};
use crate::report::{Measured, Outcome, Report, SeedStep, ServerReport, SyncRow};
use crate::servers::Server;
use crate::workloads::{Catalog, Prepared, Workload};

/// How Radicale is seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RadicaleSeed {
    /// Write the items into Radicale's documented storage layout (one file per item, exactly
    /// the bytes davit gets), check them with `radicale --verify-storage`, then start it.
    Storage,
    /// One PUT of the whole calendar and one of the whole address book.
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    Davit,
    Radicale,
}

/// Benchmark davit against Radicale on this machine (see README, "Benchmarks").
#[derive(Debug, Parser)]
#[command(name = "davit-bench", version)]
struct Args {
    /// Small data and short workloads: a smoke run (500 events, 500 cards, 2 s each).
    #[arg(long)]
    quick: bool,
    /// Benchmark only one of the two servers (no ratios then).
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Events in the big calendar (default 10000; --quick 500). 20 % recur.
    #[arg(long)]
    events: Option<usize>,
    /// vCards in the address book (default 10000; --quick 500).
    #[arg(long)]
    cards: Option<usize>,
    /// Concurrent clients per workload.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time bound per workload and server, in seconds (default 10; --quick 2).
    #[arg(long)]
    duration_secs: Option<f64>,
    /// Request-count bound per workload and server.
    #[arg(long, default_value_t = 200_000)]
    max_requests: u64,
    /// Items wanted in the big collection of the sync-scaling comparison (default 100000;
    /// --quick 2000). It is seeded by PUTs for at most --sync-seed-secs; N is what fits.
    #[arg(long)]
    sync_items: Option<usize>,
    /// Time budget for seeding the big sync collection (default 180; --quick 20).
    #[arg(long)]
    sync_seed_secs: Option<f64>,
    /// How to seed Radicale. A whole-calendar PUT makes Radicale regenerate every item's
    /// VTIMEZONE, which costs 0.1-0.5 s per event here (see README).
    #[arg(long, value_enum, default_value_t = RadicaleSeed::Storage)]
    radicale_seed: RadicaleSeed,
    /// Skip the sync-scaling comparison.
    #[arg(long)]
    no_sync_scaling: bool,
    /// Run only these workloads (repeatable); the others are reported as skipped. For
    /// profiling one path, e.g. `--workload calendar-query --no-sync-scaling --only davit`.
    #[arg(long = "workload", value_enum)]
    workloads: Vec<Workload>,
    /// Record a CPU profile of the server (`perf record -g`) during each concurrent run into
    /// DIR/<workload>.data; read it with `perf report -i DIR/<workload>.data`.
    #[arg(long, value_name = "DIR")]
    perf_dir: Option<PathBuf>,
    /// The davit binary (default: `davit` next to this executable, built first if run by cargo).
    #[arg(long)]
    davit_bin: Option<PathBuf>,
    /// Working directory for data, logs and the Radicale venv (default: target/bench).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the servers' data directories and logs after the run.
    #[arg(long)]
    keep: bool,
    /// Only write the generated data (calendar.ics, addressbook.vcf) into DIR and exit.
    #[arg(long, value_name = "DIR")]
    dump_data: Option<PathBuf>,
}

/// Settings derived from the arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quick: bool,
    pub events: usize,
    pub cards: usize,
    pub clients: usize,
    pub duration: Duration,
    pub solo_duration: Duration,
    pub max_requests: u64,
    pub timeout: Duration,
    /// How long requests in flight at the end of a run may still finish (see `load::RunConfig`).
    pub grace: Duration,
    pub sync_items: usize,
    pub sync_seed_budget: Duration,
    pub sqlite_duration: Duration,
    /// Workloads to run; empty = all.
    pub only_workloads: Vec<Workload>,
    pub perf_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let quick = args.quick;
    let duration =
        Duration::from_secs_f64(args.duration_secs.unwrap_or(if quick { 2.0 } else { 10.0 }).max(0.1));
    let settings = Settings {
        quick,
        events: args.events.unwrap_or(if quick { 500 } else { 10_000 }),
        cards: args.cards.unwrap_or(if quick { 500 } else { 10_000 }),
        clients: args.clients.max(1),
        duration,
        solo_duration: (duration / 5).clamp(Duration::from_millis(500), Duration::from_secs(2)),
        max_requests: args.max_requests.max(1),
        timeout: Duration::from_secs(if quick { 30 } else { 60 }),
        grace: (duration * 2).max(Duration::from_secs(4)),
        sync_items: args.sync_items.unwrap_or(if quick { 2_000 } else { 100_000 }),
        sync_seed_budget: Duration::from_secs_f64(args.sync_seed_secs.unwrap_or(if quick {
            20.0
        } else {
            180.0
        })),
        sqlite_duration: Duration::from_secs(if quick { 1 } else { 3 }),
        only_workloads: args.workloads.clone(),
        perf_dir: args.perf_dir.clone(),
    };
    if let Some(dir) = &args.dump_data {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("calendar.ics"), seed::whole_calendar(&seed::events(settings.events)))?;
        std::fs::write(dir.join("addressbook.vcf"), seed::whole_addressbook(&seed::cards(settings.cards)))?;
        println!("wrote {} events and {} vCards to {}", settings.events, settings.cards, dir.display());
        return Ok(());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let target_dir = if target_dir.is_absolute() { target_dir } else { root.join(target_dir) };
    let work = args.work_dir.clone().unwrap_or_else(|| target_dir.join("bench"));
    std::fs::create_dir_all(&work)?;
    let work = work.canonicalize()?;
    let want_davit = args.only != Some(Only::Radicale);
    let want_radicale = args.only != Some(Only::Davit);
    let davit_bin = if want_davit { Some(davit_binary(args.davit_bin.as_deref())?) } else { None };

    // The load generator runs on one thread: on a 2-core machine the other core is the
    // server's, and the trivial-endpoint ceiling shows what one client thread can do.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut report = Report::new(&settings);
        println!("{}", report.header());

        println!("--> ceiling: SQLite small transactions, synchronous=FULL ({:?}) ...", settings.sqlite_duration);
        match ceilings::sqlite_full_commits(&work.join("sqlite-ceiling"), settings.sqlite_duration) {
            Ok(c) => report.sqlite = Some(c),
            Err(e) => println!("!!! SQLite ceiling failed: {e:#}"),
        }

        println!("--> generating {} events and {} vCards ...", settings.events, settings.cards);
        let t = Instant::now();
        let events = Arc::new(seed::events(settings.events));
        let cards = Arc::new(seed::cards(settings.cards));
        let ev_bytes: usize = events.iter().map(|e| e.ics().len()).sum();
        let card_bytes: usize = cards.iter().map(|c| c.body.len()).sum();
        report.data_note = format!(
            "{} events ({} recurring with EXDATE + overridden instance; {:.1} MB), {} vCards 3.0 ({:.1} MB); generated in {:.2} s",
            events.len(),
            events.iter().filter(|e| e.recurring).count(),
            ev_bytes as f64 / 1e6,
            cards.len(),
            card_bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        println!("    {}", report.data_note);

        if let Some(bin) = &davit_bin {
            match bench_davit(bin, &work, &settings, &events, &cards, args.no_sync_scaling, args.keep).await {
                Ok((r, health)) => {
                    report.health = health;
                    report.servers.push(r);
                }
                Err(e) => println!("!!! davit benchmark failed: {e:#}"),
            }
        }
        if want_radicale {
            // Workloads davit cannot run have nothing to compare against: not run on Radicale.
            let skip: Vec<Workload> = report
                .servers
                .iter()
                .flat_map(|r| r.workloads.iter())
                .filter(|(_, o)| matches!(o, Outcome::NotAvailable(_)))
                .map(|(w, _)| *w)
                .collect();
            match bench_radicale(&work, &settings, &events, &cards, args.keep, args.radicale_seed, &skip).await {
                Ok(r) => report.servers.push(r),
                Err(e) => println!("!!! Radicale benchmark failed: {e:#}"),
            }
        }
        println!();
        print!("{}", report.render());
        Ok::<_, anyhow::Error>(())
    })
}

/// The davit binary to benchmark. Under `cargo run`, builds it first with the same profile as
/// this tool, so that the two are never out of step.
fn davit_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe()?;
    let bin = me.parent().context("executable has no directory")?.join("davit");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--bin", "davit"]).current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        println!("--> cargo build{} --bin davit", if cfg!(debug_assertions) { "" } else { " --release" });
        if !cmd.status()?.success() {
            bail!("building davit failed");
        }
    }
    if cfg!(debug_assertions) {
        println!("!!! davit-bench is a debug build: the numbers mean little; use cargo run --release");
    }
    if !bin.exists() {
        bail!(
            "{} does not exist; build it with `cargo build --release --bin davit` or pass --davit-bin",
            bin.display()
        );
    }
    Ok(bin)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Item `i` to seed: its path, body and content type.
type MakeItem = Arc<dyn Fn(u64) -> (String, Arc<[u8]>, &'static str) + Send + Sync>;

/// PUTs `count` items produced by `make(i) -> (path, body, content type)` with the load
/// generator; stops at `budget`. Returns the run result (ok = items stored).
async fn put_many(
    server: &Server,
    s: &Settings,
    count: usize,
    budget: Duration,
    make: MakeItem,
) -> RunResult {
    let make_req: Gen = Arc::new(move |_, seq| {
        let (path, body, ctype) = make(seq);
        Req::new("PUT", path).header("Content-Type", ctype).header("If-None-Match", "*").shared_body(body)
    });
    let cfg = RunConfig {
        clients: s.clients,
        duration: budget,
        max_requests: count as u64,
        timeout: s.timeout,
        grace: s.timeout,
    };
    load::run(&server.target, &cfg, &make_req, &Expect::status(201)).await
}

fn seed_step(what: String, r: &RunResult, wanted: usize) -> SeedStep {
    let mut note =
        format!("{} of {wanted} stored, {:.0}/s, p50 {:.1} ms", r.ok, r.rps(), r.p50_ms().unwrap_or(0.0));
    if r.errors > 0 {
        note.push_str(&format!(
            "; {} errors, e.g. {}",
            r.errors,
            r.error_samples.first().cloned().unwrap_or_default()
        ));
    }
    SeedStep { what, elapsed: r.elapsed, note }
}

async fn bench_davit(
    bin: &Path,
    work: &Path,
    s: &Settings,
    events: &Arc<Vec<seed::Event>>,
    cards: &Arc<Vec<seed::Card>>,
    no_sync_scaling: bool,
    keep: bool,
) -> anyhow::Result<(ServerReport, Option<Measured>)> {
    let dir = work.join("davit");
    println!("--> starting davit ({})", bin.display());
    let mut server = servers::start_davit(bin, &dir).await?;
    let mut rep = ServerReport::new(&server);
    println!("    {} on {} (pid {})", server.version, server.target.addr, server.pid());
    rep.rss_notes.push(format!("at start {}", report::mb(server.rss_kb().unwrap_or(0))));
    // One login first, as a client's discovery would: the password is verified (argon2) once
    // and cached, so the concurrent clients below do not all verify it at the same moment.
    // The effect of concurrent verifications is probed separately at the end.
    let r = load::once(
        &server.target,
        &Req::new("PROPFIND", server.calendar_home.clone()).header("Depth", "0"),
        Duration::from_secs(30),
    )
    .await?;
    if r.status != 207 {
        bail!("first authenticated PROPFIND got {}: {}", r.status, r.text());
    }
    rep.rss_notes.push(format!("after the first login {}", report::mb(server.rss_kb().unwrap_or(0))));

    // Seed by PUT, one resource per request, with the benchmark's concurrency.
    println!("--> seeding davit: {} events by PUT ({} clients) ...", events.len(), s.clients);
    let mut seed_probe = Measured::default();
    let probe = Probe::start(&server);
    let cal = server.calendar.clone();
    let evs = events.clone();
    let r = put_many(
        &server,
        s,
        events.len(),
        Duration::from_secs(3600),
        Arc::new(move |i| {
            let e = &evs[i as usize];
            (format!("{cal}{}", e.segment), Arc::from(e.ics().into_bytes()), "text/calendar; charset=utf-8")
        }),
    )
    .await;
    rep.seed.push(seed_step(format!("{} events, one PUT each", events.len()), &r, events.len()));
    println!("    {}", rep.seed.last().map(|x| x.line()).unwrap_or_default());
    println!("--> seeding davit: {} vCards by PUT ...", cards.len());
    let book = server.addressbook.clone();
    let cs = cards.clone();
    let r = put_many(
        &server,
        s,
        cards.len(),
        Duration::from_secs(3600),
        Arc::new(move |i| {
            let c = &cs[i as usize];
            (
                format!("{book}{}", c.segment),
                Arc::from(c.body.clone().into_bytes()),
                "text/vcard; charset=utf-8",
            )
        }),
    )
    .await;
    rep.seed.push(seed_step(format!("{} vCards, one PUT each", cards.len()), &r, cards.len()));
    println!("    {}", rep.seed.last().map(|x| x.line()).unwrap_or_default());
    probe.finish(&server, &mut seed_probe, 0.0).await;
    rep.rss_after_seed_kb = server.rss_kb();
    rep.seed_peak_rss_kb = Some(seed_probe.peak_rss_kb);
    rep.rss_notes.push(format!(
        "peak while seeding ({} PUTs by {} clients) {}",
        events.len() + cards.len(),
        s.clients,
        report::mb(seed_probe.peak_rss_kb)
    ));

    let catalog = catalog_of(&server, &mut rep).await?;

    // Ceiling: the load generator against a trivial endpoint.
    println!(
        "--> ceiling: load generator vs davit /health ({} clients, {}) ...",
        s.clients,
        secs(s.duration)
    );
    let health_gen: Gen = Arc::new(|_, _| Req::new("GET", "/health"));
    let anon = Arc::new(load::Target::anonymous(server.target.addr));
    let health = measure_on(&server, &anon, &health_gen, &Expect::status(200), s, "health").await;

    run_workloads(&mut server, &catalog, s, &mut rep, &[], Some(work)).await;

    if !no_sync_scaling && let Err(e) = sync_scaling(&server, s, &mut rep).await {
        println!("!!! sync scaling failed: {e:#}");
        rep.problems.push(format!("sync scaling failed: {e:#}"));
    }
    rep.rss_end_kb = server.rss_kb();
    login_burst_probe(&server, s, &mut rep).await;
    rep.db_size = dir_size(&dir.join("data"));
    if let Err(e) = server.stop() {
        rep.problems.push(format!("{e:#}"));
    }
    scan_davit_log(&server.log, &mut rep);
    if !keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok((rep, Some(health)))
}

/// `clients` concurrent requests with distinct wrong passwords: each one is a full password
/// verification (argon2id). Reports the RSS before and after.
async fn login_burst_probe(server: &Server, s: &Settings, rep: &mut ServerReport) {
    println!("--> probe: {} concurrent password verifications (wrong passwords) ...", s.clients);
    let before = server.rss_kb().unwrap_or(0);
    let mut tasks = Vec::new();
    for i in 0..s.clients {
        let t =
            Arc::new(load::Target::new(server.target.addr, servers::USER, &format!("wrong-password-{i}")));
        let path = server.calendar_home.clone();
        tasks.push(tokio::spawn(async move {
            load::once(&t, &Req::new("PROPFIND", path).header("Depth", "0"), Duration::from_secs(60)).await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.ok().and_then(|r| r.ok()).map(|r| r.status).unwrap_or(0));
    }
    let after = server.rss_kb().unwrap_or(0);
    let note = format!(
        "{} concurrent password verifications (statuses {:?}): RSS {} -> {}",
        s.clients,
        statuses,
        report::mb(before),
        report::mb(after)
    );
    println!("    {note}");
    rep.rss_notes.push(note);
}

/// Lists what was seeded (and warms caches): the hrefs the server actually uses.
async fn catalog_of(server: &Server, rep: &mut ServerReport) -> anyhow::Result<Catalog> {
    let t = Instant::now();
    let event_hrefs = workloads::list_members(server, &server.calendar).await?;
    let card_hrefs = workloads::list_members(server, &server.addressbook).await?;
    println!(
        "    listed {} events and {} vCards in {:.2} s",
        event_hrefs.len(),
        card_hrefs.len(),
        t.elapsed().as_secs_f64()
    );
    rep.items = (event_hrefs.len(), card_hrefs.len());
    Ok(Catalog { event_hrefs, card_hrefs })
}

async fn run_workloads(
    server: &mut Server,
    catalog: &Catalog,
    s: &Settings,
    rep: &mut ServerReport,
    skip: &[Workload],
    sqlite_ceiling_dir: Option<&Path>,
) {
    for w in Workload::ALL {
        println!("--> {}: {} ...", server.kind.name(), w.label());
        if !s.only_workloads.is_empty() && !s.only_workloads.contains(&w) {
            println!("    skipped: not asked for (--workload)");
            rep.workloads.push((w, Outcome::NotAvailable("not asked for (--workload)".into())));
            continue;
        }
        if skip.contains(&w) {
            let why = "skipped: not available on davit, so nothing to compare".to_owned();
            println!("    {why}");
            rep.workloads.push((w, Outcome::NotAvailable(why)));
            continue;
        }
        let outcome = match workloads::prepare(w, server, catalog).await {
            Ok(Prepared::NotAvailable(why)) => {
                println!("    not available: {why}");
                Outcome::NotAvailable(why)
            }
            Ok(Prepared::Ready { make_req, expect, note, target }) => {
                let target = target.unwrap_or_else(|| server.target.clone());
                let mut m = match sqlite_ceiling_dir {
                    Some(dir) if w == Workload::PutNew => {
                        let (m, ceiling) =
                            measure_put_in_turns_with_ceiling(server, &target, &make_req, &expect, s, dir)
                                .await;
                        rep.sqlite_during_put = ceiling;
                        m
                    }
                    _ => measure_on(server, &target, &make_req, &expect, s, w.label()).await,
                };
                m.note = note;
                if (m.run.cut > 0 || m.solo.cut > 0) && server.kind == servers::Kind::Radicale {
                    println!(
                        "    restarting Radicale: it is still working on the {} cut requests",
                        m.run.cut + m.solo.cut
                    );
                    m.note.push_str("; Radicale restarted after the cut requests");
                    let restarted = match server.restart().await {
                        // Read both collections once, as after seeding, so that the next
                        // warm-up does not pay for a cold process.
                        Ok(()) => match workloads::list_members(server, &server.calendar.clone()).await {
                            Ok(_) => {
                                workloads::list_members(server, &server.addressbook.clone()).await.map(|_| ())
                            }
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    if let Err(e) = restarted {
                        println!("!!! restarting Radicale failed: {e:#}");
                        rep.problems.push(format!("restarting Radicale failed: {e:#}"));
                        rep.workloads.push((w, Outcome::Ran(Box::new(m))));
                        return;
                    }
                }
                Outcome::Ran(Box::new(m))
            }
            Err(e) => {
                println!("    FAILED: {e:#}");
                Outcome::Failed(format!("{e:#}"))
            }
        };
        rep.workloads.push((w, outcome));
    }
}

/// Concurrent slices of the PUT workload and of the SQLite ceiling.
const PUT_SLICES: u32 = 5;

/// The PUT workload in `PUT_SLICES` slices, taken in turns with slices of the SQLite ceiling
/// (one before each and one after the last; twice the ceiling's own duration in all). The
/// commit rate moves by up to a quarter within a minute, largely apart from PUT's: sampled in
/// turns, it is measured over the same minute as the PUT workload that the target compares
/// with it. Returns the ceiling's slices as well.
async fn measure_put_in_turns_with_ceiling(
    server: &Server,
    target: &Arc<load::Target>,
    make_req: &Gen,
    expect: &Expect,
    s: &Settings,
    dir: &Path,
) -> (Measured, Vec<ceilings::SqliteCeiling>) {
    let mut db = match ceilings::CeilingDb::create(&dir.join("sqlite-ceiling")) {
        Ok(db) => Some(db),
        Err(e) => {
            println!("!!! SQLite ceiling failed: {e:#}");
            None
        }
    };
    let slice = s.sqlite_duration * 2 / (PUT_SLICES + 1);
    let mut ceiling = Vec::new();
    let mut ceiling_slice = || {
        if let Some(d) = db.as_mut() {
            match d.commit_for(slice) {
                Ok(c) => {
                    println!("    SQLite ceiling slice: {:.0} commits/s", c.per_second());
                    ceiling.push(c);
                }
                Err(e) => {
                    println!("!!! SQLite ceiling failed: {e:#}");
                    db = None;
                }
            }
        }
    };
    let item = [(target.clone(), make_req.clone(), expect.clone())];
    let what = Workload::PutNew.label();
    let m = measure_interleaved(server, &item, s, PUT_SLICES, what, Some(&mut ceiling_slice)).await;
    (m.into_iter().next().unwrap_or_default(), ceiling)
}

/// Warm-up (one request), a solo run (1 client) and the concurrent run, with the server's
/// peak RSS sampled every 50 ms and its CPU time read before and after.
async fn measure_on(
    server: &Server,
    target: &Arc<load::Target>,
    make_req: &Gen,
    expect: &Expect,
    s: &Settings,
    what: &str,
) -> Measured {
    let mut v =
        measure_interleaved(server, &[(target.clone(), make_req.clone(), expect.clone())], s, 1, what, None)
            .await;
    v.pop().unwrap_or_default()
}

/// Samples a server's RSS every 50 ms and reads its, ours and the machine's CPU time, for
/// the length of one run.
struct Probe {
    peak: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
    cpu0: Option<f64>,
    busy0: Option<f64>,
}

impl Probe {
    fn start(server: &Server) -> Probe {
        let pid = server.pid();
        let peak = Arc::new(AtomicU64::new(servers::rss_kb(pid).unwrap_or(0)));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    if let Some(kb) = servers::rss_kb(pid) {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        Probe { peak, done, sampler, cpu0: server.cpu_seconds(), busy0: servers::machine_busy_seconds() }
    }

    /// Stops sampling and adds this run's figures to `m` (whose `run` already holds it).
    async fn finish(self, server: &Server, m: &mut Measured, client_cpu_s: f64) {
        let (cpu1, busy1) = (server.cpu_seconds(), servers::machine_busy_seconds());
        self.done.store(true, Ordering::Relaxed);
        self.sampler.await.ok();
        if let (Some(a), Some(b)) = (self.cpu0, cpu1) {
            *m.server_cpu_s.get_or_insert(0.0) += b - a;
            // Everything else that ran on the machine meanwhile (other builds, tests, ...).
            if let (Some(b0), Some(b1)) = (self.busy0, busy1) {
                *m.other_cpu_s.get_or_insert(0.0) += (b1 - b0 - (b - a) - client_cpu_s).max(0.0);
            }
        }
        m.peak_rss_kb = m.peak_rss_kb.max(self.peak.load(Ordering::Relaxed));
    }
}

/// Like `measure_on` for several workloads at once, run in `slices` interleaved rounds
/// (round-robin over the workloads), so that a machine whose load drifts over time affects
/// them all alike. The time and count bounds are split evenly over the rounds. `between`,
/// when given, runs before each concurrent round and once after the last.
async fn measure_interleaved(
    server: &Server,
    items: &[(Arc<load::Target>, Gen, Expect)],
    s: &Settings,
    slices: u32,
    what: &str,
    mut between: Option<&mut dyn FnMut()>,
) -> Vec<Measured> {
    let slices = slices.max(1);
    let mut out: Vec<Measured> = Vec::with_capacity(items.len());
    let mut skip_solo = Vec::with_capacity(items.len());
    for (target, make_req, expect) in items {
        let mut m = Measured::default();
        let t = Instant::now();
        let warm = load::once(target, &make_req(0, 0), Duration::from_secs(600)).await;
        let warm_time = t.elapsed();
        match warm {
            Ok(r) if expect.statuses.contains(&r.status) => m.warmup = Some(r.body.len()),
            Ok(r) => {
                let text: String = r.text().chars().take(400).collect();
                m.warmup_error = Some(format!("warm-up got {}: {}", r.status, text.trim()));
            }
            Err(e) => m.warmup_error = Some(format!("warm-up failed: {e:#}")),
        }
        if let Some(e) = &m.warmup_error {
            println!("    {what}: {e}");
        }
        // One request that takes longer than the whole solo run: the warm-up is the sample.
        let slow = m.warmup.is_some() && warm_time > s.solo_duration;
        if slow {
            m.solo = RunResult {
                ok: 1,
                elapsed: warm_time,
                latencies_us: vec![warm_time.as_micros() as u64],
                ..RunResult::default()
            };
        }
        skip_solo.push(slow);
        out.push(m);
    }
    let solo_cfg = RunConfig {
        clients: 1,
        duration: s.solo_duration / slices,
        max_requests: (500 / slices as u64).max(1),
        timeout: s.timeout,
        grace: s.grace,
    };
    let cfg = RunConfig {
        clients: s.clients,
        duration: s.duration / slices,
        max_requests: (s.max_requests / slices as u64).max(1),
        timeout: s.timeout,
        grace: s.grace,
    };
    for _ in 0..slices {
        for (i, (target, make_req, expect)) in items.iter().enumerate() {
            if !skip_solo[i] {
                let r = load::run(target, &solo_cfg, make_req, expect).await;
                out[i].solo.merge(r);
            }
        }
    }
    for round in 0..slices {
        if let Some(f) = between.as_mut() {
            f();
        }
        for (i, (target, make_req, expect)) in items.iter().enumerate() {
            let probe = Probe::start(server);
            // One profile per workload and round, so that no round overwrites another's.
            let profile = if slices > 1 || items.len() > 1 {
                format!("{what}-{}-{}", i + 1, round + 1)
            } else {
                what.to_owned()
            };
            let perf = start_perf(server, s, &profile);
            let r = load::run(target, &cfg, make_req, expect).await;
            stop_perf(perf);
            let client_cpu = r.client_cpu_s;
            out[i].run.merge(r);
            probe.finish(server, &mut out[i], client_cpu).await;
        }
    }
    if let Some(f) = between.as_mut() {
        f();
    }
    for m in &mut out {
        m.solo.latencies_us.sort_unstable();
        m.run.latencies_us.sort_unstable();
        println!("    {}", m.summary());
        for e in &m.run.error_samples {
            println!("    error: {e}");
        }
    }
    out
}

/// `perf record` of the server for one concurrent run, when `--perf-dir` asks for it.
fn start_perf(server: &Server, s: &Settings, what: &str) -> Option<std::process::Child> {
    let dir = s.perf_dir.as_ref()?;
    std::fs::create_dir_all(dir).ok()?;
    let slug: String = format!("{}-{what}", server.kind.name())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let out = dir.join(format!("{slug}.data"));
    let child = std::process::Command::new("perf")
        // DWARF unwinding: release builds have no frame pointers.
        .args(["record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,16384", "-p"])
        .arg(server.pid().to_string())
        .arg("-o")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(c) => {
            println!("    perf record -> {}", out.display());
            // perf needs a moment to attach before the load starts.
            std::thread::sleep(Duration::from_millis(300));
            Some(c)
        }
        Err(e) => {
            println!("!!! perf record failed to start: {e}");
            None
        }
    }
}

fn stop_perf(child: Option<std::process::Child>) {
    if let Some(mut c) = child {
        let _ = std::process::Command::new("kill").arg("-INT").arg(c.id().to_string()).status();
        let _ = c.wait();
    }
}

#[allow(clippy::too_many_arguments)]
async fn bench_radicale(
    work: &Path,
    s: &Settings,
    events: &Arc<Vec<seed::Event>>,
    cards: &Arc<Vec<seed::Card>>,
    keep: bool,
    how: RadicaleSeed,
    skip: &[Workload],
) -> anyhow::Result<ServerReport> {
    let venv = work.join("venv");
    let dir = work.join("radicale");
    println!("--> preparing Radicale (venv {})", venv.display());
    let setup = servers::prepare_radicale(&venv, &dir)?;
    let mut seed_steps = Vec::new();
    if how == RadicaleSeed::Storage {
        // Radicale's storage is documented as a folder per collection with one file per
        // item; writing it and letting Radicale verify it is its fastest bulk import.
        println!(
            "--> seeding Radicale: writing {} events and {} vCards into its storage ...",
            events.len(),
            cards.len()
        );
        let t = Instant::now();
        let n_ev = setup.write_collection(
            "calendar",
            "VCALENDAR",
            events.iter().map(|e| (e.segment.as_str(), e.ics())),
        )?;
        let n_card = setup.write_collection(
            "contacts",
            "VADDRESSBOOK",
            cards.iter().map(|c| (c.segment.as_str(), c.body.clone())),
        )?;
        seed_steps.push(SeedStep {
            what: format!("{n_ev} events + {n_card} vCards written as files into Radicale's storage"),
            elapsed: t.elapsed(),
            note: "one file per item, the same bytes davit gets".into(),
        });
        println!("    {}", seed_steps.last().map(SeedStep::line).unwrap_or_default());
        println!("--> radicale --verify-storage ...");
        let t = Instant::now();
        setup.verify_storage()?;
        seed_steps.push(SeedStep {
            what: "radicale --verify-storage (Radicale loads and checks every item)".into(),
            elapsed: t.elapsed(),
            note: format!("{:.0} items/s", (n_ev + n_card) as f64 / t.elapsed().as_secs_f64().max(1e-9)),
        });
        println!("    {}", seed_steps.last().map(SeedStep::line).unwrap_or_default());
    }
    let mut server = servers::launch_radicale(setup).await?;
    let mut rep = ServerReport::new(&server);
    rep.seed = seed_steps;
    println!("    {} on {} (pid {})", server.version, server.target.addr, server.pid());

    if how == RadicaleSeed::Put {
        // Radicale stores items one by one at a few per second here; a PUT of a whole
        // calendar (and of a whole address book) to a new collection URL is its bulk path.
        let setup_timeout = Duration::from_secs(3 * 3600);
        for (what, path, ctype, body, n) in [
            (
                "events, one PUT of the whole calendar",
                server.calendar.clone(),
                "text/calendar; charset=utf-8",
                seed::whole_calendar(events),
                events.len(),
            ),
            (
                "vCards, one PUT of the whole address book",
                server.addressbook.clone(),
                "text/vcard; charset=utf-8",
                seed::whole_addressbook(cards),
                cards.len(),
            ),
        ] {
            println!("--> seeding Radicale: {n} {what} ...");
            let t = Instant::now();
            let r = load::once(
                &server.target,
                &Req::new("PUT", path).header("Content-Type", ctype).body(body),
                setup_timeout,
            )
            .await?;
            if !(200..300).contains(&r.status) {
                bail!("PUT of {n} {what} got {}: {}", r.status, r.text());
            }
            rep.seed.push(SeedStep {
                what: format!("{n} {what}"),
                elapsed: t.elapsed(),
                note: format!("{:.1} items/s", n as f64 / t.elapsed().as_secs_f64()),
            });
            println!("    {}", rep.seed.last().map(SeedStep::line).unwrap_or_default());
        }
    }
    let t = Instant::now();
    let catalog = catalog_of(&server, &mut rep).await?;
    rep.seed.push(SeedStep {
        what: "first PROPFIND Depth 1 of both collections (fills Radicale's item cache)".into(),
        elapsed: t.elapsed(),
        note: format!("{} + {} members", catalog.event_hrefs.len(), catalog.card_hrefs.len()),
    });
    rep.rss_after_seed_kb = server.rss_kb();
    run_workloads(&mut server, &catalog, s, &mut rep, skip, None).await;
    rep.rss_end_kb = server.rss_kb();
    rep.db_size = dir_size(&dir.join("collections"));
    server.stop().ok();
    if !keep {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(rep)
}

/// sync-collection after one change on collections of 100, 1,000 and N items (davit only).
/// N is `sync_items` or what PUTs manage to store within the seeding budget.
async fn sync_scaling(server: &Server, s: &Settings, rep: &mut ServerReport) -> anyhow::Result<()> {
    let sizes = [100usize, 1_000, s.sync_items.max(1_000)];
    let mut colls = Vec::new();
    for (i, wanted) in sizes.into_iter().enumerate() {
        let coll = format!("{}sync-{}/", server.calendar_home, ["small", "medium", "big"][i]);
        let r = load::once(&server.target, &Req::new("MKCALENDAR", coll.clone()), Duration::from_secs(60))
            .await?;
        if r.status != 201 {
            bail!("MKCALENDAR {coll} got {}: {}", r.status, r.text());
        }
        let budget = if i == 2 { s.sync_seed_budget } else { Duration::from_secs(3600) };
        println!(
            "--> seeding {coll} with up to {wanted} small events by PUT ({} clients, budget {}) ...",
            s.clients,
            secs(budget)
        );
        // In ten chunks, to see whether the PUT rate depends on the collection's size.
        let chunks = if wanted >= 10_000 { 10 } else { 1 };
        let per_chunk = wanted.div_ceil(chunks);
        let started = Instant::now();
        let mut r = RunResult::default();
        let mut rates = Vec::new();
        let mut chunk_rates = Vec::new();
        for _ in 0..chunks {
            let left = budget.saturating_sub(started.elapsed());
            if left.is_zero() || r.ok as usize >= wanted {
                break;
            }
            let c = coll.clone();
            let offset = r.ok;
            let part = put_many(
                server,
                s,
                per_chunk.min(wanted - r.ok as usize),
                left,
                Arc::new(move |n| {
                    let n = offset + n;
                    let uid = format!("sync-{n}@davit.bench");
                    (
                        format!("{c}s-{n:06}.ics"),
                        Arc::from(seed::small_event(&uid, n).into_bytes()),
                        "text/calendar",
                    )
                }),
            )
            .await;
            if chunks > 1 {
                rates.push(format!("{}k-{}k: {:.0}/s", offset / 1000, (offset + part.ok) / 1000, part.rps()));
                println!("    {}", rates.last().map(String::as_str).unwrap_or(""));
            }
            let stored = part.ok;
            if stored > 0 {
                chunk_rates.push(part.rps());
            }
            r.merge(part);
            if stored == 0 {
                break;
            }
        }
        if let (Some(first), Some(last)) = (chunk_rates.first(), chunk_rates.last())
            && chunk_rates.len() >= 3
            && *last < 0.5 * first
        {
            rep.problems.push(format!(
                "PUT throughput falls as a collection grows: {first:.0}/s for its first {per_chunk} members, {last:.0}/s at {} members (per-PUT work grows with the collection's size)",
                r.ok
            ));
        }
        r.latencies_us.sort_unstable();
        if !rates.is_empty() {
            rep.put_rate_by_size = rates;
        }
        let items = r.ok as usize;
        let step = seed_step(format!("sync collection: {wanted} small events wanted"), &r, wanted);
        println!("    {}", step.line());
        rep.seed.push(step);
        if i == 2 && items < wanted {
            rep.problems.push(format!(
                "the big sync collection holds {items} items, not {wanted}: PUTs stored {:.0}/s on average, so {wanted} would take ~{:.0} s (budget {})",
                r.rps(),
                wanted as f64 / r.rps().max(1e-9),
                secs(budget)
            ));
        }
        colls.push((coll, items, r.rps()));
    }
    println!(
        "--> davit: sync-collection after 1 change on {} items, interleaved in 5 rounds ...",
        colls.iter().map(|c| c.1.to_string()).collect::<Vec<_>>().join(", ")
    );
    let mut ready = Vec::new();
    let mut rows = Vec::new();
    for (coll, items, rate) in &colls {
        match workloads::sync_after_one_change(server, coll).await {
            Ok(Prepared::Ready { make_req, expect, note, .. }) => {
                ready.push((server.target.clone(), make_req, expect));
                rows.push((*items, *rate, Ok(note)));
            }
            Ok(Prepared::NotAvailable(w)) => rows.push((*items, *rate, Err(Outcome::NotAvailable(w)))),
            Err(e) => rows.push((*items, *rate, Err(Outcome::Failed(format!("{e:#}"))))),
        }
    }
    let mut measured = measure_interleaved(server, &ready, s, 5, "sync", None).await.into_iter();
    for (items, seed_rate, prep) in rows {
        let outcome = match prep {
            Ok(note) => {
                let mut m = measured.next().unwrap_or_default();
                m.note = note;
                Outcome::Ran(Box::new(m))
            }
            Err(o) => o,
        };
        rep.sync_rows.push(SyncRow { items, seed_rate, outcome });
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => total += dir_size(&e.path()),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

/// Collects 5xx answers, warnings and errors from davit's log.
fn scan_davit_log(log: &Path, rep: &mut ServerReport) {
    let Ok(text) = std::fs::read_to_string(log) else { return };
    let mut s5xx = 0u64;
    let mut warn = Vec::new();
    for l in text.lines() {
        if l.contains("status=5") {
            s5xx += 1;
            if warn.len() < 5 {
                warn.push(l.to_owned());
            }
        } else if (l.contains(" WARN ") || l.contains(" ERROR ")) && warn.len() < 5 {
            warn.push(l.to_owned());
        }
    }
    if s5xx > 0 {
        rep.problems.push(format!("davit's log shows {s5xx} responses with a 5xx status"));
    }
    for w in warn {
        rep.problems.push(format!("log: {w}"));
    }
}
