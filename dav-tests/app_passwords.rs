//! App passwords (issue: per-device passwords, listed and revocable, optionally scoped)
//! through the protocol and the CLI.

use crate::harness::{Reply, TestServer, propfind_body};
use davit::store::{AppPasswordScope, Role};

const CAL: &str = "/dav/calendars/alice/calendar/";
const TASKS: &str = "/dav/calendars/alice/tasks/";

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n\
         DTSTART:20260110T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn issue(server: &TestServer, scope: AppPasswordScope) -> (i64, String) {
    let alice = server.store().principal_by_slug("alice").unwrap().unwrap();
    davit::auth::app_password::issue(server.store(), alice.id, "Phone – DAVx5", &scope).unwrap()
}

async fn as_app(server: &TestServer, secret: &str, method: &str, path: &str, body: Option<String>) -> Reply {
    let c = server.anonymous();
    let mut rb =
        c.request(method, path).basic_auth("alice", Some(secret)).header("User-Agent", "DAVx5/4.4.3-ose");
    if let Some(b) = body {
        rb = rb.header("Content-Type", "text/calendar").body(b);
    }
    c.send(rb).await
}

fn collection_id(server: &TestServer, path: &str) -> i64 {
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap();
    davit::app::collection_by_spec(server.store(), &format!("alice/{name}")).unwrap().id
}

#[tokio::test]
async fn an_app_password_works_everywhere_until_revoked() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let (id, secret) = issue(&server, AppPasswordScope::default());
    as_app(&server, &secret, "PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    as_app(&server, &secret, "PUT", &format!("{CAL}a.ics"), Some(event("a"))).await.assert_status(201);
    // Typed without dashes and in capitals it still works (what people do on phones).
    let compact = secret.replace('-', "").to_uppercase();
    as_app(&server, &compact, "GET", &format!("{CAL}a.ics"), None).await.assert_status(200);
    // Its use is recorded with the client.
    let alice = server.store().principal_by_slug("alice").unwrap().unwrap();
    let listed = server.store().app_passwords(alice.id).unwrap();
    assert_eq!(listed[0].last_user_agent.as_deref(), Some("DAVx5/4.4.3-ose"));
    assert_eq!(listed[0].last_ip.as_deref(), Some("127.0.0.1"));
    // Revocation takes effect on the very next request.
    assert!(server.store().revoke_app_password(alice.id, id).unwrap());
    let r = as_app(&server, &secret, "GET", &format!("{CAL}a.ics"), None).await;
    r.assert_status(401);
    assert!(r.header("www-authenticate").is_some());
    // The main password is unaffected.
    server.client("alice").go("GET", &format!("{CAL}a.ics")).await.assert_status(200);
    server.stop().await;
}

#[tokio::test]
async fn a_read_only_app_password_cannot_write() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.client("alice").put(&format!("{CAL}a.ics"), "text/calendar", &event("a")).await.assert_status(201);
    let (_, secret) = issue(&server, AppPasswordScope { read_only: true, collections: None });
    as_app(&server, &secret, "GET", &format!("{CAL}a.ics"), None).await.assert_status(200);
    let r = as_app(&server, &secret, "PUT", &format!("{CAL}b.ics"), Some(event("b"))).await;
    r.assert_status(403);
    r.assert_contains("need-privileges");
    as_app(&server, &secret, "DELETE", &format!("{CAL}a.ics"), None).await.assert_status(403);
    // Clients see it read-only: no write-content in current-user-privilege-set.
    let c = server.anonymous();
    let rb = c
        .request("PROPFIND", CAL)
        .basic_auth("alice", Some(&secret))
        .header("Depth", "0")
        .body(propfind_body(&["D:current-user-privilege-set"]));
    let r = c.send(rb).await;
    r.assert_status(207);
    r.assert_contains("<D:read/>");
    r.assert_lacks("write-content");
    server.stop().await;
}

#[tokio::test]
async fn a_collection_scoped_app_password_sees_only_its_collections() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let cal_id = collection_id(&server, CAL);
    let (_, secret) = issue(&server, AppPasswordScope { read_only: false, collections: Some(vec![cal_id]) });
    as_app(&server, &secret, "PUT", &format!("{CAL}a.ics"), Some(event("a"))).await.assert_status(201);
    let r = as_app(&server, &secret, "PUT", &format!("{TASKS}t.ics"), Some(event("t"))).await;
    r.assert_status(403);
    // Discovery still works, and the home lists only what the password may read.
    let c = server.anonymous();
    let rb = c
        .request("PROPFIND", "/dav/calendars/alice/")
        .basic_auth("alice", Some(&secret))
        .header("Depth", "1")
        .body(propfind_body(&["D:resourcetype"]));
    let r = c.send(rb).await;
    r.assert_status(207);
    let hrefs = r.xml().hrefs();
    assert!(hrefs.contains(&CAL.to_owned()), "{hrefs:?}");
    assert!(!hrefs.contains(&TASKS.to_owned()), "{hrefs:?}");
    // It cannot create collections either.
    as_app(&server, &secret, "MKCALENDAR", "/dav/calendars/alice/new/", None).await.assert_status(403);
    server.stop().await;
}

#[tokio::test]
async fn cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let davit = env!("CARGO_BIN_EXE_davit");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(davit).args(args).args(["--data-dir", data]).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(run(&["user", "add", "alice"]).0);
    let (ok, out, err) = run(&[
        "app-password",
        "create",
        "alice",
        "--label",
        "Phone",
        "--read-only",
        "--collection",
        "alice/calendar",
    ]);
    assert!(ok, "{err}");
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(davit::auth::app_password::looks_like_app_password(&secret), "last line is the password: {out}");
    let (ok, out, _) = run(&["app-password", "list", "alice"]);
    assert!(ok);
    let line = out.lines().next().expect("one line per password");
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(id.parse::<i64>().is_ok(), "the ID comes first: {line}");
    assert!(line.contains("Phone") && line.contains("read-only"), "{line}");
    assert!(!out.contains(&secret), "never shown again");
    assert!(run(&["app-password", "revoke", "alice", &id]).0);
    assert!(!run(&["app-password", "revoke", "alice", &id]).0, "already revoked");
    assert!(run(&["app-password", "list", "alice"]).1.trim().is_empty());
    assert!(!run(&["app-password", "create", "alice", "--label", "x", "--collection", "alice/nope"]).0);
}
