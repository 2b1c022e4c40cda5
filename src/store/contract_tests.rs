//! The behaviour every `Store` implementation must show. Run against SQLite here; a future
//! backend adds one line calling `run_all`.

use super::*;

fn new_user(store: &dyn Store, slug: &str, org: Id, role: Role) -> Principal {
    store
        .create_user(&NewUser {
            slug: slug.into(),
            display_name: slug.into(),
            email: Some(format!("{slug}@example.org")),
            password_hash: "x".into(),
            org_id: org,
            role,
        })
        .expect("create user")
}

fn calendar_of(store: &dyn Store, p: &Principal) -> Collection {
    let home = store.home(p.id, HomeKind::Calendar).unwrap().expect("home");
    store.child_collection(home.id, "calendar").unwrap().expect("default calendar")
}

/// A plain WebDAV collection of `owner` named `segment` below `parent`.
fn plain_collection(owner: &Principal, segment: &str, parent: Id) -> NewCollection {
    NewCollection {
        owner_id: owner.id,
        parent_id: parent,
        segment: segment.into(),
        kind: CollectionKind::Plain,
        props: CollectionProps::default(),
        dead_props: vec![],
    }
}

fn put(store: &dyn Store, coll: Id, seg: &str, body: &[u8], expect: Expect) -> StoreResult<PutOutcome> {
    store.put_object(&PutObject {
        collection_id: coll,
        segment: seg,
        body,
        content_type: "text/plain",
        expect,
        index: ObjectIndex::default(),
    })
}

pub fn run_all(store: &dyn Store) {
    let org = store.create_organization("Acme").unwrap();
    assert!(matches!(store.create_organization("Acme"), Err(StoreError::AlreadyExists)));
    let alice = new_user(store, "alice", org, Role::Owner);
    users_and_defaults(store, &alice, org);
    compare_and_swap(store, &alice);
    change_log(store, &alice);
    change_log_keeps_each_members_latest_change(store, &alice);
    uid_conflicts(store, &alice);
    copy_move_tree(store, &alice);
    dead_props_atomic(store, &alice);
    locate_in_home(store, &alice);
    query_prefilter(store, &alice);
    app_passwords(store, &alice);
    feeds(store, &alice);
    two_factor(store, &alice);
    login_record(store, &alice, org);
    web_sessions(store, &alice);
    organization_model(store, &alice, org);
}

/// `locate_in_home` in one read answers what the point lookups answer one at a time.
fn locate_in_home(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    put(store, cal.id, "locate.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", Expect::Absent).unwrap();
    let stepwise = |owner: &str, segments: &[&str]| -> (Option<Id>, Option<Id>, Vec<Id>, Option<Id>) {
        let Some(p) = store.principal_by_slug(owner).unwrap() else { return (None, None, vec![], None) };
        let Some(home) = store.home(p.id, HomeKind::Calendar).unwrap() else {
            return (Some(p.id), None, vec![], None);
        };
        let (mut parent, mut chain, mut object) = (home.id, vec![], None);
        for (i, segment) in segments.iter().enumerate() {
            match store.child_collection(parent, segment).unwrap() {
                Some(c) => {
                    parent = c.id;
                    chain.push(c.id);
                }
                None => {
                    if i + 1 == segments.len() {
                        object = store.object(parent, segment).unwrap().map(|o| o.id);
                    }
                    break;
                }
            }
        }
        (Some(p.id), Some(home.id), chain, object)
    };
    let cases: [(&str, &[&str]); 8] = [
        ("alice", &[]),
        ("alice", &["calendar"]),
        ("alice", &["calendar", "locate.ics"]),
        ("alice", &["calendar", "missing.ics"]),
        ("alice", &["missing", "locate.ics"]),
        ("alice", &["calendar", "locate.ics", "below-an-object"]),
        ("alice", &["calendar", "missing", "deeper.ics"]),
        ("nobody", &["calendar"]),
    ];
    for (owner, segments) in cases {
        let owned: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
        let found = store.locate_in_home(owner, HomeKind::Calendar, &owned).unwrap();
        let got = (
            found.owner.map(|p| p.id),
            found.home.map(|h| h.id),
            found.collections.iter().map(|c| c.id).collect::<Vec<_>>(),
            found.object.map(|o| o.id),
        );
        assert_eq!(got, stepwise(owner, segments), "{owner} {segments:?}");
    }
    let found =
        store.locate_in_home("alice", HomeKind::Calendar, &["calendar".into(), "locate.ics".into()]).unwrap();
    assert_eq!(found.collections.last().map(|c| c.id), Some(cal.id));
    assert_eq!(found.object.map(|o| o.segment).as_deref(), Some("locate.ics"));
    store.delete_object(cal.id, "locate.ics", &Expect::Anything).unwrap();
}

