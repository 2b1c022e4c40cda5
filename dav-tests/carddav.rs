//! CardDAV (RFC 6352) through the protocol: client-shaped cards from `fixtures/vcard/`, PUT
//! preconditions, vCard 3.0 ↔ 4.0 negotiation checked property by property, Apple groups,
//! and every addressbook-query filter element.

use std::collections::BTreeSet;

use crate::harness::{Client, TestServer};
use davit::store::Role;

const BOOK: &str = "/dav/addressbooks/alice/contacts/";

const FIXTURES: &[(&str, &[u8])] = &[
    ("macos", include_bytes!("../fixtures/vcard/3.0/macos-contacts.vcf")),
    ("macos-group", include_bytes!("../fixtures/vcard/3.0/macos-group.vcf")),
    ("gmail", include_bytes!("../fixtures/vcard/3.0/gmail.vcf")),
    ("davx5", include_bytes!("../fixtures/vcard/3.0/davx5-categories.vcf")),
    ("outlook", include_bytes!("../fixtures/vcard/2.1/outlook.vcf")),
    ("thunderbird", include_bytes!("../fixtures/vcard/4.0/thunderbird.vcf")),
    ("folded", include_bytes!("../fixtures/vcard/4.0/folded-utf8.vcf")),
];

async fn put_bytes(c: &Client, path: &str, body: &[u8]) -> crate::harness::Reply {
    c.send(c.request("PUT", path).header("Content-Type", "text/vcard").body(body.to_vec())).await
}

async fn get_bytes(c: &Client, path: &str) -> Vec<u8> {
    c.request("GET", path).send().await.expect("GET").bytes().await.expect("body").to_vec()
}

async fn setup() -> (TestServer, Client) {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    for (name, body) in FIXTURES {
        let r = put_bytes(&c, &format!("{BOOK}{name}.vcf"), body).await;
        assert_eq!(r.status.as_u16(), 201, "PUT {name}: {}", r.body);
    }
    (server, c)
}

/// Unfolded logical lines of a vCard.
fn lines(card: &str) -> Vec<String> {
    card.replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn has_line(card: &str, prefix: &str) -> bool {
    lines(card).iter().any(|l| l.to_ascii_uppercase().starts_with(&prefix.to_ascii_uppercase()))
}

#[tokio::test]
async fn client_cards_are_accepted_and_served_byte_for_byte() {
    let (server, c) = setup().await;
    for (name, body) in FIXTURES {
        assert_eq!(get_bytes(&c, &format!("{BOOK}{name}.vcf")).await, *body, "{name} comes back as sent");
    }
    server.stop().await;
}

#[tokio::test]
async fn put_preconditions_of_rfc6352() {
    let (server, c) = setup().await;
    let bad: &[(&str, &[u8])] = &[
        ("two-cards", include_bytes!("../fixtures/vcard/bad/two-cards.vcf")),
        ("no-end", include_bytes!("../fixtures/vcard/bad/no-end.vcf")),
        ("missing-fn", include_bytes!("../fixtures/vcard/bad/missing-fn.vcf")),
        ("missing-uid", include_bytes!("../fixtures/vcard/bad/missing-uid.vcf")),
        ("junk-line", include_bytes!("../fixtures/vcard/bad/junk-line.vcf")),
        ("not-a-card", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
    ];
    for (name, body) in bad {
        let r = put_bytes(&c, &format!("{BOOK}{name}.vcf"), body).await;
        r.assert_status(403);
        r.assert_contains("valid-address-data");
        c.go("GET", &format!("{BOOK}{name}.vcf")).await.assert_status(404);
    }
    let not_utf8 = include_bytes!("../fixtures/vcard/bad/not-utf8.vcf").as_slice();
    let r = put_bytes(&c, &format!("{BOOK}latin1.vcf"), not_utf8).await;
    r.assert_status(403);
    // The UID of the Gmail card is taken: 409 naming the card that has it.
    let gmail = FIXTURES.iter().find(|(n, _)| *n == "gmail").unwrap().1;
    let r = put_bytes(&c, &format!("{BOOK}copy.vcf"), gmail).await;
    r.assert_status(409);
    r.assert_contains("no-uid-conflict");
    r.assert_contains(&format!("<D:href>{BOOK}gmail.vcf</D:href>"));
    // Larger than max-resource-size.
    let huge = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:huge\r\nFN:Huge\r\nNOTE:{}\r\nEND:VCARD\r\n",
        "x".repeat(11 << 20)
    );
    let r = c.put(&format!("{BOOK}huge.vcf"), "text/vcard", &huge).await;
    r.assert_status(403);
    r.assert_contains("max-resource-size");
    server.stop().await;
}

#[tokio::test]
async fn a_large_photo_is_fine() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    // JPEG-like bytes (a JPEG is never valid UTF-8), ~450 kB once encoded.
    use base64::Engine as _;
    let bytes: Vec<u8> =
        (0..340_000u32).map(|i| [0xFF, 0xD8, 0xE0, (i % 251) as u8][i as usize % 4]).collect();
    let photo = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let head = photo[..8].to_owned();
    let mut card = String::from(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:photo\r\nFN:Photo Person\r\nPHOTO;ENCODING=b;TYPE=JPEG:",
    );
    for (i, chunk) in photo.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            card.push_str("\r\n ");
        }
        card.push_str(std::str::from_utf8(chunk).unwrap());
    }
    card.push_str("\r\nEND:VCARD\r\n");
    c.put(&format!("{BOOK}photo.vcf"), "text/vcard", &card).await.assert_status(201);
    let r = c
        .send(c.request("GET", &format!("{BOOK}photo.vcf")).header("Accept", "text/vcard; version=4.0"))
        .await;
    r.assert_status(200);
    let photo_line = lines(&r.body).into_iter().find(|l| l.starts_with("PHOTO")).expect("PHOTO kept");
    assert!(photo_line.contains(&format!("data:image/jpeg;base64,{head}")), "{}", &photo_line[..80]);
    assert!(photo_line.len() > photo.len(), "the whole photo is kept");
    server.stop().await;
}

