//! The calendarserver.org sharing extension (caldav-sharing-03, `../shared/rfc/caldav-sharing.txt`)
//! as Apple Calendar drives it: POST `CS:share` on a calendar, `CS:invite` and friends on the
//! owner's collection, the sharee's copy in their home (`shared-{id}`) with `CS:shared`,
//! `CS:shared-url` and a privilege set that tells DAVx5 and Thunderbird whether it is
//! writable. Every refusal is checked to have changed nothing.

use std::collections::BTreeSet;

use davit::dav::xml::Element;
use davit::org::{self, Actor};
use davit::store::{Grantee, Id, PrincipalKind, Role, ShareAccess};

use crate::harness::roxml::{DAV, ResponseView};
use crate::harness::{Client, Reply, TestServer, propfind_body};

const CS: &str = "http://calendarserver.org/ns/";
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
const APPLE: &str = "http://apple.com/ns/ical/";
const DAVIT: &str = "https://davit.dev/ns/";

const CAL: &str = "/dav/calendars/alice/calendar/";
const BOB_HOME: &str = "/dav/calendars/bob/";

/// The sharing properties a client such as Apple Calendar asks for, plus what DAVx5 and
/// Thunderbird read to decide whether a collection is writable.
const SHARING_PROPS: &[&str] = &[
    "D:resourcetype",
    "D:displayname",
    "D:owner",
    "D:current-user-privilege-set",
    "D:share-access",
    "CS:share-access",
    "CS:invite",
    "CS:allowed-sharing-modes",
    "CS:shared-url",
    "A:calendar-color",
];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// alice (the owner) and bob, both collaborators of the one organization.
async fn alice_and_bob() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Collaborator);
    server.add_user("bob", Role::Collaborator);
    server
}

fn collection_id(server: &TestServer, path: &str) -> Id {
    org::find_collection(server.store(), path).expect("collection").id
}

/// Where `user`'s copy of the calendar `id` lives in their calendar home.
fn mount(user: &str, id: Id) -> String {
    format!("/dav/calendars/{user}/shared-{id}/")
}

/// A `CS:share` document with the given instructions (already XML).
fn share_doc(instructions: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CS:share xmlns:D=\"DAV:\" \
         xmlns:CS=\"http://calendarserver.org/ns/\">{instructions}</CS:share>"
    )
}

/// A `CS:set` as Apple Calendar sends it (caldav-sharing §5.3.2.1).
fn set(href: &str, access: &str) -> String {
    format!(
        "<CS:set><D:href>{href}</D:href><CS:common-name>Someone</CS:common-name>\
         <CS:summary>Shared workspace</CS:summary><CS:{access}/></CS:set>"
    )
}

fn remove(href: &str) -> String {
    format!("<CS:remove><D:href>{href}</D:href></CS:remove>")
}

async fn post(c: &Client, path: &str, content_type: &str, body: &str) -> Reply {
    c.send(c.request("POST", path).header("Content-Type", content_type).body(body.to_owned())).await
}

async fn post_share(c: &Client, path: &str, instructions: &str) -> Reply {
    post(c, path, "application/xml; charset=\"utf-8\"", &share_doc(instructions)).await
}

/// alice shares her calendar with bob at `access` (`read` or `read-write`); returns its id.
async fn share_with_bob(server: &TestServer, access: &str) -> Id {
    post_share(&server.client("alice"), CAL, &set("mailto:bob@example.org", access)).await.assert_status(200);
    collection_id(server, "alice/calendar")
}

async fn props(c: &Client, path: &str, depth: &str) -> Reply {
    let r = c.propfind(path, depth, &propfind_body(SHARING_PROPS)).await;
    r.assert_status(207);
    r
}