/// Roles never reach zero owners; shares reach users directly, through teams and through the
/// organization (not its externals); grants cover future collections; invitations become
/// shares; removal transfers or deletes in one go.
fn organization_model(store: &dyn Store, alice: &Principal, org: Id) {
    let bob = new_user(store, "org-bob", org, Role::Collaborator);
    let ext = new_user(store, "org-ext", org, Role::External);
    let other_org = store.create_organization("Other").unwrap();
    let stranger = new_user(store, "org-stranger", other_org, Role::Owner);
    assert!(matches!(store.set_role(other_org, stranger.id, Role::Admin), Err(StoreError::Conflict(_))));
    store.set_role(org, bob.id, Role::Admin).unwrap();
    store.set_role(org, bob.id, Role::Collaborator).unwrap();

    let cal = calendar_of(store, alice);
    let access = |user: &Principal| store.collection_access(user.id, cal.id).unwrap().held.content;
    assert_eq!(access(&bob), ContentAccess::None);
    store.put_share(cal.id, &Grantee::Organization(org), ShareAccess::View, alice.id).unwrap();
    assert_eq!(access(&bob), ContentAccess::Read);
    assert_eq!(access(&ext), ContentAccess::None, "organization-wide shares skip externals");
    assert_eq!(access(&stranger), ContentAccess::None);
    let team = store.create_group_principal(org, PrincipalKind::Team, "org-team", "Team", None).unwrap();
    assert!(store.set_team_member(team.id, ext.id, true).unwrap());
    assert!(matches!(store.set_team_member(team.id, stranger.id, true), Err(StoreError::Conflict(_))));
    store.put_share(cal.id, &Grantee::Team(team.id), ShareAccess::Modify, alice.id).unwrap();
    assert_eq!(access(&ext), ContentAccess::Write);
    assert_eq!(store.teams_of(ext.id).unwrap()[0].slug, "org-team");
    // A second share for the same grantee changes the right; revocation ends it.
    store.put_share(cal.id, &Grantee::Team(team.id), ShareAccess::View, alice.id).unwrap();
    assert_eq!(store.shares(cal.id).unwrap().len(), 2);
    assert_eq!(access(&ext), ContentAccess::Read);
    assert!(store.revoke_share(cal.id, &Grantee::Team(team.id)).unwrap());
    assert_eq!(access(&ext), ContentAccess::None);
    let mounted = store.mounted_collections(bob.id, HomeKind::Calendar).unwrap();
    assert_eq!(mounted.iter().map(|m| m.collection.id).collect::<Vec<_>>(), vec![cal.id]);
    store
        .set_sharee_props(bob.id, cal.id, &[(CollectionField::Displayname, Some("Alice's".into()))])
        .unwrap();
    let mounted = store.mounted_collections(bob.id, HomeKind::Calendar).unwrap();
    assert_eq!(mounted[0].sharee_displayname.as_deref(), Some("Alice's"));
    store.decline_share(bob.id, cal.id).unwrap();
    assert!(store.mounted_collections(bob.id, HomeKind::Calendar).unwrap().is_empty());
    assert_eq!(access(&bob), ContentAccess::None, "a declined share gives nothing");

    // Grants on every calendar reach a room calendar created afterwards.
    store
        .add_grant(&NewGrant {
            org_id: org,
            grantee_id: team.id,
            collection_id: None,
            scope: GrantScope::Calendars,
            use_access: ContentAccess::Read,
            manage: false,
        })
        .unwrap();
    let room = store.create_group_principal(org, PrincipalKind::Room, "org-room", "Room", None).unwrap();
    let room_home = store.home(room.id, HomeKind::Calendar).unwrap().unwrap();
    let room_cal = store.child_collection(room_home.id, "calendar").unwrap().unwrap();
    let facts = store.collection_access(ext.id, room_cal.id).unwrap();
    assert_eq!((facts.organization, facts.held.content), (Some(org), ContentAccess::Read));
    assert_eq!(store.collection_access(stranger.id, room_cal.id).unwrap().held.content, ContentAccess::None);

    // An invitation to an unknown address becomes a share when that address signs up.
    store
        .put_share(cal.id, &Grantee::Email("Newcomer@Example.org".into()), ShareAccess::Modify, alice.id)
        .unwrap();
    assert!(store.touch_invitation(cal.id, "newcomer@example.org").unwrap());
    let newcomer = store
        .create_user(&NewUser {
            slug: "org-newcomer".into(),
            display_name: "N".into(),
            email: Some("newcomer@example.org".into()),
            password_hash: "x".into(),
            org_id: org,
            role: Role::Collaborator,
        })
        .unwrap();
    assert_eq!(store.collection_access(newcomer.id, cal.id).unwrap().held.content, ContentAccess::Write);
    assert!(store.shares(cal.id).unwrap().iter().all(|s| !matches!(s.grantee, Grantee::Email(_))));

    // Removal: the last owner stays; a transfer keeps the collection and its shares.
    let last_owner = MemberRemoval {
        org_id: other_org,
        member_id: stranger.id,
        default: Disposition::Delete,
        per_collection: vec![],
    };
    assert!(matches!(store.remove_member(&last_owner), Err(StoreError::Conflict(_))));
    let bob_cal = calendar_of(store, &bob);
    store.put_share(bob_cal.id, &Grantee::User(newcomer.id), ShareAccess::View, bob.id).unwrap();
    let report = store
        .remove_member(&MemberRemoval {
            org_id: org,
            member_id: bob.id,
            default: Disposition::Delete,
            per_collection: vec![(bob_cal.id, Disposition::TransferTo(alice.id))],
        })
        .unwrap();
    assert_eq!(report.transferred, vec![(bob_cal.id, "calendar-org-bob".to_owned(), alice.id)]);
    assert_eq!(report.deleted.len(), 2, "tasks and contacts");
    let moved = store.collection(bob_cal.id).unwrap().unwrap();
    assert_eq!(moved.owner_id, alice.id);
    assert_eq!(store.shares(bob_cal.id).unwrap().len(), 1, "shares are kept");
    assert!(store.principal_by_id(bob.id).unwrap().is_none());
}

