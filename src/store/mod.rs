//! Storage: the `Store` trait speaks in use-case calls with davit types, never SQL.
//!
//! `sqlite` is the embedded default; a PostgreSQL backend can follow by implementing the same
//! trait and passing `contract_tests`.

mod org_types;
pub mod sqlite;
mod types;

#[cfg(test)]
mod contract_tests;

pub use org_types::*;
use std::collections::HashMap;

pub use types::*;

/// A write the caller awaits (see [`Store::put_object_deferred`]).
pub type Deferred<T> = std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<T>> + Send>>;

/// Everything the server persists. Implementations are synchronous and thread-safe; the HTTP
/// layer calls them from tokio's blocking pool. Every write method is one transaction.
pub trait Store: Send + Sync + 'static {
    // ---- organizations and users -------------------------------------------------------
    fn create_organization(&self, name: &str) -> StoreResult<Id>;
    fn organization_by_name(&self, name: &str) -> StoreResult<Option<Organization>>;
    fn organizations(&self) -> StoreResult<Vec<Organization>>;
    /// Creates the principal, its credentials, its membership, both homes and the default
    /// calendar, task list and address book, in one transaction.
    fn create_user(&self, user: &NewUser) -> StoreResult<Principal>;
    fn users(&self) -> StoreResult<Vec<UserSummary>>;
    fn user_count(&self) -> StoreResult<u64>;
    fn delete_user(&self, slug: &str) -> StoreResult<()>;
    /// Also ends every web session of the user, in the same transaction.
    fn set_password(&self, slug: &str, password_hash: &str) -> StoreResult<Id>;
    /// Looks a user up by username or e-mail for authentication.
    fn login_credentials(&self, login: &str) -> StoreResult<Option<LoginCredentials>>;
    /// `login_credentials`, the principal, `two_factor(..).enabled` and `role_of` in one read:
    /// what every authenticated request needs, fresh each time.
    fn login_record(&self, login: &str) -> StoreResult<Option<LoginRecord>>;
    /// `login_record` and, if `app_passwords`, the user's active app passwords
    /// (`app_password_secrets`), read as one snapshot: HTTP authentication asks on every request.
    fn login_with_app_passwords(
        &self,
        login: &str,
        app_passwords: bool,
    ) -> StoreResult<Option<(LoginRecord, Vec<AppPasswordSecret>)>>;
    fn principal_by_slug(&self, slug: &str) -> StoreResult<Option<Principal>>;
    fn principal_by_id(&self, id: Id) -> StoreResult<Option<Principal>>;
    fn role_of(&self, user_id: Id) -> StoreResult<Option<(Organization, Role)>>;
    /// Principals visible to a search (RFC 3744 §9.4): see `PrincipalSearch`.
    fn search_principals(&self, search: &PrincipalSearch) -> StoreResult<Vec<Principal>>;

    // ---- the collection tree -----------------------------------------------------------
    fn home(&self, owner_id: Id, kind: HomeKind) -> StoreResult<Option<Collection>>;
    fn collection(&self, id: Id) -> StoreResult<Option<Collection>>;
    fn child_collection(&self, parent_id: Id, segment: &str) -> StoreResult<Option<Collection>>;
    fn object(&self, collection_id: Id, segment: &str) -> StoreResult<Option<ObjectMeta>>;
    fn object_body(&self, object_id: Id) -> StoreResult<Option<Vec<u8>>>;
    fn members(&self, collection_id: Id) -> StoreResult<Vec<Member>>;
    fn dead_props(&self, target: PropTarget) -> StoreResult<Vec<DeadProp>>;
    /// The dead properties of every member (object or sub-collection) of a collection, in
    /// one read: listing a collection must not cost a query per member.
    fn member_dead_props(&self, collection_id: Id) -> StoreResult<HashMap<PropTarget, Vec<DeadProp>>>;
    /// The objects of a collection named by `segments`, each with its body and dead
    /// properties (when `dead_props`; else none are read), from one snapshot (multiget); names
    /// that are not objects there are left out.
    fn loaded_objects(
        &self,
        collection_id: Id,
        segments: &[&str],
        dead_props: bool,
    ) -> StoreResult<Vec<LoadedObject>>;
    /// Members that may match a query, with their bodies, chosen from the index alone: of
    /// component type `comp` (if given) and whose occurrence span may overlap `range`.
    /// Objects without indexed dates (e.g. a VTODO without DTSTART/DUE) are always returned.
    fn query_candidates(
        &self,
        collection_id: Id,
        comp: Option<&str>,
        range: Option<TimeSpan>,
    ) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>>;
    /// `query_candidates` with each object's indexed instance list, which can decide a
    /// VEVENT time-range without parsing the body.
    fn indexed_candidates(
        &self,
        collection_id: Id,
        comp: Option<&str>,
        range: Option<TimeSpan>,
    ) -> StoreResult<Vec<Candidate>>;
    /// VEVENT objects whose instance list was never computed (stored before schema version
    /// 4), with an id above `after`, in id order, at most `batch`.
    fn unlisted_events(&self, after: Id, batch: usize) -> StoreResult<Vec<UnlistedEvent>>;
    /// Stores instance lists computed for `unlisted_events` (id, ETag of the body they were
    /// computed from, list); an object changed since keeps the list its PUT wrote.
    fn set_instance_lists(&self, lists: &[(Id, String, Vec<u8>)]) -> StoreResult<()>;

    /// Cards of an address book with an indexed `field` whose folded value is LIKE
    /// `pattern` (`%` and `_` wildcards, `\` escapes), with their bodies: each card once, in
    /// segment order.
    fn card_candidates(
        &self,
        collection_id: Id,
        field: &str,
        pattern: &str,
    ) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>>;
    /// Looks up `segments` below the `kind` home of the user `owner` in one consistent read:
    /// the owner, the home, the child collection each segment names in turn and, when every
    /// segment but the last names one and the last does not, the object it names. The same
    /// answer as the point lookups (`principal_by_slug`, `home`, `child_collection`,
    /// `object`); one read is cheaper and never mixes two states of the tree.
    fn locate_in_home(&self, owner: &str, kind: HomeKind, segments: &[String]) -> StoreResult<HomeLookup>;
    /// `locate_in_home`'s descent from the collection `parent` instead of a home.
    fn locate_below(&self, parent: Id, segments: &[String]) -> StoreResult<Descent>;
    fn create_collection(&self, new: &NewCollection) -> StoreResult<Collection>;
    fn put_object(&self, put: &PutObject<'_>) -> StoreResult<PutOutcome>;
    /// `put_object` for a caller that awaits the write instead of blocking its thread until
    /// the write is durable. A store without such writes runs it before returning.
    fn put_object_deferred(&self, put: PutObjectOwned) -> Deferred<PutOutcome> {
        let outcome = put.with(|put| self.put_object(put));
        Box::pin(std::future::ready(outcome))
    }
    fn delete_object(&self, collection_id: Id, segment: &str, expect: &Expect) -> StoreResult<()>;
    fn delete_collection(&self, id: Id) -> StoreResult<()>;
    /// Applies every operation or none (RFC 4918 §9.2 atomicity).
    fn patch_props(&self, target: PropTarget, ops: &[PropPatchOp]) -> StoreResult<()>;
    /// COPY or MOVE of an object or a collection subtree; returns whether the destination was
    /// newly created (201) rather than overwritten (204).
    fn transfer(&self, transfer: &Transfer) -> StoreResult<bool>;

    // ---- app passwords ----------------------------------------------------------------
    fn create_app_password(
        &self,
        user_id: Id,
        label: &str,
        secret_hash: &str,
        scope: &AppPasswordScope,
    ) -> StoreResult<Id>;
    /// Active (not revoked) app passwords, newest first.
    fn app_passwords(&self, user_id: Id) -> StoreResult<Vec<AppPasswordInfo>>;
    fn app_password_secrets(&self, user_id: Id) -> StoreResult<Vec<AppPasswordSecret>>;
    /// Returns false when there is no such active password of this user.
    fn revoke_app_password(&self, user_id: Id, id: Id) -> StoreResult<bool>;
    fn record_app_password_use(&self, id: Id, user_agent: Option<&str>, ip: &str) -> StoreResult<()>;

    // ---- public feeds -----------------------------------------------------------------
    /// Publishes the collection under a new token hash (replacing any previous token).
    fn set_feed(&self, collection_id: Id, token_hash: &str, settings: &FeedSettings) -> StoreResult<()>;
    fn remove_feed(&self, collection_id: Id) -> StoreResult<bool>;
    fn feed_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Feed>>;
    fn feed_of(&self, collection_id: Id) -> StoreResult<Option<FeedSettings>>;
    /// Segments and bodies of the collection's members in batches of at most `batch`, ordered
    /// by segment, starting after `after_segment` (`""` for the first batch): streaming a large
    /// calendar with flat memory.
    fn object_bodies_after(
        &self,
        collection_id: Id,
        after_segment: &str,
        batch: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;

    // ---- organizations: members, teams, rooms, grants, shares --------------------------
    fn org_members(&self, org_id: Id) -> StoreResult<Vec<OrgMember>>;
    /// Changes a member's role; refuses to leave the organization without an owner.
    fn set_role(&self, org_id: Id, user_id: Id, role: Role) -> StoreResult<()>;
    /// The organization a team or room belongs to, or the one a user is a member of.
    fn organization_of(&self, principal_id: Id) -> StoreResult<Option<Id>>;
    /// A team (with empty calendar and address-book homes) or a room (with a calendar home
    /// holding its calendar).
    fn create_group_principal(
        &self,
        org_id: Id,
        kind: PrincipalKind,
        slug: &str,
        display_name: &str,
        email: Option<&str>,
    ) -> StoreResult<Principal>;
    /// Teams or rooms of the organization.
    fn group_principals(&self, org_id: Id, kind: PrincipalKind) -> StoreResult<Vec<Principal>>;
    /// Deletes a team or room with its collections, memberships, grants and shares.
    fn delete_group_principal(&self, id: Id) -> StoreResult<()>;
    fn team_members(&self, team_id: Id) -> StoreResult<Vec<Principal>>;
    /// The teams a user belongs to.
    fn teams_of(&self, user_id: Id) -> StoreResult<Vec<Principal>>;
    fn set_team_member(&self, team_id: Id, user_id: Id, member: bool) -> StoreResult<bool>;
    fn add_grant(&self, grant: &NewGrant) -> StoreResult<Id>;
    fn grants(&self, org_id: Id) -> StoreResult<Vec<Grant>>;
    fn revoke_grant(&self, org_id: Id, id: Id) -> StoreResult<bool>;
    /// Shares the collection (or changes the right of an existing share with the same
    /// grantee); a user who had declined it sees it again. Returns the share's id.
    fn put_share(&self, collection_id: Id, grantee: &Grantee, access: ShareAccess, by: Id)
    -> StoreResult<Id>;
    fn shares(&self, collection_id: Id) -> StoreResult<Vec<Share>>;
    fn revoke_share(&self, collection_id: Id, grantee: &Grantee) -> StoreResult<bool>;
    /// Records that a pending invitation was sent again; false if there is none.
    fn touch_invitation(&self, collection_id: Id, email: &str) -> StoreResult<bool>;
    /// What shares and grants give `user_id` on the collection, and whose it is.
    fn collection_access(&self, user_id: Id, collection_id: Id) -> StoreResult<CollectionAccess>;
    /// Collections of others shared into the user's home of `kind` (not declined).
    fn mounted_collections(&self, user_id: Id, kind: HomeKind) -> StoreResult<Vec<MountedCollection>>;
    /// The sharee's own name, colour and order (`None` leaves a field unchanged, `Some(None)`
    /// clears it).
    fn set_sharee_props(
        &self,
        user_id: Id,
        collection_id: Id,
        fields: &[(CollectionField, Option<String>)],
    ) -> StoreResult<()>;
    /// Removes a share from the sharee's home (declines it).
    fn decline_share(&self, user_id: Id, collection_id: Id) -> StoreResult<()>;
    /// Removes a member in one transaction: their collections are transferred or deleted,
    /// their shares, grants, team memberships and credentials end. Refuses the last owner.
    fn remove_member(&self, removal: &MemberRemoval) -> StoreResult<RemovalReport>;
    // ---- two-factor login and web sessions ------------------------------------------------
    fn two_factor(&self, user_id: Id) -> StoreResult<Option<TwoFactor>>;
    /// Starts (or restarts) an enrolment with a new key; `AlreadyExists` when it is already on.
    fn begin_two_factor(&self, user_id: Id, secret: &[u8]) -> StoreResult<()>;
    /// Turns a pending enrolment on, records `step` as the last accepted code, replaces the
    /// recovery codes and ends every web session of the user (the caller starts a new one for
    /// the browser that confirmed). Returns false when no enrolment is pending.
    fn enable_two_factor(&self, user_id: Id, step: i64, recovery_code_hashes: &[String])
    -> StoreResult<bool>;
    /// Turns two-factor login off: key, recovery codes and every web session of the user go.
    /// Returns false when it was neither on nor pending.
    fn disable_two_factor(&self, user_id: Id) -> StoreResult<bool>;
    /// Records `step` as the last accepted time step if it is later than the recorded one.
    /// False means a replay (or a concurrent request that used the same code first).
    fn accept_totp_step(&self, user_id: Id, step: i64) -> StoreResult<bool>;
    /// Marks the unused recovery code with this hash used; false when there is none.
    fn use_recovery_code(&self, user_id: Id, code_hash: &str) -> StoreResult<bool>;
    fn recovery_codes_left(&self, user_id: Id) -> StoreResult<u64>;
    /// Also drops every session whose absolute expiry has passed.
    fn create_web_session(&self, session: &NewWebSession<'_>) -> StoreResult<()>;
    fn web_session(&self, id_hash: &str) -> StoreResult<Option<WebSession>>;
    fn touch_web_session(&self, id_hash: &str, at: i64) -> StoreResult<()>;
    fn delete_web_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Ends every web session of the user; returns how many there were.
    fn delete_web_sessions(&self, user_id: Id) -> StoreResult<u64>;

    // ---- sync --------------------------------------------------------------------------
    /// Forgets deletions recorded before `before` (Unix seconds) and raises each affected
    /// collection's sync floor past them, so older tokens get `valid-sync-token` and their
    /// clients resync in full (RFC 6578 §3.2). Returns the number of tombstones removed.
    fn prune_tombstones(&self, before: i64) -> StoreResult<u64>;
    fn changes_since(&self, collection_id: Id, rev: i64, limit: usize) -> StoreResult<ChangeSet>;
}