fn ics(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//davit//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\n\
         DTEND:20250102T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The names of the child elements of a property, as `prefix:name` for the known namespaces.
fn child_names(el: &Element) -> BTreeSet<String> {
    el.elements().map(short_name).collect()
}

fn short_name(e: &Element) -> String {
    let prefix = match e.ns.as_str() {
        DAV => "D",
        CS => "CS",
        CALDAV => "C",
        CARDDAV => "CR",
        other => other,
    };
    format!("{prefix}:{}", e.name)
}

/// The privileges of a `current-user-privilege-set`.
fn privileges(resp: &ResponseView<'_>) -> BTreeSet<String> {
    resp.ok(DAV, "current-user-privilege-set")
        .elements()
        .filter(|p| p.is(DAV, "privilege"))
        .flat_map(|p| p.elements().map(short_name).collect::<Vec<_>>())
        .collect()
}

/// `CS:invite` as (href, status element, access element) per `CS:user`, and the organizer's href.
fn invite(resp: &ResponseView<'_>) -> (String, Vec<(String, String, String)>) {
    let invite = resp.ok(CS, "invite");
    let organizer = invite
        .child(CS, "organizer")
        .and_then(|o| o.child(DAV, "href"))
        .map(|h| h.text())
        .expect("CS:organizer with a DAV:href");
    let users = invite
        .elements()
        .filter(|e| e.is(CS, "user"))
        .map(|u| {
            let href = u.child(DAV, "href").map(|h| h.text()).unwrap_or_default();
            assert!(u.child(CS, "common-name").is_some_and(|n| !n.text().is_empty()), "no common-name");
            let status = u
                .elements()
                .find(|e| e.ns == CS && e.name.starts_with("invite-"))
                .map(|e| e.name.clone())
                .unwrap_or_default();
            let access = u
                .child(CS, "access")
                .and_then(|a| a.elements().next())
                .map(|e| e.name.clone())
                .unwrap_or_default();
            (href, status, access)
        })
        .collect();
    (organizer, users)
}

fn user(href: &str, status: &str, access: &str) -> (String, String, String) {
    (href.to_owned(), status.to_owned(), access.to_owned())
}

fn members(r: &Reply) -> BTreeSet<String> {
    r.xml().hrefs().into_iter().collect()
}

/// The single value element of `DAV:share-access`, and checks `CS:share-access` says the same.
fn share_access(resp: &ResponseView<'_>) -> String {
    let dav = child_names(resp.ok(DAV, "share-access"));
    assert_eq!(dav, child_names(resp.ok(CS, "share-access")), "DAV: and CS: share-access differ");
    assert_eq!(dav.len(), 1, "{dav:?}");
    dav.into_iter().next().unwrap()
}

/// RFC 3744 §7.1.1: 403 with `DAV:need-privileges` naming `privilege`, and a message.
#[track_caller]
fn assert_need_privileges(r: &Reply, privilege: &str) {
    r.assert_status(403);
    let doc = r.xml();
    let np =
        doc.root.child(DAV, "need-privileges").unwrap_or_else(|| panic!("no need-privileges:\n{}", r.body));
    let named: Vec<String> = np
        .elements()
        .filter_map(|res| res.child(DAV, "privilege"))
        .flat_map(|p| p.elements().map(|e| e.name.clone()).collect::<Vec<_>>())
        .collect();
    assert!(named.iter().any(|n| n == privilege), "need-privileges names {named:?}, not {privilege}");
    assert!(doc.root.child(DAVIT, "message").is_some_and(|m| !m.text().trim().is_empty()));
}

/// The error answer's human message.
fn message(r: &Reply) -> String {
    r.xml().root.child(DAVIT, "message").map(|m| m.text()).unwrap_or_default()
}

fn shares_of(server: &TestServer, id: Id) -> Vec<(Grantee, ShareAccess)> {
    server.store().shares(id).unwrap().into_iter().map(|s| (s.grantee, s.access)).collect()
}

fn user_id(server: &TestServer, slug: &str) -> Id {
    server.store().principal_by_slug(slug).unwrap().unwrap().id
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// A read share made by Apple-style POST appears in the sharee's home as a read-only
/// calendar: CS:shared, CS:shared-url, the sharer as DAV:owner, no write privileges (DAVx5
/// and Thunderbird mark it read-only), and a PUT into it is refused with need-privileges.
#[tokio::test]
async fn cs_sharing_read_share_is_a_read_only_calendar_in_the_sharee_home() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read").await;
    let bob = server.client("bob");

    let r = props(&bob, BOB_HOME, "1").await;
    let doc = r.xml();
    let copy = doc.response(&mount("bob", id));
    assert_eq!(
        child_names(copy.ok(DAV, "resourcetype")),
        ["D:collection", "C:calendar", "CS:shared"].map(String::from).into()
    );
    assert_eq!(copy.href_prop(CS, "shared-url"), CAL);
    assert_eq!(copy.href_prop(DAV, "owner"), "/dav/principals/alice/", "DAV:owner is the sharer");
    let privs = privileges(&copy);
    assert!(privs.contains("D:read"), "{privs:?}");
    for write in ["D:write", "D:write-content", "D:bind", "D:unbind", "D:share"] {
        assert!(!privs.contains(write), "a view share grants {write}: {privs:?}");
    }
    assert_eq!(share_access(&copy), "D:read");
    assert!(child_names(copy.ok(CS, "allowed-sharing-modes")).is_empty(), "a view sharee may not share");
    // A sharee without read-acl sees the organizer and themselves only (§5.2.2 privacy).
    let (organizer, users) = invite(&copy);
    assert_eq!(organizer, "mailto:alice@example.org");
    assert_eq!(users, vec![user("mailto:bob@example.org", "invite-accepted", "read")]);
    // bob's own calendar is not shared.
    let own = doc.response("/dav/calendars/bob/calendar/");
    assert_eq!(
        child_names(own.ok(DAV, "resourcetype")),
        ["D:collection", "C:calendar"].map(String::from).into()
    );
    assert_eq!(share_access(&own), "D:not-shared");
    assert!(own.status_of(CS, "shared-url").is_some_and(|s| s.contains("404")));

    let put = bob.put(&format!("{}e.ics", mount("bob", id)), "text/calendar", &ics("e", "by bob")).await;
    assert_need_privileges(&put, "bind");
    assert_eq!(alice_get(&server, "e.ics").await, 404, "nothing was written");
    server.stop().await;
}

async fn alice_get(server: &TestServer, name: &str) -> u16 {
    server.client("alice").go("GET", &format!("{CAL}{name}")).await.status.as_u16()
}

/// A read-write share lets the sharee write through their copy; the owner sees the event.
#[tokio::test]
async fn cs_sharing_read_write_share_lets_the_sharee_write() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read-write").await;
    assert_eq!(shares_of(&server, id), vec![(Grantee::User(user_id(&server, "bob")), ShareAccess::Modify)]);
    let bob = server.client("bob");
    let r = props(&bob, &mount("bob", id), "0").await;
    let doc = r.xml();
    let copy = doc.response(&mount("bob", id));
    let privs = privileges(&copy);
    for p in ["D:read", "D:write-content", "D:bind", "D:unbind"] {
        assert!(privs.contains(p), "{p} missing: {privs:?}");
    }
    assert!(!privs.contains("D:share"), "can modify is not can share");
    assert_eq!(share_access(&copy), "D:read-write");
    assert_eq!(invite(&copy).1, vec![user("mailto:bob@example.org", "invite-accepted", "read-write")]);

    bob.put(&format!("{}e.ics", mount("bob", id)), "text/calendar", &ics("e", "written by bob"))
        .await
        .assert_status(201);
    let got = server.client("alice").go("GET", &format!("{CAL}e.ics")).await;
    got.assert_status(200).assert_contains("written by bob");
    server.stop().await;
}