fn two_factor(store: &dyn Store, alice: &Principal) {
    assert!(store.two_factor(alice.id).unwrap().is_none());
    assert!(!store.accept_totp_step(alice.id, 5).unwrap(), "nothing to accept before enrolment");
    store.begin_two_factor(alice.id, b"first key").unwrap();
    store.begin_two_factor(alice.id, b"second key").unwrap();
    let pending = store.two_factor(alice.id).unwrap().unwrap();
    assert_eq!(pending, TwoFactor { secret: b"second key".to_vec(), enabled: false, last_step: None });
    assert!(!store.accept_totp_step(alice.id, 5).unwrap(), "a pending enrolment accepts no login code");
    let codes: Vec<String> = (0..3).map(|i| format!("code-hash-{i}")).collect();
    // Sessions signed in with the password alone end when the second factor comes into force.
    let before = NewWebSession {
        id_hash: "h-before-2fa",
        user_id: alice.id,
        csrf_token: "c",
        second_factor_pending: false,
        created_at: 1,
        expires_at: i64::MAX,
    };
    store.create_web_session(&before).unwrap();
    assert!(store.enable_two_factor(alice.id, 100, &codes).unwrap());
    assert!(store.web_session("h-before-2fa").unwrap().is_none(), "enabling ends every web session");
    store.create_web_session(&NewWebSession { id_hash: "h-after-2fa", ..before }).unwrap();
    assert!(!store.enable_two_factor(alice.id, 101, &codes).unwrap(), "already on");
    assert!(store.web_session("h-after-2fa").unwrap().is_some(), "a refused enabling ends nothing");
    store.delete_web_session("h-after-2fa").unwrap();
    assert!(matches!(store.begin_two_factor(alice.id, b"x"), Err(StoreError::AlreadyExists)));
    assert_eq!(store.two_factor(alice.id).unwrap().unwrap().last_step, Some(100));
    // Replay protection: only a later step is accepted, and only once.
    assert!(!store.accept_totp_step(alice.id, 100).unwrap());
    assert!(!store.accept_totp_step(alice.id, 99).unwrap());
    assert!(store.accept_totp_step(alice.id, 101).unwrap());
    assert!(!store.accept_totp_step(alice.id, 101).unwrap());
    // Recovery codes are single use.
    assert_eq!(store.recovery_codes_left(alice.id).unwrap(), 3);
    assert!(store.use_recovery_code(alice.id, "code-hash-1").unwrap());
    assert!(!store.use_recovery_code(alice.id, "code-hash-1").unwrap());
    assert!(!store.use_recovery_code(alice.id, "no-such-hash").unwrap());
    assert!(!store.use_recovery_code(alice.id + 1000, "code-hash-2").unwrap(), "only the owner's");
    assert_eq!(store.recovery_codes_left(alice.id).unwrap(), 2);
    // Turning it off removes everything, sessions included.
    store
        .create_web_session(&NewWebSession {
            id_hash: "h-2fa",
            user_id: alice.id,
            csrf_token: "c",
            second_factor_pending: false,
            created_at: 1,
            expires_at: i64::MAX,
        })
        .unwrap();
    assert!(store.disable_two_factor(alice.id).unwrap());
    assert!(!store.disable_two_factor(alice.id).unwrap());
    assert!(store.two_factor(alice.id).unwrap().is_none());
    assert_eq!(store.recovery_codes_left(alice.id).unwrap(), 0);
    assert!(store.web_session("h-2fa").unwrap().is_none());
}

/// `login_record` is `login_credentials`, the principal, two-factor state and `role_of` at once,
/// and follows every change of them.
fn login_record(store: &dyn Store, alice: &Principal, org: Id) {
    let check = |login: &str| {
        let record = store.login_record(login).unwrap().expect("alice logs in");
        let creds = store.login_credentials(login).unwrap().unwrap();
        assert_eq!(
            (record.credentials.user_id, &record.credentials.password_hash),
            (creds.user_id, &creds.password_hash)
        );
        assert_eq!(record.principal, store.principal_by_id(alice.id).unwrap().unwrap());
        assert_eq!(record.two_factor_on, store.two_factor(alice.id).unwrap().is_some_and(|t| t.enabled));
        assert_eq!(record.membership, store.role_of(alice.id).unwrap());
        record
    };
    let before = check("alice");
    assert!(!before.two_factor_on);
    assert_eq!(before.membership.as_ref().map(|(o, r)| (o.id, *r)), Some((org, Role::Owner)));
    assert!(store.login_record("nobody").unwrap().is_none());
    assert_eq!(check("ALICE@example.org").principal.id, alice.id, "e-mail login, any case");
    // A user whose name is someone else's e-mail address: the name wins, the address still
    // reaches its owner through another spelling.
    let twin = store
        .create_user(&NewUser {
            slug: "alice@example.org".into(),
            display_name: "Twin".into(),
            email: None,
            password_hash: "y".into(),
            org_id: org,
            role: Role::Collaborator,
        })
        .unwrap();
    for lookup in [
        store.login_record("alice@example.org").unwrap().map(|r| r.credentials.user_id),
        store.login_credentials("alice@example.org").unwrap().map(|c| c.user_id),
    ] {
        assert_eq!(lookup, Some(twin.id));
    }
    assert_eq!(store.login_record("Alice@Example.org").unwrap().map(|r| r.principal.id), Some(alice.id));
    store.delete_user("alice@example.org").unwrap();
    assert_eq!(check("alice@example.org").principal.id, alice.id);
    store.begin_two_factor(alice.id, b"key").unwrap();
    assert!(!check("alice").two_factor_on, "a pending enrolment is not on");
    store.enable_two_factor(alice.id, 1, &[]).unwrap();
    assert!(check("alice").two_factor_on);
    store.disable_two_factor(alice.id).unwrap();
    assert!(!check("alice").two_factor_on);
}

fn web_sessions(store: &dyn Store, alice: &Principal) {
    let new = |id_hash, created_at, expires_at| NewWebSession {
        id_hash,
        user_id: alice.id,
        csrf_token: "csrf",
        second_factor_pending: true,
        created_at,
        expires_at,
    };
    store.create_web_session(&new("h-old", 10, 20)).unwrap();
    store.create_web_session(&new("h-1", 100, 1_000)).unwrap();
    assert!(store.web_session("h-old").unwrap().is_none(), "expired sessions are dropped");
    assert!(matches!(store.create_web_session(&new("h-1", 100, 1_000)), Err(StoreError::AlreadyExists)));
    let s = store.web_session("h-1").unwrap().unwrap();
    assert_eq!((s.user_id, s.csrf_token.as_str(), s.second_factor_pending), (alice.id, "csrf", true));
    assert_eq!((s.created_at, s.last_seen_at, s.expires_at), (100, 100, 1_000));
    store.touch_web_session("h-1", 150).unwrap();
    assert_eq!(store.web_session("h-1").unwrap().unwrap().last_seen_at, 150);
    store.create_web_session(&new("h-2", 100, 1_000)).unwrap();
    assert!(store.delete_web_session("h-2").unwrap());
    assert!(!store.delete_web_session("h-2").unwrap());
    // A password change ends every session of the user.
    store.create_web_session(&new("h-3", 100, 1_000)).unwrap();
    store.set_password(&alice.slug, "new hash").unwrap();
    assert!(store.web_session("h-1").unwrap().is_none());
    assert!(store.web_session("h-3").unwrap().is_none());
    store.create_web_session(&new("h-4", 100, 1_000)).unwrap();
    assert_eq!(store.delete_web_sessions(alice.id).unwrap(), 1);
}

