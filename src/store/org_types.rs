//! Values of the organization model: teams, rooms, shares, grants and member removal.

use super::types::{Collection, Id, Principal, Role};

/// The segment under which a collection shared with a user appears in their home:
/// `shared-{collection id}` (stable across renames and transfers). The DAV layer resolves it;
/// the store writes it into the sharee's home change log so sync-collection on a home sees
/// shares come and go.
pub fn mount_segment(collection: Id) -> String {
    format!("shared-{collection}")
}

/// A share's right, as users see it: *can view*, *can modify*, *can modify and share*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShareAccess {
    View,
    Modify,
    Share,
}

impl ShareAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareAccess::View => "view",
            ShareAccess::Modify => "modify",
            ShareAccess::Share => "share",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "view" | "read" => Some(ShareAccess::View),
            "modify" | "read-write" => Some(ShareAccess::Modify),
            "share" | "modify-and-share" => Some(ShareAccess::Share),
            _ => None,
        }
    }
    /// What the right lets its holder do with the content.
    pub fn content(self) -> ContentAccess {
        match self {
            ShareAccess::View => ContentAccess::Read,
            ShareAccess::Modify | ShareAccess::Share => ContentAccess::Write,
        }
    }
}

/// Who a share is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    User(Id),
    Team(Id),
    /// Every member of the organization except its external members.
    Organization(Id),
    /// A pending invitation to an address without an account yet.
    Email(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub id: Id,
    pub collection_id: Id,
    pub grantee: Grantee,
    /// The grantee's slug (user, team), organization name or e-mail address, for display.
    pub grantee_name: String,
    pub access: ShareAccess,
    pub created_at: i64,
    /// When the invitation e-mail was last (re)sent; only for `Grantee::Email`.
    pub invited_at: Option<i64>,
}

/// The use right of a grant or a share: nothing, read, or read and write the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub enum ContentAccess {
    #[default]
    None,
    Read,
    Write,
}

impl ContentAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentAccess::None => "none",
            ContentAccess::Read => "read",
            ContentAccess::Write => "write",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(ContentAccess::None),
            "read" | "view" => Some(ContentAccess::Read),
            "write" | "modify" => Some(ContentAccess::Write),
            _ => None,
        }
    }
}

/// Which organization collections a grant without a named collection covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantScope {
    Calendars,
    Addressbooks,
    All,
}

impl GrantScope {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantScope::Calendars => "calendars",
            GrantScope::Addressbooks => "addressbooks",
            GrantScope::All => "all",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "calendars" | "calendar" => Some(GrantScope::Calendars),
            "addressbooks" | "addressbook" => Some(GrantScope::Addressbooks),
            "all" => Some(GrantScope::All),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub org_id: Id,
    /// A user or a team of the organization.
    pub grantee_id: Id,
    /// `None`: every current and future organization collection within `scope`.
    pub collection_id: Option<Id>,
    pub scope: GrantScope,
    pub use_access: ContentAccess,
    pub manage: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Id,
    pub grantee: Principal,
    pub collection_id: Option<Id>,
    pub scope: GrantScope,
    pub use_access: ContentAccess,
    pub manage: bool,
    pub created_at: i64,
}

/// What shares and grants give one user on one collection (the owner and the organization's
/// owners and administrators need none of it: `acl` derives their rights from who they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    pub content: ContentAccess,
    /// May share the collection further (*can modify and share*).
    pub share: bool,
    /// May rename, recolour, share and delete it (a grant's manage right).
    pub manage: bool,
}

/// The access facts of a collection for one subject, as `acl::Target` carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionAccess {
    /// Set when the owner is a team or a room: the organization whose collection this is.
    pub organization: Option<Id>,
    pub held: Held,
}

/// A member of an organization with their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub principal: Principal,
    pub role: Role,
}

/// What becomes of one collection of a member being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Moves to this member's home, keeping its content, shares and feed.
    TransferTo(Id),
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRemoval {
    pub org_id: Id,
    pub member_id: Id,
    /// For collections not named in `per_collection`.
    pub default: Disposition,
    pub per_collection: Vec<(Id, Disposition)>,
}

/// What a removal did, for the operator's confirmation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovalReport {
    /// (collection id, new home segment, new owner id) of each transferred collection.
    pub transferred: Vec<(Id, String, Id)>,
    pub deleted: Vec<Id>,
}

/// A collection shared into a user's home, with the sharee's own name, colour and order.
#[derive(Debug, Clone)]
pub struct MountedCollection {
    pub collection: Collection,
    pub owner: Principal,
    pub sharee_displayname: Option<String>,
    pub sharee_color: Option<String>,
    pub sharee_sort_order: Option<String>,
}
