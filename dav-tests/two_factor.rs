//! Two-factor login and the web pages over real HTTP: enrolment and confirmation, the main
//! password refused on DAV (with the human message) while app passwords work, TOTP replay and
//! brute force, recovery codes, web login with and without the second factor, CSRF on forms
//! and cookie-authenticated API calls, the session cookie's attributes, and sessions ending on
//! password change and when two-factor login is turned off.

use std::collections::HashMap;

use davit::auth::totp;
use davit::store::Role;
use serde_json::{Value, json};

use crate::account_api::{api, with_password};
use crate::harness::{PASSWORD, Reply, TestServer};

fn now() -> i64 {
    davit::auth::session::unix_now()
}

/// A browser: keeps the cookies the server sets, sends them back, follows nothing itself.
struct Browser {
    http: reqwest::Client,
    origin: String,
    prefix: String,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(server: &TestServer) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser {
            http,
            origin: format!("http://{}", server.addr),
            prefix: server.state.config.base_path.clone(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Reply {
        let rb = if self.cookies.is_empty() { rb } else { rb.header("Cookie", self.cookie_header()) };
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = resp.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }

    async fn get(&mut self, path: &str) -> Reply {
        let rb = self.http.get(format!("{}{}{path}", self.origin, self.prefix));
        self.send(rb).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String =
            fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let rb = self
            .http
            .post(format!("{}{}{path}", self.origin, self.prefix))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb).await
    }

    /// An API call with this browser's cookies and, when given, the CSRF header.
    async fn api(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> (Reply, Value) {
        let url = format!("{}{}/api/v1/{path}", self.origin, self.prefix);
        let mut rb = self.http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if method != "GET" {
            rb = rb.header("Content-Type", "application/json");
        }
        if let Some(token) = csrf {
            rb = rb.header("X-CSRF-Token", token);
        }
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let reply = self.send(rb).await;
        let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        (reply, json)
    }

    /// Logs in with the password (first step only); returns the answer to the form.
    async fn log_in(&mut self, login: &str, password: &str) -> Reply {
        let page = self.get("/web/login").await;
        page.assert_status(200);
        let token = csrf_of(&page);
        self.post("/web/login", &[("login", login), ("password", password), ("csrf", &token)]).await
    }

    /// The second step: the code form, then `code`.
    async fn enter_code(&mut self, code: &str) -> Reply {
        let page = self.get("/web/login/code").await;
        page.assert_status(200);
        let token = csrf_of(&page);
        self.post("/web/login/code", &[("code", code), ("csrf", &token)]).await
    }

    /// The CSRF token of the account page (and so of the session).
    async fn session_csrf(&mut self) -> String {
        let page = self.get("/web/account").await;
        page.assert_status(200);
        csrf_of(&page)
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The value of the first hidden `csrf` field of a page.
#[track_caller]
fn csrf_of(page: &Reply) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start =
        page.body.find(marker).unwrap_or_else(|| panic!("no CSRF field in:\n{}", page.body)) + marker.len();
    page.body[start..].split('"').next().unwrap().to_owned()
}

/// The text of the first `class="secret"` element (a password or key shown once).
fn secret_of(page: &Reply) -> String {
    let marker = "<span class=\"secret\">";
    let start = page.body.find(marker).expect("a secret on the page") + marker.len();
    page.body[start..].split('<').next().unwrap().to_owned()
}

#[track_caller]
fn assert_redirect(reply: &Reply, to: &str) {
    reply.assert_status(303);
    assert_eq!(reply.header("location"), Some(to), "{:?}", reply.headers);
}

fn user_id(server: &TestServer, name: &str) -> i64 {
    server.store().principal_by_slug(name).unwrap().unwrap().id
}

/// The stored TOTP key of a user.
fn key_of(server: &TestServer, name: &str) -> Vec<u8> {
    server.store().two_factor(user_id(server, name)).unwrap().expect("enrolled").secret
}

/// A code of `steps_ahead` steps from now that the server accepts (it allows one step ahead).
fn code(key: &[u8], steps_ahead: i64) -> String {
    totp::code_at(key, now() + steps_ahead * totp::STEP_SECONDS as i64)
}

/// A six-digit code no step of the ±1 window produces.
fn wrong_code(key: &[u8]) -> String {
    let valid: Vec<String> = (-2..=2).map(|s| code(key, s)).collect();
    (0..1000).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).unwrap()
}

/// Turns two-factor login on through the API with the main password; returns the key and
/// the recovery codes.
async fn enable_two_factor(server: &TestServer, name: &str) -> (Vec<u8>, Vec<String>) {
    let (key, codes, _) = enable_two_factor_at(server, name).await;
    (key, codes)
}

/// The same, also returning the time whose code confirmed the enrolment.
async fn enable_two_factor_at(server: &TestServer, name: &str) -> (Vec<u8>, Vec<String>, i64) {
    let c = server.client(name);
    let (reply, enrollment) =
        api(&c, "POST", "me/two-factor/enroll", Some(json!({"password": PASSWORD}))).await;
    reply.assert_status(200);
    let key = key_of(server, name);
    let typed = totp_rs::Secret::try_from_base32(enrollment["secret"].as_str().unwrap()).unwrap();
    assert_eq!(typed.as_bytes(), key.as_slice(), "the key shown is the key stored");
    let at = now();
    let first = totp::code_at(&key, at);
    let (reply, confirmed) = api(&c, "POST", "me/two-factor/confirm", Some(json!({"code": first}))).await;
    reply.assert_status(200);
    let codes =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned());
    (key, codes.collect(), at)
}

async fn server_with_alice() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server
}