fn app_passwords(store: &dyn Store, alice: &Principal) {
    let scope = AppPasswordScope { read_only: true, collections: Some(vec![7, 9]) };
    let phone = store.create_app_password(alice.id, "Phone", "hash-1", &scope).unwrap();
    let laptop =
        store.create_app_password(alice.id, "Laptop", "hash-2", &AppPasswordScope::default()).unwrap();
    let list = store.app_passwords(alice.id).unwrap();
    assert_eq!(list.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["Laptop", "Phone"]);
    assert_eq!(list[1].scope, scope, "scope round-trips");
    store.record_app_password_use(phone, Some("DAVx5/4.4"), "192.0.2.1").unwrap();
    let used = store.app_passwords(alice.id).unwrap().into_iter().find(|p| p.id == phone).unwrap();
    assert_eq!(used.last_user_agent.as_deref(), Some("DAVx5/4.4"));
    assert!(used.last_used_at.is_some());
    assert!(store.revoke_app_password(alice.id, laptop).unwrap());
    assert!(!store.revoke_app_password(alice.id, laptop).unwrap(), "already revoked");
    assert!(!store.revoke_app_password(alice.id + 1000, phone).unwrap(), "only the owner revokes");
    let secrets = store.app_password_secrets(alice.id).unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].secret_hash, "hash-1");
    // The one-snapshot read HTTP authentication uses gives the same answers.
    let (record, with) = store.login_with_app_passwords("alice", true).unwrap().expect("alice");
    assert_eq!(record.credentials.user_id, alice.id);
    assert_eq!(with.iter().map(|s| (s.id, s.secret_hash.as_str())).collect::<Vec<_>>(), [(phone, "hash-1")]);
    assert_eq!(with[0].scope, scope);
    let (record, without) = store.login_with_app_passwords("alice", false).unwrap().expect("alice");
    assert_eq!((record.principal.id, without.len()), (alice.id, 0));
    assert!(store.login_with_app_passwords("nobody", true).unwrap().is_none());
}

fn feeds(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    let settings = FeedSettings { busy_only: false, show_attendees: false };
    store.set_feed(cal.id, "token-a", &settings).unwrap();
    assert_eq!(store.feed_by_token_hash("token-a").unwrap().unwrap().collection.id, cal.id);
    // Regenerating replaces the token: the old one is dead at once.
    let busy = FeedSettings { busy_only: true, show_attendees: false };
    store.set_feed(cal.id, "token-b", &busy).unwrap();
    assert!(store.feed_by_token_hash("token-a").unwrap().is_none());
    assert_eq!(store.feed_of(cal.id).unwrap(), Some(busy));
    let first = store.object_bodies_after(cal.id, "", 2).unwrap();
    assert_eq!(first.len(), 2);
    assert!(first[0].0 < first[1].0, "in segment order");
    let rest = store.object_bodies_after(cal.id, &first[1].0, 1000).unwrap();
    assert!(rest.iter().all(|(segment, _)| *segment > first[1].0));
    assert!(rest.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(store.remove_feed(cal.id).unwrap());
    assert!(store.feed_by_token_hash("token-b").unwrap().is_none());
}

fn query_prefilter(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    // Bodies of different lengths, and an instance list for one: the candidates of a query
    // share one buffer, so each must get exactly its own slice of it.
    let body_of = |seg: &str| format!("body of {seg}").repeat(seg.len());
    let list_of = |seg: &str| (seg == "jan.ics").then(|| vec![1, 2, 3, 4, 5]);
    let put_indexed = |seg: &str, comp: &str, first: Option<i64>, last: Option<i64>| {
        store
            .put_object(&PutObject {
                collection_id: cal.id,
                segment: seg,
                body: body_of(seg).as_bytes(),
                content_type: "text/calendar",
                expect: Expect::Anything,
                index: ObjectIndex {
                    uid: Some(seg.into()),
                    comp_type: Some(comp.into()),
                    first_start: first,
                    last_end: last,
                    instances: list_of(seg),
                    search: vec![("FN".into(), format!("name of {seg}"))],
                },
            })
            .unwrap();
    };
    put_indexed("jan.ics", "VEVENT", Some(100), Some(200));
    put_indexed("forever.ics", "VEVENT", Some(150), None);
    put_indexed("later.ics", "VEVENT", Some(500), Some(600));
    put_indexed("undated.ics", "VTODO", None, None);
    let names = |comp: Option<&str>, start: Option<i64>, end: Option<i64>| -> Vec<String> {
        let found = store.query_candidates(cal.id, comp, Some(TimeSpan { start, end })).unwrap();
        let mut names: Vec<String> = found
            .into_iter()
            .filter(|(m, _)| m.segment.ends_with(".ics") && m.uid.is_some())
            .map(|(m, _)| m.segment)
            .collect();
        names.retain(|n| ["jan.ics", "forever.ics", "later.ics", "undated.ics"].contains(&n.as_str()));
        names
    };
    assert_eq!(names(Some("VEVENT"), Some(190), Some(210)), ["forever.ics", "jan.ics"]);
    assert_eq!(names(Some("VEVENT"), Some(200), Some(300)), ["forever.ics"], "end is exclusive");
    assert_eq!(names(Some("VEVENT"), Some(0), Some(100)), Vec::<String>::new(), "start bound is exclusive");
    assert_eq!(names(Some("VTODO"), Some(0), Some(1)), ["undated.ics"], "undated objects always qualify");
    assert_eq!(names(None, None, Some(120)), ["jan.ics", "undated.ics"]);
    let found = store
        .indexed_candidates(cal.id, Some("VEVENT"), Some(TimeSpan { start: Some(0), end: None }))
        .unwrap();
    let mine: Vec<_> = found
        .iter()
        .filter(|c| ["jan.ics", "forever.ics", "later.ics"].contains(&c.meta.segment.as_str()))
        .collect();
    assert_eq!(mine.len(), 3, "jan, forever and later");
    for c in mine {
        assert_eq!(&c.body[..], body_of(&c.meta.segment).as_bytes(), "{}", c.meta.segment);
        assert_eq!(c.instances.as_deref(), list_of(&c.meta.segment).as_deref(), "{}", c.meta.segment);
    }
    let cards: Vec<String> = store
        .card_candidates(cal.id, "FN", "%of jan%")
        .unwrap()
        .into_iter()
        .map(|(m, _)| m.segment)
        .collect();
    assert_eq!(cards, ["jan.ics"], "card index search");
    assert!(store.card_candidates(cal.id, "EMAIL", "%jan%").unwrap().is_empty(), "field-specific");
}

fn users_and_defaults(store: &dyn Store, alice: &Principal, org: Id) {
    assert!(
        store.login_credentials("ALICE@example.org").unwrap().is_some(),
        "e-mail login is case-insensitive"
    );
    assert!(store.login_credentials("nobody").unwrap().is_none());
    let cal_home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let names: Vec<String> = store
        .members(cal_home.id)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            Member::Collection(c) => Some(c.segment),
            Member::Object(_) => None,
        })
        .collect();
    assert_eq!(names, ["calendar", "tasks"]);
    let book_home = store.home(alice.id, HomeKind::Addressbook).unwrap().unwrap();
    assert!(store.child_collection(book_home.id, "contacts").unwrap().is_some());
    // The last owner stays; a second owner makes removal possible.
    assert!(matches!(store.delete_user("alice"), Err(StoreError::Conflict(_))));
    let bob = new_user(store, "bob", org, Role::Owner);
    store.delete_user("bob").unwrap();
    assert!(store.principal_by_id(bob.id).unwrap().is_none());
    assert!(store.home(bob.id, HomeKind::Calendar).unwrap().is_none(), "homes go with the user");
}

