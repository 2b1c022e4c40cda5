//! Starting and stopping the servers under test: davit from the release build, Radicale from a
//! virtual environment under `target/bench/venv` (installed from PyPI on first use). Both
//! listen on a free 127.0.0.1 port with a fresh data directory, and each run gets a user
//! `bench` with a random password. RSS and CPU come from `/proc/PID/{status,stat}`.

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::load::{self, Req, Target};

pub const USER: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Davit,
    Radicale,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Davit => "davit",
            Kind::Radicale => "Radicale",
        }
    }
}

/// A running server. Dropping it stops the process.
pub struct Server {
    pub kind: Kind,
    pub target: Arc<Target>,
    pub calendar: String,
    pub addressbook: String,
    /// Home under which extra calendars are created (davit only).
    pub calendar_home: String,
    pub version: String,
    pub log: PathBuf,
    /// davit: the binary and data directory, for operator commands (`davit feed enable`).
    davit_cli: Option<(PathBuf, PathBuf)>,
    /// Radicale: how to start it again.
    radicale: Option<RadicaleSetup>,
    child: Option<Child>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
    pub fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.pid())
    }
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&self.pid().to_string())
    }
    /// Where the public feed of the big calendar can be fetched: the target to send to (a
    /// public feed takes no credentials) and the path. davit publishes a calendar with
    /// `davit feed enable OWNER/CALENDAR`, which prints the feed URL on its last line; a davit
    /// without that command (or whose command fails) makes the workload "not available".
    pub fn feed(&self) -> Result<(Arc<Target>, String, String), String> {
        match self.kind {
            Kind::Davit => {
                let (bin, data) = self.davit_cli.as_ref().ok_or("no davit binary")?;
                let calendar = format!(
                    "{USER}/{}",
                    self.calendar.trim_end_matches('/').rsplit('/').next().unwrap_or("")
                );
                let out = Command::new(bin)
                    .args(["feed", "enable", &calendar, "--data-dir"])
                    .arg(data)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| format!("running davit feed enable: {e}"))?;
                if !out.status.success() {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
                    return Err(format!("`davit feed enable {calendar}` failed ({}): {first}", out.status));
                }
                let stdout = String::from_utf8_lossy(&out.stdout);
                let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                let path = last
                    .find("/feeds/")
                    .map(|i| last[i..].to_owned())
                    .ok_or_else(|| format!("no feed URL in the output of `davit feed enable`: {last:?}"))?;
                Ok((
                    Arc::new(Target::anonymous(self.target.addr)),
                    path,
                    format!("davit feed enable {calendar}; anonymous GET"),
                ))
            }
            // Radicale has no public feeds; its closest equivalent is GET on the calendar
            // collection, which exports the whole calendar as one iCalendar file.
            Kind::Radicale => Ok((
                self.target.clone(),
                self.calendar.clone(),
                "GET of the collection (whole-calendar export, authenticated)".into(),
            )),
        }
    }

    /// Restarts Radicale (same port, storage and password). Radicale cannot abort a request
    /// whose client went away: requests cut at a workload's time bound would keep it busy
    /// during the next workload, so it is restarted after them. Its item cache is on disk.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let setup = self.radicale.clone().context("only Radicale is restarted")?;
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
        let fresh = launch_radicale(setup).await?;
        *self = fresh;
        Ok(())
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = child.id();
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                if !status.success() && self.kind == Kind::Davit {
                    bail!(
                        "{} exited with {status} after SIGTERM (log: {})",
                        self.kind.name(),
                        self.log.display()
                    );
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().ok();
        child.wait().ok();
        bail!("{} did not stop within 10 s of SIGTERM; killed", self.kind.name())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn random_password() -> String {
    // Time and pid are enough for a throw-away loopback password.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("bench-{:x}{:x}", t.as_nanos(), std::process::id())
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

async fn wait_ready(
    child: &mut Child,
    target: &Arc<Target>,
    path: &str,
    what: &str,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited during start-up ({status}); log: {}\n{}", log.display(), tail(log, 30));
        }
        if let Ok(r) = load::once(target, &Req::new("GET", path), Duration::from_secs(2)).await
            && r.status < 500
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} did not answer on {path} within 60 s; log: {}\n{}", log.display(), tail(log, 30))
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts `davit serve` on a fresh data directory `dir` and adds the user `bench`.
pub async fn start_davit(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
    fresh_dir(dir)?;
    let data = dir.join("data");
    fs::create_dir_all(&data)?;
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let log = dir.join("davit.log");
    let logf = fs::File::create(&log)?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(&data)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let anon = Arc::new(Target::anonymous(addr));
    if let Err(e) = wait_ready(&mut child, &anon, "/health", "davit", &log).await {
        child.kill().ok();
        child.wait().ok();
        return Err(e);
    }
    let password = random_password();
    let mut add = Command::new(bin)
        .args(["user", "add", USER, "--password-stdin", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write as _;
        let mut stdin = add.stdin.take().expect("piped");
        writeln!(stdin, "{password}")?;
    }
    let out = add.wait_with_output()?;
    if !out.status.success() {
        child.kill().ok();
        bail!("davit user add failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "davit".into());
    Ok(Server {
        kind: Kind::Davit,
        target: Arc::new(Target::new(addr, USER, &password)),
        calendar: format!("/dav/calendars/{USER}/calendar/"),
        addressbook: format!("/dav/addressbooks/{USER}/contacts/"),
        calendar_home: format!("/dav/calendars/{USER}/"),
        version,
        log,
        davit_cli: Some((bin.to_path_buf(), data)),
        radicale: None,
        child: Some(child),
    })
}

/// Creates `venv` and installs Radicale from PyPI into it unless it is already there.
/// Returns the path of the `radicale` executable.
pub fn ensure_radicale(venv: &Path) -> anyhow::Result<PathBuf> {
    let exe = venv.join("bin").join("radicale");
    let python = venv.join("bin").join("python");
    if exe.exists() && python.exists() {
        return Ok(exe);
    }
    println!("installing Radicale from PyPI into {} ...", venv.display());
    if let Some(parent) = venv.parent() {
        fs::create_dir_all(parent)?;
    }
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Command::new(&py)
        .arg("-m")
        .arg("venv")
        .arg(venv)
        .status()
        .with_context(|| format!("running {py}"))?;
    if !st.success() {
        bail!("{py} -m venv {} failed (is the python3-venv package installed?)", venv.display());
    }
    let st = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "radicale"])
        .status()?;
    if !st.success() {
        bail!("pip install radicale failed");
    }
    if !exe.exists() {
        bail!("pip installed Radicale but {} is missing", exe.display());
    }
    Ok(exe)
}

/// A configured, not yet started Radicale: 127.0.0.1, htpasswd auth with a plain-text
/// password file, owner-only rights, file-system storage in `dir`, logging at warning.
#[derive(Debug, Clone)]
pub struct RadicaleSetup {
    exe: PathBuf,
    config: PathBuf,
    storage: PathBuf,
    addr: SocketAddr,
    password: String,
    version: String,
    dir: PathBuf,
}

impl RadicaleSetup {
    /// The directory of collection `name` of the benchmark user in Radicale's documented
    /// storage layout (`collection-root/USER/NAME/`, one file per item, `.Radicale.props`).
    pub fn collection_dir(&self, name: &str) -> PathBuf {
        self.storage.join("collection-root").join(USER).join(name)
    }

    /// Creates collection `name` with `tag` (VCALENDAR or VADDRESSBOOK) and writes one file
    /// per item, as Radicale itself lays them out. Radicale must not be running.
    pub fn write_collection<'a>(
        &self,
        name: &str,
        tag: &str,
        items: impl Iterator<Item = (&'a str, String)>,
    ) -> anyhow::Result<usize> {
        let dir = self.collection_dir(name);
        fs::create_dir_all(&dir)?;
        let props = if tag == "VCALENDAR" {
            format!(
                "{{\"C:supported-calendar-component-set\": \"VEVENT\", \"D:displayname\": \"{name}\", \"tag\": \"{tag}\"}}"
            )
        } else {
            format!("{{\"D:displayname\": \"{name}\", \"tag\": \"{tag}\"}}")
        };
        fs::write(dir.join(".Radicale.props"), props)?;
        let mut n = 0;
        for (file, body) in items {
            fs::write(dir.join(file), body)?;
            n += 1;
        }
        Ok(n)
    }

    /// `radicale --verify-storage`: Radicale loads and checks every item of the storage.
    pub fn verify_storage(&self) -> anyhow::Result<()> {
        let out = Command::new(&self.exe)
            .arg("--config")
            .arg(&self.config)
            .arg("--verify-storage")
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "radicale --verify-storage failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

pub fn prepare_radicale(venv: &Path, dir: &Path) -> anyhow::Result<RadicaleSetup> {
    let exe = ensure_radicale(venv)?;
    let python = venv.join("bin").join("python");
    let version = Command::new(&python)
        .args(["-c", "import radicale; print(radicale.VERSION)"])
        .output()
        .ok()
        .map(|o| format!("Radicale {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| "Radicale".into());
    fresh_dir(dir)?;
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let password = random_password();
    let users = dir.join("users");
    fs::write(&users, format!("{USER}:{password}\n"))?;
    let storage = dir.join("collections");
    let config = dir.join("config");
    fs::write(
        &config,
        format!(
            "[server]\nhosts = {addr}\nmax_connections = 64\n\n\
             [auth]\ntype = htpasswd\nhtpasswd_filename = {}\nhtpasswd_encryption = plain\n\n\
             [rights]\ntype = owner_only\n\n\
             [storage]\nfilesystem_folder = {}\n\n\
             [web]\ntype = none\n\n\
             [logging]\nlevel = warning\nmask_passwords = True\n",
            users.display(),
            storage.display()
        ),
    )?;
    Ok(RadicaleSetup { exe, config, storage, addr, password, version, dir: dir.to_path_buf() })
}

/// Starts a prepared Radicale and waits until it answers.
pub async fn launch_radicale(setup: RadicaleSetup) -> anyhow::Result<Server> {
    let log = setup.dir.join("radicale.log");
    let logf = fs::OpenOptions::new().create(true).append(true).open(&log)?;
    let mut child = Command::new(&setup.exe)
        .arg("--config")
        .arg(&setup.config)
        .stdin(Stdio::null())
        .stdout(logf.try_clone()?)
        .stderr(logf)
        .spawn()
        .with_context(|| format!("starting {}", setup.exe.display()))?;
    let target = Arc::new(Target::new(setup.addr, USER, &setup.password));
    if let Err(e) = wait_ready(&mut child, &target, &format!("/{USER}/"), "Radicale", &log).await {
        child.kill().ok();
        child.wait().ok();
        return Err(e);
    }
    Ok(Server {
        kind: Kind::Radicale,
        target,
        calendar: format!("/{USER}/calendar/"),
        addressbook: format!("/{USER}/contacts/"),
        calendar_home: format!("/{USER}/"),
        version: setup.version.clone(),
        log,
        davit_cli: None,
        radicale: Some(setup),
        child: Some(child),
    })
}

/// CPU seconds all processes of the machine spent busy so far (`/proc/stat`, all cores).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0.0);
    Some(busy / 100.0)
}

pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// VmRSS of process `pid` in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// User + system CPU seconds of `/proc/{who}/stat` (`who` is a pid or `self`), all threads.
/// Linux reports it in clock ticks; USER_HZ is 100 on every Linux architecture that matters.
pub fn cpu_seconds_of(who: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{who}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