#[tokio::test]
async fn with_two_factor_on_dav_refuses_the_main_password_with_a_message_and_takes_app_passwords() {
    let server = server_with_alice().await;
    let alice = server.client("alice");
    let (_, created) = api(&alice, "POST", "me/app-passwords", Some(json!({"label": "Phone"}))).await;
    let phone = with_password(&server, "alice", created["password"].as_str().unwrap());
    // Verified (and cached) before two-factor login is on.
    alice.go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);

    let (reply, json) = api(&alice, "POST", "me/two-factor/enroll", Some(json!({"password": "wrong"}))).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "wrong_password");
    let (reply, json) = api(&alice, "POST", "me/two-factor/enroll", None).await;
    reply.assert_status(400);
    assert_eq!(json["error"], "bad_request", "the password is required");
    let (reply, enrollment) =
        api(&alice, "POST", "me/two-factor/enroll", Some(json!({"password": PASSWORD}))).await;
    reply.assert_status(200);
    assert!(
        enrollment["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/davit%3Aalice%40example")
    );
    assert!(enrollment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    // Pending until confirmed: the main password still works.
    alice.go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);
    let key = key_of(&server, "alice");
    let (reply, json) =
        api(&alice, "POST", "me/two-factor/confirm", Some(json!({"code": wrong_code(&key)}))).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "wrong_code");
    let (reply, confirmed) =
        api(&alice, "POST", "me/two-factor/confirm", Some(json!({"code": code(&key, 0)}))).await;
    reply.assert_status(200);
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);

    // The cached verification of the main password does not let it through now.
    let refused = alice.go("PROPFIND", "/dav/calendars/alice/").await;
    refused.assert_status(401);
    refused.assert_contains("two-factor login is on for this account: use an app password for sync clients");
    refused.assert_contains("/web/account");
    assert!(refused.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")));
    alice.go("GET", "/dav/calendars/alice/calendar/").await.assert_status(401);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    // The API by Basic auth says the same; the app password still reads the account.
    let (reply, json) = api(&alice, "GET", "me", None).await;
    reply.assert_status(401);
    assert_eq!(json["error"], "app_password_required");
    let (reply, me) = phone.api("GET", "me", None).await;
    reply.assert_status(200);
    assert_eq!(me["two_factor_enabled"], true);
    let (reply, json) = phone.api("POST", "me/two-factor/enroll", Some(json!({"password": PASSWORD}))).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "app_password_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn a_totp_code_is_accepted_once() {
    let server = server_with_alice().await;
    let (key, _, confirmed_at) = enable_two_factor_at(&server, "alice").await;
    // The code that confirmed the enrolment cannot log in afterwards.
    let mut first = Browser::new(&server);
    assert_redirect(&first.log_in("alice", PASSWORD).await, "/web/login/code");
    let replayed = first.enter_code(&totp::code_at(&key, confirmed_at)).await;
    replayed.assert_status(401);
    replayed.assert_contains("wrong, expired or already used");
    // The next step's code works once…
    let next = totp::code_at(&key, confirmed_at + totp::STEP_SECONDS as i64);
    assert_redirect(&first.enter_code(&next).await, "/web/account");
    first.get("/web/account").await.assert_status(200);
    // …and not a second time, from another browser.
    let mut second = Browser::new(&server);
    assert_redirect(&second.log_in("alice", PASSWORD).await, "/web/login/code");
    second.enter_code(&next).await.assert_status(401);
    assert_redirect(&second.get("/web/account").await, "/web/login");
    server.stop().await;
}