fn compare_and_swap(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    let first = put(store, cal.id, "a.txt", b"one", Expect::Absent).unwrap();
    assert!(first.created);
    assert!(matches!(
        put(store, cal.id, "a.txt", b"two", Expect::Absent),
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        put(store, cal.id, "a.txt", b"two", Expect::Etag("nope".into())),
        Err(StoreError::PreconditionFailed)
    ));
    let second = put(store, cal.id, "a.txt", b"two", Expect::Etag(first.etag.clone())).unwrap();
    assert!(!second.created);
    assert_ne!(first.etag, second.etag);
    assert_eq!(
        store.object_body(store.object(cal.id, "a.txt").unwrap().unwrap().id).unwrap().unwrap(),
        b"two"
    );
    assert_eq!(
        put(store, cal.id, "b.txt", b"two", Expect::Anything).unwrap().etag,
        second.etag,
        "ETag derives from bytes"
    );
    store.delete_object(cal.id, "b.txt", &Expect::Anything).unwrap();
}

/// Every kind of write leaves exactly one log row per member, its latest change (RFC 6578 §3.8
/// reports each member once), whatever mechanism prunes the older rows.
fn change_log_keeps_each_members_latest_change(store: &dyn Store, alice: &Principal) {
    let home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let plain = |seg: &str, parent: Id| plain_collection(alice, seg, parent);
    let one = store.create_collection(&plain("log-one", home.id)).unwrap();
    let two = store.create_collection(&plain("log-two", home.id)).unwrap();
    // (segment, deleted) of every logged member, in log order; panics on a repeated member.
    let log = |coll: Id| -> Vec<(String, bool)> {
        let set = store.changes_since(coll, 0, 1000).unwrap();
        let mut seen = std::collections::HashSet::new();
        for c in &set.changes {
            assert!(seen.insert(c.segment.clone()), "{} logged twice: {:?}", c.segment, set.changes);
        }
        set.changes.iter().map(|c| (c.segment.clone(), c.deleted)).collect()
    };
    let object_id = |coll: Id, seg: &str| store.object(coll, seg).unwrap().expect(seg).id;
    let transfer = |id: Id, dest: Id, seg: &str, is_move: bool, overwrite: bool| {
        store
            .transfer(&Transfer {
                source: NodeRef::Object(id),
                dest_parent: dest,
                dest_segment: seg.into(),
                overwrite,
                recursive: true,
                is_move,
            })
            .unwrap()
    };

    put(store, one.id, "a", b"1", Expect::Anything).unwrap();
    put(store, one.id, "a", b"2", Expect::Anything).unwrap();
    put(store, one.id, "a", b"3", Expect::Anything).unwrap();
    put(store, one.id, "b", b"1", Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("a".into(), false), ("b".into(), false)]);
    put(store, one.id, "a", b"4", Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), false)], "an update moves to the end");

    store.delete_object(one.id, "a", &Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), true)]);
    put(store, one.id, "a", b"5", Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), false)], "re-created");
    put(store, one.id, "a", b"6", Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), false)]);

    // MOVE within the collection (a rename), then to the other collection and back.
    transfer(object_id(one.id, "a"), one.id, "c", true, false);
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), true), ("c".into(), false)]);
    put(store, one.id, "c", b"7", Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), true), ("c".into(), false)]);
    // Revisions count per collection: fill the other one past this one's, so that a revision
    // carried along by the moved object would name one of its rows.
    let fill: Vec<(String, bool)> = (0..store.collection(one.id).unwrap().unwrap().rev + 2)
        .map(|i| {
            put(store, two.id, &format!("fill-{i}"), b"f", Expect::Anything).unwrap();
            (format!("fill-{i}"), false)
        })
        .collect();
    assert_eq!(log(two.id), fill);
    transfer(object_id(one.id, "c"), two.id, "c", true, false);
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), true), ("c".into(), true)]);
    assert_eq!(log(two.id), [fill.clone(), vec![("c".into(), false)]].concat());
    put(store, two.id, "c", b"8", Expect::Anything).unwrap();
    assert_eq!(
        log(two.id),
        [fill.clone(), vec![("c".into(), false)]].concat(),
        "the moved object's own row is replaced"
    );
    for (seg, _) in &fill {
        store.delete_object(two.id, seg, &Expect::Anything).unwrap();
    }
    let unfilled = |coll: Id| -> Vec<(String, bool)> {
        log(coll).into_iter().filter(|(seg, _)| !seg.starts_with("fill-")).collect()
    };
    assert_eq!(log(one.id).len(), 3, "...and nothing in the collection it left");
    transfer(object_id(two.id, "c"), one.id, "c", true, false);
    assert_eq!(log(one.id), [("b".into(), false), ("a".into(), true), ("c".into(), false)]);
    assert_eq!(unfilled(two.id), [("c".into(), true)]);

    // COPY, then MOVE over an existing member (Overwrite: T) and DELETE of the survivor.
    transfer(object_id(one.id, "b"), two.id, "b", false, false);
    assert_eq!(unfilled(two.id), [("c".into(), true), ("b".into(), false)]);
    put(store, two.id, "b", b"9", Expect::Anything).unwrap();
    assert_eq!(unfilled(two.id), [("c".into(), true), ("b".into(), false)]);
    assert_eq!(
        log(one.id),
        [("b".into(), false), ("a".into(), true), ("c".into(), false)],
        "the source keeps its row"
    );
    transfer(object_id(one.id, "c"), one.id, "b", true, true);
    assert_eq!(log(one.id), [("a".into(), true), ("c".into(), true), ("b".into(), false)]);
    put(store, one.id, "b", b"10", Expect::Anything).unwrap();
    store.delete_object(one.id, "b", &Expect::Anything).unwrap();
    assert_eq!(log(one.id), [("a".into(), true), ("c".into(), true), ("b".into(), true)]);

    // Sub-collections: created, deleted, created again.
    let sub = store.create_collection(&plain("sub", one.id)).unwrap();
    store.delete_collection(sub.id).unwrap();
    store.create_collection(&plain("sub", one.id)).unwrap();
    assert_eq!(log(one.id).last(), Some(&("sub/".into(), false)));
    assert_eq!(log(one.id).len(), 4);
    store.delete_collection(two.id).unwrap();
    store.delete_collection(one.id).unwrap();
}

