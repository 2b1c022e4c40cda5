//! The embedded SQLite store: one writer connection (writes are serialised and committed in
//! groups, see `writer`) and a small pool of reader connections, all in WAL mode.

mod backup;
mod credentials;
mod instances;
mod migrate;
mod org;
mod principal_search;
mod rows;
mod tree_read;
mod tree_write;
mod two_factor;
mod users;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Params, Row};

use super::{StoreError, StoreResult};

#[cfg(test)]
pub(crate) use credentials::OBJECT_BODIES_AFTER;
pub use migrate::SCHEMA_VERSION;
#[cfg(test)]
pub(crate) use principal_search::{register_casemap, search_query};
#[cfg(test)]
pub(crate) use tree_write::PRUNE_MEMBER_CHANGES;

const READERS: usize = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: every statement the store runs (about 150 distinct
/// ones, most of them rare) fits, so no request pays for parsing SQL after the first.
const STATEMENT_CACHE: usize = 256;
/// WAL frames after which a COMMIT also checkpoints (SQLite's default is 1000). The checkpoint
/// runs on the writer thread and stalls every queued write: under a steady PUT load the
/// 1000-frame checkpoints (~1 every 40 batches, 6-13 ms each: scattered page writes to the
/// database file and its fsync) took ~11 % of the writer's time. Pages that many batches
/// rewrite (the collection's row, the tails of the change log and of the object table, index
/// leaves) are copied once per checkpoint, so fewer, larger checkpoints copy far fewer pages
/// per write. Measured with 8 clients (interleaved A/B): 4000-16000 frames gave +15-20 % PUT/s
/// over 1000, and PUT p99 fell from ~13 to ~6 ms with 8000. The WAL file then stays at up to
/// ~32 MB (4 KiB pages), reused from its start after each checkpoint.
const WAL_AUTOCHECKPOINT_FRAMES: u32 = 8000;

pub struct SqliteStore {
    writer: writer::GroupWriter,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    /// Refuses a database whose schema is newer than this binary knows.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut writer = open_connection(path, true)?;
        migrate::migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_connection(path, false).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            writer: writer::GroupWriter::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on the writer connection inside a transaction, atomically: on `Err` none of
    /// its changes stay. Returns once they are durable (committed with concurrent writes as one
    /// group, see `writer`). `f` may nest its own SAVEPOINTs but must not end the transaction.
    pub(crate) fn write<T: Send>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        self.writer.write(f)
    }

    /// Runs `f` on a reader connection inside one read transaction (a consistent snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.reader();
        f(&conn)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(guard) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return guard;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }

    /// Every cached statement of every connection that SQLite has re-prepared, with how often.
    #[cfg(test)]
    pub(crate) fn reprepared_statements(&self) -> Vec<(String, i32)> {
        fn of(conn: &Connection, found: &mut Vec<(String, i32)>) {
            // SAFETY: the connection is held (locked) for the whole walk, and the statement
            // pointers come from SQLite's own list of the connection's statements.
            unsafe {
                let db = conn.handle();
                let mut stmt = rusqlite::ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
                while !stmt.is_null() {
                    let count = rusqlite::ffi::sqlite3_stmt_status(
                        stmt,
                        rusqlite::ffi::SQLITE_STMTSTATUS_REPREPARE,
                        0,
                    );
                    if count > 0 {
                        let sql = std::ffi::CStr::from_ptr(rusqlite::ffi::sqlite3_sql(stmt));
                        found.push((sql.to_string_lossy().into_owned(), count));
                    }
                    stmt = rusqlite::ffi::sqlite3_next_stmt(db, stmt);
                }
            }
        }
        let mut found = Vec::new();
        of(&self.writer.idle().expect("writer").conn, &mut found);
        for reader in &self.readers {
            of(&lock(reader), &mut found);
        }
        found
    }

    /// Checkpoints the WAL so the database file is complete on its own (clean shutdown).
    pub fn checkpoint(&self) -> StoreResult<()> {
        let w = self.writer.idle()?;
        w.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(map_err)
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on
    // drop), so the connection is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(path: &Path, writer: bool) -> StoreResult<Connection> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
    if writer {
        conn.execute_batch("PRAGMA journal_mode = WAL;").map_err(map_err)?;
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_FRAMES};"))
            .map_err(map_err)?;
    }
    // FULL: a write acknowledged to a client survives power loss, not only a crash.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;")
        .map_err(map_err)?;
    // Query-planner stability: plans never depend on bound values. Without it SQLite marks
    // statements whose plan a bound value might change (a parameter compared with a constant of
    // a partial index, an integer LIMIT, ...) for re-preparation when their bindings change,
    // and rusqlite clears the bindings of every statement it returns to the cache — so such a
    // statement was parsed and planned anew on every use (36 % of a PUT's instructions went to
    // re-preparing the login lookup). Our queries need no value-specific plans.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    principal_search::register_casemap(&conn).map_err(map_err)?;
    Ok(conn)
}