/// The owner's view: not shared before, then CS:shared-owner, DAV:shared-owner,
/// CS:can-be-shared and a CS:invite listing every sharee in a form the client can send back:
/// mailto: for users, the principal URL for a team, the principal collection for the
/// organization, and pending invitations as invite-noresponse.
#[tokio::test]
async fn cs_sharing_invite_lists_every_sharee_for_the_owner() {
    let server = alice_and_bob().await;
    let org_id = server.store().organizations().unwrap()[0].id;
    org::create_group(server.store(), Actor::Operator, org_id, PrincipalKind::Team, "crew", "The crew", None)
        .unwrap();
    let alice = server.client("alice");

    let r = props(&alice, CAL, "0").await;
    let doc = r.xml();
    let before = doc.response(CAL);
    assert_eq!(
        child_names(before.ok(DAV, "resourcetype")),
        ["D:collection", "C:calendar"].map(String::from).into()
    );
    assert_eq!(share_access(&before), "D:not-shared");
    assert_eq!(child_names(before.ok(CS, "allowed-sharing-modes")), ["CS:can-be-shared".to_owned()].into());
    assert!(before.status_of(CS, "invite").is_some_and(|s| s.contains("404")), "no CS:invite before sharing");

    post_share(
        &alice,
        CAL,
        &[
            set("mailto:bob@example.org", "read"),
            set("/dav/principals/crew/", "read-write"),
            // An absolute URL names a principal as well as a path does.
            set(&format!("{}/dav/principals/", server.base), "read"),
            set("mailto:Nobody.Yet@Example.org", "read-write"),
        ]
        .concat(),
    )
    .await
    .assert_status(200);

    let r = props(&alice, CAL, "0").await;
    let doc = r.xml();
    let after = doc.response(CAL);
    assert_eq!(
        child_names(after.ok(DAV, "resourcetype")),
        ["D:collection", "C:calendar", "CS:shared-owner"].map(String::from).into()
    );
    assert_eq!(share_access(&after), "D:shared-owner");
    let (organizer, users) = invite(&after);
    assert_eq!(organizer, "mailto:alice@example.org");
    assert_eq!(
        users,
        vec![
            user("mailto:bob@example.org", "invite-accepted", "read"),
            user("/dav/principals/crew/", "invite-accepted", "read-write"),
            user("/dav/principals/", "invite-accepted", "read"),
            user("mailto:nobody.yet@example.org", "invite-noresponse", "read-write"),
        ]
    );

    // Not in allprop (§5.2.2), and protected.
    let all = alice.propfind(CAL, "0", "<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>").await;
    all.assert_status(207).assert_lacks("invite").assert_lacks("share-access");
    let patch = alice
        .body(
            "PROPPATCH",
            CAL,
            "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:CS=\"http://calendarserver.org/ns/\"><D:set><D:prop>\
             <CS:invite/></D:prop></D:set></D:propertyupdate>",
        )
        .await;
    patch.assert_status(207).assert_contains("cannot-modify-protected-property");

    // The hrefs read from CS:invite remove the shares again.
    let removals: String = [
        "mailto:bob@example.org",
        "/dav/principals/crew/",
        "/dav/principals/",
        "mailto:nobody.yet@example.org",
    ]
    .into_iter()
    .map(remove)
    .collect();
    post_share(&alice, CAL, &removals).await.assert_status(200);
    assert!(shares_of(&server, collection_id(&server, "alice/calendar")).is_empty());
    let r = props(&alice, CAL, "0").await;
    let doc = r.xml();
    assert_eq!(share_access(&doc.response(CAL)), "D:not-shared");
    server.stop().await;
}