#[tokio::test]
async fn guessing_totp_codes_backs_off() {
    let server = server_with_alice().await;
    let (key, _) = enable_two_factor(&server, "alice").await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/login/code");
    let wrong = wrong_code(&key);
    for _ in 0..5 {
        browser.enter_code(&wrong).await.assert_status(401);
    }
    // Locked: even the right code is refused, and the answer says when to retry.
    let locked = browser.enter_code(&code(&key, 1)).await;
    locked.assert_status(429);
    assert_eq!(locked.header("retry-after"), Some("1"));
    locked.assert_contains("Too many wrong codes");
    // The lock is per user, whatever the session: a fresh login meets it too.
    let mut other = Browser::new(&server);
    assert_redirect(&other.log_in("alice", PASSWORD).await, "/web/login/code");
    other.enter_code(&code(&key, 1)).await.assert_status(429);
    // It lapses: a back-off, not a lock-out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_redirect(&browser.enter_code(&code(&key, 1)).await, "/web/account");
    server.stop().await;
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let server = server_with_alice().await;
    let (_, codes) = enable_two_factor(&server, "alice").await;
    let mut browser = Browser::new(&server);
    browser.log_in("alice", PASSWORD).await;
    // Typed in capitals with spaces instead of dashes, as people copy them.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_redirect(&browser.enter_code(&typed).await, "/web/account");
    browser.get("/web/account").await.assert_status(200).assert_contains("9 recovery codes left");
    let mut again = Browser::new(&server);
    again.log_in("alice", PASSWORD).await;
    again.enter_code(&codes[3]).await.assert_status(401);
    assert_redirect(&again.enter_code(&codes[4]).await, "/web/account");
    server.stop().await;
}

#[tokio::test]
async fn web_login_without_two_factor_and_without_telling_who_exists() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    let wrong = browser.log_in("alice", "not the password").await;
    wrong.assert_status(401);
    let unknown = browser.log_in("nobody", "not the password").await;
    unknown.assert_status(401);
    let message =
        |r: &Reply| r.body.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_eq!(message(&wrong), "Wrong username or password.");
    assert_eq!(message(&wrong), message(&unknown), "no user enumeration");
    assert!(!browser.cookies.contains_key("davit_session"));

    // The e-mail address works as the login too.
    assert_redirect(&browser.log_in("alice@example.org", PASSWORD).await, "/web/account");
    let page = browser.get("/web/account").await;
    page.assert_status(200);
    page.assert_contains("Signed in as <b>alice</b>");
    page.assert_contains("<code>http://127.0.0.1:8008/</code>");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_redirect(&browser.get("/web/login").await, "/web/account");
    // Log out: the session is gone on the server, not only in the browser.
    let cookie = browser.cookies["davit_session"].clone();
    let token = csrf_of(&page);
    assert_redirect(&browser.post("/web/logout", &[("csrf", &token)]).await, "/web/login");
    assert!(!browser.cookies.contains_key("davit_session"));
    browser.cookies.insert("davit_session".into(), cookie);
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    server.stop().await;
}

