//! Issue #7 acceptance: every role × every way of holding access × every operation, with the
//! expected outcome of each cell written out in `EXPECTED` and asserted over HTTP (the share
//! operation goes through `davit::org::share`, the function the management API and the CLI
//! call).
//!
//! Roles: owner, admin, collaborator and external members of one organization, a member of
//! another organization ("outsider"), and an anonymous client. Ways of holding access, each a
//! calendar owned by someone else unless "own":
//! - own: the subject's own calendar;
//! - view / modify / share: sam's calendar shared directly with the subject with that right;
//! - team: sam's calendar shared (can modify) with a team every member belongs to;
//! - org: sam's calendar shared (can modify) with the whole organization;
//! - future: a team calendar created *after* every member got a grant "every calendar, write";
//! - room: a meeting room's calendar, shared (can modify) with the whole organization.

use davit::acl::Subject;
use davit::org::{self, Actor, GrantOn};
use davit::store::{
    CollectionKind, CollectionProps, ContentAccess, GrantScope, HomeKind, NewCollection, PrincipalKind, Role,
    ShareAccess, Store,
};

use crate::harness::{Client, TestServer, event};

const ROLES: [&str; 6] = ["owner", "admin", "collab", "external", "outsider", "anonymous"];
const WAYS: [&str; 8] = ["own", "view", "modify", "share", "team", "org", "future", "room"];
const OPS: [&str; 8] = ["PROPFIND", "GET", "PUT", "DELETE", "PROPPATCH", "MKCOL", "share", "REPORT"];