/// CS:remove takes the share away: gone from the sharee's home on their next PROPFIND, and
/// its members answer 404 through the old URL.
#[tokio::test]
async fn cs_sharing_remove_takes_the_copy_out_of_the_sharee_home() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read").await;
    let alice = server.client("alice");
    alice.put(&format!("{CAL}e.ics"), "text/calendar", &ics("e", "alice's")).await.assert_status(201);
    let bob = server.client("bob");
    let item = format!("{}e.ics", mount("bob", id));
    bob.go("GET", &item).await.assert_status(200).assert_contains("alice's");
    assert!(members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));

    post_share(&alice, CAL, &remove("mailto:bob@example.org")).await.assert_status(200);
    assert!(!members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));
    bob.go("GET", &item).await.assert_status(404);
    bob.propfind(&mount("bob", id), "0", &propfind_body(&["D:resourcetype"])).await.assert_status(404);
    // Removing again is not an error: nothing is shared with bob, as asked.
    post_share(&alice, CAL, &remove("mailto:bob@example.org")).await.assert_status(200);
    alice.go("GET", &format!("{CAL}e.ics")).await.assert_status(200);
    server.stop().await;
}

/// Sharing needs the share privilege: a view or modify sharee's POST is refused with
/// need-privileges (through their copy or the owner's URL) and changes nothing; a sharee with
/// *can modify and share* may share further, never above their own right.
#[tokio::test]
async fn cs_sharing_needs_the_share_privilege() {
    let server = alice_and_bob().await;
    server.add_user("carol", Role::Collaborator);
    server.add_user("dave", Role::Collaborator);
    let id = share_with_bob(&server, "read").await;
    let before = shares_of(&server, id);
    let bob = server.client("bob");
    for path in [mount("bob", id), CAL.to_owned()] {
        let r = post_share(&bob, &path, &set("mailto:carol@example.org", "read")).await;
        assert_need_privileges(&r, "share");
    }
    // Modify is not enough either.
    share_with_bob(&server, "read-write").await;
    let r = post_share(&bob, &mount("bob", id), &set("mailto:carol@example.org", "read")).await;
    assert_need_privileges(&r, "share");
    assert_eq!(shares_of(&server, id).len(), before.len());

    // can modify and share (given through the model, as CS has no element for it).
    let cal = org::find_collection(server.store(), "alice/calendar").unwrap();
    org::share(server.store(), Actor::Operator, &cal, "user:carol", ShareAccess::Share).unwrap();
    let carol = server.client("carol");
    let r = props(&carol, &mount("carol", id), "0").await;
    let doc = r.xml();
    let copy = doc.response(&mount("carol", id));
    assert_eq!(child_names(copy.ok(CS, "allowed-sharing-modes")), ["CS:can-be-shared".to_owned()].into());
    assert!(privileges(&copy).contains("D:share"));
    // With read-acl carol sees every sharee.
    assert_eq!(invite(&copy).1.len(), 2);
    post_share(&carol, &mount("carol", id), &set("mailto:dave@example.org", "read-write"))
        .await
        .assert_status(200);
    assert!(shares_of(&server, id).contains(&(Grantee::User(user_id(&server, "dave")), ShareAccess::Modify)));
    server.stop().await;
}