fn change_log(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    let start = store.collection(cal.id).unwrap().unwrap().rev;
    put(store, cal.id, "c.txt", b"c", Expect::Anything).unwrap();
    let same = store.collection(cal.id).unwrap().unwrap().rev;
    put(store, cal.id, "c.txt", b"c", Expect::Anything).unwrap();
    assert_eq!(store.collection(cal.id).unwrap().unwrap().rev, same, "identical PUT is no change");
    store.delete_object(cal.id, "c.txt", &Expect::Anything).unwrap();
    let set = store.changes_since(cal.id, start, 100).unwrap();
    assert_eq!(set.changes.len(), 1, "one row per member");
    assert!(set.changes[0].deleted);
    let limited = store.changes_since(cal.id, 0, 1).unwrap();
    assert!(limited.truncated);
    // Pruning old tombstones raises the floor past them: tokens from before are refused.
    let before_prune = store.collection(cal.id).unwrap().unwrap();
    assert!(store.prune_tombstones(i64::MAX).unwrap() >= 1, "this test's deletion at least");
    let after = store.collection(cal.id).unwrap().unwrap();
    assert!(
        after.sync_floor > start && after.sync_floor <= before_prune.rev,
        "floor moved past the deletion"
    );
    assert!(store.changes_since(cal.id, after.sync_floor, 100).unwrap().changes.iter().all(|c| !c.deleted));
    assert_eq!(store.prune_tombstones(0).unwrap(), 0, "nothing older than the epoch");
}

fn uid_conflicts(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    fn with_uid<'a>(coll: Id, seg: &'a str, uid: &str) -> PutObject<'a> {
        PutObject {
            collection_id: coll,
            segment: seg,
            body: seg.as_bytes(),
            content_type: "text/calendar",
            expect: Expect::Anything,
            index: ObjectIndex { uid: Some(uid.into()), ..Default::default() },
        }
    }
    store.put_object(&with_uid(cal.id, "u1.ics", "UID-1")).unwrap();
    match store.put_object(&with_uid(cal.id, "u2.ics", "UID-1")) {
        Err(StoreError::UidConflict { segment }) => assert_eq!(segment, "u1.ics"),
        other => panic!("expected a UID conflict, got {other:?}"),
    }
    assert!(store.object(cal.id, "u2.ics").unwrap().is_none(), "nothing written on conflict");
}

fn copy_move_tree(store: &dyn Store, alice: &Principal) {
    let home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
    let new = |seg: &str, parent: Id| plain_collection(alice, seg, parent);
    let a = store.create_collection(&new("a", home.id)).unwrap();
    let b = store.create_collection(&new("b", a.id)).unwrap();
    put(store, b.id, "f", b"file", Expect::Anything).unwrap();
    let copy = Transfer {
        source: NodeRef::Collection(a.id),
        dest_parent: home.id,
        dest_segment: "a2".into(),
        overwrite: false,
        recursive: true,
        is_move: false,
    };
    assert!(store.transfer(&copy).unwrap());
    let a2 = store.child_collection(home.id, "a2").unwrap().unwrap();
    let b2 = store.child_collection(a2.id, "b").unwrap().unwrap();
    assert!(store.object(b2.id, "f").unwrap().is_some());
    assert!(matches!(store.transfer(&copy), Err(StoreError::PreconditionFailed)), "Overwrite: F");
    let into_self = Transfer { dest_parent: b.id, dest_segment: "x".into(), ..copy.clone() };
    assert!(matches!(store.transfer(&into_self), Err(StoreError::Conflict(_))));
    let mv = Transfer { is_move: true, overwrite: true, ..copy };
    assert!(!store.transfer(&mv).unwrap(), "overwrote a2");
    assert!(store.child_collection(home.id, "a").unwrap().is_none());
    let moved = store.child_collection(home.id, "a2").unwrap().unwrap();
    assert_eq!(moved.id, a.id);
    store.delete_collection(moved.id).unwrap();
    assert!(store.collection(b.id).unwrap().is_none(), "delete is recursive");
}