#[tokio::test]
async fn web_login_with_two_factor_needs_the_code_and_then_changes_the_session() {
    let server = server_with_alice().await;
    let (key, _) = enable_two_factor(&server, "alice").await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/login/code");
    let pending = browser.cookies["davit_session"].clone();
    // Half logged in is not logged in, on the pages or the API.
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    let (reply, json) = browser.api("GET", "me", None, None).await;
    reply.assert_status(401);
    assert_eq!(json["error"], "session_expired");
    assert!(reply.header("www-authenticate").is_none(), "no password dialog for a cookie");

    assert_redirect(&browser.enter_code(&code(&key, 1)).await, "/web/account");
    assert_ne!(browser.cookies["davit_session"], pending, "a new session id after the second factor");
    browser
        .get("/web/account")
        .await
        .assert_status(200)
        .assert_contains("On: logging in here asks for a code");
    let mut stale = Browser::new(&server);
    stale.cookies.insert("davit_session".into(), pending);
    assert_redirect(&stale.get("/web/login/code").await, "/web/login");

    // An app password is no way around the second factor on the web login.
    let csrf = browser.session_csrf().await;
    let (reply, created) =
        browser.api("POST", "me/app-passwords", Some(json!({"label": "Phone"})), Some(&csrf)).await;
    reply.assert_status(201);
    let mut sneaky = Browser::new(&server);
    sneaky.log_in("alice", created["password"].as_str().unwrap()).await.assert_status(401);
    assert!(!sneaky.cookies.contains_key("davit_session"));
    server.stop().await;
}

#[tokio::test]
async fn state_changing_forms_and_cookie_api_calls_need_the_csrf_token() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    // The login form itself: without its double-submit cookie the post is refused.
    let page = browser.get("/web/login").await;
    let token = csrf_of(&page);
    browser.cookies.remove("davit_login");
    let r = browser.post("/web/login", &[("login", "alice"), ("password", PASSWORD), ("csrf", &token)]).await;
    r.assert_status(403);
    assert!(!browser.cookies.contains_key("davit_session"));

    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/account");
    let csrf = browser.session_csrf().await;
    let alice = user_id(&server, "alice");
    for fields in [vec![("label", "Phone")], vec![("label", "Phone"), ("csrf", "forged")]] {
        browser.post("/web/account/app-passwords", &fields).await.assert_status(403);
    }
    assert!(server.store().app_passwords(alice).unwrap().is_empty(), "nothing was created");
    browser.post("/web/logout", &[]).await.assert_status(403);
    browser.get("/web/account").await.assert_status(200);

    // The API with the session cookie: reading needs no token, changing does.
    let (reply, me) = browser.api("GET", "me", None, None).await;
    reply.assert_status(200);
    assert_eq!(me["username"], "alice");
    let body = json!({"label": "Phone"});
    let (reply, json) = browser.api("POST", "me/app-passwords", Some(body.clone()), None).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "csrf_token_invalid");
    let (reply, _) = browser.api("POST", "me/app-passwords", Some(body.clone()), Some("forged")).await;
    reply.assert_status(403);
    let (reply, json) = browser.api("PUT", "calendars/alice/calendar/feed", None, None).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "csrf_token_invalid");
    assert!(server.store().app_passwords(alice).unwrap().is_empty());
    let (reply, _) = browser.api("POST", "me/app-passwords", Some(body), Some(&csrf)).await;
    reply.assert_status(201);
    assert_eq!(server.store().app_passwords(alice).unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_httponly_samesite_and_secure_behind_https() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    let reply = browser.log_in("alice", PASSWORD).await;
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("davit_session="))
        .expect("a session cookie");
    let value = cookie["davit_session=".len()..].split(';').next().unwrap();
    assert!(value.len() >= 43, "at least 256 bits: {value}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Max-Age=604800"), "seven days at most: {cookie}");
    assert!(!cookie.contains("Secure"), "plain http: a Secure cookie would never come back: {cookie}");
    // Only the hash of the value is stored.
    assert!(server.store().web_session(value).unwrap().is_none());
    assert!(server.store().web_session(&davit::auth::session::id_hash(value)).unwrap().is_some());
    server.stop().await;

    let server = TestServer::start_with(|c| {
        c.public_url = "https://cal.example.org".into();
        c.base_path = "/groupware".into();
    })
    .await;
    server.add_user("alice", Role::Collaborator);
    let mut browser = Browser::new(&server);
    let reply = browser.log_in("alice", PASSWORD).await;
    assert_redirect(&reply, "/groupware/web/account");
    let cookie = reply.header("set-cookie").map(str::to_owned).unwrap_or_default();
    let cookies: Vec<String> =
        reply.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = cookies.iter().find(|c| c.starts_with("davit_session=")).expect(&cookie);
    assert!(session.contains("; Path=/groupware/;"), "{session}");
    assert!(session.ends_with("; Secure"), "{session}");
    let page = browser.get("/web/account").await;
    page.assert_status(200);
    page.assert_contains("<code>https://cal.example.org/groupware/</code>");
    server.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/account");
    browser.get("/web/account").await.assert_status(200);
    let data_dir = server.state.config.data_dir.clone();
    let mut passwd = std::process::Command::new(env!("CARGO_BIN_EXE_davit"))
        .args(["user", "passwd", "alice", "--password-stdin", "--data-dir"])
        .arg(&data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    passwd.stdin.take().unwrap().write_all(b"a brand new password\n").unwrap();
    assert!(passwd.wait().unwrap().success());
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    let (reply, _) = browser.api("GET", "me", None, None).await;
    reply.assert_status(401);
    assert_redirect(&browser.log_in("alice", "a brand new password").await, "/web/account");
    server.stop().await;
}