#[tokio::test]
async fn negotiation_from_3_to_4() {
    let (server, c) = setup().await;
    let r = c
        .send(c.request("GET", &format!("{BOOK}macos.vcf")).header("Accept", "text/vcard; version=4.0"))
        .await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap().contains("version=4.0"));
    let card = &r.body;
    assert!(has_line(card, "VERSION:4.0"));
    assert!(!has_line(card, "VERSION:3.0"));
    let photo = lines(card).into_iter().find(|l| l.starts_with("PHOTO")).expect("PHOTO");
    assert!(
        photo.contains("data:image/jpeg;base64,") && !photo.contains("base64\\,"),
        "data: URI without backslash: {photo}"
    );
    assert!(!card.contains("ENCODING=b") && !card.to_ascii_uppercase().contains("CHARSET=UTF-8"));
    for prop in ["FN:", "N:", "UID:", "EMAIL", "TEL"] {
        assert!(has_line(card, prop) || card.contains(&format!("\n{prop}")), "{prop} survives");
    }
    // Stored bytes without a preference, and when the stored version is asked for.
    let original = FIXTURES.iter().find(|(n, _)| *n == "macos").unwrap().1;
    assert_eq!(get_bytes(&c, &format!("{BOOK}macos.vcf")).await, original);
    let same = c
        .send(c.request("GET", &format!("{BOOK}macos.vcf")).header("Accept", "text/vcard; version=3.0"))
        .await;
    assert_eq!(same.body.as_bytes(), original);
    server.stop().await;
}

#[tokio::test]
async fn negotiation_from_4_to_3() {
    let (server, c) = setup().await;
    let r = c
        .send(c.request("GET", &format!("{BOOK}thunderbird.vcf")).header("Accept", "text/vcard;version=3.0"))
        .await;
    r.assert_status(200);
    let card = &r.body;
    assert!(has_line(card, "VERSION:3.0"));
    let photo = lines(card).into_iter().find(|l| l.contains("PHOTO")).expect("PHOTO");
    assert!(photo.to_ascii_uppercase().contains("ENCODING=B"), "PHOTO as inline binary in 3.0: {photo}");
    assert!(!photo.contains("data:"), "{photo}");
    // PREF=1 becomes TYPE=PREF.
    let pref = lines(card).into_iter().find(|l| l.contains("alice@example.net")).unwrap();
    assert!(pref.to_ascii_uppercase().contains("PREF") && !pref.contains("PREF=1"), "{pref}");
    // 4.0-only ANNIVERSARY is not emitted as-is in 3.0.
    assert!(!has_line(card, "ANNIVERSARY"), "4.0-only property in 3.0 output:\n{card}");
    assert!(!card.to_ascii_uppercase().contains("CHARSET=UTF-8"));
    assert!(has_line(card, "FN:Alice Liddell") && has_line(card, "N:Liddell;Alice"));
    server.stop().await;
}