/// A CS:set of read-write does not take *can modify and share* away (read-write is how it is
/// shown); read lowers it to *can view*.
#[tokio::test]
async fn cs_sharing_read_write_keeps_modify_and_share() {
    let server = alice_and_bob().await;
    let cal = org::find_collection(server.store(), "alice/calendar").unwrap();
    org::share(server.store(), Actor::Operator, &cal, "user:bob", ShareAccess::Share).unwrap();
    let bob = Grantee::User(user_id(&server, "bob"));
    let alice = server.client("alice");
    for href in ["mailto:bob@example.org", "/dav/principals/bob/"] {
        post_share(&alice, CAL, &set(href, "read-write")).await.assert_status(200);
        assert_eq!(shares_of(&server, cal.id), vec![(bob.clone(), ShareAccess::Share)], "{href}");
    }
    post_share(&alice, CAL, &set("/dav/principals/bob/", "read")).await.assert_status(200);
    assert_eq!(shares_of(&server, cal.id), vec![(bob, ShareAccess::View)]);
    server.stop().await;
}

/// Sharing with an address nobody has yet is a pending invitation (invite-noresponse); it
/// becomes a share, in the new user's home, when someone signs up with that address.
#[tokio::test]
async fn cs_sharing_unknown_address_is_a_pending_invitation() {
    let server = alice_and_bob().await;
    let alice = server.client("alice");
    post_share(&alice, CAL, &set("mailto:carol@example.org", "read")).await.assert_status(200);
    let id = collection_id(&server, "alice/calendar");
    assert_eq!(shares_of(&server, id), vec![(Grantee::Email("carol@example.org".into()), ShareAccess::View)]);
    let r = props(&alice, CAL, "0").await;
    assert_eq!(
        invite(&r.xml().response(CAL)).1,
        vec![user("mailto:carol@example.org", "invite-noresponse", "read")]
    );

    server.add_user("carol", Role::Collaborator);
    let carol = server.client("carol");
    let r = props(&carol, "/dav/calendars/carol/", "1").await;
    let doc = r.xml();
    let copy = doc.response(&mount("carol", id));
    assert!(child_names(copy.ok(DAV, "resourcetype")).contains("CS:shared"));
    assert_eq!(share_access(&copy), "D:read");
    let r = props(&alice, CAL, "0").await;
    assert_eq!(
        invite(&r.xml().response(CAL)).1,
        vec![user("mailto:carol@example.org", "invite-accepted", "read")]
    );
    server.stop().await;
}