fn dead_props_atomic(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    let target = PropTarget::Collection(cal.id);
    let prop = DeadProp { ns: "urn:x".into(), name: "p".into(), xml: "<p xmlns=\"urn:x\">1</p>".into() };
    store
        .patch_props(
            target,
            &[
                PropPatchOp::SetDead(prop.clone()),
                PropPatchOp::SetField(CollectionField::Displayname, Some("Work".into())),
            ],
        )
        .unwrap();
    assert_eq!(store.dead_props(target).unwrap(), vec![prop.clone()]);
    assert_eq!(store.collection(cal.id).unwrap().unwrap().props.displayname.as_deref(), Some("Work"));
    // An operation that fails after one that succeeded leaves nothing behind.
    put(store, cal.id, "props.txt", b"p", Expect::Anything).unwrap();
    let meta = store.object(cal.id, "props.txt").unwrap().unwrap();
    let failing = [
        PropPatchOp::SetDead(DeadProp {
            ns: "urn:x".into(),
            name: "q".into(),
            xml: "<q xmlns=\"urn:x\"/>".into(),
        }),
        PropPatchOp::SetField(CollectionField::Color, Some("#ff0000".into())),
    ];
    assert!(store.patch_props(PropTarget::Object(meta.id), &failing).is_err());
    assert!(
        store.dead_props(PropTarget::Object(meta.id)).unwrap().is_empty(),
        "a failed patch changes nothing"
    );
    // The members' properties of a collection in one read, each list as dead_props has it.
    let first = DeadProp { ns: "urn:x".into(), name: "a".into(), xml: "<a xmlns=\"urn:x\"/>".into() };
    let ops = [PropPatchOp::SetDead(prop.clone()), PropPatchOp::SetDead(first.clone())];
    store.patch_props(PropTarget::Object(meta.id), &ops).unwrap();
    let members = store.member_dead_props(cal.id).unwrap();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[&PropTarget::Object(meta.id)], vec![first, prop.clone()]);
    assert_eq!(members[&PropTarget::Object(meta.id)], store.dead_props(PropTarget::Object(meta.id)).unwrap());
    let home = cal.parent_id.expect("a calendar has a home");
    assert_eq!(store.member_dead_props(home).unwrap().get(&target), Some(&vec![prop]));
}

#[test]
fn sqlite_store_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite::SqliteStore::open(&dir.path().join("davit.sqlite3")).unwrap();
    run_all(&store);
}

/// Cached statements stay prepared: running the store's common reads and writes again and
/// again re-prepares none of them (a statement whose plan SQLite may re-optimise for new
/// bindings used to be parsed and planned on every use, see `open_connection`).
#[test]
fn sqlite_statements_are_prepared_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite::SqliteStore::open(&dir.path().join("davit.sqlite3")).unwrap();
    let org = store.create_organization("Acme").unwrap();
    let alice = new_user(&store, "alice", org, Role::Owner);
    let cal = calendar_of(&store, &alice);
    let event = |uid: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    let span = TimeSpan { start: Some(0), end: Some(i64::MAX) };
    for round in 0..4 {
        for login in ["alice", "alice@example.org", "nobody"] {
            store.login_record(login).unwrap();
            store.login_credentials(login).unwrap();
        }
        let segment = format!("e{round}.ics");
        let body = event(&format!("uid-{round}"));
        put(&store, cal.id, &segment, body.as_bytes(), Expect::Absent).unwrap();
        put(&store, cal.id, &segment, body.as_bytes(), Expect::Anything).unwrap();
        let home = store.home(alice.id, HomeKind::Calendar).unwrap().unwrap();
        store.child_collection(home.id, "calendar").unwrap().unwrap();
        store.principal_by_slug("alice").unwrap().unwrap();
        let path = ["calendar".to_owned(), segment.clone()];
        store.locate_in_home("alice", HomeKind::Calendar, &path).unwrap().object.unwrap();
        let meta = store.object(cal.id, &segment).unwrap().unwrap();
        store.object_body(meta.id).unwrap().unwrap();
        store.members(cal.id).unwrap();
        store.loaded_objects(cal.id, &[segment.as_str(), "missing.ics"], true).unwrap();
        store.loaded_objects(cal.id, &[segment.as_str()], false).unwrap();
        store.query_candidates(cal.id, Some("VEVENT"), Some(span)).unwrap();
        store.indexed_candidates(cal.id, Some("VEVENT"), Some(span)).unwrap();
        store.card_candidates(cal.id, "FN", "%x%").unwrap();
        store.changes_since(cal.id, 0, 100).unwrap();
        store.collection_access(alice.id, cal.id).unwrap();
        store.delete_object(cal.id, &segment, &Expect::Anything).unwrap();
    }
    assert_eq!(store.reprepared_statements(), Vec::<(String, i32)>::new());
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("davit.sqlite3");
    drop(sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    assert!(matches!(sqlite::SqliteStore::open(&path), Err(StoreError::NewerSchema { found: 999, .. })));
}