/// `query_row` and `execute` through the connection's statement cache: a statement is parsed
/// and planned once per connection instead of on every call.
pub(crate) trait Cached {
    fn cached_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T>;
    fn cached_execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl Cached for Connection {
    fn cached_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn cached_execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// Runs `f`'s statements in one read transaction: one snapshot, and one check of the WAL
/// (after another connection's COMMIT, the first read of each transaction drops the
/// connection's page cache, so several statements each in its own transaction pay that
/// again and again under write load).
fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.prepare_cached("BEGIN").and_then(|mut s| s.execute([])).map_err(map_err)?;
    let result = f(conn);
    // Nothing to keep: ending a read transaction cannot lose anything.
    let ended = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map_err(map_err);
    if ended.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let value = result?;
    ended.map(|_| value)
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

use crate::store::{
    AppPasswordInfo, AppPasswordScope, AppPasswordSecret, Candidate, ChangeSet, Collection, DeadProp,
    Descent, Expect, Feed, FeedSettings, HomeKind, HomeLookup, Id, LoadedObject, LoginCredentials,
    LoginRecord, Member, NewCollection, NewUser, ObjectMeta, Organization, Principal, PrincipalSearch,
    PropPatchOp, PropTarget, PutObject, PutObjectOwned, PutOutcome, Role, Store, TimeSpan, Transfer,
    UnlistedEvent, UserSummary,
};
use crate::store::{
    CollectionAccess, CollectionField, Grant, Grantee, MemberRemoval, MountedCollection, NewGrant, OrgMember,
    PrincipalKind, RemovalReport, Share, ShareAccess,
};
use crate::store::{NewWebSession, TwoFactor, WebSession};

impl Store for SqliteStore {
    fn create_organization(&self, name: &str) -> StoreResult<Id> {
        self.write(|tx| users::create_organization(tx, name))
    }
    fn organization_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        self.read(|c| users::organization_by_name(c, name))
    }
    fn organizations(&self) -> StoreResult<Vec<Organization>> {
        self.read(users::organizations)
    }
    fn create_user(&self, user: &NewUser) -> StoreResult<Principal> {
        self.write(|tx| users::create_user(tx, user))
    }
    fn users(&self) -> StoreResult<Vec<UserSummary>> {
        self.read(users::users)
    }
    fn user_count(&self) -> StoreResult<u64> {
        self.read(users::user_count)
    }
    fn delete_user(&self, slug: &str) -> StoreResult<()> {
        self.write(|tx| users::delete_user(tx, slug))
    }
    fn set_password(&self, slug: &str, password_hash: &str) -> StoreResult<Id> {
        // Whoever knew the old password may hold a session: it ends with the change.
        self.write(|tx| {
            let id = users::set_password(tx, slug, password_hash)?;
            two_factor::delete_web_sessions(tx, id)?;
            Ok(id)
        })
    }
    fn login_credentials(&self, login: &str) -> StoreResult<Option<LoginCredentials>> {
        self.read(|c| users::login_credentials(c, login))
    }
    fn login_record(&self, login: &str) -> StoreResult<Option<LoginRecord>> {
        self.read(|c| users::login_record(c, login))
    }
    fn login_with_app_passwords(
        &self,
        login: &str,
        app_passwords: bool,
    ) -> StoreResult<Option<(LoginRecord, Vec<AppPasswordSecret>)>> {
        if !app_passwords {
            return Ok(self.login_record(login)?.map(|record| (record, Vec::new())));
        }
        // One read transaction, not two: under write load every new one re-reads its pages.
        self.read(|c| {
            in_read_transaction(c, |c| {
                let Some(record) = users::login_record(c, login)? else { return Ok(None) };
                let secrets = credentials::app_password_secrets(c, record.credentials.user_id)?;
                Ok(Some((record, secrets)))
            })
        })
    }
    fn principal_by_slug(&self, slug: &str) -> StoreResult<Option<Principal>> {
        self.read(|c| users::principal_by_slug(c, slug))
    }
    fn principal_by_id(&self, id: Id) -> StoreResult<Option<Principal>> {
        self.read(|c| users::principal_by_id(c, id))
    }
    fn role_of(&self, user_id: Id) -> StoreResult<Option<(Organization, Role)>> {
        self.read(|c| users::role_of(c, user_id))
    }
    fn search_principals(&self, search: &PrincipalSearch) -> StoreResult<Vec<Principal>> {
        self.read(|c| principal_search::search_principals(c, search))
    }
    fn home(&self, owner_id: Id, kind: HomeKind) -> StoreResult<Option<Collection>> {
        self.read(|c| tree_read::home(c, owner_id, kind))
    }
    fn collection(&self, id: Id) -> StoreResult<Option<Collection>> {
        self.read(|c| tree_read::collection(c, id))
    }
    fn child_collection(&self, parent_id: Id, segment: &str) -> StoreResult<Option<Collection>> {
        self.read(|c| tree_read::child_collection(c, parent_id, segment))
    }
    fn object(&self, collection_id: Id, segment: &str) -> StoreResult<Option<ObjectMeta>> {
        self.read(|c| tree_read::object(c, collection_id, segment))
    }
    fn locate_in_home(&self, owner: &str, kind: HomeKind, segments: &[String]) -> StoreResult<HomeLookup> {
        self.read(|c| in_read_transaction(c, |c| tree_read::locate_in_home(c, owner, kind, segments)))
    }
    fn locate_below(&self, parent: Id, segments: &[String]) -> StoreResult<Descent> {
        self.read(|c| in_read_transaction(c, |c| tree_read::locate_below(c, parent, segments)))
    }
    fn object_body(&self, object_id: Id) -> StoreResult<Option<Vec<u8>>> {
        self.read(|c| tree_read::object_body(c, object_id))
    }
    fn members(&self, collection_id: Id) -> StoreResult<Vec<Member>> {
        self.read(|c| tree_read::members(c, collection_id))
    }
    fn dead_props(&self, target: PropTarget) -> StoreResult<Vec<DeadProp>> {
        self.read(|c| tree_read::dead_props(c, target))
    }
    fn member_dead_props(&self, collection_id: Id) -> StoreResult<HashMap<PropTarget, Vec<DeadProp>>> {
        self.read(|c| tree_read::member_dead_props(c, collection_id))
    }
    fn loaded_objects(
        &self,
        collection_id: Id,
        segments: &[&str],
        dead_props: bool,
    ) -> StoreResult<Vec<LoadedObject>> {
        self.read(|c| tree_read::loaded_objects(c, collection_id, segments, dead_props))
    }
    fn query_candidates(
        &self,
        collection_id: Id,
        comp: Option<&str>,
        range: Option<TimeSpan>,
    ) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>> {
        self.read(|c| tree_read::query_candidates(c, collection_id, comp, range))
    }
    fn indexed_candidates(
        &self,
        collection_id: Id,
        comp: Option<&str>,
        range: Option<TimeSpan>,
    ) -> StoreResult<Vec<Candidate>> {
        self.read(|c| tree_read::indexed_candidates(c, collection_id, comp, range))
    }
    fn unlisted_events(&self, after: Id, batch: usize) -> StoreResult<Vec<UnlistedEvent>> {
        self.read(|c| instances::unlisted_events(c, after, batch))
    }
    fn set_instance_lists(&self, lists: &[(Id, String, Vec<u8>)]) -> StoreResult<()> {
        self.write(|tx| instances::set_instance_lists(tx, lists))
    }
    fn card_candidates(
        &self,
        collection_id: Id,
        field: &str,
        pattern: &str,
    ) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>> {
        self.read(|c| tree_read::card_candidates(c, collection_id, field, pattern))
    }
    fn create_collection(&self, new: &NewCollection) -> StoreResult<Collection> {
        self.write(|tx| tree_write::create_collection(tx, new))
    }
    fn put_object(&self, put: &PutObject<'_>) -> StoreResult<PutOutcome> {
        // Everything that does not need the database is done before queueing for the writer.
        let etag = tree_write::etag_of(put.body);
        let t = now();
        self.write(|tx| tree_write::put_object(tx, put, &etag, t))
    }
    fn put_object_deferred(&self, put: PutObjectOwned) -> crate::store::Deferred<PutOutcome> {
        let etag = tree_write::etag_of(&put.body);
        let t = now();
        Box::pin(self.writer.submit(move |tx| put.with(|put| tree_write::put_object(tx, put, &etag, t))))
    }
    fn delete_object(&self, collection_id: Id, segment: &str, expect: &Expect) -> StoreResult<()> {
        self.write(|tx| tree_write::delete_object(tx, collection_id, segment, expect))
    }
    fn delete_collection(&self, id: Id) -> StoreResult<()> {
        self.write(|tx| tree_write::delete_collection(tx, id))
    }
    fn patch_props(&self, target: PropTarget, ops: &[PropPatchOp]) -> StoreResult<()> {
        self.write(|tx| tree_write::patch_props(tx, target, ops))
    }
    fn transfer(&self, transfer: &Transfer) -> StoreResult<bool> {
        self.write(|tx| tree_write::transfer(tx, transfer))
    }
    fn create_app_password(
        &self,
        user_id: Id,
        label: &str,
        secret_hash: &str,
        scope: &AppPasswordScope,
    ) -> StoreResult<Id> {
        self.write(|tx| credentials::create_app_password(tx, user_id, label, secret_hash, scope))
    }
    fn app_passwords(&self, user_id: Id) -> StoreResult<Vec<AppPasswordInfo>> {
        self.read(|c| credentials::app_passwords(c, user_id))
    }
    fn app_password_secrets(&self, user_id: Id) -> StoreResult<Vec<AppPasswordSecret>> {
        self.read(|c| credentials::app_password_secrets(c, user_id))
    }
    fn revoke_app_password(&self, user_id: Id, id: Id) -> StoreResult<bool> {
        self.write(|tx| credentials::revoke_app_password(tx, user_id, id))
    }
    fn record_app_password_use(&self, id: Id, user_agent: Option<&str>, ip: &str) -> StoreResult<()> {
        self.write(|tx| credentials::record_app_password_use(tx, id, user_agent, ip))
    }
    fn set_feed(&self, collection_id: Id, token_hash: &str, settings: &FeedSettings) -> StoreResult<()> {
        self.write(|tx| credentials::set_feed(tx, collection_id, token_hash, settings))
    }
    fn remove_feed(&self, collection_id: Id) -> StoreResult<bool> {
        self.write(|tx| credentials::remove_feed(tx, collection_id))
    }
    fn feed_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Feed>> {
        self.read(|c| credentials::feed_by_token_hash(c, token_hash))
    }
    fn feed_of(&self, collection_id: Id) -> StoreResult<Option<FeedSettings>> {
        self.read(|c| credentials::feed_of(c, collection_id))
    }
    fn object_bodies_after(
        &self,
        collection_id: Id,
        after_segment: &str,
        batch: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.read(|c| credentials::object_bodies_after(c, collection_id, after_segment, batch))
    }
    fn org_members(&self, org_id: Id) -> StoreResult<Vec<OrgMember>> {
        self.read(|c| org::org_members(c, org_id))
    }
    fn set_role(&self, org_id: Id, user_id: Id, role: Role) -> StoreResult<()> {
        self.write(|tx| org::set_role(tx, org_id, user_id, role))
    }
    fn organization_of(&self, principal_id: Id) -> StoreResult<Option<Id>> {
        self.read(|c| org::organization_of(c, principal_id))
    }
    fn create_group_principal(
        &self,
        org_id: Id,
        kind: PrincipalKind,
        slug: &str,
        display_name: &str,
        email: Option<&str>,
    ) -> StoreResult<Principal> {
        self.write(|tx| org::create_group_principal(tx, org_id, kind, slug, display_name, email))
    }
    fn group_principals(&self, org_id: Id, kind: PrincipalKind) -> StoreResult<Vec<Principal>> {
        self.read(|c| org::group_principals(c, org_id, kind))
    }
    fn delete_group_principal(&self, id: Id) -> StoreResult<()> {
        self.write(|tx| org::delete_group_principal(tx, id))
    }
    fn team_members(&self, team_id: Id) -> StoreResult<Vec<Principal>> {
        self.read(|c| org::team_members(c, team_id))
    }
    fn teams_of(&self, user_id: Id) -> StoreResult<Vec<Principal>> {
        self.read(|c| org::teams_of(c, user_id))
    }
    fn set_team_member(&self, team_id: Id, user_id: Id, member: bool) -> StoreResult<bool> {
        self.write(|tx| org::set_team_member(tx, team_id, user_id, member))
    }
    fn add_grant(&self, grant: &NewGrant) -> StoreResult<Id> {
        self.write(|tx| org::add_grant(tx, grant))
    }
    fn grants(&self, org_id: Id) -> StoreResult<Vec<Grant>> {
        self.read(|c| org::grants(c, org_id))
    }
    fn revoke_grant(&self, org_id: Id, id: Id) -> StoreResult<bool> {
        self.write(|tx| org::revoke_grant(tx, org_id, id))
    }
    fn put_share(
        &self,
        collection_id: Id,
        grantee: &Grantee,
        access: ShareAccess,
        by: Id,
    ) -> StoreResult<Id> {
        self.write(|tx| org::put_share(tx, collection_id, grantee, access, by))
    }
    fn shares(&self, collection_id: Id) -> StoreResult<Vec<Share>> {
        self.read(|c| org::shares(c, collection_id))
    }
    fn revoke_share(&self, collection_id: Id, grantee: &Grantee) -> StoreResult<bool> {
        self.write(|tx| org::revoke_share(tx, collection_id, grantee))
    }
    fn touch_invitation(&self, collection_id: Id, email: &str) -> StoreResult<bool> {
        self.write(|tx| org::touch_invitation(tx, collection_id, email))
    }
    fn collection_access(&self, user_id: Id, collection_id: Id) -> StoreResult<CollectionAccess> {
        self.read(|c| org::collection_access(c, user_id, collection_id))
    }
    fn mounted_collections(&self, user_id: Id, kind: HomeKind) -> StoreResult<Vec<MountedCollection>> {
        self.read(|c| org::mounted_collections(c, user_id, kind))
    }
    fn set_sharee_props(
        &self,
        user_id: Id,
        collection_id: Id,
        fields: &[(CollectionField, Option<String>)],
    ) -> StoreResult<()> {
        self.write(|tx| org::set_sharee_props(tx, user_id, collection_id, fields))
    }
    fn decline_share(&self, user_id: Id, collection_id: Id) -> StoreResult<()> {
        self.write(|tx| org::decline_share(tx, user_id, collection_id))
    }
    fn remove_member(&self, removal: &MemberRemoval) -> StoreResult<RemovalReport> {
        self.write(|tx| org::remove_member(tx, removal))
    }
    fn two_factor(&self, user_id: Id) -> StoreResult<Option<TwoFactor>> {
        self.read(|c| two_factor::two_factor(c, user_id))
    }
    fn begin_two_factor(&self, user_id: Id, secret: &[u8]) -> StoreResult<()> {
        self.write(|tx| two_factor::begin_two_factor(tx, user_id, secret))
    }
    fn enable_two_factor(
        &self,
        user_id: Id,
        step: i64,
        recovery_code_hashes: &[String],
    ) -> StoreResult<bool> {
        self.write(|tx| two_factor::enable_two_factor(tx, user_id, step, recovery_code_hashes))
    }
    fn disable_two_factor(&self, user_id: Id) -> StoreResult<bool> {
        self.write(|tx| two_factor::disable_two_factor(tx, user_id))
    }
    fn accept_totp_step(&self, user_id: Id, step: i64) -> StoreResult<bool> {
        self.write(|tx| two_factor::accept_totp_step(tx, user_id, step))
    }
    fn use_recovery_code(&self, user_id: Id, code_hash: &str) -> StoreResult<bool> {
        self.write(|tx| two_factor::use_recovery_code(tx, user_id, code_hash))
    }
    fn recovery_codes_left(&self, user_id: Id) -> StoreResult<u64> {
        self.read(|c| two_factor::recovery_codes_left(c, user_id))
    }
    fn create_web_session(&self, session: &NewWebSession<'_>) -> StoreResult<()> {
        self.write(|tx| two_factor::create_web_session(tx, session))
    }
    fn web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>> {
        self.read(|c| two_factor::web_session(c, id_hash))
    }
    fn touch_web_session(&self, id_hash: &str, at: i64) -> StoreResult<()> {
        self.write(|tx| two_factor::touch_web_session(tx, id_hash, at))
    }
    fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool> {
        self.write(|tx| two_factor::delete_web_session(tx, id_hash))
    }
    fn delete_web_sessions(&self, user_id: Id) -> StoreResult<u64> {
        self.write(|tx| two_factor::delete_web_sessions(tx, user_id))
    }
    fn prune_tombstones(&self, before: i64) -> StoreResult<u64> {
        self.write(|tx| tree_write::prune_tombstones(tx, before))
    }
    fn changes_since(&self, collection_id: Id, rev: i64, limit: usize) -> StoreResult<ChangeSet> {
        self.read(|c| tree_read::changes_since(c, collection_id, rev, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_commits_durably_in_wal_mode_and_checkpoints_every_8000_frames() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let (mode, sync, frames) = store
            .write(|tx| {
                let get = |pragma: &str| {
                    tx.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                };
                Ok((get("journal_mode"), get("synchronous"), get("wal_autocheckpoint")))
            })
            .unwrap();
        use rusqlite::types::Value;
        assert_eq!(mode.unwrap(), Value::Text("wal".into()));
        assert_eq!(sync.unwrap(), Value::Integer(2), "synchronous = FULL");
        assert_eq!(frames.unwrap(), Value::Integer(i64::from(WAL_AUTOCHECKPOINT_FRAMES)));
        assert_eq!(WAL_AUTOCHECKPOINT_FRAMES, 8000);
    }
}
