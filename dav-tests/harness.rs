//! Starts a server per test and offers a small client for DAV requests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use davit::config::Config;
use davit::state::AppState;
use davit::store::{NewUser, Role, Store};
use reqwest::{Method, StatusCode};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after letting the test adjust the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        adjust(&mut config);
        let state = davit::app::build(config).expect("build app").state;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            davit::http::run(server_state, listener, shutdown).await.expect("server");
        });
        let base = format!("http://{addr}{}", state.config.base_path);
        TestServer { addr, base, state, shutdown: Some(tx), task: Some(task), _dir: dir }
    }

    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// Creates a user (password `PASSWORD`) in the first organization.
    pub fn add_user(&self, name: &str, role: Role) {
        self.add_user_in(self.store().organizations().unwrap()[0].id, name, role);
    }

    /// Creates a user (password `PASSWORD`, e-mail `name@example.org`) in organization `org`.
    pub fn add_user_in(&self, org: i64, name: &str, role: Role) {
        let hash = davit::auth::hash_password(PASSWORD).unwrap();
        self.store()
            .create_user(&NewUser {
                slug: name.into(),
                display_name: name.into(),
                email: Some(format!("{name}@example.org")),
                password_hash: hash,
                org_id: org,
                role,
            })
            .expect("create user");
    }

    /// A client authenticated as `user`.
    pub fn client(&self, user: &str) -> Client {
        Client { base: format!("http://{}", self.addr), user: Some(user.into()), http: http_client() }
    }

    pub fn anonymous(&self) -> Client {
        Client { base: format!("http://{}", self.addr), user: None, http: http_client() }
    }

    /// Everything `user` can see of their own space: a Depth-1 PROPFIND (allprop plus
    /// sync-token and ctag) of both homes and every collection below them, and a GET of every
    /// object. Two equal snapshots mean nothing was created, changed or removed.
    pub async fn snapshot(&self, user: &str) -> String {
        const PROPS: &str = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" \
             xmlns:CS=\"http://calendarserver.org/ns/\"><D:allprop/><D:include><D:sync-token/>\
             <CS:getctag/><D:displayname/></D:include></D:propfind>";
        let c = self.client(user);
        let mut out = String::new();
        let mut queue = vec![format!("/dav/calendars/{user}/"), format!("/dav/addressbooks/{user}/")];
        while let Some(href) = queue.pop() {
            let r = c.propfind(&href, "1", PROPS).await;
            r.assert_status(207);
            out.push_str(&format!("== {href}\n{}\n", r.body));
            for member in r.xml().hrefs().into_iter().filter(|m| *m != href) {
                if member.ends_with('/') {
                    queue.push(member);
                } else {
                    let g = c.go("GET", &member).await;
                    out.push_str(&format!("-- {member} {} {:?}\n{}\n", g.status, g.header("etag"), g.body));
                }
            }
        }
        out
    }

    /// Stops accepting, drains, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub struct Client {
    pub base: String,
    pub user: Option<String>,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn etag(&self) -> String {
        self.header("etag").expect("ETag header").to_owned()
    }
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "unexpected status; body:\n{}", self.body);
        self
    }
    #[track_caller]
    pub fn assert_contains(&self, needle: &str) -> &Self {
        assert!(self.body.contains(needle), "body lacks {needle:?}:\n{}", self.body);
        self
    }
    #[track_caller]
    pub fn assert_lacks(&self, needle: &str) -> &Self {
        assert!(!self.body.contains(needle), "body unexpectedly has {needle:?}:\n{}", self.body);
        self
    }
    pub fn xml(&self) -> roxml::Doc {
        roxml::Doc::parse(&self.body)
    }
}

