//! Issue #7 client-level acceptance: shares made through the management API as DAV clients
//! meet them (in the sharee's home, with the right privileges, gone on revocation), the
//! refusals of the bad-input list, and off-boarding a member with transfer and with delete.

use davit::store::{HomeKind, Role};
use serde_json::Value;

use crate::harness::{Client, PASSWORD, Reply, TestServer, event, propfind_body};

async fn api(client: &Client, method: &str, path: &str, body: &str) -> Reply {
    let rb = client.request(method, &format!("/api/v1/{path}")).header("Content-Type", "application/json");
    client.send(rb.body(body.to_owned())).await
}

fn json(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

async fn home_listing(client: &Client, user: &str) -> Reply {
    let body = propfind_body(&["D:resourcetype", "D:displayname", "D:current-user-privilege-set", "D:owner"]);
    let r = client.propfind(&format!("/dav/calendars/{user}/"), "1", &body).await;
    r.assert_status(207);
    r
}

fn collection_id(server: &TestServer, owner: &str, segment: &str) -> i64 {
    let store = server.store();
    let p = store.principal_by_slug(owner).unwrap().unwrap();
    let home = store.home(p.id, HomeKind::Calendar).unwrap().unwrap();
    store.child_collection(home.id, segment).unwrap().unwrap().id
}

async fn org_of_four() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("alice", Role::Owner);
    // alice is the organization's only owner (the server's initial owner steps down).
    let store = server.store();
    let org = store.organizations().unwrap()[0].id;
    let initial = store.principal_by_slug(&server.state.config.initial_owner).unwrap().unwrap();
    store.set_role(org, initial.id, Role::Collaborator).unwrap();
    server.add_user("bob", Role::Collaborator);
    server.add_user("carol", Role::Collaborator);
    server.add_user("ezra", Role::External);
    server
}

#[tokio::test]
async fn a_share_made_through_the_api_appears_in_the_sharees_home_and_goes_on_revocation() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    alice
        .put("/dav/calendars/alice/calendar/one.ics", "text/calendar", &event("one"))
        .await
        .assert_status(201);
    let r =
        api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "view"}"#)
            .await;
    r.assert_status(201);
    assert_eq!(json(&r)["to"], "user:bob");
    assert_eq!(json(&r)["right"], "view");

    let id = collection_id(&server, "alice", "calendar");
    let mount = format!("/dav/calendars/bob/shared-{id}/");
    let listing = home_listing(&bob, "bob").await;
    let doc = listing.xml();
    let shared = doc.response(&mount);
    let privileges = shared.ok("DAV:", "current-user-privilege-set");
    let privileges = format!("{privileges:?}");
    assert!(privileges.contains("read"), "{privileges}");
    assert!(!privileges.contains("write-content") && !privileges.contains("bind"), "view only: {privileges}");
    assert!(shared.href_prop("DAV:", "owner").ends_with("/dav/principals/alice/"));
    bob.go("GET", &format!("{mount}one.ics")).await.assert_status(200).assert_contains("UID:one");

    // A view-only sharee's write is refused, naming the privilege.
    let refused = bob.put(&format!("{mount}bob.ics"), "text/calendar", &event("bob")).await;
    refused.assert_status(403).assert_contains("need-privileges").assert_contains("bind");

    // Changing the right takes effect on the next request.
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "modify"}"#)
        .await
        .assert_status(201);
    bob.put(&format!("{mount}bob.ics"), "text/calendar", &event("bob")).await.assert_status(201);
    alice.go("GET", "/dav/calendars/alice/calendar/bob.ics").await.assert_status(200);
    let r = api(&alice, "GET", "collections/alice/calendar/shares", "").await;
    r.assert_status(200);
    assert_eq!(json(&r).as_array().unwrap().len(), 1);

    // Revoked: gone from bob's home on the next sync, and no access by either URL.
    api(&alice, "DELETE", "collections/alice/calendar/shares/user:bob", "").await.assert_status(204);
    home_listing(&bob, "bob").await.assert_lacks(&format!("shared-{id}"));
    bob.go("GET", &format!("{mount}one.ics")).await.assert_status(404);
    bob.go("GET", "/dav/calendars/alice/calendar/one.ics").await.assert_status(403);
    server.stop().await;
}

#[tokio::test]
async fn an_external_member_never_sees_an_organization_wide_share() {
    let server = org_of_four().await;
    let alice = server.client("alice");
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "org", "right": "view"}"#)
        .await
        .assert_status(201);
    let id = collection_id(&server, "alice", "calendar");
    home_listing(&server.client("carol"), "carol").await.assert_contains(&format!("shared-{id}/"));
    home_listing(&server.client("ezra"), "ezra").await.assert_lacks(&format!("shared-{id}"));
    server
        .client("ezra")
        .propfind("/dav/calendars/alice/calendar/", "0", &propfind_body(&["D:displayname"]))
        .await
        .assert_status(403);
    server.stop().await;
}