#[tokio::test]
async fn the_account_page_changes_the_password_keeping_only_this_browser_signed_in() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/account");
    let mut elsewhere = Browser::new(&server);
    assert_redirect(&elsewhere.log_in("alice", PASSWORD).await, "/web/account");
    let (reply, app) =
        api(&server.client("alice"), "POST", "me/app-passwords", Some(json!({"label": "phone"}))).await;
    reply.assert_status(201);
    let phone = with_password(&server, "alice", app["password"].as_str().unwrap());
    let csrf = browser.session_csrf().await;
    let new = "correct horse battery staple";
    let change = |current: &str, new: &str, confirm: &str| {
        [
            ("current_password", current.to_owned()),
            ("new_password", new.to_owned()),
            ("confirm_password", confirm.to_owned()),
        ]
    };
    let refused = [
        (change("wrong password", new, new), 403, "The current password is wrong."),
        (change(PASSWORD, new, "something else"), 422, "The new password and its confirmation differ."),
        (change(PASSWORD, "short", "short"), 422, "at least 8 characters"),
        (change(PASSWORD, PASSWORD, PASSWORD), 422, "the same as the current one"),
    ];
    for (fields, status, message) in refused {
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("csrf", &csrf));
        browser.post("/web/account/password", &form).await.assert_status(status).assert_contains(message);
    }
    // Without the session's CSRF token nothing changes either.
    let forged = browser
        .post(
            "/web/account/password",
            &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_eq!(forged.status.as_u16(), 403, "{}", forged.body);
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);

    let fields = change(PASSWORD, new, new);
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    form.push(("csrf", &csrf));
    let changed = browser.post("/web/account/password", &form).await;
    changed.assert_status(200).assert_contains("Your password is changed.");
    browser.get("/web/account").await.assert_status(200);
    assert_redirect(&elsewhere.get("/web/account").await, "/web/login");
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(401);
    with_password(&server, "alice", new)
        .go("PROPFIND", "/dav/calendars/alice/", None)
        .await
        .assert_status(207);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    assert_redirect(&elsewhere.log_in("alice", new).await, "/web/account");
    server.stop().await;
}