/// SQLite's plan for `sql` with `params` in a fresh database at the current schema, one line
/// per step.
fn query_plan(sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("davit.sqlite3");
    drop(sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn recording_a_change_uses_the_member_index() {
    // A scan here made every PUT cost O(collection size) (found by davit-bench).
    let plan = query_plan(sqlite::PRUNE_MEMBER_CHANGES, rusqlite::params![1, "a", 0]);
    assert!(plan.iter().any(|p| p.contains("changes_by_member")), "{plan:?}");
}

#[test]
fn a_feed_pages_through_the_member_index_without_sorting() {
    // Feeds page by segment since schema version 10 dropped their own index (collection, id):
    // each batch must be a range of the UNIQUE (collection_id, segment) index, not a scan of
    // the calendar sorted per batch.
    let plan = query_plan(sqlite::OBJECT_BODIES_AFTER, rusqlite::params![1, "a.ics", 500]);
    assert!(
        plan.iter().any(|p| p.starts_with("SEARCH objects USING INDEX") && p.contains("segment>?")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
}

/// Principal search (RFC 3744 §9.4): scope by organization, caseless matching, terms.
pub fn principal_search(store: &dyn Store) {
    let acme = store.create_organization("Acme").unwrap();
    let globex = store.create_organization("Globex").unwrap();
    let person = |slug: &str, name: &str, org: Id| {
        store
            .create_user(&NewUser {
                slug: slug.into(),
                display_name: name.into(),
                email: Some(format!("{slug}@example.org")),
                password_hash: "x".into(),
                org_id: org,
                role: Role::Collaborator,
            })
            .unwrap()
    };
    let alice = person("alice", "Alice Smith", acme);
    let bob = person("bob", "Bob MÜLLER", acme);
    let mallory = person("mallory", "Mallory Müller", globex);
    let group = |org, kind, slug: &str, name: &str, email| {
        store.create_group_principal(org, kind, slug, name, email).unwrap().id
    };
    let room = group(acme, PrincipalKind::Room, "etoile", "Salle Étoile", None);
    let team = group(acme, PrincipalKind::Team, "ops", "Ops_Team 100%", Some("ops@example.org"));
    group(globex, PrincipalKind::Room, "boardroom", "Globex Boardroom", None);

    let text = |field, text: &str, how| PrincipalTerm::Text { field, text: text.into(), how };
    let by_name = |s: &str| text(PrincipalField::DisplayName, s, SearchMatch::Contains);
    let search = |viewer: &Principal, org: Option<Id>, terms: Vec<PrincipalTerm>, all_of: bool| {
        let s = PrincipalSearch { viewer: viewer.id, organization: org, terms, all_of, limit: 50 };
        store.search_principals(&s).unwrap().into_iter().map(|p| p.id).collect::<Vec<_>>()
    };
    let acme_search = |terms, all_of| search(&alice, Some(acme), terms, all_of);

    // Everyone of the organization, ordered by display name; never another organization's.
    assert_eq!(acme_search(vec![], true), [alice.id, bob.id, team, room]);
    assert_eq!(search(&mallory, Some(globex), vec![by_name("")], true).len(), 2, "mallory and her room");
    // Without an organization the viewer finds only themselves.
    assert_eq!(search(&alice, None, vec![], true), [alice.id]);
    assert_eq!(search(&alice, None, vec![by_name("bob")], true), Vec::<Id>::new());

    // i;unicode-casemap: case folds (also beyond ASCII), accents do not disappear.
    assert_eq!(acme_search(vec![by_name("müller")], true), [bob.id]);
    assert_eq!(acme_search(vec![by_name("ÉTOILE")], true), [room]);
    assert_eq!(acme_search(vec![by_name("etoile")], true), Vec::<Id>::new());
    // LIKE wildcards in the text are literal.
    assert_eq!(acme_search(vec![by_name("_")], true), [team]);
    assert_eq!(acme_search(vec![by_name("%")], true), [team]);
    assert_eq!(acme_search(vec![by_name("a%e")], true), Vec::<Id>::new());

    // Match types.
    let name = |s: &str, how| text(PrincipalField::DisplayName, s, how);
    assert_eq!(acme_search(vec![name("bob", SearchMatch::StartsWith)], true), [bob.id]);
    assert_eq!(acme_search(vec![name("müller", SearchMatch::StartsWith)], true), Vec::<Id>::new());
    assert_eq!(acme_search(vec![name("SMITH", SearchMatch::EndsWith)], true), [alice.id]);
    assert_eq!(acme_search(vec![name("alice smith", SearchMatch::Equals)], true), [alice.id]);
    assert_eq!(acme_search(vec![name("alice", SearchMatch::Equals)], true), Vec::<Id>::new());

    // E-mail, bare and as a calendar user address; principals without one never match.
    let email = |s: &str, how| text(PrincipalField::Email, s, how);
    let mailto = |s: &str, how| text(PrincipalField::MailtoAddress, s, how);
    assert_eq!(acme_search(vec![email("BOB@example.org", SearchMatch::Equals)], true), [bob.id]);
    assert_eq!(acme_search(vec![mailto("mailto:bob@", SearchMatch::StartsWith)], true), [bob.id]);
    assert_eq!(acme_search(vec![mailto("ops@example.org", SearchMatch::Contains)], true), [team]);
    assert_eq!(acme_search(vec![email("", SearchMatch::Contains)], true), [alice.id, bob.id, team]);

    // Kinds, and allof / anyof.
    assert_eq!(acme_search(vec![PrincipalTerm::Kind(vec![PrincipalKind::Room])], true), [room]);
    assert_eq!(acme_search(vec![PrincipalTerm::Kind(vec![])], false), Vec::<Id>::new());
    let bob_or_room = || vec![by_name("bob"), PrincipalTerm::Kind(vec![PrincipalKind::Room])];
    assert_eq!(acme_search(bob_or_room(), true), Vec::<Id>::new());
    assert_eq!(acme_search(bob_or_room(), false), [bob.id, room]);
    let users_with_l = vec![by_name("l"), PrincipalTerm::Kind(vec![PrincipalKind::User])];
    assert_eq!(acme_search(users_with_l, true), [alice.id, bob.id]);

    // Bounded.
    let first_two =
        PrincipalSearch { viewer: alice.id, organization: Some(acme), terms: vec![], all_of: true, limit: 2 };
    assert_eq!(store.search_principals(&first_two).unwrap().len(), 2);
}

#[test]
fn sqlite_principal_search_passes_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite::SqliteStore::open(&dir.path().join("davit.sqlite3")).unwrap();
    principal_search(&store);
}

#[test]
fn principal_search_uses_indexes_only() {
    // A scan of `principals` or `memberships` would cost every keystroke of a share dialog
    // O(all principals of all organizations).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("davit.sqlite3");
    drop(sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    sqlite::register_casemap(&conn).unwrap();
    let search = PrincipalSearch {
        viewer: 1,
        organization: Some(1),
        terms: vec![PrincipalTerm::Text {
            field: PrincipalField::DisplayName,
            text: "x".into(),
            how: SearchMatch::Contains,
        }],
        all_of: true,
        limit: 51,
    };
    let (sql, values) = sqlite::search_query(&search);
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(rusqlite::params_from_iter(values), |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let scans: Vec<&String> = plan
        .iter()
        .filter(|p| p.starts_with("SCAN") && !p.contains("scope") && !p.contains("CONSTANT ROW"))
        .collect();
    assert!(scans.is_empty(), "{plan:#?}");
    for index in ["principals_by_org", "sqlite_autoindex_memberships_1"] {
        assert!(plan.iter().any(|p| p.contains(index)), "{index} unused: {plan:#?}");
    }
}