#[tokio::test]
async fn apple_groups_round_trip() {
    let (server, c) = setup().await;
    // Stored as 3.0 with X-ADDRESSBOOKSERVER-*, asked for as 4.0 through a multiget.
    let body = format!(
        "<CR:addressbook-multiget xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:prop><D:getetag/>\
         <CR:address-data content-type=\"text/vcard\" version=\"4.0\"/></D:prop><D:href>{BOOK}macos-group.vcf</D:href>\
         </CR:addressbook-multiget>"
    );
    let r = c.send(c.request("REPORT", BOOK).header("Depth", "0").body(body)).await;
    r.assert_status(207);
    let doc = r.xml();
    let card = doc.responses()[0].ok("urn:ietf:params:xml:ns:carddav", "address-data").text();
    assert!(has_line(&card, "KIND:group"), "{card}");
    assert!(has_line(&card, "MEMBER:urn:uuid:6B29FC40-CA47-1067-B31D-00DD010662DA"), "{card}");
    assert!(!card.contains("X-ADDRESSBOOKSERVER"), "{card}");
    // A 4.0 group asked for as 3.0 becomes Apple's spelling.
    let group4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:g4\r\nFN:Team\r\nKIND:group\r\nMEMBER:urn:uuid:aaa\r\nMEMBER:urn:uuid:bbb\r\nEND:VCARD\r\n";
    c.put(&format!("{BOOK}g4.vcf"), "text/vcard", group4).await.assert_status(201);
    let r =
        c.send(c.request("GET", &format!("{BOOK}g4.vcf")).header("Accept", "text/vcard; version=3.0")).await;
    assert!(has_line(&r.body, "X-ADDRESSBOOKSERVER-KIND:group"), "{}", r.body);
    assert!(has_line(&r.body, "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:aaa"));
    assert!(has_line(&r.body, "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:bbb"));
    server.stop().await;
}

fn query_body(filter: &str, extra: &str) -> String {
    format!(
        "<CR:addressbook-query xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:prop><D:getetag/>{extra}</D:prop>\
         {filter}</CR:addressbook-query>"
    )
}

async fn names(c: &Client, body: String) -> BTreeSet<String> {
    let r = c.send(c.request("REPORT", BOOK).header("Depth", "1").body(body)).await;
    r.assert_status(207);
    r.xml()
        .hrefs()
        .into_iter()
        .filter(|h| h != BOOK)
        .map(|h| h.trim_start_matches(BOOK).trim_end_matches(".vcf").to_owned())
        .collect()
}

