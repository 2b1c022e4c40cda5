//! Running davit: graceful shutdown, access logs without secrets, the database across a
//! restart, and the `davit` command line.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use davit::config::Config;
use davit::state::AppState;
use davit::store::{HomeKind, NewUser, Role, Store};
use hyper::body::Frame;
use tokio::sync::{mpsc, oneshot};

use crate::harness::{Client, PASSWORD, Reply, TestServer};

fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
         DTEND:20240102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The stored body of `segment` in `user`'s default calendar, read straight from the store.
fn stored_body(store: &dyn Store, user: &str, segment: &str) -> Option<Vec<u8>> {
    let principal = store.principal_by_slug(user).unwrap()?;
    let home = store.home(principal.id, HomeKind::Calendar).unwrap()?;
    let calendar = store.child_collection(home.id, "calendar").unwrap()?;
    let object = store.object(calendar.id, segment).unwrap()?;
    store.object_body(object.id).unwrap()
}

/// A request body fed from a channel: chunked, and as slow as the test wants.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut().0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

// --- graceful shutdown -------------------------------------------------------------------

#[tokio::test]
async fn graceful_shutdown_lets_an_inflight_put_finish() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let state = server.state.clone();
    let addr = server.addr;
    let body = ics("slow-1", "Sent slowly");
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let client = server.client("alice");
    let put = tokio::spawn(async move {
        let rb = client
            .request("PUT", "/dav/calendars/alice/calendar/slow.ics")
            .header("Content-Type", "text/calendar")
            .body(reqwest::Body::wrap(ChannelBody(rx)));
        client.send(rb).await
    });
    tx.send(Bytes::copy_from_slice(first)).await.unwrap();
    // Let the server accept the connection and read the request head.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!put.is_finished(), "the PUT cannot finish with half a body");

    let stopping = tokio::spawn(server.stop());
    // The server stops accepting new connections while the PUT is still in flight…
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "still accepting connections after the shutdown signal");
    assert!(!stopping.is_finished(), "shut down with a request in flight");

    // …and the in-flight request completes.
    tx.send(Bytes::copy_from_slice(second)).await.unwrap();
    drop(tx);
    let r = tokio::time::timeout(Duration::from_secs(20), put)
        .await
        .expect("the in-flight PUT finishes")
        .expect("PUT task");
    r.assert_status(201);
    assert_eq!(stored_body(state.store.as_ref(), "alice", "slow.ics"), Some(body.into_bytes()));
    tokio::time::timeout(Duration::from_secs(20), stopping)
        .await
        .expect("the server stops after draining")
        .unwrap();
}

// --- logging -----------------------------------------------------------------------------

/// A `MakeWriter` appending everything to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// `field=value` as the fmt subscriber writes it (strings are quoted).
fn has_field(line: &str, name: &str, value: &str) -> bool {
    line.split_whitespace().any(|w| w == format!("{name}={value}") || w == format!("{name}=\"{value}\""))
}

