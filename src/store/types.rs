//! Values the store takes and returns.

use std::fmt;

pub type Id = i64;
pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// The resource's current state does not match what the request expected (ETag, absence).
    #[error("precondition failed")]
    PreconditionFailed,
    /// Another member of the collection already holds this UID (RFC 4791 §5.3.2.1).
    #[error("UID already used by {segment}")]
    UidConflict { segment: String },
    /// The parent of the target does not exist (RFC 4918 §9.7.1, §9.3.1).
    #[error("parent collection missing")]
    ParentMissing,
    #[error("{0}")]
    Conflict(String),
    #[error("the database is busy")]
    Busy,
    #[error("the database schema is version {found}, newer than this binary knows ({known})")]
    NewerSchema { found: i64, known: i64 },
    #[error("store error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Collaborator,
    External,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Collaborator => "collaborator",
            Role::External => "external",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "owner" => Some(Role::Owner),
            "admin" | "administrator" => Some(Role::Admin),
            "collaborator" => Some(Role::Collaborator),
            "external" => Some(Role::External),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: Id,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Room,
    Team,
}

impl PrincipalKind {
    /// The value of `principals.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Room => "room",
            PrincipalKind::Team => "team",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(PrincipalKind::User),
            "room" => Some(PrincipalKind::Room),
            "team" => Some(PrincipalKind::Team),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: Id,
    pub kind: PrincipalKind,
    pub slug: String,
    pub display_name: String,
    pub email: Option<String>,
}

pub struct NewUser {
    pub slug: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub org_id: Id,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct UserSummary {
    pub principal: Principal,
    pub organization: String,
    pub role: Role,
}

/// What authentication needs; `password_hash` is an argon2id PHC string.
#[derive(Clone)]
pub struct LoginCredentials {
    pub user_id: Id,
    pub password_hash: String,
}

/// Everything HTTP authentication needs about a login, read as one snapshot: the credentials
/// of `login_credentials`, the principal, whether two-factor login is on, and the first
/// organization with the role in it (as `role_of`).
pub struct LoginRecord {
    pub credentials: LoginCredentials,
    pub principal: Principal,
    pub two_factor_on: bool,
    pub membership: Option<(Organization, Role)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HomeKind {
    Calendar,
    Addressbook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    CalendarHome,
    AddressbookHome,
    Plain,
    Calendar,
    Addressbook,
    /// A calendar subscription (calendarserver.org): a URL the client polls itself; it holds
    /// no resources on the server.
    Subscription,
}

impl CollectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionKind::CalendarHome => "calendar-home",
            CollectionKind::AddressbookHome => "addressbook-home",
            CollectionKind::Plain => "plain",
            CollectionKind::Calendar => "calendar",
            CollectionKind::Addressbook => "addressbook",
            CollectionKind::Subscription => "subscription",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "calendar-home" => CollectionKind::CalendarHome,
            "addressbook-home" => CollectionKind::AddressbookHome,
            "plain" => CollectionKind::Plain,
            "calendar" => CollectionKind::Calendar,
            "addressbook" => CollectionKind::Addressbook,
            "subscription" => CollectionKind::Subscription,
            _ => return None,
        })
    }
    pub fn is_home(self) -> bool {
        matches!(self, CollectionKind::CalendarHome | CollectionKind::AddressbookHome)
    }
    pub fn home_kind(self) -> HomeKind {
        match self {
            CollectionKind::CalendarHome | CollectionKind::Calendar | CollectionKind::Subscription => {
                HomeKind::Calendar
            }
            CollectionKind::AddressbookHome | CollectionKind::Addressbook => HomeKind::Addressbook,
            // Plain collections take the kind of the home they live in; callers that need it
            // use the home they resolved through.
            CollectionKind::Plain => HomeKind::Calendar,
        }
    }
}

/// Collection properties the server interprets itself, kept in columns (the rest are dead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionProps {
    pub displayname: Option<String>,
    pub description: Option<String>,
    pub color: Option<String>,
    pub sort_order: Option<String>,
    pub timezone: Option<String>,
    /// Comma-separated iCalendar component names a calendar accepts.
    pub components: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollectionField {
    Displayname,
    Description,
    Color,
    SortOrder,
    Timezone,
    Components,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub id: Id,
    pub owner_id: Id,
    pub parent_id: Option<Id>,
    pub kind: CollectionKind,
    pub segment: String,
    pub props: CollectionProps,
    pub rev: i64,
    pub sync_floor: i64,
    pub created_at: i64,
    pub modified_at: i64,
}

