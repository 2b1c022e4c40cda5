//! Access control: the one `authorize` function every handler calls, and the privilege set
//! `current-user-privilege-set` reports (RFC 3744). Pure functions: all facts arrive in
//! `Subject` and `Target`, so the access matrix is a table-driven unit test.

use crate::dav::error::{Condition, DavError};
use crate::store::{
    AppPasswordScope, CollectionAccess, ContentAccess, Held, Id, Organization, Principal, Role,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Read,
    WriteProperties,
    WriteContent,
    Bind,
    Unbind,
    ReadAcl,
    ReadCurrentUserPrivilegeSet,
    WriteAcl,
    /// CalDAV `read-free-busy` (RFC 4791 §6.1.1), aggregated under read.
    ReadFreeBusy,
    /// `DAV:share` (as in draft-pot-webdav-resource-sharing and sabre/dav): may share the
    /// collection with others (*can modify and share*, a manage grant, the owner).
    Share,
}

impl Privilege {
    const ALL: [Privilege; 10] = [
        Privilege::Read,
        Privilege::WriteProperties,
        Privilege::WriteContent,
        Privilege::Bind,
        Privilege::Unbind,
        Privilege::ReadAcl,
        Privilege::ReadCurrentUserPrivilegeSet,
        Privilege::WriteAcl,
        Privilege::ReadFreeBusy,
        Privilege::Share,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// (namespace, element name) as written in XML.
    pub fn element(self) -> (&'static str, &'static str) {
        use crate::dav::names::{CALDAV, DAV};
        match self {
            Privilege::Read => (DAV, "read"),
            Privilege::WriteProperties => (DAV, "write-properties"),
            Privilege::WriteContent => (DAV, "write-content"),
            Privilege::Bind => (DAV, "bind"),
            Privilege::Unbind => (DAV, "unbind"),
            Privilege::ReadAcl => (DAV, "read-acl"),
            Privilege::ReadCurrentUserPrivilegeSet => (DAV, "read-current-user-privilege-set"),
            Privilege::WriteAcl => (DAV, "write-acl"),
            Privilege::ReadFreeBusy => (CALDAV, "read-free-busy"),
            Privilege::Share => (DAV, "share"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrivilegeSet(u16);

impl PrivilegeSet {
    pub const EMPTY: PrivilegeSet = PrivilegeSet(0);

    pub fn of(privileges: &[Privilege]) -> Self {
        PrivilegeSet(privileges.iter().fold(0, |acc, p| acc | p.bit()))
    }
    pub fn intersect(self, other: PrivilegeSet) -> PrivilegeSet {
        PrivilegeSet(self.0 & other.0)
    }
    pub fn union(self, other: PrivilegeSet) -> PrivilegeSet {
        PrivilegeSet(self.0 | other.0)
    }
    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL.into_iter().filter(move |p| self.contains(*p))
    }
    /// DAV:write aggregates write-properties, write-content, bind and unbind (RFC 3744 §3.12).
    pub fn has_aggregate_write(self) -> bool {
        [Privilege::WriteProperties, Privilege::WriteContent, Privilege::Bind, Privilege::Unbind]
            .into_iter()
            .all(|p| self.contains(p))
    }
}

/// Who is asking, as established by authentication.
#[derive(Debug, Clone)]
pub struct Subject {
    pub principal: Principal,
    pub organization: Option<Organization>,
    pub role: Option<Role>,
    /// Set when an app password authenticated the request: what it is limited to.
    pub scope: Option<AppPasswordScope>,
}

/// The facts about a resource that access depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The root, the DAV root, the principal collection and the lists of homes.
    Directory,
    /// A principal resource and the organization it belongs to: visible to itself and to
    /// members of that organization only (issue #7: principal search, share dialogs).
    Principal { id: Id, organization: Option<Id> },
    /// A home: its owner may add and remove members but not delete or rewrite the home.
    /// `access` says whose organization it belongs to when a team or room owns it.
    Home { owner: Id, access: CollectionAccess },
    /// A collection, or an object in `collection`, below a home, with what shares and grants
    /// give the subject on it (`CollectionAccess::default()` when the subject is the owner).
    Owned { owner: Id, collection: Id, access: CollectionAccess },
}

impl Target {
    /// A collection as its owner sees it (no shares or grants needed).
    pub fn owned(owner: Id, collection: Id) -> Target {
        Target::Owned { owner, collection, access: CollectionAccess::default() }
    }
    pub fn home(owner: Id) -> Target {
        Target::Home { owner, access: CollectionAccess::default() }
    }
}

const READ_ONLY: &[Privilege] = &[Privilege::Read, Privilege::ReadCurrentUserPrivilegeSet];

const OWNER_OF_HOME: &[Privilege] = &[
    Privilege::Read,
    Privilege::ReadFreeBusy,
    Privilege::ReadAcl,
    Privilege::ReadCurrentUserPrivilegeSet,
    Privilege::WriteProperties,
    Privilege::Bind,
    Privilege::Unbind,
];

/// Everything but write-acl: davit does not implement the ACL method.
const OWNER: &[Privilege] = &[
    Privilege::Read,
    Privilege::ReadFreeBusy,
    Privilege::ReadAcl,
    Privilege::ReadCurrentUserPrivilegeSet,
    Privilege::WriteProperties,
    Privilege::WriteContent,
    Privilege::Bind,
    Privilege::Unbind,
    Privilege::Share,
];

/// *can view*, or a grant to read.
const VIEW: &[Privilege] =
    &[Privilege::Read, Privilege::ReadFreeBusy, Privilege::ReadCurrentUserPrivilegeSet];
/// *can modify*, or a grant to read and write: the content, never the collection itself.
const MODIFY: &[Privilege] = &[Privilege::WriteContent, Privilege::Bind, Privilege::Unbind];
/// *can modify and share*: may also see and change who else has access.
const SHARE: &[Privilege] = &[Privilege::Share, Privilege::ReadAcl];
/// A manage grant: rename, recolour, share and delete (deleting is checked on the collection
/// itself, see `may_delete_collection`), seeing the collection but not its content's writes.
const MANAGE: &[Privilege] = &[
    Privilege::Read,
    Privilege::ReadCurrentUserPrivilegeSet,
    Privilege::WriteProperties,
    Privilege::Share,
    Privilege::ReadAcl,
];

/// Privileges that only read: what a read-only credential keeps.
const READS: &[Privilege] =
    &[Privilege::Read, Privilege::ReadFreeBusy, Privilege::ReadAcl, Privilege::ReadCurrentUserPrivilegeSet];

/// Whether the subject is an owner or administrator of `organization`: they manage every
/// collection of its teams and rooms (never members' personal collections).
fn manages_organization(subject: &Subject, organization: Option<Id>) -> bool {
    let role_manages = matches!(subject.role, Some(Role::Owner | Role::Admin));
    role_manages && organization.is_some() && subject.organization.as_ref().map(|o| o.id) == organization
}

/// The privileges that shares and grants (`held`) give.
fn held_privileges(held: Held) -> PrivilegeSet {
    let mut set = PrivilegeSet::EMPTY;
    if held.content >= ContentAccess::Read {
        set = set.union(PrivilegeSet::of(VIEW));
    }
    if held.content == ContentAccess::Write {
        set = set.union(PrivilegeSet::of(MODIFY));
    }
    if held.share {
        set = set.union(PrivilegeSet::of(SHARE));
    }
    if held.manage {
        set = set.union(PrivilegeSet::of(MANAGE));
    }
    set
}

pub fn effective_privileges(subject: &Subject, target: Target) -> PrivilegeSet {
    let me = subject.principal.id;
    let my_org = subject.organization.as_ref().map(|o| o.id);
    let granted = match target {
        Target::Directory => PrivilegeSet::of(READ_ONLY),
        Target::Principal { id, organization }
            if id == me || (organization.is_some() && organization == my_org) =>
        {
            PrivilegeSet::of(READ_ONLY)
        }
        Target::Principal { .. } => PrivilegeSet::EMPTY,
        Target::Home { owner, .. } if owner == me => PrivilegeSet::of(OWNER_OF_HOME),
        Target::Owned { owner, .. } if owner == me => PrivilegeSet::of(OWNER),
        Target::Home { access, .. } if manages_organization(subject, access.organization) => {
            PrivilegeSet::of(OWNER_OF_HOME)
        }
        Target::Owned { access, .. } if manages_organization(subject, access.organization) => {
            PrivilegeSet::of(OWNER)
        }
        Target::Home { .. } => PrivilegeSet::EMPTY,
        Target::Owned { access, .. } => held_privileges(access.held),
    };
    match &subject.scope {
        Some(scope) => granted.intersect(scope_limit(scope, target)),
        None => granted,
    }
}

/// What an app password's scope allows on a target: discovery stays readable; collections
/// outside a collection-limited scope get nothing; a read-only scope keeps only reads.
fn scope_limit(scope: &AppPasswordScope, target: Target) -> PrivilegeSet {
    let in_scope = match (target, &scope.collections) {
        (Target::Owned { collection, .. }, Some(allowed)) => allowed.contains(&collection),
        _ => true,
    };
    let limited_home = matches!(target, Target::Home { .. }) && scope.collections.is_some();
    match (in_scope, scope.read_only || limited_home) {
        (false, _) => PrivilegeSet::EMPTY,
        (true, true) => PrivilegeSet::of(READS),
        (true, false) => PrivilegeSet(u16::MAX),
    }
}

/// Whether the subject may delete the collection `target` itself. Deleting needs unbind on
/// the home holding it (RFC 3744 §3.10); a manage grant on an organization collection also
/// allows it, without giving unbind on the team's or room's whole home.
pub fn may_delete_collection(subject: &Subject, home: Target, target: Target) -> bool {
    if effective_privileges(subject, home).contains(Privilege::Unbind) {
        return true;
    }
    let managed = matches!(target, Target::Owned { access, .. }
        if access.organization.is_some() && access.held.manage);
    managed && effective_privileges(subject, target).contains(Privilege::WriteProperties)
}

/// The one access check. `href` names the resource in the `need-privileges` answer.
pub fn authorize(
    subject: &Subject,
    target: Target,
    privilege: Privilege,
    href: &str,
) -> Result<(), DavError> {
    if effective_privileges(subject, target).contains(privilege) {
        return Ok(());
    }
    Err(DavError::with(
        http::StatusCode::FORBIDDEN,
        Condition::NeedPrivileges(vec![(href.to_owned(), privilege.element().1)]),
        format!("you lack the {} privilege on {href}", privilege.element().1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PrincipalKind;

    fn subject(id: Id) -> Subject {
        Subject {
            principal: Principal {
                id,
                kind: PrincipalKind::User,
                slug: format!("u{id}"),
                display_name: String::new(),
                email: None,
            },
            organization: None,
            role: Some(Role::Collaborator),
            scope: None,
        }
    }

    #[test]
    fn access_matrix() {
        use Privilege::*;
        // (target, privilege, allowed for subject 1)
        let cases = [
            (Target::Directory, Read, true),
            (Target::Directory, Bind, false),
            (Target::Principal { id: 1, organization: None }, Read, true),
            (Target::Principal { id: 1, organization: None }, WriteProperties, false),
            (Target::home(1), Bind, true),
            (Target::home(1), WriteContent, false),
            (Target::home(2), Read, false),
            (Target::owned(1, 10), WriteContent, true),
            (Target::owned(1, 10), WriteAcl, false),
            (Target::owned(2, 10), Read, false),
            (Target::owned(2, 10), ReadCurrentUserPrivilegeSet, false),
        ];
        let me = subject(1);
        for (target, privilege, allowed) in cases {
            assert_eq!(authorize(&me, target, privilege, "/x").is_ok(), allowed, "{target:?} {privilege:?}");
        }
    }

    #[test]
    fn refusal_names_resource_and_privilege() {
        let err =
            authorize(&subject(1), Target::owned(2, 10), Privilege::WriteContent, "/dav/calendars/u2/c/")
                .unwrap_err();
        assert_eq!(err.status, http::StatusCode::FORBIDDEN);
        assert_eq!(
            err.condition,
            Some(Condition::NeedPrivileges(vec![("/dav/calendars/u2/c/".into(), "write-content")]))
        );
    }

    #[test]
    fn app_password_scopes_narrow_what_the_owner_may_do() {
        use Privilege::*;
        let scoped = |read_only: bool, collections: Option<Vec<Id>>| Subject {
            scope: Some(AppPasswordScope { read_only, collections }),
            ..subject(1)
        };
        let cal = Target::owned(1, 10);
        let other = Target::owned(1, 11);
        let home = Target::home(1);
        let read_only = scoped(true, None);
        assert!(authorize(&read_only, cal, Read, "/c").is_ok());
        assert!(authorize(&read_only, cal, WriteContent, "/c").is_err());
        assert!(authorize(&read_only, home, Bind, "/h").is_err());
        let limited = scoped(false, Some(vec![10]));
        assert!(authorize(&limited, cal, WriteContent, "/c").is_ok());
        assert!(authorize(&limited, other, Read, "/o").is_err(), "outside the scope: nothing");
        assert!(authorize(&limited, home, Read, "/h").is_ok(), "discovery still works");
        assert!(authorize(&limited, home, Bind, "/h").is_err(), "no new collections");
        assert!(authorize(&limited, Target::Directory, Read, "/").is_ok());
        assert_eq!(effective_privileges(&scoped(false, None), cal), effective_privileges(&subject(1), cal));
    }

    #[test]
    fn principals_are_visible_to_themselves_and_their_organization_only() {
        let member =
            Subject { organization: Some(Organization { id: 100, name: "Acme".into() }), ..subject(1) };
        let colleague = Target::Principal { id: 2, organization: Some(100) };
        let stranger = Target::Principal { id: 3, organization: Some(200) };
        assert!(authorize(&member, colleague, Privilege::Read, "/p/2/").is_ok());
        assert!(authorize(&member, colleague, Privilege::WriteProperties, "/p/2/").is_err());
        assert!(authorize(&member, stranger, Privilege::Read, "/p/3/").is_err());
        // Without an organization a user sees only themselves, never other org-less principals.
        let alone = subject(1);
        let myself = Target::Principal { id: 1, organization: None };
        assert!(authorize(&alone, myself, Privilege::Read, "/p/1/").is_ok());
        let other = Target::Principal { id: 4, organization: None };
        assert!(authorize(&alone, other, Privilege::Read, "/p/4/").is_err());
        assert!(authorize(&alone, colleague, Privilege::Read, "/p/2/").is_err());
    }

    #[test]
    fn aggregate_write() {
        assert!(effective_privileges(&subject(1), Target::owned(1, 10)).has_aggregate_write());
        assert!(!effective_privileges(&subject(1), Target::home(1)).has_aggregate_write());
    }
}