/// The subscriber is thread-local (`set_default`), so this test runs on a current-thread
/// runtime where the server's async side (the access log) shares the thread. Logging from
/// the blocking pool (argon2, the DAV handlers) is not captured here.
#[tokio::test(flavor = "current_thread")]
async fn access_log_has_one_line_per_request_and_never_the_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("davit=trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // tracing caches per call site whether anyone listens. While only one dispatcher exists it
    // asks the default of whichever thread reaches a call site first, so a test running in
    // parallel (no subscriber) could switch the access log off for this one. A second live
    // dispatcher makes the cache combine every registered dispatcher, this test's included.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let wrong_password = "Tr0ub4dor&3-not-alices";
    let requests: Vec<(&str, &str, Reply)> = vec![
        ("PROPFIND", "/dav/calendars/alice/", c.propfind("/dav/calendars/alice/", "0", "").await),
        (
            "PUT",
            "/dav/calendars/alice/calendar/logged.ics",
            c.put("/dav/calendars/alice/calendar/logged.ics", "text/calendar", &ics("logged-1", "Logged"))
                .await,
        ),
        (
            "GET",
            "/dav/calendars/alice/calendar/logged.ics",
            c.go("GET", "/dav/calendars/alice/calendar/logged.ics").await,
        ),
        (
            "PROPFIND",
            "/dav/",
            c.send(server.anonymous().request("PROPFIND", "/dav/").basic_auth("alice", Some(wrong_password)))
                .await,
        ),
        (
            "GET",
            "/dav/calendars/mallory/",
            c.send(
                server
                    .anonymous()
                    .request("GET", "/dav/calendars/mallory/")
                    .basic_auth("mallory", Some(wrong_password)),
            )
            .await,
        ),
        (
            "DELETE",
            "/dav/calendars/alice/calendar/logged.ics",
            c.send(
                server
                    .anonymous()
                    .request("DELETE", "/dav/calendars/alice/calendar/logged.ics")
                    .header("Authorization", "Basic !!!garbage!!!"),
            )
            .await,
        ),
    ];
    let expected: [(u16, &str); 6] =
        [(207, "alice"), (201, "alice"), (200, "alice"), (401, "-"), (401, "-"), (401, "-")];
    let log = captured.text();
    let access: Vec<&str> = log.lines().filter(|l| l.contains("davit::access")).collect();
    assert_eq!(access.len(), requests.len(), "one access line per request:\n{log}");
    for ((method, path, reply), (status, user)) in requests.iter().zip(expected) {
        reply.assert_status(status);
        assert!(
            access.iter().any(|l| has_field(l, "method", method)
                && has_field(l, "path", path)
                && has_field(l, "status", &status.to_string())
                && has_field(l, "user", user)),
            "no access line for {method} {path} {status} {user}:\n{log}"
        );
    }
    server.stop().await;

    let secrets = [
        PASSWORD.to_owned(),
        STANDARD.encode(format!("alice:{PASSWORD}")),
        wrong_password.to_owned(),
        STANDARD.encode(format!("alice:{wrong_password}")),
        STANDARD.encode(format!("mallory:{wrong_password}")),
        "!!!garbage!!!".to_owned(),
        "$argon2".to_owned(),
    ];
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log contains {secret:?}:\n{log}");
    }
    let lower = log.to_ascii_lowercase();
    assert!(
        !lower.contains("authorization: basic") && !lower.contains("authorization=\"basic"),
        "an Authorization header was logged:\n{log}"
    );
}

// --- restart -----------------------------------------------------------------------------

/// A server on a data directory the test owns, so a second one can open the same database.
struct DirServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    /// Whether this start created the initial owner (only the very first start does).
    first_start: bool,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl DirServer {
    async fn start(dir: &Path) -> DirServer {
        let config = Config { data_dir: dir.to_owned(), ..Config::default() };
        let app = davit::app::build(config).expect("build app");
        let state = app.state;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (shutdown, rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = rx.await;
            };
            davit::http::run(server_state, listener, signal).await.expect("server");
        });
        DirServer { addr, state, first_start: app.first_start.is_some(), shutdown, task }
    }

    fn add_user(&self, name: &str) {
        let store = self.state.store.as_ref();
        let org = store.organizations().unwrap()[0].id;
        store
            .create_user(&NewUser {
                slug: name.into(),
                display_name: name.into(),
                email: Some(format!("{name}@example.org")),
                password_hash: davit::auth::hash_password(PASSWORD).unwrap(),
                org_id: org,
                role: Role::Collaborator,
            })
            .expect("create user");
    }

    fn client(&self, user: &str) -> Client {
        Client {
            base: format!("http://{}", self.addr),
            user: Some(user.into()),
            http: reqwest::Client::new(),
        }
    }

    /// An HTTP client logging in with an arbitrary password.
    async fn login(&self, user: &str, password: &str) -> u16 {
        reqwest::Client::new()
            .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("http://{}/dav/", self.addr))
            .header("Depth", "0")
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.task.await.expect("server task");
    }
}

#[tokio::test]
async fn the_database_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = "/dav/calendars/alice/calendar/kept.ics";
    let body = ics("kept-1", "Kept across a restart");

    let first = DirServer::start(dir.path()).await;
    assert!(first.first_start, "an empty directory is a first start");
    first.add_user("alice");
    let c = first.client("alice");
    c.go("MKCOL", "/dav/calendars/alice/extra/").await.assert_status(201);
    let put = c.put(path, "text/calendar", &body).await;
    put.assert_status(201);
    let etag = put.etag();
    first.stop().await;

    let second = DirServer::start(dir.path()).await;
    assert!(!second.first_start, "a restart must not create a new owner account");
    let c = second.client("alice");
    let r = c.go("GET", path).await;
    r.assert_status(200);
    assert_eq!(r.body, body);
    assert_eq!(r.etag(), etag);
    c.go("PROPFIND", "/dav/calendars/alice/extra/").await.assert_status(207);
    // And it keeps working: a conditional write with the old ETag succeeds.
    let r = c
        .send(
            c.request("PUT", path)
                .header("Content-Type", "text/calendar")
                .header("If-Match", &etag)
                .body(ics("kept-1", "Changed after the restart")),
        )
        .await;
    r.assert_status(204);
    second.stop().await;
}