#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub id: Id,
    pub collection_id: Id,
    pub segment: String,
    pub uid: Option<String>,
    /// Unquoted strong entity tag.
    pub etag: String,
    pub content_type: String,
    pub size: u64,
    pub created_at: i64,
    pub modified_at: i64,
}

/// An object read whole: what a multiget answers from.
#[derive(Debug, Clone)]
pub struct LoadedObject {
    pub meta: ObjectMeta,
    pub body: Vec<u8>,
    pub dead_props: Vec<DeadProp>,
}

#[derive(Debug, Clone)]
pub enum Member {
    Collection(Collection),
    Object(ObjectMeta),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropTarget {
    Collection(Id),
    Object(Id),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProp {
    pub ns: String,
    pub name: String,
    /// A self-contained XML fragment of the whole property element.
    pub xml: String,
}

#[derive(Debug, Clone)]
pub enum PropPatchOp {
    SetDead(DeadProp),
    RemoveDead { ns: String, name: String },
    SetField(CollectionField, Option<String>),
}

pub struct NewCollection {
    pub owner_id: Id,
    pub parent_id: Id,
    pub segment: String,
    pub kind: CollectionKind,
    pub props: CollectionProps,
    pub dead_props: Vec<DeadProp>,
}

/// A compare-and-swap precondition checked inside the write transaction, so two racing
/// writers can never both succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Anything,
    Absent,
    Etag(String),
}

/// Index values extracted from a body on write (CalDAV/CardDAV fill them in).
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex {
    pub uid: Option<String>,
    pub comp_type: Option<String>,
    pub first_start: Option<i64>,
    pub last_end: Option<i64>,
    /// A calendar object's instance list (`ical::ObjectInfo::instances`), which answers
    /// time-range queries without parsing the body; `None` for objects that have none
    /// computed (cards, and objects stored before schema version 4).
    pub instances: Option<Vec<u8>>,
    /// Searchable card fields (field name, value folded with i;unicode-casemap).
    pub search: Vec<(String, String)>,
}

pub struct PutObject<'a> {
    pub collection_id: Id,
    pub segment: &'a str,
    pub body: &'a [u8],
    pub content_type: &'a str,
    pub expect: Expect,
    pub index: ObjectIndex,
}

/// A [`PutObject`] that owns its data, for a write that outlives the caller's frame.
#[derive(Debug)]
pub struct PutObjectOwned {
    pub collection_id: Id,
    pub segment: String,
    pub body: bytes::Bytes,
    pub content_type: String,
    pub expect: Expect,
    pub index: ObjectIndex,
}

impl PutObjectOwned {
    /// Calls `f` with the borrowing form.
    pub fn with<R>(self, f: impl FnOnce(&PutObject<'_>) -> R) -> R {
        let PutObjectOwned { collection_id, segment, body, content_type, expect, index } = self;
        f(&PutObject {
            collection_id,
            segment: &segment,
            body: &body,
            content_type: &content_type,
            expect,
            index,
        })
    }
}

#[derive(Debug, Clone)]
pub struct PutOutcome {
    pub created: bool,
    pub etag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRef {
    Collection(Id),
    Object(Id),
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub source: NodeRef,
    pub dest_parent: Id,
    pub dest_segment: String,
    pub overwrite: bool,
    /// COPY with `Depth: 0` copies a collection without its members.
    pub recursive: bool,
    pub is_move: bool,
}

/// What an app password may do (issue: full access, read-only, or chosen collections).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppPasswordScope {
    pub read_only: bool,
    /// `None` = every collection; otherwise only these (and the discovery resources).
    pub collections: Option<Vec<Id>>,
}

#[derive(Debug, Clone)]
pub struct AppPasswordInfo {
    pub id: Id,
    pub label: String,
    pub scope: AppPasswordScope,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_user_agent: Option<String>,
    pub last_ip: Option<String>,
}

/// An active app password of a user, as authentication needs it.
#[derive(Debug, Clone)]
pub struct AppPasswordSecret {
    pub id: Id,
    pub secret_hash: String,
    pub scope: AppPasswordScope,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSettings {
    pub busy_only: bool,
    pub show_attendees: bool,
}

/// A published calendar as the feed handler needs it.
#[derive(Debug, Clone)]
pub struct Feed {
    pub collection: Collection,
    pub settings: FeedSettings,
}

/// A calendar-query candidate: the object, its body and its indexed instance list.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub meta: ObjectMeta,
    /// The candidates of one query share one buffer (slices of it).
    pub body: bytes::Bytes,
    /// `ObjectIndex::instances` as stored; `None` when never computed.
    pub instances: Option<bytes::Bytes>,
}

/// A calendar object stored without an instance list, to be back-filled.
#[derive(Debug, Clone)]
pub struct UnlistedEvent {
    pub id: Id,
    pub etag: String,
    pub body: Vec<u8>,
}

/// A half-open UTC span in Unix seconds; `None` bounds are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub segment: String,
    pub is_collection: bool,
    pub deleted: bool,
    pub rev: i64,
}