/// Guessing the current password on the password form meets the login back-off, and the page
/// says when to try again in Retry-After, as the login page does.
#[tokio::test]
async fn guessing_the_current_password_on_the_form_backs_off_with_retry_after() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    assert_redirect(&browser.log_in("alice", PASSWORD).await, "/web/account");
    let csrf = browser.session_csrf().await;
    let new = "correct horse battery staple";
    let form = [
        ("current_password", "wrong password"),
        ("new_password", new),
        ("confirm_password", new),
        ("csrf", csrf.as_str()),
    ];
    let mut statuses = Vec::new();
    let throttled = loop {
        let r = browser.post("/web/account/password", &form).await;
        statuses.push(r.status.as_u16());
        if r.status.as_u16() == 429 {
            break r;
        }
        assert_eq!(r.status.as_u16(), 403, "{statuses:?}");
        assert!(statuses.len() < 20, "no back-off after {statuses:?}");
        assert_eq!(r.header("retry-after"), None);
    };
    let secs: u64 = throttled.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!(secs >= 1, "Retry-After: {secs}");
    // The right password is refused too while it lasts, and nothing changed.
    let right = [
        ("current_password", PASSWORD),
        ("new_password", new),
        ("confirm_password", new),
        ("csrf", csrf.as_str()),
    ];
    let r = browser.post("/web/account/password", &right).await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());
    // Once it lapses, the old password still works: nothing was changed.
    tokio::time::sleep(std::time::Duration::from_millis(secs * 1000 + 100)).await;
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);
    server.stop().await;
}

#[tokio::test]
async fn the_api_changes_the_password_given_the_current_one() {
    let server = server_with_alice().await;
    let alice = server.client("alice");
    let new = "correct horse battery staple";
    let (reply, app) = api(&alice, "POST", "me/app-passwords", Some(json!({"label": "phone"}))).await;
    reply.assert_status(201);
    let phone = with_password(&server, "alice", app["password"].as_str().unwrap());
    let body = json!({"current_password": PASSWORD, "new_password": new});
    let (reply, json) = phone.api("POST", "me/password", Some(body.clone())).await;
    reply.assert_status(403);
    assert_eq!(json["error"], "app_password_not_allowed");
    let refused = [
        (json!({"current_password": PASSWORD}), 400, "bad_request"),
        (json!({"current_password": "wrong password", "new_password": new}), 403, "wrong_password"),
        (json!({"current_password": PASSWORD, "new_password": "short"}), 422, "invalid_password"),
        (json!({"current_password": PASSWORD, "new_password": "tab\there!"}), 422, "invalid_password"),
        (json!({"current_password": PASSWORD, "new_password": PASSWORD}), 422, "invalid_password"),
    ];
    for (body, status, error) in refused {
        let (reply, json) = api(&alice, "POST", "me/password", Some(body)).await;
        reply.assert_status(status);
        assert_eq!(json["error"], error, "{json}");
    }
    let (reply, _) = api(&alice, "GET", "me/password", None).await;
    reply.assert_status(405);
    alice.go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);

    let (reply, _) = api(&alice, "POST", "me/password", Some(body)).await;
    reply.assert_status(204);
    alice.go("PROPFIND", "/dav/calendars/alice/").await.assert_status(401);
    with_password(&server, "alice", new)
        .go("PROPFIND", "/dav/calendars/alice/", None)
        .await
        .assert_status(207);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    server.stop().await;
}

#[tokio::test]
async fn turning_two_factor_off_needs_the_password_and_a_code_and_ends_the_sessions() {
    let server = server_with_alice().await;
    let (key, codes) = enable_two_factor(&server, "alice").await;
    let mut browser = Browser::new(&server);
    browser.log_in("alice", PASSWORD).await;
    assert_redirect(&browser.enter_code(&code(&key, 1)).await, "/web/account");
    let csrf = browser.session_csrf().await;
    let mut other = Browser::new(&server);
    other.log_in("alice", PASSWORD).await;
    assert_redirect(&other.enter_code(&codes[0]).await, "/web/account");

    let attempts = [
        (json!({"password": PASSWORD}), 400, "bad_request"),
        (json!({"password": "wrong", "code": codes[1]}), 403, "wrong_password"),
        (json!({"password": PASSWORD, "code": codes[0]}), 403, "wrong_code"),
        (json!({"password": PASSWORD, "code": wrong_code(&key)}), 403, "wrong_code"),
    ];
    for (body, status, error) in attempts {
        let (reply, json) = browser.api("DELETE", "me/two-factor", Some(body), Some(&csrf)).await;
        reply.assert_status(status);
        assert_eq!(json["error"], error);
    }
    assert!(davit::auth::two_factor::is_on(server.store(), user_id(&server, "alice")).unwrap());
    let body = json!({"password": PASSWORD, "code": codes[1]});
    let (reply, _) = browser.api("DELETE", "me/two-factor", Some(body), Some(&csrf)).await;
    reply.assert_status(204);
    // Every session is over, and the main password works on DAV again.
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    assert_redirect(&other.get("/web/account").await, "/web/login");
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);
    let (_, me) = api(&server.client("alice"), "GET", "me", None).await;
    assert_eq!(me["two_factor_enabled"], false);
    assert_eq!(server.store().recovery_codes_left(user_id(&server, "alice")).unwrap(), 0);
    server.stop().await;
}