/// caldav-sharing §5.5.3: the sharee names and colours their copy for themselves, even with
/// read access; the owner's calendar keeps its own name and colour.
#[tokio::test]
async fn cs_sharing_sharee_names_and_colours_only_their_copy() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read").await;
    let alice = server.client("alice");
    let colour = "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:A=\"http://apple.com/ns/ical/\"><D:set><D:prop>\
                  <D:displayname>NAME</D:displayname><A:calendar-color>COLOUR</A:calendar-color>\
                  </D:prop></D:set></D:propertyupdate>";
    let owner_patch = colour.replace("NAME", "Alice's").replace("COLOUR", "#0000FFFF");
    alice.body("PROPPATCH", CAL, &owner_patch).await.assert_status(207);
    let bob = server.client("bob");
    let bob_patch = colour.replace("NAME", "Team plans").replace("COLOUR", "#FF0000FF");
    let r = bob.body("PROPPATCH", &mount("bob", id), &bob_patch).await;
    r.assert_status(207).assert_lacks("403").assert_lacks("424");

    let r = props(&bob, &mount("bob", id), "0").await;
    let doc = r.xml();
    let copy = doc.response(&mount("bob", id));
    assert_eq!(copy.ok(DAV, "displayname").text(), "Team plans");
    assert_eq!(copy.ok(APPLE, "calendar-color").text(), "#FF0000FF");
    let r = props(&alice, CAL, "0").await;
    let doc = r.xml();
    let original = doc.response(CAL);
    assert_eq!(original.ok(DAV, "displayname").text(), "Alice's");
    assert_eq!(original.ok(APPLE, "calendar-color").text(), "#0000FFFF");
    server.stop().await;
}

/// caldav-sharing §5.4.2: the sharee's DELETE of their copy declines the share; the owner's
/// calendar and its content stay, and CS:invite shows the sharee as invite-declined.
#[tokio::test]
async fn cs_sharing_sharee_delete_declines() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read-write").await;
    let alice = server.client("alice");
    alice.put(&format!("{CAL}e.ics"), "text/calendar", &ics("e", "stays")).await.assert_status(201);
    let bob = server.client("bob");
    bob.go("DELETE", &mount("bob", id)).await.assert_status(204);

    assert!(!members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));
    alice.go("GET", &format!("{CAL}e.ics")).await.assert_status(200).assert_contains("stays");
    let r = props(&alice, CAL, "0").await;
    let doc = r.xml();
    let original = doc.response(CAL);
    assert_eq!(invite(&original).1, vec![user("mailto:bob@example.org", "invite-declined", "read-write")]);
    assert_eq!(share_access(&original), "D:shared-owner", "still shared: the share exists, declined");
    // Sharing again brings it back.
    share_with_bob(&server, "read").await;
    assert!(members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));
    server.stop().await;
}

/// The sharee's CS:invite-reply on their home (§5.4.1): accepting a share that is in their
/// home answers CS:shared-as with its URL; declining removes it; accepting after declining is
/// refused with a reason (only the owner can share again).
#[tokio::test]
async fn cs_sharing_invite_reply() {
    let server = alice_and_bob().await;
    let id = share_with_bob(&server, "read").await;
    let bob = server.client("bob");
    let reply = |status: &str, host: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><CS:invite-reply xmlns:D=\"DAV:\" \
             xmlns:CS=\"http://calendarserver.org/ns/\"><D:href>mailto:bob@example.org</D:href>\
             <CS:{status}/><CS:hosturl><D:href>{host}</D:href></CS:hosturl>\
             <CS:in-reply-to>whatever</CS:in-reply-to></CS:invite-reply>"
        )
    };
    let r = post(&bob, BOB_HOME, "text/xml", &reply("invite-accepted", CAL)).await;
    r.assert_status(200);
    let doc = r.xml();
    assert!(doc.root.is(CS, "shared-as"), "{}", r.body);
    assert_eq!(doc.root.child(DAV, "href").map(|h| h.text()).as_deref(), Some(mount("bob", id).as_str()));
    // Replies go to one's own home, about a collection shared with one.
    post(&bob, "/dav/calendars/alice/", "text/xml", &reply("invite-declined", CAL)).await.assert_status(403);
    post(&bob, BOB_HOME, "text/xml", &reply("invite-declined", "/dav/calendars/bob/calendar/"))
        .await
        .assert_status(403);
    assert!(members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));

    post(&bob, BOB_HOME, "text/xml", &reply("invite-declined", CAL)).await.assert_status(200);
    assert!(!members(&props(&bob, BOB_HOME, "1").await).contains(&mount("bob", id)));
    let again = post(&bob, BOB_HOME, "text/xml", &reply("invite-accepted", CAL)).await;
    again.assert_status(403);
    assert!(message(&again).contains("owner"), "{}", again.body);
    server.stop().await;
}