/// Expected status per (role, way) for PROPFIND, GET, PUT, DELETE, PROPPATCH, MKCOL, share,
/// REPORT. 207/200/201/204 succeed; 403 is `need-privileges` (or the share rules' refusal);
/// 401 asks for credentials.
const EXPECTED: &[(&str, &str, [u16; 8])] = &[
    // Owners manage every organization collection (future, room) but see members' personal
    // calendars only as shared with them.
    ("owner", "own", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("owner", "view", [207, 200, 403, 403, 403, 403, 403, 207]),
    ("owner", "modify", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("owner", "share", [207, 200, 201, 204, 403, 403, 200, 207]),
    ("owner", "team", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("owner", "org", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("owner", "future", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("owner", "room", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("admin", "own", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("admin", "view", [207, 200, 403, 403, 403, 403, 403, 207]),
    ("admin", "modify", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("admin", "share", [207, 200, 201, 204, 403, 403, 200, 207]),
    ("admin", "team", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("admin", "org", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("admin", "future", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("admin", "room", [207, 200, 201, 204, 207, 201, 200, 207]),
    // Collaborators use what they are given; a write grant is not a manage grant.
    ("collab", "own", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("collab", "view", [207, 200, 403, 403, 403, 403, 403, 207]),
    ("collab", "modify", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("collab", "share", [207, 200, 201, 204, 403, 403, 200, 207]),
    ("collab", "team", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("collab", "org", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("collab", "future", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("collab", "room", [207, 200, 201, 204, 403, 403, 403, 207]),
    // Externals never get organization-wide shares (org); the room calendar reaches them only
    // through their own grant on every organization calendar, which covers rooms too.
    ("external", "own", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("external", "view", [207, 200, 403, 403, 403, 403, 403, 207]),
    ("external", "modify", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("external", "share", [207, 200, 201, 204, 403, 403, 200, 207]),
    ("external", "team", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("external", "org", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("external", "future", [207, 200, 201, 204, 403, 403, 403, 207]),
    ("external", "room", [207, 200, 201, 204, 403, 403, 403, 207]),
    // A member of another organization holds nothing here (shares and grants stay within
    // an organization), only their own calendar.
    ("outsider", "own", [207, 200, 201, 204, 207, 201, 200, 207]),
    ("outsider", "view", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "modify", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "share", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "team", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "org", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "future", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("outsider", "room", [403, 403, 403, 403, 403, 403, 403, 403]),
    ("anonymous", "own", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "view", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "modify", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "share", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "team", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "org", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "future", [401, 401, 401, 401, 401, 401, 401, 401]),
    ("anonymous", "room", [401, 401, 401, 401, 401, 401, 401, 401]),
];

/// The user name a role signs in as ("anonymous" signs in as nobody; the collections it
/// tries are the collaborator's).
fn user_of(role: &str) -> &'static str {
    match role {
        "owner" => "olivia",
        "admin" => "adam",
        "collab" => "carla",
        "external" => "ezra",
        "outsider" => "otto",
        _ => "carla",
    }
}

/// (calendar href, home href) of the collection `role` uses for `way`.
fn place(role: &str, way: &str) -> (String, String) {
    let user = user_of(role);
    match way {
        "own" => (format!("/dav/calendars/{user}/calendar/"), format!("/dav/calendars/{user}/")),
        "view" | "modify" | "share" => {
            (format!("/dav/calendars/sam/{way}-{user}/"), "/dav/calendars/sam/".into())
        }
        "team" => ("/dav/calendars/sam/team-cal/".into(), "/dav/calendars/sam/".into()),
        "org" => ("/dav/calendars/sam/org-cal/".into(), "/dav/calendars/sam/".into()),
        "future" => ("/dav/calendars/ops/plan/".into(), "/dav/calendars/ops/".into()),
        _ => ("/dav/calendars/boardroom/calendar/".into(), "/dav/calendars/boardroom/".into()),
    }
}

fn new_calendar(store: &dyn Store, owner: &str, segment: &str) -> davit::store::Collection {
    let p = store.principal_by_slug(owner).unwrap().unwrap();
    let home = store.home(p.id, HomeKind::Calendar).unwrap().unwrap();
    store
        .create_collection(&NewCollection {
            owner_id: p.id,
            parent_id: home.id,
            segment: segment.into(),
            kind: CollectionKind::Calendar,
            props: CollectionProps { components: Some("VEVENT".into()), ..Default::default() },
            dead_props: vec![],
        })
        .expect("create calendar")
}

fn subject(store: &dyn Store, name: &str) -> Subject {
    let principal = store.principal_by_slug(name).unwrap().unwrap();
    let (organization, role) = store.role_of(principal.id).unwrap().unwrap();
    Subject { principal, organization: Some(organization), role: Some(role), scope: None }
}

async fn setup(server: &TestServer) {
    let store = server.store();
    let org = store.organizations().unwrap()[0].id;
    server.add_user_in(org, "olivia", Role::Owner);
    server.add_user_in(org, "adam", Role::Admin);
    server.add_user_in(org, "carla", Role::Collaborator);
    server.add_user_in(org, "ezra", Role::External);
    server.add_user_in(org, "sam", Role::Collaborator);
    let elsewhere = store.create_organization("Elsewhere").unwrap();
    server.add_user_in(elsewhere, "otto", Role::Owner);
    let members = ["olivia", "adam", "carla", "ezra"];

    for user in members {
        for (way, access) in
            [("view", ShareAccess::View), ("modify", ShareAccess::Modify), ("share", ShareAccess::Share)]
        {
            let c = new_calendar(store, "sam", &format!("{way}-{user}"));
            org::share(store, Actor::Operator, &c, &format!("user:{user}"), access).expect("share");
        }
    }
    // The outsider's collections exist too, so their refusals are about access, not absence;
    // sharing with someone of another organization is refused.
    for way in ["view", "modify", "share"] {
        let c = new_calendar(store, "sam", &format!("{way}-otto"));
        let refused = org::share(store, Actor::Operator, &c, "user:otto", ShareAccess::Share);
        assert!(matches!(refused, Err(org::OrgError::Invalid(_))), "{refused:?}");
    }
    let team =
        org::create_group(store, Actor::Operator, org, PrincipalKind::Team, "everyone", "Everyone", None)
            .unwrap();
    for user in members {
        org::set_team_member(store, Actor::Operator, org, "everyone", user, true).unwrap();
    }
    assert_eq!(store.team_members(team.id).unwrap().len(), 4);
    let team_cal = new_calendar(store, "sam", "team-cal");
    org::share(store, Actor::Operator, &team_cal, "team:everyone", ShareAccess::Modify).unwrap();
    let org_cal = new_calendar(store, "sam", "org-cal");
    org::share(store, Actor::Operator, &org_cal, "org", ShareAccess::Modify).unwrap();

    // Grants first, then the collection: "every current and future calendar".
    org::create_group(store, Actor::Operator, org, PrincipalKind::Team, "ops", "Operations", None).unwrap();
    for user in members {
        org::add_grant(
            store,
            Actor::Operator,
            org,
            &format!("user:{user}"),
            &GrantOn::Every(GrantScope::Calendars),
            ContentAccess::Write,
            false,
        )
        .unwrap();
    }
    new_calendar(store, "ops", "plan");

    org::create_group(store, Actor::Operator, org, PrincipalKind::Room, "boardroom", "Board room", None)
        .unwrap();
    let room_cal = org::find_collection(store, "boardroom/calendar").unwrap();
    org::share(store, Actor::Operator, &room_cal, "org", ShareAccess::Modify).unwrap();

    // Objects to read and delete, written by their owners over HTTP.
    for role in &ROLES[..5] {
        for way in WAYS {
            let (cal, _) = place(role, way);
            let owner = cal.split('/').nth(3).unwrap();
            let writer = match owner {
                "ops" | "boardroom" => "olivia",
                other => other,
            };
            let c = server.client(writer);
            let user = user_of(role);
            c.put(&format!("{cal}get.ics"), "text/calendar", &event(&format!("get-{owner}-{way}"))).await;
            c.put(&format!("{cal}del-{user}.ics"), "text/calendar", &event(&format!("del-{user}-{way}")))
                .await
                .assert_status(201);
        }
    }
}

async fn perform(server: &TestServer, client: &Client, role: &str, way: &str, op: &str) -> u16 {
    let (cal, home) = place(role, way);
    let user = user_of(role);
    let reply = match op {
        "PROPFIND" => client.propfind(&cal, "0", &crate::harness::propfind_body(&["D:displayname"])).await,
        "GET" => client.go("GET", &format!("{cal}get.ics")).await,
        "PUT" => {
            let uid = format!("put-{user}-{way}");
            client.put(&format!("{cal}{uid}.ics"), "text/calendar", &event(&uid)).await
        }
        "DELETE" => client.go("DELETE", &format!("{cal}del-{user}.ics")).await,
        "PROPPATCH" => {
            let body = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>\
                        <D:displayname>renamed</D:displayname></D:prop></D:set></D:propertyupdate>";
            let r = client.body("PROPPATCH", &cal, body).await;
            // A refused PROPPATCH of a whole resource is 403; a 207 must say 200 inside.
            if r.status.as_u16() == 207 {
                r.assert_contains("200 OK");
            }
            r
        }
        "MKCOL" => client.go("MKCALENDAR", &format!("{home}new-{user}-{way}/")).await,
        "REPORT" => {
            let body = "<?xml version=\"1.0\"?><C:calendar-query xmlns:D=\"DAV:\" \
                        xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/></D:prop>\
                        <C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter></C:calendar-query>";
            client.send(client.request("REPORT", &cal).header("Depth", "1").body(body)).await
        }
        _ => {
            // share: through the same function the API and CLI use.
            if role == "anonymous" {
                return 401;
            }
            let store = server.store();
            let subject = subject(store, user);
            let collection = match org::find_collection(store, cal.trim_start_matches("/dav/calendars/")) {
                Ok(c) => c,
                Err(_) => return 404,
            };
            return match org::share(store, Actor::User(&subject), &collection, "org", ShareAccess::View) {
                Ok(_) => 200,
                Err(org::OrgError::Forbidden(_)) => 403,
                Err(org::OrgError::Invalid(_)) => 400,
                Err(org::OrgError::NotFound(_)) => 404,
                Err(e) => panic!("share by {user} on {cal}: {e}"),
            };
        }
    };
    if reply.status.as_u16() == 403 && op != "MKCOL" {
        reply.assert_contains("need-privileges");
    }
    reply.status.as_u16()
}

#[tokio::test]
async fn every_role_every_way_every_operation() {
    let server = TestServer::start().await;
    setup(&server).await;
    assert_eq!(EXPECTED.len(), ROLES.len() * WAYS.len());
    let mut failures = Vec::new();
    let mut cells = 0;
    // Operations outermost, share last: a manager's share must not change what the later
    // cells of other roles see.
    for (i, op) in OPS.iter().enumerate() {
        for (role, way, expected) in EXPECTED {
            let client = match *role {
                "anonymous" => server.anonymous(),
                r => server.client(user_of(r)),
            };
            let got = perform(&server, &client, role, way, op).await;
            cells += 1;
            if got != expected[i] {
                failures.push(format!("{role} × {way} × {op}: expected {}, got {got}", expected[i]));
            }
        }
    }
    assert_eq!(cells, 384);
    assert!(failures.is_empty(), "{} of {cells} cells differ:\n{}", failures.len(), failures.join("\n"));
    server.stop().await;
}
