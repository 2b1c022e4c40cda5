//! The management API's account part (`{base}/api/v1/me…`, `…/calendars/{owner}/{calendar}/feed`)
//! over real HTTP: app passwords created, listed and revoked (and the revoked one refused on
//! the next DAV request), scopes enforced, feeds published, re-keyed and withdrawn, other
//! people's feeds refused, and bad input answered with a JSON error that changes nothing.

use davit::store::Role;
use serde_json::{Value, json};

use crate::harness::{Client, Reply, TestServer};

const CAL: &str = "/dav/calendars/alice/calendar/";
const TASKS: &str = "/dav/calendars/alice/tasks/";

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n\
         DTSTART:20260110T100000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// An API call with `c`'s credentials; state-changing methods send JSON, as the API requires.
pub async fn api(c: &Client, method: &str, path: &str, body: Option<Value>) -> (Reply, Value) {
    let mut rb = c.request(method, &format!("/api/v1/{path}"));
    if matches!(method, "POST" | "PUT") || body.is_some() {
        rb = rb.header("Content-Type", "application/json");
    }
    if let Some(b) = body {
        rb = rb.body(b.to_string());
    }
    let reply = c.send(rb).await;
    let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply, json)
}

/// `c` with Basic credentials `user:password` instead of the harness password.
pub fn with_password(server: &TestServer, user: &str, password: &str) -> AppClient {
    AppClient { inner: server.anonymous(), user: user.to_owned(), password: password.to_owned() }
}

/// A client presenting an app password (or any other password) for `user`.
pub struct AppClient {
    pub inner: Client,
    pub user: String,
    pub password: String,
}

impl AppClient {
    pub async fn go(&self, method: &str, path: &str, body: Option<String>) -> Reply {
        let mut rb = self.inner.request(method, path).basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            rb = rb.header("Content-Type", "text/calendar").body(b);
        }
        self.inner.send(rb).await
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (Reply, Value) {
        let mut rb = self
            .inner
            .request(method, &format!("/api/v1/{path}"))
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/json");
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let reply = self.inner.send(rb).await;
        let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        (reply, json)
    }
}

/// The path of a feed URL the API returned (the test server's public URL is the default one,
/// not the port it really listens on).
fn feed_path(url: &str) -> String {
    let (_, token) = url.split_once("/feeds/").expect("a feed URL");
    format!("/feeds/{token}")
}

#[track_caller]
fn assert_error(reply: &Reply, json: &Value, status: u16, code: &str) {
    reply.assert_status(status);
    assert_eq!(reply.header("content-type"), Some("application/json"), "{}", reply.body);
    assert_eq!(json["error"], code, "{}", reply.body);
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
}

async fn server_with_alice() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server
}

