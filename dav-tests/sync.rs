//! sync-collection (RFC 6578): initial, incremental after create/modify/delete/move,
//! truncation and continuation, invalid tokens, tokens across a restart.

use crate::harness::roxml::DAV;
use crate::harness::{Client, TestServer};
use davit::store::Role;

const CAL: &str = "/dav/calendars/alice/calendar/";

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn sync_body(token: &str, limit: Option<usize>) -> String {
    let limit = limit.map(|n| format!("<D:limit><D:nresults>{n}</D:nresults></D:limit>")).unwrap_or_default();
    format!(
        "<D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>{limit}\
         <D:prop><D:getetag/><D:getcontenttype/></D:prop></D:sync-collection>"
    )
}

struct SyncResult {
    changed: Vec<(String, String)>,
    removed: Vec<String>,
    truncated: bool,
    token: String,
}

async fn sync(c: &Client, path: &str, token: &str, limit: Option<usize>) -> SyncResult {
    let r = c.send(c.request("REPORT", path).header("Depth", "0").body(sync_body(token, limit))).await;
    r.assert_status(207);
    let doc = r.xml();
    let mut out = SyncResult { changed: vec![], removed: vec![], truncated: false, token: String::new() };
    for resp in doc.responses() {
        match resp.status().as_deref() {
            Some("HTTP/1.1 404 Not Found") => out.removed.push(resp.href()),
            Some("HTTP/1.1 507 Insufficient Storage") => {
                assert_eq!(resp.href(), path, "507 is on the request-URI");
                out.truncated = true;
            }
            Some(other) => panic!("unexpected member status {other}"),
            None => {
                let etag = resp.ok(DAV, "getetag").text();
                assert!(resp.ok(DAV, "getcontenttype").text().starts_with("text/calendar"));
                out.changed.push((resp.href(), etag));
            }
        }
    }
    out.token = doc.root.child(DAV, "sync-token").expect("top-level sync-token").text();
    out
}

async fn put(c: &Client, name: &str, summary: &str) -> String {
    let r = c.put(&format!("{CAL}{name}"), "text/calendar", &event(name, summary)).await;
    assert!(r.status.is_success(), "PUT {name}: {}", r.status);
    r.etag()
}

#[tokio::test]
async fn incremental_sync_reports_exactly_what_changed() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let e1 = put(&c, "a.ics", "one").await;
    put(&c, "b.ics", "two").await;
    let initial = sync(&c, CAL, "", None).await;
    assert_eq!(initial.changed.len(), 2);
    assert!(
        initial.changed.contains(&(format!("{CAL}a.ics"), e1.clone())),
        "ETag in the report equals the PUT ETag"
    );
    assert!(initial.token.starts_with("urn:"), "tokens are URIs");

    let nothing = sync(&c, CAL, &initial.token, None).await;
    assert!(nothing.changed.is_empty() && nothing.removed.is_empty());
    assert_eq!(nothing.token, initial.token, "no change, same token");

    let e1b = put(&c, "a.ics", "one, edited").await;
    put(&c, "c.ics", "three").await;
    c.go("DELETE", &format!("{CAL}b.ics")).await.assert_status(204);
    let delta = sync(&c, CAL, &initial.token, None).await;
    let mut changed: Vec<String> = delta.changed.iter().map(|c| c.0.clone()).collect();
    changed.sort();
    assert_eq!(changed, [format!("{CAL}a.ics"), format!("{CAL}c.ics")]);
    assert!(delta.changed.contains(&(format!("{CAL}a.ics"), e1b)));
    assert_eq!(delta.removed, [format!("{CAL}b.ics")]);

    // A move within the collection: the old name is removed, the new one changed.
    let r = c
        .send(
            c.request("MOVE", &format!("{CAL}c.ics")).header("Destination", format!("{}{CAL}d.ics", c.base)),
        )
        .await;
    r.assert_status(201);
    let moved = sync(&c, CAL, &delta.token, None).await;
    assert_eq!(moved.removed, [format!("{CAL}c.ics")]);
    assert_eq!(moved.changed.iter().map(|c| c.0.clone()).collect::<Vec<_>>(), [format!("{CAL}d.ics")]);
    server.stop().await;
}