#[tokio::test]
async fn addressbook_query_filters() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    let c = server.client("alice");
    let card =
        |uid: &str, extra: &str| format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\n{extra}END:VCARD\r\n");
    let cards = [
        (
            "anna",
            card(
                "anna",
                "FN:Anna Åström\r\nN:Åström;Anna;;;\r\nEMAIL;TYPE=work:anna@work.example\r\nNICKNAME:Annie\r\n",
            ),
        ),
        (
            "bob",
            card(
                "bob",
                "FN:Bob Builder\r\nN:Builder;Bob;;;\r\nEMAIL;TYPE=home:bob@home.example\r\nTEL:+1 555 0100\r\n",
            ),
        ),
        ("carol", card("carol", "FN:carol\r\nN:;carol;;;\r\nORG:ACME Corp\r\nCATEGORIES:friends,work\r\n")),
        // An escaped comma and LIKE's wildcards in the name: the index answers single
        // text-matches on FN/EMAIL/ORG alone, and must agree with the exact evaluation.
        ("dave", card("dave", "FN:Doe\\, Dave 50%_off\r\nEMAIL:dave@x.example\r\n")),
    ];
    for (name, body) in &cards {
        c.put(&format!("{BOOK}{name}.vcf"), "text/vcard", body).await.assert_status(201);
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let f = |inner: &str| format!("<CR:filter>{inner}</CR:filter>");
    let fa = |inner: &str| format!("<CR:filter test=\"allof\">{inner}</CR:filter>");
    let tm = |prop: &str, attrs: &str, text: &str| {
        format!(
            "<CR:prop-filter name=\"{prop}\"><CR:text-match {attrs}>{text}</CR:text-match></CR:prop-filter>"
        )
    };
    let cases: Vec<(&str, String, BTreeSet<String>)> = vec![
        ("contains, unicode casemap", f(&tm("FN", "", "ÅSTRÖM")), set(&["anna"])),
        ("ascii casemap does not fold Å", f(&tm("FN", "collation=\"i;ascii-casemap\"", "åSTRÖM")), set(&[])),
        ("octet is exact", f(&tm("FN", "collation=\"i;octet\"", "bob")), set(&[])),
        ("equals", f(&tm("FN", "match-type=\"equals\"", "CAROL")), set(&["carol"])),
        ("equals is not contains", f(&tm("FN", "match-type=\"equals\"", "Bob")), set(&[])),
        ("starts-with", f(&tm("EMAIL", "match-type=\"starts-with\"", "bob@")), set(&["bob"])),
        ("ends-with", f(&tm("EMAIL", "match-type=\"ends-with\"", "work.example")), set(&["anna"])),
        ("negate", f(&tm("FN", "negate-condition=\"yes\"", "bob")), set(&["anna", "carol", "dave"])),
        ("escaped comma, unescaped in the value", f(&tm("FN", "", "doe, DAVE")), set(&["dave"])),
        ("percent is literal", f(&tm("FN", "", "50%")), set(&["dave"])),
        ("underscore is literal", f(&tm("FN", "", "0_o")), set(&[])),
        ("wildcards in a row are literal", f(&tm("FN", "", "%_O")), set(&["dave"])),
        (
            "equals on an escaped value",
            f(&tm("FN", "match-type=\"equals\"", "doe, dave 50%_off")),
            set(&["dave"]),
        ),
        ("organization alone", f(&tm("ORG", "", "acme c")), set(&["carol"])),
        (
            "ends-with on EMAIL alone",
            f(&tm("EMAIL", "match-type=\"ends-with\"", ".EXAMPLE")),
            set(&["anna", "bob", "dave"]),
        ),
        (
            "is-not-defined",
            f("<CR:prop-filter name=\"EMAIL\"><CR:is-not-defined/></CR:prop-filter>"),
            set(&["carol"]),
        ),
        ("defined", f("<CR:prop-filter name=\"TEL\"/>"), set(&["bob"])),
        (
            "param-filter",
            f(
                "<CR:prop-filter name=\"EMAIL\"><CR:param-filter name=\"TYPE\"><CR:text-match match-type=\"equals\">work</CR:text-match></CR:param-filter></CR:prop-filter>",
            ),
            set(&["anna"]),
        ),
        (
            "param is-not-defined",
            f(
                "<CR:prop-filter name=\"EMAIL\"><CR:param-filter name=\"TYPE\"><CR:is-not-defined/></CR:param-filter></CR:prop-filter>",
            ),
            set(&["dave"]),
        ),
        (
            "anyof across properties",
            f(&format!("{}{}", tm("NICKNAME", "", "annie"), tm("ORG", "", "acme"))),
            set(&["anna", "carol"]),
        ),
        (
            "allof across properties",
            fa(&format!("{}{}", tm("FN", "", "a"), tm("EMAIL", "", "example"))),
            set(&["anna", "dave"]),
        ),
        (
            "allof inside a prop-filter",
            f(
                "<CR:prop-filter name=\"FN\" test=\"allof\"><CR:text-match>bob</CR:text-match><CR:text-match>builder</CR:text-match></CR:prop-filter>",
            ),
            set(&["bob"]),
        ),
        ("categories", f(&tm("CATEGORIES", "", "friends")), set(&["carol"])),
        ("empty filter matches all", f(""), set(&["anna", "bob", "carol", "dave"])),
    ];
    for (what, filter, expected) in cases {
        assert_eq!(names(&c, query_body(&filter, "")).await, expected, "{what}");
    }
    // CR:limit truncates with a 507 on the request-URI.
    let limited = query_body(&f(""), "").replace(
        "</CR:addressbook-query>",
        "<CR:limit><CR:nresults>2</CR:nresults></CR:limit></CR:addressbook-query>",
    );
    let r = c.send(c.request("REPORT", BOOK).header("Depth", "1").body(limited)).await;
    r.assert_status(207);
    let doc = r.xml();
    let truncated = doc.response(BOOK);
    assert_eq!(truncated.status().as_deref(), Some("HTTP/1.1 507 Insufficient Storage"));
    r.assert_contains("number-of-matches-within-limits");
    assert_eq!(doc.responses().len(), 3, "two cards and the 507");
    // address-data with a property selection.
    let body =
        query_body(&f(&tm("FN", "", "bob")), "<CR:address-data><CR:prop name=\"EMAIL\"/></CR:address-data>");
    let r = c.send(c.request("REPORT", BOOK).header("Depth", "1").body(body)).await;
    let card = r.xml().responses()[0].ok("urn:ietf:params:xml:ns:carddav", "address-data").text();
    assert!(has_line(&card, "EMAIL") && !has_line(&card, "TEL") && !has_line(&card, "FN"), "{card}");
    server.stop().await;
}