#[tokio::test]
async fn the_account_page_manages_app_passwords_and_two_factor_login() {
    let server = server_with_alice().await;
    let mut browser = Browser::new(&server);
    browser.log_in("alice", PASSWORD).await;
    let csrf = browser.session_csrf().await;
    let label = "<b>Phone</b> – DAVx5";
    let created = browser.post("/web/account/app-passwords", &[("label", label), ("csrf", &csrf)]).await;
    created.assert_status(200);
    created.assert_contains("&lt;b&gt;Phone&lt;/b&gt; – DAVx5").assert_lacks("<b>Phone</b>");
    let secret = secret_of(&created);
    assert!(davit::auth::app_password::looks_like_app_password(&secret), "{secret}");
    let phone = with_password(&server, "alice", &secret);
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(207);
    let page = browser.get("/web/account").await;
    page.assert_lacks(&secret).assert_contains("read-write, everything");
    let id = server.store().app_passwords(user_id(&server, "alice")).unwrap()[0].id.to_string();
    let revoked = browser.post("/web/account/app-passwords/revoke", &[("id", &id), ("csrf", &csrf)]).await;
    revoked.assert_status(200).assert_contains("The app password is revoked.");
    phone.go("PROPFIND", "/dav/calendars/alice/", None).await.assert_status(401);
    let bad = browser.post("/web/account/app-passwords", &[("label", " "), ("csrf", &csrf)]).await;
    bad.assert_status(422);

    // Two-factor login, set up on the page: QR code and key, then the first code.
    let wrong =
        browser.post("/web/account/two-factor/enroll", &[("password", "nope"), ("csrf", &csrf)]).await;
    wrong.assert_status(403).assert_contains("The password is wrong.");
    let enrolling =
        browser.post("/web/account/two-factor/enroll", &[("password", PASSWORD), ("csrf", &csrf)]).await;
    enrolling.assert_status(200).assert_contains("<svg");
    let key = key_of(&server, "alice");
    assert_eq!(secret_of(&enrolling), totp::secret_base32(&key));
    // Reloading the page still shows the pending enrolment.
    browser.get("/web/account").await.assert_contains("<svg");
    // A session signed in with the password alone, elsewhere, ends when the second factor
    // comes into force; the browser that confirmed stays signed in, with a new session.
    let mut elsewhere = Browser::new(&server);
    assert_redirect(&elsewhere.log_in("alice", PASSWORD).await, "/web/account");
    let old_cookie = browser.cookies["davit_session"].clone();
    let on =
        browser.post("/web/account/two-factor/confirm", &[("code", &code(&key, 0)), ("csrf", &csrf)]).await;
    on.assert_status(200).assert_contains("Two-factor login is on, and every other session has ended.");
    assert_eq!(on.body.matches("<li><code>").count(), 10, "ten recovery codes");
    assert_ne!(browser.cookies["davit_session"], old_cookie, "a new session for this browser");
    browser.get("/web/account").await.assert_lacks("<li><code>").assert_contains("10 recovery codes left");
    assert_redirect(&elsewhere.get("/web/account").await, "/web/login");
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(401);
    let csrf = browser.session_csrf().await;

    // And off again, which ends this session too.
    let off = browser
        .post(
            "/web/account/two-factor/disable",
            &[("password", PASSWORD), ("code", &code(&key, 1)), ("csrf", &csrf)],
        )
        .await;
    off.assert_status(200).assert_contains("Two-factor login is off.");
    assert_redirect(&browser.get("/web/account").await, "/web/login");
    server.client("alice").go("PROPFIND", "/dav/calendars/alice/").await.assert_status(207);
    server.stop().await;
}