/// A malformed CS:share is 400 with CS:valid-request and a message; a DOCTYPE is 403
/// no-external-entities; a body of another type is 415; and none of them changes anything.
#[tokio::test]
async fn cs_sharing_malformed_bodies_change_nothing() {
    let server = alice_and_bob().await;
    let alice = server.client("alice");
    let before = server.snapshot("alice").await;
    let ns = "xmlns:D=\"DAV:\" xmlns:CS=\"http://calendarserver.org/ns/\"";
    let bad_requests = [
        "".to_owned(),
        "<CS:share".to_owned(),
        format!("<CS:share {ns}><CS:set><D:href>mailto:bob@example.org</D:href></CS:set></CS:share>"),
        format!("<CS:share {ns}><CS:set><CS:read/></CS:set></CS:share>"),
        format!(
            "<CS:share {ns}><CS:set><D:href>mailto:bob@example.org</D:href><CS:read/><CS:read-write/></CS:set></CS:share>"
        ),
        format!("<CS:share {ns}><CS:remove/></CS:share>"),
        format!("<CS:share {ns}/>"),
        format!(
            "<CS:share {ns}><CS:set><D:href>mailto:bob@example.org</D:href><CS:read/></CS:set><CS:remove/></CS:share>"
        ),
        format!("<CS:share {ns}><CS:set><D:href>mailto:bob@example.org</D:href><CS:read/></CS:set>"),
    ];
    for body in &bad_requests {
        let r = post(&alice, CAL, "application/xml", body).await;
        r.assert_status(400);
        assert!(!message(&r).trim().is_empty(), "no message for {body:?}:\n{}", r.body);
    }
    let r = post(&alice, CAL, "application/xml", &bad_requests[3]).await;
    assert!(r.xml().root.child(CS, "valid-request").is_some(), "{}", r.body);

    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        share_doc(&set("mailto:bob@example.org", "read"))
    );
    post(&alice, CAL, "application/xml", &doctype)
        .await
        .assert_status(403)
        .assert_contains("no-external-entities");
    let share = share_doc(&set("mailto:bob@example.org", "read"));
    for content_type in ["text/plain", "application/json", "text/calendar"] {
        post(&alice, CAL, content_type, &share).await.assert_status(415);
    }
    let no_type = alice.send(alice.request("POST", CAL).body(share.clone())).await;
    no_type.assert_status(415);
    let other_root = "<D:share-resource xmlns:D=\"DAV:\"><D:sharee><D:href>mailto:bob@example.org</D:href>\
                      <D:share-access><D:read/></D:share-access></D:sharee></D:share-resource>";
    post(&alice, CAL, "application/xml", other_root).await.assert_status(415);

    assert!(shares_of(&server, collection_id(&server, "alice/calendar")).is_empty());
    assert_eq!(server.snapshot("alice").await, before, "a refused POST changed something");
    server.stop().await;
}

