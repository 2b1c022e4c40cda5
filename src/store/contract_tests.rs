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
    uid_conflicts(store, &alice);
    copy_move_tree(store, &alice);
    dead_props_atomic(store, &alice);
    query_prefilter(store, &alice);
    app_passwords(store, &alice);
    feeds(store, &alice);
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
    let first = store.object_bodies_after(cal.id, 0, 2).unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.object_bodies_after(cal.id, first[1].0, 1000).unwrap();
    assert!(rest.iter().all(|(id, _)| *id > first[1].0));
    assert!(store.remove_feed(cal.id).unwrap());
    assert!(store.feed_by_token_hash("token-b").unwrap().is_none());
}

fn query_prefilter(store: &dyn Store, alice: &Principal) {
    let cal = calendar_of(store, alice);
    let put_indexed = |seg: &str, comp: &str, first: Option<i64>, last: Option<i64>| {
        store
            .put_object(&PutObject {
                collection_id: cal.id,
                segment: seg,
                body: seg.as_bytes(),
                content_type: "text/calendar",
                expect: Expect::Anything,
                index: ObjectIndex {
                    uid: Some(seg.into()),
                    comp_type: Some(comp.into()),
                    first_start: first,
                    last_end: last,
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
    let new = |seg: &str, parent: Id| NewCollection {
        owner_id: alice.id,
        parent_id: parent,
        segment: seg.into(),
        kind: CollectionKind::Plain,
        props: CollectionProps::default(),
        dead_props: vec![],
    };
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

#[test]
fn recording_a_change_uses_the_member_index() {
    // A scan here made every PUT cost O(collection size) (found by davit-bench).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("davit.sqlite3");
    drop(sqlite::SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sqlite::PRUNE_MEMBER_CHANGES))
        .unwrap()
        .query_map(rusqlite::params![1, "a", 0], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(plan.iter().any(|p| p.contains("changes_by_member")), "{plan:?}");
}