impl Client {
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) };
        let mut rb = self.http.request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(u) = &self.user {
            rb = rb.basic_auth(u, Some(PASSWORD));
        }
        rb
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }

    pub async fn go(&self, method: &str, path: &str) -> Reply {
        self.send(self.request(method, path)).await
    }

    pub async fn propfind(&self, path: &str, depth: &str, body: &str) -> Reply {
        let rb =
            self.request("PROPFIND", path).header("Depth", depth).header("Content-Type", "application/xml");
        self.send(rb.body(body.to_owned())).await
    }

    pub async fn put(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(self.request("PUT", path).header("Content-Type", content_type).body(body.to_owned())).await
    }

    pub async fn body(&self, method: &str, path: &str, body: &str) -> Reply {
        self.send(self.request(method, path).header("Content-Type", "application/xml").body(body.to_owned()))
            .await
    }
}

/// A one-hour event with this UID (and summary), as a client would PUT it.
pub fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n\
         SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A propfind body asking for the given `D:`/`C:`/`CR:`/`CS:`/`A:` prefixed properties.
pub fn propfind_body(props: &[&str]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" \
         xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" \
         xmlns:A=\"http://apple.com/ns/ical/\"><D:prop>",
    );
    for p in props {
        s.push_str(&format!("<{p}/>"));
    }
    s.push_str("</D:prop></D:propfind>");
    s
}

/// A minimal namespace-aware reader for multistatus answers, built on davit's own parser.
pub mod roxml {
    use davit::dav::xml::{Element, parse_with_limit};

    pub const DAV: &str = "DAV:";

    pub struct Doc {
        pub root: Element,
    }

    impl Doc {
        pub fn parse(body: &str) -> Doc {
            // Our own answers can be large (a sync of thousands of members): no element cap.
            let root = parse_with_limit(body.as_bytes(), usize::MAX);
            Doc {
                root: root
                    .unwrap_or_else(|e| panic!("invalid XML ({e}):\n{}", &body[..body.len().min(2000)])),
            }
        }

        /// Each `<D:response>`: its href and, per property (ns, name), its status and element.
        pub fn responses(&self) -> Vec<ResponseView<'_>> {
            self.root.elements().filter(|e| e.is(DAV, "response")).map(|r| ResponseView { el: r }).collect()
        }

        pub fn response(&self, href: &str) -> ResponseView<'_> {
            self.responses()
                .into_iter()
                .find(|r| r.href() == href)
                .unwrap_or_else(|| panic!("no response for {href}; have {:?}", self.hrefs()))
        }

        pub fn hrefs(&self) -> Vec<String> {
            self.responses().iter().map(|r| r.href()).collect()
        }
    }

    pub struct ResponseView<'a> {
        pub el: &'a Element,
    }

    impl<'a> ResponseView<'a> {
        pub fn href(&self) -> String {
            self.el.child(DAV, "href").map(|h| h.text()).unwrap_or_default()
        }
        pub fn status(&self) -> Option<String> {
            self.el.child(DAV, "status").map(|s| s.text())
        }
        /// The property element and the status line of its propstat.
        pub fn prop(&self, ns: &str, name: &str) -> Option<(&'a Element, String)> {
            for ps in self.el.elements().filter(|e| e.is(DAV, "propstat")) {
                let status = ps.child(DAV, "status").map(|s| s.text()).unwrap_or_default();
                if let Some(p) = ps.child(DAV, "prop").and_then(|p| p.child(ns, name)) {
                    return Some((p, status));
                }
            }
            None
        }
        /// The property's element if it came with 200 OK.
        #[track_caller]
        pub fn ok(&self, ns: &str, name: &str) -> &'a Element {
            match self.prop(ns, name) {
                Some((p, status)) if status == "HTTP/1.1 200 OK" => p,
                other => panic!("{{{ns}}}{name} not 200 on {}: {:?}", self.href(), other.map(|o| o.1)),
            }
        }
        /// The text of the first `D:href` inside a 200 property.
        pub fn href_prop(&self, ns: &str, name: &str) -> String {
            self.ok(ns, name).child(DAV, "href").map(|h| h.text()).unwrap_or_default()
        }
        pub fn status_of(&self, ns: &str, name: &str) -> Option<String> {
            self.prop(ns, name).map(|p| p.1)
        }
    }
}