/// POST means nothing on objects, principals, plain collections: 405 with an Allow that
/// lacks POST. OPTIONS advertises `calendarserver-sharing` (§5.1) and POST where it works.
#[tokio::test]
async fn cs_sharing_post_is_only_for_shareable_collections_and_homes() {
    let server = alice_and_bob().await;
    let alice = server.client("alice");
    alice.put(&format!("{CAL}e.ics"), "text/calendar", &ics("e", "x")).await.assert_status(201);
    alice.go("MKCOL", "/dav/calendars/alice/files/").await.assert_status(201);
    let share = share_doc(&set("mailto:bob@example.org", "read"));
    for path in [format!("{CAL}e.ics"), "/dav/principals/alice/".into(), "/dav/calendars/alice/files/".into()]
    {
        let r = post(&alice, &path, "application/xml", &share).await;
        r.assert_status(405);
        let allow = r.header("allow").unwrap_or_else(|| panic!("405 without Allow on {path}"));
        assert!(!allow.contains("POST"), "{path}: {allow}");
    }
    let r = alice.go("OPTIONS", CAL).await;
    r.assert_status(200);
    assert!(r.header("dav").unwrap().split(',').any(|t| t.trim() == "calendarserver-sharing"));
    assert!(r.header("allow").unwrap().contains("POST"));
    let r = alice.propfind(CAL, "0", &propfind_body(&["D:resourcetype"])).await;
    assert!(r.header("dav").unwrap().contains("calendarserver-sharing"));
    server.stop().await;
}

/// Several instructions: each applies on its own; when some are refused the answer is a 207
/// with one status and reason per sharee href. A single refused instruction is answered
/// with its own status.
#[tokio::test]
async fn cs_sharing_reports_refusals_per_sharee() {
    let server = alice_and_bob().await;
    let alice = server.client("alice");
    let id = collection_id(&server, "alice/calendar");
    let r = post_share(
        &alice,
        CAL,
        &[
            set("mailto:bob@example.org", "read"),
            set("/dav/principals/nobody/", "read"),
            set("mailto:alice@example.org", "read"),
            set("urn:uuid:1234", "read"),
        ]
        .concat(),
    )
    .await;
    r.assert_status(207);
    let doc = r.xml();
    let status = |href: &str| doc.response(href).status().unwrap_or_default();
    assert_eq!(status("mailto:bob@example.org"), "HTTP/1.1 200 OK");
    assert_eq!(status("/dav/principals/nobody/"), "HTTP/1.1 404 Not Found");
    assert_eq!(status("mailto:alice@example.org"), "HTTP/1.1 422 Unprocessable Entity");
    assert_eq!(status("urn:uuid:1234"), "HTTP/1.1 422 Unprocessable Entity");
    let reason =
        doc.response("mailto:alice@example.org").el.child(DAV, "responsedescription").map(|d| d.text());
    assert!(reason.is_some_and(|r| r.contains("yourself")), "{}", r.body);
    assert_eq!(shares_of(&server, id), vec![(Grantee::User(user_id(&server, "bob")), ShareAccess::View)]);

    let r = post_share(&alice, CAL, &set("/dav/principals/nobody/", "read")).await;
    r.assert_status(404);
    assert!(message(&r).contains("nobody"), "{}", r.body);
    // Removing a sharee nobody is leaves things as asked.
    post_share(&alice, CAL, &remove("/dav/principals/nobody/")).await.assert_status(200);
    server.stop().await;
}

/// Address books are shared the same way and appear in the sharee's address-book home.
#[tokio::test]
async fn cs_sharing_address_books_too() {
    let server = alice_and_bob().await;
    let alice = server.client("alice");
    let book = "/dav/addressbooks/alice/contacts/";
    post_share(&alice, book, &set("mailto:bob@example.org", "read")).await.assert_status(200);
    let id = collection_id(&server, "alice/contacts");
    let copy_href = format!("/dav/addressbooks/bob/shared-{id}/");
    let r = props(&server.client("bob"), "/dav/addressbooks/bob/", "1").await;
    let doc = r.xml();
    let copy = doc.response(&copy_href);
    assert_eq!(
        child_names(copy.ok(DAV, "resourcetype")),
        ["D:collection", "CR:addressbook", "CS:shared"].map(String::from).into()
    );
    assert_eq!(copy.href_prop(CS, "shared-url"), book);
    assert!(!privileges(&copy).contains("D:write-content"));
    server.stop().await;
}