#[tokio::test]
async fn a_sharee_names_their_copy_and_can_decline_it() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "view"}"#)
        .await
        .assert_status(201);
    let id = collection_id(&server, "alice", "calendar");
    let mount = format!("/dav/calendars/bob/shared-{id}/");
    let rename = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" xmlns:A=\"http://apple.com/ns/ical/\">\
                  <D:set><D:prop><D:displayname>Alice at work</D:displayname>\
                  <A:calendar-color>#ff0000</A:calendar-color></D:prop></D:set></D:propertyupdate>";
    bob.body("PROPPATCH", &mount, rename).await.assert_status(207).assert_contains("200 OK");
    let body = propfind_body(&["D:displayname"]);
    bob.propfind(&mount, "0", &body).await.assert_contains("Alice at work");
    alice.propfind("/dav/calendars/alice/calendar/", "0", &body).await.assert_lacks("Alice at work");
    // The sharee cannot rename the owner's collection itself.
    let description = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" \
                       xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop>\
                       <C:calendar-description>x</C:calendar-description></D:prop></D:set></D:propertyupdate>";
    bob.body("PROPPATCH", &mount, description).await.assert_status(403);

    bob.go("DELETE", &mount).await.assert_status(204);
    home_listing(&bob, "bob").await.assert_lacks(&format!("shared-{id}"));
    alice.propfind("/dav/calendars/alice/calendar/", "0", &body).await.assert_status(207);
    // Sharing again brings it back.
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "view"}"#)
        .await
        .assert_status(201);
    home_listing(&bob, "bob").await.assert_contains(&format!("shared-{id}/"));
    server.stop().await;
}