#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
    /// True when more changes exist beyond `limit`.
    pub truncated: bool,
    pub current_rev: i64,
}

/// A principal search (RFC 3744 §9.4) as the store answers it: principals in scope whose
/// fields match the terms, ordered by display name, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalSearch {
    /// Who searches: always in scope.
    pub viewer: Id,
    /// The organization whose members, rooms and teams are in scope; `None`: only the viewer.
    pub organization: Option<Id>,
    /// No terms: every principal in scope.
    pub terms: Vec<PrincipalTerm>,
    /// Every term must hold (`allof`), or at least one (`anyof`).
    pub all_of: bool,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalTerm {
    /// `field` matches `text`, both folded with i;unicode-casemap (RFC 4790 §9.3), the
    /// caseless comparison RFC 3744 §9.4 prefers. A principal without the field never matches.
    Text { field: PrincipalField, text: String, how: SearchMatch },
    /// The principal is of one of these kinds (none: never).
    Kind(Vec<PrincipalKind>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalField {
    DisplayName,
    /// The bare e-mail address.
    Email,
    /// The e-mail address as a calendar user address: `mailto:` and the address
    /// (RFC 6638 §2.4.1).
    MailtoAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMatch {
    Contains,
    StartsWith,
    EndsWith,
    Equals,
}

/// A user's TOTP enrolment (RFC 6238). `enabled` is false between enrolment and the first
/// confirmed code; `last_step` is the time step of the last accepted code (replay protection).
#[derive(Clone, PartialEq, Eq)]
pub struct TwoFactor {
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: Option<i64>,
}

/// The key computes every future code: keep it out of logs.
impl fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoFactor")
            .field("secret", &"<redacted>")
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A web session to create; `id_hash` is the SHA-256 of the cookie value, never the value.
#[derive(Debug, Clone)]
pub struct NewWebSession<'a> {
    pub id_hash: &'a str,
    pub user_id: Id,
    pub csrf_token: &'a str,
    /// Password checked, TOTP or recovery code still to come: good for nothing else.
    pub second_factor_pending: bool,
    pub created_at: i64,
    /// Absolute end, whatever the activity.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub user_id: Id,
    pub csrf_token: String,
    pub second_factor_pending: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A path below a user's home looked up in one read (`Store::locate_in_home`).
#[derive(Debug, Clone, Default)]
pub struct HomeLookup {
    /// The home's owner; nothing else is looked up without one.
    pub owner: Option<Principal>,
    pub home: Option<Collection>,
    /// The collections the leading segments name, each a child of the one before (the first
    /// a child of the home), as far as they exist: all segments when the path names a
    /// collection.
    pub collections: Vec<Collection>,
    /// The object the last segment names, looked up when every segment before it named a
    /// collection and the last one does not.
    pub object: Option<ObjectMeta>,
}

/// Segments looked up below a collection (`Store::locate_below`): the fields of `HomeLookup`
/// of the same names, counted from that collection instead of the home.
#[derive(Debug, Clone, Default)]
pub struct Descent {
    pub collections: Vec<Collection>,
    pub object: Option<ObjectMeta>,
}
