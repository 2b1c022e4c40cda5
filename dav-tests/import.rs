//! Importing files (`POST /api/v1/{addressbooks|calendars}/{owner}/{name}/import` and
//! `davit import`), then seeing the result as a CalDAV/CardDAV client does: members, GET,
//! addressbook-query, sync-collection; re-imports create no duplicates; refusals change nothing.

use crate::harness::roxml::DAV;
use crate::harness::{Client, Reply, TestServer};
use davit::store::Role;

const BOOK: &str = "/dav/addressbooks/alice/contacts/";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

async fn import(c: &Client, what: &str, collection: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let rb = c
        .request("POST", &format!("/api/v1/{what}/{collection}/import"))
        .header("Content-Type", content_type);
    c.send(rb.body(body)).await
}

fn report(r: &Reply) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

fn counts(v: &serde_json::Value) -> [u64; 4] {
    ["created", "updated", "unchanged", "skipped"].map(|k| v[k].as_u64().unwrap())
}

/// The member hrefs of a collection (Depth-1 PROPFIND), without the collection itself.
async fn members(c: &Client, path: &str) -> Vec<String> {
    let r = c
        .propfind(path, "1", "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop></D:propfind>")
        .await;
    r.assert_status(207);
    r.xml().hrefs().into_iter().filter(|h| h != path).collect()
}