#[tokio::test]
async fn bad_sharing_and_membership_requests_get_a_clear_4xx_and_change_nothing() {
    let server = org_of_four().await;
    let other = server.store().create_organization("Elsewhere").unwrap();
    server.add_user_in(other, "otto", Role::Owner);
    davit::org::create_group(
        server.store(),
        davit::org::Actor::Operator,
        other,
        davit::store::PrincipalKind::Team,
        "their-team",
        "Theirs",
        None,
    )
    .unwrap();
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    let before = server.snapshot("alice").await;
    let share = |to: &str, right: &str| format!(r#"{{"to": "{to}", "right": "{right}"}}"#);
    let cases = [
        (&alice, share("user:nobody", "view"), 404),
        (&alice, share("team:their-team", "view"), 422),
        (&alice, share("user:otto", "view"), 422),
        (&alice, share("user:alice", "view"), 422),
        (&alice, share("user:bob", "everything"), 422),
        (&alice, share("group:x", "view"), 422),
        (&alice, share("email:not-an-address", "view"), 422),
    ];
    for (client, body, status) in cases {
        let r = api(client, "POST", "collections/alice/calendar/shares", &body).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.body);
        assert!(json(&r)["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.body);
    }
    // A right above one's own: bob holds "modify", so he may not share at all, not even view.
    api(&alice, "POST", "collections/alice/calendar/shares", &share("user:bob", "modify"))
        .await
        .assert_status(201);
    let r = api(&bob, "POST", "collections/alice/calendar/shares", &share("user:carol", "view")).await;
    r.assert_status(403);
    // A collaborator calling member management.
    api(&bob, "PUT", "org/members/carol/role", r#"{"role": "admin"}"#).await.assert_status(403);
    api(&bob, "POST", "org/members/carol/remove", r#"{"password": "correct horse battery", "delete": true}"#)
        .await
        .assert_status(403);
    api(&bob, "POST", "teams", r#"{"name": "bobs-team"}"#).await.assert_status(403);
    // The last owner can be neither demoted nor removed.
    server.add_user("adam", Role::Admin);
    let adam = server.client("adam");
    api(&alice, "PUT", "org/members/alice/role", r#"{"role": "admin"}"#).await.assert_status(422);
    let remove_alice = format!(r#"{{"password": "{PASSWORD}", "delete": true}}"#);
    api(&adam, "POST", "org/members/alice/remove", &remove_alice).await.assert_status(403);
    api(&alice, "POST", "org/members/alice/remove", &remove_alice).await.assert_status(422);
    // Wrong password, transfer to a non-member, no disposition.
    api(&alice, "POST", "org/members/carol/remove", r#"{"password": "wrong", "delete": true}"#)
        .await
        .assert_status(403);
    let to_outsider = format!(r#"{{"password": "{PASSWORD}", "transfer_to": "otto"}}"#);
    api(&alice, "POST", "org/members/carol/remove", &to_outsider).await.assert_status(422);
    api(&alice, "POST", "org/members/carol/remove", &format!(r#"{{"password": "{PASSWORD}"}}"#))
        .await
        .assert_status(422);
    server.client("carol").go("PROPFIND", "/dav/calendars/carol/").await.assert_status(207);
    // Only the modify share with bob was made; it marks her calendar CS:shared-owner
    // (caldav-sharing §5.3.1), which is all that may differ.
    let after = server.snapshot("alice").await.replace("<CS:shared-owner/>", "");
    assert_eq!(before, after, "alice's data changed");
    let shares = json(&api(&alice, "GET", "collections/alice/calendar/shares", "").await);
    assert_eq!(shares.as_array().unwrap().len(), 1, "{shares}");
    server.stop().await;
}

#[tokio::test]
async fn teams_rooms_and_grants_through_the_api() {
    let server = org_of_four().await;
    let alice = server.client("alice");
    api(&alice, "POST", "teams", r#"{"name": "sales", "display_name": "Sales"}"#).await.assert_status(201);
    api(&alice, "PUT", "teams/sales/members/bob", "").await.assert_status(204);
    let teams = json(&api(&alice, "GET", "teams", "").await);
    assert_eq!(teams[0]["members"][0], "bob");
    api(&alice, "POST", "rooms", r#"{"name": "boardroom", "email": "boardroom@example.org"}"#)
        .await
        .assert_status(201);
    // The room's calendar, shared with the team, appears in bob's home.
    api(
        &alice,
        "POST",
        "collections/boardroom/calendar/shares",
        r#"{"to": "team:sales", "right": "modify"}"#,
    )
    .await
    .assert_status(201);
    let room_cal = collection_id(&server, "boardroom", "calendar");
    let bob = server.client("bob");
    home_listing(&bob, "bob").await.assert_contains(&format!("shared-{room_cal}/"));
    bob.put(&format!("/dav/calendars/bob/shared-{room_cal}/meeting.ics"), "text/calendar", &event("meeting"))
        .await
        .assert_status(201);
    // Everything, with the highest permission, in one action, for carol.
    let r = api(&alice, "POST", "grants", r#"{"to": "user:carol", "everything": true}"#).await;
    r.assert_status(201);
    let grant = json(&r)["id"].as_i64().unwrap();
    let carol = server.client("carol");
    let body = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>\
                <D:displayname>Board</D:displayname></D:prop></D:set></D:propertyupdate>";
    carol
        .body("PROPPATCH", "/dav/calendars/boardroom/calendar/", body)
        .await
        .assert_status(207)
        .assert_contains("200 OK");
    api(&alice, "DELETE", &format!("grants/{grant}"), "").await.assert_status(204);
    carol.body("PROPPATCH", "/dav/calendars/boardroom/calendar/", body).await.assert_status(403);
    // Leaving the team ends the team's share.
    api(&alice, "DELETE", "teams/sales/members/bob", "").await.assert_status(204);
    home_listing(&bob, "bob").await.assert_lacks(&format!("shared-{room_cal}"));
    server.stop().await;
}

#[tokio::test]
async fn offboarding_with_transfer_keeps_everything_and_ends_the_members_access() {
    let server = org_of_four().await;
    server.add_user("mia", Role::Collaborator);
    let (alice, bob, mia) = (server.client("alice"), server.client("bob"), server.client("mia"));
    // Three calendars (the default calendar and task list, and a project calendar shared with
    // bob), one address book, two app passwords.
    mia.go("MKCALENDAR", "/dav/calendars/mia/project/").await.assert_status(201);
    mia.put("/dav/calendars/mia/project/kickoff.ics", "text/calendar", &event("kickoff"))
        .await
        .assert_status(201);
    mia.put("/dav/calendars/mia/calendar/lunch.ics", "text/calendar", &event("lunch"))
        .await
        .assert_status(201);
    let card =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Client One\r\nN:One;Client;;;\r\nEND:VCARD\r\n";
    mia.put("/dav/addressbooks/mia/contacts/card-1.vcf", "text/vcard", card).await.assert_status(201);
    api(&mia, "POST", "collections/mia/project/shares", r#"{"to": "user:bob", "right": "view"}"#)
        .await
        .assert_status(201);
    let mut app_passwords = Vec::new();
    for label in ["Phone", "Laptop"] {
        let r = api(&mia, "POST", "me/app-passwords", &format!(r#"{{"label": "{label}"}}"#)).await;
        r.assert_status(201);
        app_passwords.push(json(&r)["password"].as_str().unwrap().to_owned());
    }
    let project = collection_id(&server, "mia", "project");

    let body = format!(r#"{{"password": "{PASSWORD}", "transfer_to": "alice"}}"#);
    let r = api(&alice, "POST", "org/members/mia/remove", &body).await;
    r.assert_status(200);
    assert_eq!(json(&r)["transferred"].as_array().unwrap().len(), 4, "{}", r.body);

    // The new owner sees everything, under names that do not clash with her own.
    alice.go("GET", "/dav/calendars/alice/project/kickoff.ics").await.assert_status(200);
    alice.go("GET", "/dav/calendars/alice/calendar-mia/lunch.ics").await.assert_status(200);
    alice
        .propfind("/dav/calendars/alice/tasks-mia/", "0", &propfind_body(&["D:displayname"]))
        .await
        .assert_status(207);
    alice.go("GET", "/dav/addressbooks/alice/contacts-mia/card-1.vcf").await.assert_status(200);
    // The share still works, at the same URL in bob's home.
    bob.go("GET", &format!("/dav/calendars/bob/shared-{project}/kickoff.ics")).await.assert_status(200);
    // The old credentials fail.
    mia.go("PROPFIND", "/dav/calendars/mia/").await.assert_status(401);
    for password in &app_passwords {
        let rb =
            server.anonymous().request("PROPFIND", "/dav/calendars/mia/").basic_auth("mia", Some(password));
        assert_eq!(server.anonymous().send(rb).await.status.as_u16(), 401);
    }
    server.stop().await;
}

#[tokio::test]
async fn offboarding_with_delete_leaves_nothing_of_theirs() {
    let server = org_of_four().await;
    server.add_user("max", Role::Collaborator);
    let max = server.client("max");
    max.put("/dav/calendars/max/calendar/x.ics", "text/calendar", &event("x")).await.assert_status(201);
    api(&max, "POST", "collections/max/calendar/shares", r#"{"to": "user:bob", "right": "view"}"#)
        .await
        .assert_status(201);
    let alice = server.client("alice");
    let alice_before = server.snapshot("alice").await;
    let body = format!(r#"{{"password": "{PASSWORD}", "delete": true}}"#);
    api(&alice, "POST", "org/members/max/remove", &body).await.assert_status(200);
    let store = server.store();
    assert!(store.principal_by_slug("max").unwrap().is_none());
    assert!(store.users().unwrap().iter().all(|u| u.principal.slug != "max"));
    home_listing(&server.client("bob"), "bob").await.assert_lacks("shared-");
    assert_eq!(alice_before, server.snapshot("alice").await, "the actor's data must not change");
    max.go("PROPFIND", "/dav/calendars/max/").await.assert_status(401);
    server.stop().await;
}

#[tokio::test]
async fn acl_properties_reflect_teams_and_shares() {
    let server = org_of_four().await;
    let alice = server.client("alice");
    api(&alice, "POST", "teams", r#"{"name": "sales"}"#).await.assert_status(201);
    api(&alice, "PUT", "teams/sales/members/bob", "").await.assert_status(204);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "team:sales", "right": "modify"}"#)
        .await
        .assert_status(201);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:carol", "right": "view"}"#)
        .await
        .assert_status(201);
    let bob = server.client("bob");
    let membership = bob.propfind("/dav/principals/bob/", "0", &propfind_body(&["D:group-membership"])).await;
    membership.assert_status(207).assert_contains("/dav/principals/sales/");
    let members = bob.propfind("/dav/principals/sales/", "0", &propfind_body(&["D:group-member-set"])).await;
    members.assert_status(207).assert_contains("/dav/principals/bob/");

    let props = propfind_body(&["D:acl", "D:supported-privilege-set", "D:current-user-privilege-set"]);
    let owner_view = alice.propfind("/dav/calendars/alice/calendar/", "0", &props).await;
    owner_view.assert_status(207);
    let doc = owner_view.xml();
    let response = doc.response("/dav/calendars/alice/calendar/");
    let acl = format!("{:?}", response.ok("DAV:", "acl"));
    for needle in
        ["/dav/principals/alice/", "/dav/principals/sales/", "/dav/principals/carol/", "write-content"]
    {
        assert!(acl.contains(needle), "acl lacks {needle}: {acl}");
    }
    let supported = format!("{:?}", response.ok("DAV:", "supported-privilege-set"));
    assert!(supported.contains("read-free-busy") && supported.contains("share"), "{supported}");
    // A sharee without *can modify and share* may not read the ACL.
    let id = collection_id(&server, "alice", "calendar");
    let sharee_view = bob.propfind(&format!("/dav/calendars/bob/shared-{id}/"), "0", &props).await;
    sharee_view.assert_status(207);
    assert!(
        sharee_view.xml().response(&format!("/dav/calendars/bob/shared-{id}/")).prop("DAV:", "acl").is_none()
            || sharee_view.body.contains("404")
    );
    server.stop().await;
}

#[tokio::test]
async fn names_of_shared_copies_are_reserved_in_homes() {
    let server = org_of_four().await;
    let alice = server.client("alice");
    let r = alice.go("MKCALENDAR", "/dav/calendars/alice/shared-12/").await;
    r.assert_status(403).assert_contains("reserved");
    alice.go("MKCALENDAR", "/dav/calendars/alice/shared-notes/").await.assert_status(201);
    server.stop().await;
}

/// A sync-collection REPORT of a home from `token` (empty: the initial sync).
fn sync(token: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token>\
         <D:sync-level>1</D:sync-level><D:prop><D:getetag/><D:displayname/></D:prop></D:sync-collection>"
    )
}

/// The new sync token of a sync-collection answer.
fn token_of(r: &Reply) -> String {
    let start = r.body.find("<D:sync-token>").expect("token") + "<D:sync-token>".len();
    r.body[start..start + r.body[start..].find('<').unwrap()].to_owned()
}

/// Apple Calendar syncs the calendar home itself (RFC 6578 on the home): a share arriving,
/// and leaving, is a change there.
#[tokio::test]
async fn shares_come_and_go_in_a_sync_of_the_sharees_home() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    let first = bob.body("REPORT", "/dav/calendars/bob/", &sync("")).await;
    first.assert_status(207);
    let token = token_of(&first);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "team:sales", "right": "view"}"#)
        .await
        .assert_status(404);
    api(&alice, "POST", "teams", r#"{"name": "sales"}"#).await.assert_status(201);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "team:sales", "right": "view"}"#)
        .await
        .assert_status(201);
    // Not in the team yet: nothing changed for bob.
    let unchanged = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    unchanged.assert_status(207).assert_lacks("shared-");
    api(&alice, "PUT", "teams/sales/members/bob", "").await.assert_status(204);
    let id = collection_id(&server, "alice", "calendar");
    let arrived = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    arrived.assert_status(207).assert_contains(&format!("/dav/calendars/bob/shared-{id}/"));
    let removed = format!("/dav/calendars/bob/shared-{id}/</D:href><D:status>HTTP/1.1 404");
    arrived.assert_lacks(&removed);
    let token = token_of(&arrived);
    api(&alice, "DELETE", "collections/alice/calendar/shares/team:sales", "").await.assert_status(204);
    let left = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    left.assert_status(207)
        .assert_contains(&format!("/dav/calendars/bob/shared-{id}/"))
        .assert_contains("404");
    server.stop().await;
}

/// Deleting a team ends what it carried: its shares and grants leave its members' homes (a
/// change in their home syncs), its memberships end, and the shared calendar stays its owner's.
#[tokio::test]
async fn deleting_a_team_ends_its_shares_and_memberships_and_nothing_else() {
    let server = org_of_four().await;
    let (alice, bob, carol) = (server.client("alice"), server.client("bob"), server.client("carol"));
    alice
        .put("/dav/calendars/alice/calendar/one.ics", "text/calendar", &event("one"))
        .await
        .assert_status(201);
    api(&alice, "POST", "teams", r#"{"name": "sales"}"#).await.assert_status(201);
    api(&alice, "PUT", "teams/sales/members/bob", "").await.assert_status(204);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "team:sales", "right": "modify"}"#)
        .await
        .assert_status(201);
    // A grant to the team reaches bob too.
    api(&alice, "POST", "rooms", r#"{"name": "boardroom"}"#).await.assert_status(201);
    let body = r#"{"to": "team:sales", "collection": "boardroom/calendar", "use": "read"}"#;
    api(&alice, "POST", "grants", body).await.assert_status(201);
    let room = format!("/dav/calendars/bob/shared-{}/", collection_id(&server, "boardroom", "calendar"));
    let id = collection_id(&server, "alice", "calendar");
    let href = format!("/dav/calendars/bob/shared-{id}/");
    bob.go("GET", &format!("{href}one.ics")).await.assert_status(200);
    let synced = bob.body("REPORT", "/dav/calendars/bob/", &sync("")).await;
    synced.assert_status(207).assert_contains(&href).assert_contains(&room);
    let token = token_of(&synced);
    let alice_before = server.snapshot("alice").await;

    // Only an administrator deletes a team, and only one that exists.
    api(&carol, "DELETE", "teams/sales", "").await.assert_status(403);
    api(&alice, "DELETE", "teams/marketing", "").await.assert_status(404);
    api(&alice, "DELETE", "teams/sales", "").await.assert_status(204);

    let left = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    left.assert_status(207)
        .assert_contains(&format!("{href}</D:href><D:status>HTTP/1.1 404"))
        .assert_contains(&format!("{room}</D:href><D:status>HTTP/1.1 404"));
    assert!(
        json(&api(&alice, "GET", "grants", "").await).as_array().is_some_and(Vec::is_empty),
        "a grant is left"
    );
    home_listing(&bob, "bob").await.assert_lacks("shared-");
    bob.go("GET", &format!("{href}one.ics")).await.assert_status(404);
    bob.go("GET", "/dav/calendars/alice/calendar/one.ics").await.assert_status(403);
    let shares = json(&api(&alice, "GET", "collections/alice/calendar/shares", "").await);
    assert_eq!(shares.as_array().map(Vec::len), Some(0), "{shares}");
    assert_eq!(json(&api(&alice, "GET", "teams", "").await).as_array().map(Vec::len), Some(0));
    let store = server.store();
    let bob_id = store.principal_by_slug("bob").unwrap().unwrap().id;
    assert!(store.teams_of(bob_id).unwrap().is_empty(), "bob is still in a team");
    assert!(store.principal_by_slug("sales").unwrap().is_none(), "the team's principal is left");
    // The calendar is alice's as before, less the share's mark (caldav-sharing §5.3.1).
    let after = server.snapshot("alice").await;
    assert_eq!(alice_before.replace("<CS:shared-owner/>", ""), after.replace("<CS:shared-owner/>", ""));
    alice.go("GET", "/dav/calendars/alice/calendar/one.ics").await.assert_status(200);
    // The name is free again: a new team of that name starts without members or shares.
    api(&alice, "POST", "teams", r#"{"name": "sales"}"#).await.assert_status(201);
    let teams = json(&api(&alice, "GET", "teams", "").await);
    assert_eq!(teams[0]["members"].as_array().map(Vec::len), Some(0), "{teams}");
    home_listing(&bob, "bob").await.assert_lacks("shared-");
    server.stop().await;
}

/// An organization-wide share never shows to external members: a member made external
/// sees it leave in a sync of their home, and made internal again sees it arrive.
#[tokio::test]
async fn a_member_made_external_sees_organization_wide_shares_leave_their_home() {
    let server = org_of_four().await;
    let (alice, carol) = (server.client("alice"), server.client("carol"));
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "org", "right": "view"}"#)
        .await
        .assert_status(201);
    let href = format!("/dav/calendars/carol/shared-{}/", collection_id(&server, "alice", "calendar"));
    let gone = format!("{href}</D:href><D:status>HTTP/1.1 404");
    let first = carol.body("REPORT", "/dav/calendars/carol/", &sync("")).await;
    first.assert_status(207).assert_contains(&href);
    let token = token_of(&first);

    api(&alice, "PUT", "org/members/carol/role", r#"{"role": "external"}"#).await.assert_status(200);
    home_listing(&carol, "carol").await.assert_lacks("shared-");
    let left = carol.body("REPORT", "/dav/calendars/carol/", &sync(&token)).await;
    left.assert_status(207).assert_contains(&gone);
    let token = token_of(&left);
    // A change between roles on the same side of the line changes nothing in the home.
    let bob = server.client("bob");
    let before = bob.body("REPORT", "/dav/calendars/bob/", &sync("")).await;
    before.assert_status(207).assert_contains("shared-");
    api(&alice, "PUT", "org/members/bob/role", r#"{"role": "admin"}"#).await.assert_status(200);
    bob.body("REPORT", "/dav/calendars/bob/", &sync(&token_of(&before)))
        .await
        .assert_status(207)
        .assert_lacks("shared-");

    api(&alice, "PUT", "org/members/carol/role", r#"{"role": "collaborator"}"#).await.assert_status(200);
    let back = carol.body("REPORT", "/dav/calendars/carol/", &sync(&token)).await;
    back.assert_status(207).assert_contains(&href).assert_lacks(&gone);
    home_listing(&carol, "carol").await.assert_contains(&href);
    server.stop().await;
}

/// Grants mount team and room collections in the homes they reach: their coming and going
/// (a grant to a user, a grant to a team, a member joining that team) is a change in the home.
#[tokio::test]
async fn grants_come_and_go_in_a_sync_of_the_homes_they_reach() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    api(&alice, "POST", "rooms", r#"{"name": "boardroom"}"#).await.assert_status(201);
    let room = collection_id(&server, "boardroom", "calendar");
    let href = format!("/dav/calendars/bob/shared-{room}/");
    let gone = format!("{href}</D:href><D:status>HTTP/1.1 404");
    let first = bob.body("REPORT", "/dav/calendars/bob/", &sync("")).await;
    first.assert_status(207).assert_lacks("shared-");
    let token = token_of(&first);

    // A grant to bob of every calendar: the room's arrives.
    let r = api(&alice, "POST", "grants", r#"{"to": "user:bob", "every": "calendars", "use": "read"}"#).await;
    r.assert_status(201);
    let grant = json(&r)["id"].as_i64().unwrap();
    home_listing(&bob, "bob").await.assert_contains(&href);
    let arrived = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    arrived.assert_status(207).assert_contains(&href).assert_lacks(&gone);
    let token = token_of(&arrived);
    // ... and leaves with it.
    api(&alice, "DELETE", &format!("grants/{grant}"), "").await.assert_status(204);
    let left = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    left.assert_status(207).assert_contains(&gone);
    let token = token_of(&left);

    // A grant of the room's calendar to a team reaches bob when he joins it, and ends when he leaves.
    api(&alice, "POST", "teams", r#"{"name": "sales"}"#).await.assert_status(201);
    let body = r#"{"to": "team:sales", "collection": "boardroom/calendar", "use": "write"}"#;
    api(&alice, "POST", "grants", body).await.assert_status(201);
    let unchanged = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    unchanged.assert_status(207).assert_lacks("shared-");
    api(&alice, "PUT", "teams/sales/members/bob", "").await.assert_status(204);
    let joined = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    joined.assert_status(207).assert_contains(&href).assert_lacks(&gone);
    let token = token_of(&joined);
    api(&alice, "DELETE", "teams/sales/members/bob", "").await.assert_status(204);
    let parted = bob.body("REPORT", "/dav/calendars/bob/", &sync(&token)).await;
    parted.assert_status(207).assert_contains(&gone);
    home_listing(&bob, "bob").await.assert_lacks(&href);
    server.stop().await;
}

/// A calendar that comes into being under a grant that covers it (a new room, a new calendar
/// of a room), or that is deleted while granted or shared (through DAV, with its room, with
/// its owner's removal or deletion), is a change in the homes it shows in.
#[tokio::test]
async fn collections_made_or_deleted_under_grants_and_shares_come_and_go_in_home_syncs() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    api(&alice, "POST", "grants", r#"{"to": "user:bob", "every": "calendars", "use": "read"}"#)
        .await
        .assert_status(201);
    let first = bob.body("REPORT", "/dav/calendars/bob/", &sync("")).await;
    first.assert_status(207).assert_lacks("shared-");
    let mut token = token_of(&first);
    let href = |id: i64| format!("/dav/calendars/bob/shared-{id}/");
    let gone = |id: i64| format!("{}</D:href><D:status>HTTP/1.1 404", href(id));
    let changes = async |token: &mut String| {
        let r = bob.body("REPORT", "/dav/calendars/bob/", &sync(token)).await;
        r.assert_status(207);
        *token = token_of(&r);
        r
    };

    // A room made after the grant: its calendar arrives.
    api(&alice, "POST", "rooms", r#"{"name": "boardroom"}"#).await.assert_status(201);
    let room = collection_id(&server, "boardroom", "calendar");
    changes(&mut token).await.assert_contains(&href(room)).assert_lacks(&gone(room));
    // So does a second calendar made in the room's home, and it leaves when deleted.
    alice.go("MKCALENDAR", "/dav/calendars/boardroom/second/").await.assert_status(201);
    let second = collection_id(&server, "boardroom", "second");
    changes(&mut token).await.assert_contains(&href(second)).assert_lacks(&gone(second));
    alice.go("DELETE", "/dav/calendars/boardroom/second/").await.assert_status(204);
    changes(&mut token).await.assert_contains(&gone(second)).assert_lacks(&href(room));
    // Deleting the room takes its calendar out of bob's home.
    api(&alice, "DELETE", "rooms/boardroom", "").await.assert_status(204);
    changes(&mut token).await.assert_contains(&gone(room));

    // `owner` shares their calendar with bob: it arrives in his home.
    let shared_with_bob = async |owner: &str, token: &mut String| {
        let path = format!("collections/{owner}/calendar/shares");
        api(&server.client(owner), "POST", &path, r#"{"to": "user:bob", "right": "view"}"#)
            .await
            .assert_status(201);
        let id = collection_id(&server, owner, "calendar");
        changes(token).await.assert_contains(&href(id)).assert_lacks(&gone(id));
        id
    };

    // A shared calendar its owner deletes leaves the sharee's home.
    let alices = shared_with_bob("alice", &mut token).await;
    alice.go("DELETE", "/dav/calendars/alice/calendar/").await.assert_status(204);
    changes(&mut token).await.assert_contains(&gone(alices));

    // So does one of a member removed with their calendars deleted.
    let carols = shared_with_bob("carol", &mut token).await;
    let org = server.store().organizations().unwrap()[0].id;
    let carol_id = server.store().principal_by_slug("carol").unwrap().unwrap().id;
    let removal = davit::store::MemberRemoval {
        org_id: org,
        member_id: carol_id,
        default: davit::store::Disposition::Delete,
        per_collection: vec![],
    };
    server.store().remove_member(&removal).unwrap();
    changes(&mut token).await.assert_contains(&gone(carols));

    // And one of a user deleted outright (`davit user delete`).
    server.add_user("dave", Role::Collaborator);
    let daves = shared_with_bob("dave", &mut token).await;
    server.store().delete_user("dave").unwrap();
    changes(&mut token).await.assert_contains(&gone(daves));
    home_listing(&bob, "bob").await.assert_lacks("shared-");
    server.stop().await;
}

/// Revoking while the sharee writes: every write is either done (before the revocation) or
/// refused with 403; nothing fails otherwise, and nothing gets in afterwards.
#[tokio::test]
async fn revocation_racing_writes_gives_clean_answers() {
    let server = org_of_four().await;
    let alice = server.client("alice");
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "modify"}"#)
        .await
        .assert_status(201);
    let id = collection_id(&server, "alice", "calendar");
    let writer = tokio::spawn({
        let bob = server.client("bob");
        async move {
            let mut statuses = Vec::new();
            for i in 0..40 {
                let uid = format!("race-{i}");
                let r = bob
                    .put(&format!("/dav/calendars/bob/shared-{id}/{uid}.ics"), "text/calendar", &event(&uid))
                    .await;
                statuses.push(r.status.as_u16());
            }
            statuses
        }
    });
    // Revoke once the writes are under way.
    while alice.go("GET", "/dav/calendars/alice/calendar/race-0.ics").await.status.as_u16() != 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    api(&alice, "DELETE", "collections/alice/calendar/shares/user:bob", "").await.assert_status(204);
    let statuses = writer.await.unwrap();
    // 409: the share is gone from bob's home, so the target's parent no longer exists there
    // (RFC 4918 §9.7.1).
    assert!(statuses.iter().all(|s| matches!(s, 201 | 403 | 409)), "{statuses:?}");
    let first_refusal = statuses.iter().position(|s| *s != 201).expect("the revocation stops the writes");
    assert!(
        statuses[first_refusal..].iter().all(|s| *s != 201),
        "a write after the revocation: {statuses:?}"
    );
    let bob = server.client("bob");
    bob.put("/dav/calendars/alice/calendar/late.ics", "text/calendar", &event("late"))
        .await
        .assert_status(403);
    alice.go("GET", "/dav/calendars/alice/calendar/late.ics").await.assert_status(404);
    server.stop().await;
}

/// DAVx5 and Thunderbird fetch a share's events by calendar-multiget at the sharee's URLs.
#[tokio::test]
async fn a_sharee_multigets_and_lists_the_shared_calendar() {
    let server = org_of_four().await;
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    alice.put("/dav/calendars/alice/calendar/m1.ics", "text/calendar", &event("m1")).await.assert_status(201);
    api(&alice, "POST", "collections/alice/calendar/shares", r#"{"to": "user:bob", "right": "view"}"#)
        .await
        .assert_status(201);
    let id = collection_id(&server, "alice", "calendar");
    let mount = format!("/dav/calendars/bob/shared-{id}/");
    let multiget = format!(
        "<?xml version=\"1.0\"?><C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\
         <D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{mount}m1.ics</D:href></C:calendar-multiget>"
    );
    let r = bob.send(bob.request("REPORT", &mount).header("Depth", "1").body(multiget)).await;
    r.assert_status(207).assert_contains("UID:m1").assert_contains(&format!("{mount}m1.ics"));
    bob.propfind(&mount, "1", &propfind_body(&["D:getetag"]))
        .await
        .assert_status(207)
        .assert_contains("m1.ics");
    // carol, not a sharee, gets nothing through bob's URL or alice's.
    let carol = server.client("carol");
    let multiget_alice = "<?xml version=\"1.0\"?><C:calendar-multiget xmlns:D=\"DAV:\" \
         xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/></D:prop>\
         <D:href>/dav/calendars/alice/calendar/m1.ics</D:href></C:calendar-multiget>";
    let r = carol
        .send(
            carol
                .request("REPORT", "/dav/calendars/alice/calendar/")
                .header("Depth", "1")
                .body(multiget_alice),
        )
        .await;
    r.assert_lacks("UID:m1");
    assert_ne!(r.status.as_u16(), 207, "{}", r.body);
    server.stop().await;
}
