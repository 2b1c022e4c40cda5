//! The use cases against a real store: idempotence, updates, authorization, creation, and
//! that imports reach the change log sync clients read.

use super::*;
use crate::acl::Subject;
use crate::store::sqlite::SqliteStore;
use crate::store::{NewUser, Role};

struct World {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    alice: Subject,
    bob: Subject,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db")).unwrap();
    let org = store.create_organization("o").unwrap();
    let mut subjects = ["alice", "bob"].map(|name| {
        let principal = store
            .create_user(&NewUser {
                slug: name.into(),
                display_name: name.into(),
                email: Some(format!("{name}@example.org")),
                password_hash: "x".into(),
                org_id: org,
                role: Role::Collaborator,
            })
            .unwrap();
        let (organization, role) = store.role_of(principal.id).unwrap().unzip();
        Some(Subject { principal, organization, role, scope: None })
    });
    let alice = subjects[0].take().unwrap();
    let bob = subjects[1].take().unwrap();
    World { _dir: dir, store, alice, bob }
}

fn csv_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn count(store: &SqliteStore, path: &str) -> usize {
    let c = crate::org::find_collection(store, path).unwrap();
    store.members(c.id).unwrap().len()
}

#[test]
fn importing_twice_creates_no_duplicates() {
    let w = world();
    let me = Actor::User(&w.alice);
    let data = csv_fixture("outlook_en.csv");
    let first = contacts(&w.store, me, "alice/contacts", &data, false).unwrap();
    assert_eq!((first.created, first.updated, first.unchanged, first.skipped), (3, 0, 0, 1), "{first:#?}");
    let again = contacts(&w.store, me, "alice/contacts", &data, false).unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 3));
    assert_eq!(count(&w.store, "alice/contacts"), 3);

    // The next export has a new phone number for Jane: her card is updated in place.
    let edited = String::from_utf8_lossy(&data).replace("+1 425 555 0199", "+1 425 555 0000");
    let third = contacts(&w.store, me, "alice/contacts", edited.as_bytes(), false).unwrap();
    assert_eq!((third.created, third.updated, third.unchanged), (0, 1, 2));
    assert_eq!(count(&w.store, "alice/contacts"), 3);
}

#[test]
fn vcard_and_calendar_files_are_idempotent_too() {
    let w = world();
    let me = Actor::User(&w.alice);
    let cards = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:4.0\r\nFN:B\r\n\
                 UID:b\r\nEND:VCARD\r\n";
    let r = contacts(&w.store, me, "alice/contacts", cards.as_bytes(), false).unwrap();
    assert_eq!((r.created, r.format.as_str()), (2, "vCard (UTF-8)"));
    let r = contacts(&w.store, me, "alice/contacts", cards.as_bytes(), false).unwrap();
    assert_eq!(r.unchanged, 2);

    let ics = std::fs::read(format!(
        "{}/fixtures/ical/google/weekly-exdate-override.ics",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let r = calendar(&w.store, me, "alice/calendar", &ics, false).unwrap();
    assert_eq!(r.created, 1, "{r:#?}");
    let r = calendar(&w.store, me, "alice/calendar", &ics, false).unwrap();
    assert_eq!((r.created, r.unchanged), (0, 1));
}

#[test]
fn others_are_refused_and_nothing_changes() {
    let w = world();
    let data = csv_fixture("google_en.csv");
    let e = contacts(&w.store, Actor::User(&w.bob), "alice/contacts", &data, false).unwrap_err();
    assert!(matches!(e, ImportError::Forbidden(_)), "{e}");
    let e = contacts(&w.store, Actor::User(&w.bob), "alice/new-book", &data, true).unwrap_err();
    assert!(matches!(e, ImportError::Forbidden(_)), "{e}");
    assert_eq!(count(&w.store, "alice/contacts"), 0);
    assert!(crate::org::find_collection(&w.store, "alice/new-book").is_err());
}

#[test]
fn the_target_may_be_created_by_its_owner() {
    let w = world();
    let me = Actor::User(&w.alice);
    let data = csv_fixture("thunderbird_en.csv");
    let e = contacts(&w.store, me, "alice/imported", &data, false).unwrap_err();
    assert!(matches!(e, ImportError::NotFound(_)));
    let r = contacts(&w.store, me, "alice/imported", &data, true).unwrap();
    assert!(r.collection_created);
    assert_eq!(r.created, 2);
    let r = contacts(&w.store, me, "alice/imported", &data, true).unwrap();
    assert!(!r.collection_created, "an existing collection is used as it is");
    let e = contacts(&w.store, me, "alice/calendar", &data, false).unwrap_err();
    assert!(matches!(e, ImportError::Invalid(_)), "a calendar is not an address book: {e}");
    let e = calendar(&w.store, Actor::Operator, "alice/../x", b"", true).unwrap_err();
    assert!(matches!(e, ImportError::Invalid(_) | ImportError::NotFound(_)), "{e}");
}

#[test]
fn limits_refuse_the_whole_file() {
    let w = world();
    let mut data = csv_fixture("outlook_en.csv");
    data.extend(b"\r\n".repeat(limits::MAX_LINES));
    let e = contacts(&w.store, Actor::Operator, "alice/contacts", &data, false).unwrap_err();
    assert!(matches!(e, ImportError::TooLarge(_)));
    assert_eq!(count(&w.store, "alice/contacts"), 0);
}

#[test]
fn imports_are_in_the_change_log() {
    let w = world();
    let c = crate::org::find_collection(&w.store, "alice/contacts").unwrap();
    let before = w.store.changes_since(c.id, 0, 100).unwrap().current_rev;
    contacts(&w.store, Actor::Operator, "alice/contacts", &csv_fixture("yahoo_en.csv"), false).unwrap();
    let changes = w.store.changes_since(c.id, before, 100).unwrap();
    assert_eq!(changes.changes.len(), 1);
}

#[test]
fn tasks_go_only_where_the_calendar_takes_them() {
    let w = world();
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\n\
               SUMMARY:Do\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let r = calendar(&w.store, Actor::Operator, "alice/calendar", ics.as_bytes(), false).unwrap();
    assert_eq!(r.skipped, 1);
    assert!(r.items[0].reason.as_deref().unwrap().contains("VTODO"), "{r:#?}");
    let r = calendar(&w.store, Actor::Operator, "alice/tasks", ics.as_bytes(), false).unwrap();
    assert_eq!(r.created, 1);
}

#[test]
fn a_read_only_app_password_cannot_import() {
    let w = world();
    let mut scoped = w.alice.clone();
    scoped.scope = Some(crate::store::AppPasswordScope { read_only: true, collections: None });
    let data = csv_fixture("yahoo_en.csv");
    let e = contacts(&w.store, Actor::User(&scoped), "alice/contacts", &data, false).unwrap_err();
    assert!(matches!(e, ImportError::Forbidden(_)), "{e}");
    assert_eq!(count(&w.store, "alice/contacts"), 0);
    let e = contacts(&w.store, Actor::User(&scoped), "alice/more", &data, true).unwrap_err();
    assert!(matches!(e, ImportError::Forbidden(_)), "{e}");
    assert!(crate::org::find_collection(&w.store, "alice/more").is_err(), "nor create one");
}