async fn sync(c: &Client, path: &str, token: &str) -> (Vec<String>, String) {
    let body = format!(
        "<D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>\
         <D:prop><D:getetag/></D:prop></D:sync-collection>"
    );
    let r = c.send(c.request("REPORT", path).header("Depth", "0").body(body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let hrefs = doc.responses().iter().map(|r| r.href()).collect();
    (hrefs, doc.root.child(DAV, "sync-token").expect("sync-token").text())
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    let alice = server.client("alice");
    (server, alice)
}

#[tokio::test]
async fn csv_contacts_arrive_in_the_address_book_once() {
    let (server, alice) = setup().await;
    let (_, token) = sync(&alice, BOOK, "").await;

    let r = import(&alice, "addressbooks", "alice/contacts", "text/csv", fixture("csv/outlook_en.csv")).await;
    r.assert_status(200);
    let first = report(&r);
    assert_eq!(counts(&first), [3, 0, 0, 1], "{first:#}");
    assert_eq!(first["format"], "CSV (Outlook, UTF-8)");
    assert_eq!(first["items"][3]["line"], 6);

    let hrefs = members(&alice, BOOK).await;
    assert_eq!(hrefs.len(), 3);
    let query = "<CR:addressbook-query xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:prop>\
        <CR:address-data/></D:prop><CR:filter><CR:prop-filter name=\"EMAIL\"><CR:text-match \
        match-type=\"equals\">jane@home.example</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>";
    let q = alice.send(alice.request("REPORT", BOOK).header("Depth", "1").body(query)).await;
    q.assert_status(207).assert_contains("FN:Dr. Jane Q. Doe PhD").assert_contains("BDAY:19800517");

    // A sync client that synced before the import sees exactly the three new cards.
    let (changed, token) = sync(&alice, BOOK, &token).await;
    assert_eq!(changed.len(), 3, "{changed:?}");

    // The same file again: nothing new, nothing changed, nothing for sync clients.
    let again = report(
        &import(&alice, "addressbooks", "alice/contacts", "text/csv", fixture("csv/outlook_en.csv")).await,
    );
    assert_eq!(counts(&again), [0, 0, 3, 1]);
    assert_eq!(members(&alice, BOOK).await.len(), 3);
    assert!(sync(&alice, BOOK, &token).await.0.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn vcard_file_into_a_new_address_book() {
    let (server, alice) = setup().await;
    let r = import(&alice, "addressbooks", "alice/imported", "text/vcard", fixture("vcard/2.1/outlook.vcf"))
        .await;
    r.assert_status(404);
    assert_eq!(report(&r)["error"], "no_such_collection");
    let r = alice
        .send(
            alice
                .request("POST", "/api/v1/addressbooks/alice/imported/import?create=true")
                .header("Content-Type", "text/x-vcard")
                .body(fixture("vcard/2.1/outlook.vcf")),
        )
        .await;
    r.assert_status(200);
    assert_eq!(report(&r)["collection_created"], true);
    let hrefs = members(&alice, "/dav/addressbooks/alice/imported/").await;
    assert_eq!(hrefs.len(), 1);
    // Served as 3.0/4.0 on request, like a PUT of the same card.
    let g = alice.send(alice.request("GET", &hrefs[0]).header("Accept", "text/vcard; version=4.0")).await;
    g.assert_status(200).assert_contains("VERSION:4.0").assert_contains("Jürgen");
    server.stop().await;
}

#[tokio::test]
async fn calendar_file_split_by_uid_and_reimported_without_duplicates() {
    let (server, alice) = setup().await;
    let ics = fixture("ical/google/weekly-exdate-override.ics");
    let r = import(&alice, "calendars", "alice/calendar", "text/calendar", ics.clone()).await;
    r.assert_status(200);
    assert_eq!(counts(&report(&r))[0], 1, "{}", r.body);
    let hrefs = members(&alice, "/dav/calendars/alice/calendar/").await;
    assert_eq!(hrefs.len(), 1);
    let g = alice.go("GET", &hrefs[0]).await;
    g.assert_status(200).assert_contains("RECURRENCE-ID").assert_contains("BEGIN:VTIMEZONE");
    let again = report(&import(&alice, "calendars", "alice/calendar", "text/calendar", ics).await);
    assert_eq!(counts(&again), [0, 0, 1, 0]);
    assert_eq!(members(&alice, "/dav/calendars/alice/calendar/").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn refusals_change_nothing() {
    let (server, alice) = setup().await;
    let before = server.snapshot("alice").await;
    let bob = server.client("bob");
    let r = import(&bob, "addressbooks", "alice/contacts", "text/csv", fixture("csv/google_en.csv")).await;
    r.assert_status(403);
    let r = import(&bob, "calendars", "alice/other", "text/calendar", fixture("ical/journal.ics")).await;
    assert_eq!(r.status.as_u16(), 404, "{}", r.body);
    let r = bob
        .send(
            bob.request("POST", "/api/v1/calendars/alice/other/import?create=true")
                .header("Content-Type", "text/calendar")
                .body(fixture("ical/journal.ics")),
        )
        .await;
    r.assert_status(403);
    // A form on another site can send text/plain: refused before anything is read.
    let r =
        import(&alice, "addressbooks", "alice/contacts", "text/plain", fixture("csv/google_en.csv")).await;
    r.assert_status(415);
    let r = import(
        &server.anonymous(),
        "addressbooks",
        "alice/contacts",
        "text/csv",
        fixture("csv/google_en.csv"),
    )
    .await;
    r.assert_status(401);
    let mut big = fixture("csv/google_en.csv");
    big.extend(b"\n".repeat(10_001));
    let r = import(&alice, "addressbooks", "alice/contacts", "text/csv", big).await;
    r.assert_status(413);
    assert_eq!(report(&r)["error"], "import_too_large");
    assert_eq!(server.snapshot("alice").await, before);
    server.stop().await;
}

#[tokio::test]
async fn the_cli_imports_into_the_running_servers_data() {
    let (server, alice) = setup().await;
    let file = format!("{}/fixtures/csv/outlook_de.csv", env!("CARGO_MANIFEST_DIR"));
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_davit"))
            .arg("--data-dir")
            .arg(&server.state.config.data_dir)
            .args(["import", "contacts", "alice/contacts", &file])
            .output()
            .expect("run davit import")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("CSV (Outlook, windows-1252)") && stdout.contains("2 created"), "{stdout}");
    let hrefs = members(&alice, BOOK).await;
    assert_eq!(hrefs.len(), 2);
    let cards: Vec<String> = futures_join(&alice, &hrefs).await;
    assert!(cards.iter().any(|c| c.contains("FN:Herr Jürgen Müller")), "{cards:?}");
    let again = run();
    assert!(String::from_utf8_lossy(&again.stdout).contains("2 unchanged"));
    assert_eq!(members(&alice, BOOK).await.len(), 2);
    server.stop().await;
}

async fn futures_join(c: &Client, hrefs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for h in hrefs {
        out.push(c.go("GET", h).await.body);
    }
    out
}