#[tokio::test]
async fn bad_queries_name_their_precondition() {
    let (server, c) = setup().await;
    let cases = [
        (
            query_body(
                "<CR:filter><CR:prop-filter name=\"FN\"><CR:text-match collation=\"i;klingon\">x</CR:text-match></CR:prop-filter></CR:filter>",
                "",
            ),
            "supported-collation",
        ),
        (query_body("<CR:filter test=\"someof\"/>", ""), "supported-filter"),
        (
            query_body("<CR:filter/>", "<CR:address-data content-type=\"text/vcard\" version=\"5.0\"/>"),
            "supported-address-data",
        ),
        (
            query_body("<CR:filter/>", "<CR:address-data content-type=\"application/vcard+json\"/>"),
            "supported-address-data",
        ),
        (query_body("", ""), "supported-filter"),
    ];
    for (body, element) in cases {
        let r = c.send(c.request("REPORT", BOOK).header("Depth", "1").body(body)).await;
        r.assert_status(403);
        r.assert_contains(element);
    }
    let zero = query_body("<CR:filter/>", "").replace(
        "</CR:addressbook-query>",
        "<CR:limit><CR:nresults>0</CR:nresults></CR:limit></CR:addressbook-query>",
    );
    c.send(c.request("REPORT", BOOK).header("Depth", "1").body(zero)).await.assert_status(400);
    server.stop().await;
}

/// The card index is kept per address book: a query finds a card in the book it is in now,
/// after MOVE and COPY too, and never one of another book (or of another user).
#[tokio::test]
async fn addressbook_query_sees_only_its_own_book_after_move_and_copy() {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    let c = server.client("alice");
    let other = "/dav/addressbooks/alice/friends/";
    let mkcol = "<D:mkcol xmlns:D=\"DAV:\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\"><D:set><D:prop>\
                 <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>";
    c.send(c.request("MKCOL", other).body(mkcol)).await.assert_status(201);
    let card =
        |uid: &str| format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Zed Zebra {uid}\r\nEND:VCARD\r\n");
    c.put(&format!("{BOOK}z1.vcf"), "text/vcard", &card("z1")).await.assert_status(201);
    c.put(&format!("{BOOK}z2.vcf"), "text/vcard", &card("z2")).await.assert_status(201);
    // Bob has a card with the same name in his own book.
    let b = server.client("bob");
    b.put("/dav/addressbooks/bob/contacts/z9.vcf", "text/vcard", &card("z9")).await.assert_status(201);

    let query = |book: &'static str| {
        let c = &c;
        async move {
            let body = query_body(
                "<CR:filter><CR:prop-filter name=\"FN\"><CR:text-match>zebra</CR:text-match></CR:prop-filter></CR:filter>",
                "",
            );
            let r = c.send(c.request("REPORT", book).header("Depth", "1").body(body)).await;
            r.assert_status(207);
            r.xml().hrefs().into_iter().filter(|h| h != book).collect::<BTreeSet<String>>()
        }
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(query(BOOK).await, set(&[&format!("{BOOK}z1.vcf"), &format!("{BOOK}z2.vcf")]));
    assert_eq!(query(other).await, set(&[]));

    let to = |path: &str| format!("{}{}", c.base, path);
    let mv = c.request("MOVE", &format!("{BOOK}z1.vcf")).header("Destination", to(&format!("{other}z1.vcf")));
    c.send(mv).await.assert_status(201);
    assert_eq!(query(BOOK).await, set(&[&format!("{BOOK}z2.vcf")]));
    assert_eq!(query(other).await, set(&[&format!("{other}z1.vcf")]));

    let cp = c.request("COPY", &format!("{BOOK}z2.vcf")).header("Destination", to(&format!("{other}z2.vcf")));
    c.send(cp).await.assert_status(201);
    assert_eq!(query(BOOK).await, set(&[&format!("{BOOK}z2.vcf")]));
    assert_eq!(query(other).await, set(&[&format!("{other}z1.vcf"), &format!("{other}z2.vcf")]));

    // Deleting the copy's source leaves the copy findable.
    c.send(c.request("DELETE", &format!("{BOOK}z2.vcf"))).await.assert_status(204);
    assert_eq!(query(BOOK).await, set(&[]));
    assert_eq!(query(other).await, set(&[&format!("{other}z1.vcf"), &format!("{other}z2.vcf")]));
    server.stop().await;
}