// --- the command line --------------------------------------------------------------------

/// Runs the `davit` binary with a clean `DAVIT_*` environment.
async fn davit(args: &[&str], data_dir: Option<&Path>, stdin: &str) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_davit"));
    cmd.args(args);
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("DAVIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().expect("run davit");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_success(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
async fn help_names_the_subcommands() {
    let out = davit(&["--help"], None, "").await;
    let help = assert_success(&out, "davit --help");
    assert!(help.contains("serve"), "{help}");
    assert!(help.contains("user"), "{help}");
    let out = davit(&["user", "--help"], None, "").await;
    let help = assert_success(&out, "davit user --help");
    for sub in ["add", "list", "passwd", "delete"] {
        assert!(help.contains(sub), "{sub} missing:\n{help}");
    }
}

#[tokio::test]
async fn user_commands_manage_accounts_a_running_server_honours() {
    let dir = tempfile::tempdir().unwrap();
    let data = Some(dir.path());
    let old_password = "carol-first-password";
    let new_password = "carol-second-password";

    let out = davit(&["user", "add", "carol", "--password-stdin"], data, &format!("{old_password}\n")).await;
    let stdout = assert_success(&out, "user add carol");
    assert!(stdout.contains("carol"), "{stdout}");
    assert!(!stdout.contains(old_password), "a password from stdin is not echoed");
    // A second owner, so carol is not the last one.
    let out =
        davit(&["user", "add", "dave", "--role", "owner", "--password-stdin"], data, "dave-password-123\n")
            .await;
    assert_success(&out, "user add dave");

    let out = davit(&["user", "list"], data, "").await;
    let list = assert_success(&out, "user list");
    let carol = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some("carol"))
        .unwrap_or_else(|| panic!("carol not listed:\n{list}"));
    assert!(carol.contains("My Organization"), "{carol}");
    assert!(carol.contains("owner"), "first user of a new org: {carol}");
    assert!(list.lines().any(|l| l.starts_with("dave")), "{list}");

    // A server on that directory; the CLI is safe while it runs.
    let server = DirServer::start(dir.path()).await;
    assert!(!server.first_start, "users exist: no generated owner");
    assert_eq!(server.login("carol", old_password).await, 207);

    let out =
        davit(&["user", "passwd", "carol", "--password-stdin"], data, &format!("{new_password}\n")).await;
    assert_success(&out, "user passwd carol");
    assert_eq!(
        server.login("carol", old_password).await,
        401,
        "the old password must stop working (also when it was cached)"
    );
    assert_eq!(server.login("carol", new_password).await, 207);

    let out = davit(&["user", "delete", "carol"], data, "").await;
    assert_success(&out, "user delete carol");
    assert_eq!(server.login("carol", new_password).await, 401);
    let out = davit(&["user", "list"], data, "").await;
    let list = assert_success(&out, "user list");
    assert!(!list.lines().any(|l| l.starts_with("carol")), "carol still listed:\n{list}");

    // dave is now the last owner of the organization.
    let out = davit(&["user", "delete", "dave"], data, "").await;
    assert!(!out.status.success(), "deleting the last owner must fail:\n{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("last owner"), "{stderr}");
    assert_eq!(server.login("dave", "dave-password-123").await, 207);
    server.stop().await;
}

#[tokio::test]
async fn user_add_refuses_short_passwords_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = Some(dir.path());
    let out = davit(&["user", "add", "erin", "--password-stdin"], data, "short\n").await;
    assert!(!out.status.success());
    assert!(!text(&out.stderr).trim().is_empty());
    let out = davit(&["user", "add", "../evil", "--password-stdin"], data, "long enough password\n").await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid username"));
    let out = davit(&["user", "list"], data, "").await;
    assert_eq!(assert_success(&out, "user list").trim(), "");
}