#[tokio::test]
async fn me_describes_the_account_and_anonymous_calls_get_a_json_401() {
    let server = server_with_alice().await;
    let (reply, me) = api(&server.client("alice"), "GET", "me", None).await;
    reply.assert_status(200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(me["username"], "alice");
    assert_eq!(me["display_name"], "alice");
    assert_eq!(me["email"], "alice@example.org");
    assert_eq!(me["server_url"], "http://127.0.0.1:8008/");
    assert_eq!(me["two_factor_enabled"], false);

    let (reply, json) = api(&server.anonymous(), "GET", "me", None).await;
    assert_error(&reply, &json, 401, "unauthorized");
    assert!(reply.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")));
    let wrong = with_password(&server, "alice", "not the password");
    let (reply, json) = wrong.api("GET", "me", None).await;
    assert_error(&reply, &json, 401, "unauthorized");
    server.stop().await;
}

#[tokio::test]
async fn app_passwords_are_created_listed_and_revoked_through_the_api() {
    let server = server_with_alice().await;
    let alice = server.client("alice");
    let (reply, created) =
        api(&alice, "POST", "me/app-passwords", Some(json!({"label": "Phone – DAVx5"}))).await;
    reply.assert_status(201);
    let id = created["id"].as_i64().expect("an id");
    assert_eq!(reply.header("location"), Some(format!("/api/v1/me/app-passwords/{id}").as_str()));
    let secret = created["password"].as_str().expect("the password, shown once").to_owned();
    assert!(davit::auth::app_password::looks_like_app_password(&secret), "{secret}");
    assert_eq!(created["username"], "alice");
    assert_eq!(created["collections"], Value::Null);

    // It works on DAV; the second request could be served by any cache there is.
    let phone = with_password(&server, "alice", &secret);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    phone.go("PUT", &format!("{CAL}a.ics"), Some(event("a"))).await.assert_status(201);

    let (reply, listed) = api(&alice, "GET", "me/app-passwords", None).await;
    reply.assert_status(200);
    reply.assert_lacks(&secret);
    let entry = &listed["app_passwords"][0];
    assert_eq!(entry["id"], id);
    assert_eq!(entry["label"], "Phone – DAVx5");
    assert_eq!(entry["read_only"], false);
    assert_eq!(entry["collections"], Value::Null);
    assert_eq!(entry["last_ip"], "127.0.0.1");
    assert!(entry["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{entry}");
    assert!(entry["last_used_at"].is_string(), "{entry}");

    let (reply, _) = api(&alice, "DELETE", &format!("me/app-passwords/{id}"), None).await;
    reply.assert_status(204);
    // Revoked: refused on the very next DAV request, though it was just used successfully.
    phone.go("GET", &format!("{CAL}a.ics"), None).await.assert_status(401);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(401);
    let (reply, json) = api(&alice, "DELETE", &format!("me/app-passwords/{id}"), None).await;
    assert_error(&reply, &json, 404, "not_found");
    let (_, listed) = api(&alice, "GET", "me/app-passwords", None).await;
    assert_eq!(listed["app_passwords"], json!([]));
    // Another user cannot revoke alice's passwords.
    server.add_user("bob", Role::Collaborator);
    let (_, second) = api(&alice, "POST", "me/app-passwords", Some(json!({"label": "Laptop"}))).await;
    let other = second["id"].as_i64().unwrap();
    let (reply, _) = api(&server.client("bob"), "DELETE", &format!("me/app-passwords/{other}"), None).await;
    reply.assert_status(404);
    let (_, listed) = api(&alice, "GET", "me/app-passwords", None).await;
    assert_eq!(listed["app_passwords"][0]["id"], other);
    server.stop().await;
}

#[tokio::test]
async fn a_scoped_app_password_is_refused_outside_its_scope() {
    let server = server_with_alice().await;
    let alice = server.client("alice");
    let body = json!({"label": "Calendar only", "collections": ["alice/calendar"]});
    let (reply, created) = api(&alice, "POST", "me/app-passwords", Some(body)).await;
    reply.assert_status(201);
    assert_eq!(created["collections"], json!(["alice/calendar"]));
    let scoped = with_password(&server, "alice", created["password"].as_str().unwrap());
    scoped.go("PUT", &format!("{CAL}a.ics"), Some(event("a"))).await.assert_status(201);
    let r = scoped.go("PUT", &format!("{TASKS}t.ics"), Some(event("t"))).await;
    r.assert_status(403);
    r.assert_contains("need-privileges");
    scoped.go("GET", TASKS, None).await.assert_status(403);
    // The same limits hold in the API: its feed, yes; another calendar's, no.
    let (reply, _) = scoped.api("PUT", "calendars/alice/calendar/feed", None).await;
    reply.assert_status(200);
    let (reply, json) = scoped.api("PUT", "calendars/alice/tasks/feed", None).await;
    assert_error(&reply, &json, 403, "forbidden");
    assert!(server.store().feed_of(tasks_id(&server)).unwrap().is_none());
    // And no app password manages credentials.
    let (reply, json) = scoped.api("POST", "me/app-passwords", Some(json!({"label": "more"}))).await;
    assert_error(&reply, &json, 403, "app_password_not_allowed");
    let (reply, json) = scoped.api("GET", "me/app-passwords", None).await;
    assert_error(&reply, &json, 403, "app_password_not_allowed");

    // A read-only password cannot publish anything.
    let body = json!({"label": "Reader", "read_only": true});
    let (_, created) = api(&alice, "POST", "me/app-passwords", Some(body)).await;
    assert_eq!(created["read_only"], true);
    let reader = with_password(&server, "alice", created["password"].as_str().unwrap());
    reader.go("GET", &format!("{CAL}a.ics"), None).await.assert_status(200);
    reader.go("PUT", &format!("{CAL}b.ics"), Some(event("b"))).await.assert_status(403);
    let (reply, _) = reader.api("DELETE", "calendars/alice/calendar/feed", None).await;
    reply.assert_status(403);
    server.stop().await;
}

fn tasks_id(server: &TestServer) -> i64 {
    davit::app::collection_by_spec(server.store(), "alice/tasks").unwrap().id
}

#[tokio::test]
async fn feeds_are_published_rekeyed_and_withdrawn_through_the_api() {
    let server = server_with_alice().await;
    let alice = server.client("alice");
    alice.put(&format!("{CAL}a.ics"), "text/calendar", &event("a")).await.assert_status(201);
    let anon = server.anonymous();
    let (reply, state) = api(&alice, "GET", "calendars/alice/calendar/feed", None).await;
    reply.assert_status(200);
    assert_eq!(state, json!({"published": false, "busy_only": false, "show_attendees": false}));

    let (reply, published) =
        api(&alice, "PUT", "calendars/alice/calendar/feed", Some(json!({"busy_only": true}))).await;
    reply.assert_status(200);
    let url = published["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:8008/feeds/") && url.ends_with(".ics"), "{url}");
    assert_eq!(published["webcal"], url.replace("http://", "webcal://"));
    let feed = anon.go("GET", &feed_path(&url)).await;
    feed.assert_status(200);
    feed.assert_contains("BEGIN:VCALENDAR");
    feed.assert_lacks("Standup"); // busy-only: times, no titles
    let (_, state) = api(&alice, "GET", "calendars/alice/calendar/feed", None).await;
    assert_eq!(state, json!({"published": true, "busy_only": true, "show_attendees": false}));

    let (reply, rekeyed) = api(&alice, "POST", "calendars/alice/calendar/feed/regenerate", None).await;
    reply.assert_status(200);
    let new_url = rekeyed["url"].as_str().unwrap().to_owned();
    assert_ne!(new_url, url);
    anon.go("GET", &feed_path(&url)).await.assert_status(404);
    anon.go("GET", &feed_path(&new_url)).await.assert_status(200);
    let (_, state) = api(&alice, "GET", "calendars/alice/calendar/feed", None).await;
    assert_eq!(state["busy_only"], true, "regenerating keeps the settings");

    let (reply, _) = api(&alice, "DELETE", "calendars/alice/calendar/feed", None).await;
    reply.assert_status(204);
    anon.go("GET", &feed_path(&new_url)).await.assert_status(404);
    let (reply, json) = api(&alice, "POST", "calendars/alice/calendar/feed/regenerate", None).await;
    assert_error(&reply, &json, 409, "not_published");
    let (reply, json) = api(&alice, "PUT", "calendars/alice/contacts/feed", None).await;
    assert_error(&reply, &json, 404, "no_such_calendar");
    server.stop().await;
}

#[tokio::test]
async fn another_users_feed_cannot_be_managed() {
    let server = server_with_alice().await;
    server.add_user("bob", Role::Admin);
    let bob = server.client("bob");
    let calendar = davit::app::collection_by_spec(server.store(), "alice/calendar").unwrap();
    for (method, path) in [
        ("GET", "calendars/alice/calendar/feed"),
        ("PUT", "calendars/alice/calendar/feed"),
        ("POST", "calendars/alice/calendar/feed/regenerate"),
        ("DELETE", "calendars/alice/calendar/feed"),
    ] {
        let (reply, json) = api(&bob, method, path, None).await;
        assert_error(&reply, &json, 403, "forbidden");
    }
    assert!(server.store().feed_of(calendar.id).unwrap().is_none(), "nothing was published");
    // Published by alice, bob cannot withdraw or re-key it either.
    let (_, published) = api(&server.client("alice"), "PUT", "calendars/alice/calendar/feed", None).await;
    api(&bob, "DELETE", "calendars/alice/calendar/feed", None).await.0.assert_status(403);
    let url = published["url"].as_str().unwrap();
    server.anonymous().go("GET", &feed_path(url)).await.assert_status(200);
    let (reply, json) = api(&bob, "GET", "calendars/nobody/calendar/feed", None).await;
    assert_error(&reply, &json, 404, "no_such_calendar");
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let server = server_with_alice().await;
    server.add_user("bob", Role::Collaborator);
    let alice = server.client("alice");
    let no_json = alice
        .request("POST", "/api/v1/me/app-passwords")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("label=Phone");
    let reply = alice.send(no_json).await;
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert_error(&reply, &json, 415, "unsupported_media_type");
    let cases = [
        (json!("just a string"), 400, "bad_request"),
        (json!({"label": "x", "colour": "red"}), 400, "bad_request"),
        (json!({"label": "x", "read_only": "yes"}), 400, "bad_request"),
        (json!({"label": "   "}), 422, "invalid_label"),
        (json!({"label": "x".repeat(101)}), 422, "invalid_label"),
        (json!({"label": "x", "collections": ["alice/nope"]}), 422, "unknown_collection"),
        (json!({"label": "x", "collections": ["bob/calendar"]}), 422, "unknown_collection"),
        (json!({"label": "x", "collections": ["no-slash"]}), 422, "unknown_collection"),
    ];
    for (body, status, code) in cases {
        let (reply, json) = api(&alice, "POST", "me/app-passwords", Some(body.clone())).await;
        assert_error(&reply, &json, status, code);
    }
    let broken = alice
        .request("POST", "/api/v1/me/app-passwords")
        .header("Content-Type", "application/json")
        .body("{\"label\": ");
    let reply = alice.send(broken).await;
    assert_error(&reply, &serde_json::from_str(&reply.body).unwrap(), 400, "bad_request");
    let huge = alice
        .request("POST", "/api/v1/me/app-passwords")
        .header("Content-Type", "application/json")
        .body(format!("{{\"label\": \"{}\"}}", "x".repeat(70_000)));
    alice.send(huge).await.assert_status(413);
    let alice_id = server.store().principal_by_slug("alice").unwrap().unwrap().id;
    assert!(server.store().app_passwords(alice_id).unwrap().is_empty(), "nothing was created");

    let (reply, json) = api(&alice, "GET", "nothing/here", None).await;
    assert_error(&reply, &json, 404, "not_found");
    let (reply, json) = api(&alice, "PUT", "me", None).await;
    assert_error(&reply, &json, 405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET"));
    let (reply, json) = api(&alice, "DELETE", "me/app-passwords/not-a-number", None).await;
    assert_error(&reply, &json, 404, "not_found");
    alice.go("GET", "/api/v2/me").await.assert_status(404);
    server.stop().await;
}