#[tokio::test]
async fn identical_put_changes_neither_token_nor_ctag() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    put(&c, "a.ics", "same").await;
    let before = sync(&c, CAL, "", None).await.token;
    put(&c, "a.ics", "same").await;
    assert_eq!(sync(&c, CAL, "", None).await.token, before);
    server.stop().await;
}

#[tokio::test]
async fn truncation_pages_until_complete() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    for i in 0..7 {
        put(&c, &format!("e{i}.ics"), "x").await;
    }
    let mut token = String::new();
    let mut seen = Vec::new();
    let mut rounds = 0;
    loop {
        let page = sync(&c, CAL, &token, Some(3)).await;
        assert!(page.changed.len() <= 3);
        seen.extend(page.changed.into_iter().map(|c| c.0));
        token = page.token;
        rounds += 1;
        if !page.truncated {
            break;
        }
        assert!(rounds < 10, "paging never ends");
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(rounds, 3);
    server.stop().await;
}

#[tokio::test]
async fn invalid_tokens_get_valid_sync_token() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    put(&c, "a.ics", "x").await;
    let tasks_token = sync(&c, "/dav/calendars/alice/tasks/", "", None).await.token;
    for bad in [
        "garbage",
        "urn:x-davit:sync:",
        "urn:x-davit:sync:999999:1",
        "urn:x-davit:sync:1:999999",
        &tasks_token,
    ] {
        let r = c.send(c.request("REPORT", CAL).header("Depth", "0").body(sync_body(bad, None))).await;
        r.assert_status(403);
        r.assert_contains("valid-sync-token");
    }
    for bad_limit in ["0", "-1", "x"] {
        let body = sync_body("", None)
            .replace("<D:prop>", &format!("<D:limit><D:nresults>{bad_limit}</D:nresults></D:limit><D:prop>"));
        let r = c.send(c.request("REPORT", CAL).header("Depth", "0").body(body)).await;
        r.assert_status(400);
    }
    server.stop().await;
}

#[tokio::test]
async fn thunderbird_depth_one_is_accepted() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    put(&c, "a.ics", "x").await;
    let r = c.send(c.request("REPORT", CAL).header("Depth", "1").body(sync_body("", None))).await;
    r.assert_status(207);
    r.assert_contains("a.ics");
    server.stop().await;
}

#[tokio::test]
async fn sync_level_infinite_only_where_it_means_one() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let body = sync_body("", None)
        .replace("<D:sync-level>1</D:sync-level>", "<D:sync-level>infinite</D:sync-level>");
    let r = c.send(c.request("REPORT", CAL).header("Depth", "0").body(body.clone())).await;
    r.assert_status(207);
    let r = c.send(c.request("REPORT", "/dav/calendars/alice/").header("Depth", "0").body(body)).await;
    r.assert_status(403);
    r.assert_contains("sync-traversal-supported");
    server.stop().await;
}

#[tokio::test]
async fn ctag_and_sync_token_move_on_every_write() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let props = crate::harness::propfind_body(&["CS:getctag", "D:sync-token"]);
    let read = |r: crate::harness::Reply| {
        let doc = r.xml();
        let resp = &doc.responses()[0];
        (resp.ok("http://calendarserver.org/ns/", "getctag").text(), resp.ok(DAV, "sync-token").text())
    };
    let before = read(c.propfind(CAL, "0", &props).await);
    assert_eq!(before.0, before.1, "getctag is the current sync token");
    put(&c, "a.ics", "x").await;
    let after = read(c.propfind(CAL, "0", &props).await);
    assert_ne!(before, after);
    server.stop().await;
}
