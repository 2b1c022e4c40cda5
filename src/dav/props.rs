//! Live properties: which exist on which resource, how each is computed, which are
//! protected. Computed only when asked for (PROPFIND names them, or allprop/propname).

use super::Ctx;
use super::capabilities;
use super::names::{APPLE_ICAL, CALDAV, CALENDARSERVER, CARDDAV, DAV, QName};
use super::resource::Resource;
use super::sharing::{self, CsAccess};
use super::xml::escape_text;
use crate::acl::{self, Privilege};
use crate::caldav::validate_put as limits;
use crate::org::{self, Actor};
use crate::store::{Collection, CollectionKind, Grantee, HomeKind, Principal, PrincipalKind};

/// A property value, written inside the property element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Empty,
    Text(String),
    Href(String),
    Hrefs(Vec<String>),
    /// Child elements, already serialised with the standard prefixes (see `names::PREFIXES`).
    Xml(String),
    /// A stored dead property: the whole element, self-contained.
    Dead(String),
}

/// Largest calendar object or vCard accepted (enforced on PUT; RFC 4791 §5.2.5).
pub const MAX_RESOURCE_SIZE: u64 = 10 * 1024 * 1024;

/// Properties returned for `allprop` (RFC 4918 §9.1: the dead ones plus those RFC 4918
/// defines), besides dead properties.
pub fn allprop_names(res: &Resource) -> Vec<QName> {
    let mut names = vec![QName::new(DAV, "resourcetype")];
    match res {
        Resource::Object { .. } => {
            for n in ["creationdate", "getcontentlength", "getcontenttype", "getetag", "getlastmodified"] {
                names.push(QName::new(DAV, n));
            }
        }
        Resource::Collection { coll, .. } => {
            names.push(QName::new(DAV, "creationdate"));
            names.push(QName::new(DAV, "getlastmodified"));
            if coll.props.displayname.is_some() {
                names.push(QName::new(DAV, "displayname"));
            }
        }
        _ => names.push(QName::new(DAV, "displayname")),
    }
    names
}

/// Every live property name defined on `res` (for `propname`).
pub fn live_names(res: &Resource) -> Vec<QName> {
    let mut names = allprop_names(res);
    let mut add = |ns: &str, list: &[&str]| names.extend(list.iter().map(|n| QName::new(ns, n)));
    add(DAV, &["current-user-principal", "current-user-privilege-set", "owner", "supported-report-set"]);
    if !matches!(res, Resource::Object { .. }) {
        add(DAV, &["principal-URL", "principal-collection-set"]);
        add(CALDAV, &["calendar-home-set", "calendar-user-address-set"]);
        add(CARDDAV, &["addressbook-home-set"]);
    }
    if let Resource::Principal(p) = res {
        add(CALDAV, &["calendar-user-type"]);
        if p.email.is_some() {
            add(CALENDARSERVER, &["email-address-set"]);
        }
    }
    if let Resource::Collection { coll, .. } = res {
        add(DAV, &["sync-token"]);
        add(CALENDARSERVER, &["getctag"]);
        match coll.kind {
            CollectionKind::Calendar => {
                add(
                    CALDAV,
                    &[
                        "supported-calendar-component-set",
                        "supported-calendar-data",
                        "max-resource-size",
                        "calendar-description",
                        "calendar-timezone",
                        "min-date-time",
                        "max-date-time",
                        "max-instances",
                        "max-attendees-per-instance",
                        "schedule-calendar-transp",
                    ],
                );
                add(APPLE_ICAL, &["calendar-color", "calendar-order"]);
            }
            CollectionKind::Addressbook => {
                add(CARDDAV, &["supported-address-data", "max-resource-size", "addressbook-description"]);
            }
            _ => {}
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Live properties a client may set with PROPPATCH (stored in collection columns).
pub fn is_settable_live(q: &QName, res: &Resource) -> bool {
    let Resource::Collection { coll, .. } = res else {
        return false;
    };
    match (q.ns.as_str(), q.name.as_str()) {
        (DAV, "displayname") => true,
        (CALDAV, "calendar-description" | "calendar-timezone")
        | (APPLE_ICAL, "calendar-color" | "calendar-order") => coll.kind == CollectionKind::Calendar,
        (CARDDAV, "addressbook-description") => coll.kind == CollectionKind::Addressbook,
        _ => false,
    }
}

/// Whether a property name is computed by the server, so PROPPATCH may not touch it.
pub fn is_protected(q: &QName) -> bool {
    let dav = [
        "resourcetype",
        "getetag",
        "getcontentlength",
        "getcontenttype",
        "getlastmodified",
        "creationdate",
        "current-user-principal",
        "current-user-privilege-set",
        "owner",
        "supported-report-set",
        "principal-URL",
        "principal-collection-set",
        "sync-token",
        "lockdiscovery",
        "supportedlock",
        "acl",
        "supported-privilege-set",
        "group-membership",
        "group-member-set",
        "quota-used-bytes",
        "quota-available-bytes",
        "share-access",
    ];
    let caldav = [
        "calendar-home-set",
        "calendar-user-address-set",
        "calendar-user-type",
        "supported-calendar-component-set",
        "supported-calendar-data",
        "max-resource-size",
        "min-date-time",
        "max-date-time",
        "max-instances",
        "max-attendees-per-instance",
    ];
    match q.ns.as_str() {
        DAV => dav.contains(&q.name.as_str()),
        CALDAV => caldav.contains(&q.name.as_str()),
        CARDDAV => {
            ["addressbook-home-set", "supported-address-data", "max-resource-size"].contains(&q.name.as_str())
        }
        CALENDARSERVER => {
            ["getctag", "invite", "allowed-sharing-modes", "shared-url", "share-access", "email-address-set"]
                .contains(&q.name.as_str())
        }
        _ => false,
    }
}

/// `C:calendar-user-type` of a principal (RFC 6638 §2.4.2), with the CUTYPE values of RFC
/// 5545 §3.2.3: users are people, rooms are meeting rooms, teams are groups.
pub fn calendar_user_type(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "INDIVIDUAL",
        PrincipalKind::Room => "ROOM",
        PrincipalKind::Team => "GROUP",
    }
}

fn home_set(ctx: &Ctx<'_>, res: &Resource, kind: HomeKind) -> PropValue {
    let slug = match res {
        Resource::Principal(p) => &p.slug,
        _ => &ctx.subject.principal.slug,
    };
    PropValue::Href(ctx.hrefs().home(kind, slug))
}

/// `creationdate` is RFC 3339 (RFC 4918 §15.1), always in UTC.
fn timestamp_rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn resourcetype(ctx: &Ctx<'_>, res: &Resource) -> PropValue {
    let xml = match res {
        Resource::Object { .. } => return PropValue::Empty,
        Resource::Principal(_) => "<D:collection/><D:principal/>",
        Resource::Collection { coll, .. } => match coll.kind {
            CollectionKind::Calendar => "<D:collection/><C:calendar/>",
            CollectionKind::Addressbook => "<D:collection/><CR:addressbook/>",
            CollectionKind::Subscription => "<D:collection/><CS:subscribed/>",
            _ => "<D:collection/>",
        },
        _ => "<D:collection/>",
    };
    // caldav-sharing §5.2.1: CS:shared on the sharee's copy, CS:shared-owner on a collection
    // its owner shares.
    let shared = match res {
        Resource::Collection { coll, place } if sharing::is_mount(place, coll) => "<CS:shared/>",
        _ if share_view(ctx, res) == Some(ShareView::SharedOwner) => "<CS:shared-owner/>",
        _ => "",
    };
    PropValue::Xml(format!("{xml}{shared}"))
}

/// A shareable collection as the subject sees it: the values of `DAV:share-access`
/// (draft-pot-webdav-resource-sharing §4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShareView {
    NotShared,
    SharedOwner,
    Read,
    ReadWrite,
}

fn share_view(ctx: &Ctx<'_>, res: &Resource) -> Option<ShareView> {
    let Resource::Collection { coll, place } = res else { return None };
    if !sharing::is_shareable(coll.kind) {
        return None;
    }
    let privileges = acl::effective_privileges(&ctx.subject, ctx.target(res));
    // The sharee's copy, or the original reached by someone who may not manage its sharing:
    // a shared instance, as writable as their rights make it.
    let owner = coll.owner_id == ctx.subject.principal.id;
    if sharing::is_mount(place, coll) || (!owner && !privileges.contains(Privilege::Share)) {
        let write = privileges.contains(Privilege::WriteContent);
        return Some(if write { ShareView::ReadWrite } else { ShareView::Read });
    }
    match ctx.store().shares(coll.id) {
        Ok(shares) if shares.is_empty() => Some(ShareView::NotShared),
        Ok(_) => Some(ShareView::SharedOwner),
        Err(e) => {
            tracing::warn!(error = %e, collection = coll.id, "shares unavailable");
            None
        }
    }
}

/// `DAV:share-access`, and the same value as `CS:share-access` (issue #7 names it so; the
/// value elements stay in `DAV:`, where the draft defines them).
fn share_access(ctx: &Ctx<'_>, res: &Resource) -> Option<PropValue> {
    let xml = match share_view(ctx, res)? {
        ShareView::NotShared => "<D:not-shared/>",
        ShareView::SharedOwner => "<D:shared-owner/>",
        ShareView::Read => "<D:read/>",
        ShareView::ReadWrite => "<D:read-write/>",
    };
    Some(PropValue::Xml(xml.into()))
}

/// `<D:href>…</D:href><CS:common-name>…</CS:common-name>` for a principal, as `CS:organizer`
/// and `CS:user` hold them (caldav-sharing §6.5, §6.18).
fn address_and_name(ctx: &Ctx<'_>, p: &Principal) -> String {
    format!(
        "<D:href>{}</D:href><CS:common-name>{}</CS:common-name>",
        escape_text(&sharing::principal_address(ctx.hrefs(), p)),
        escape_text(&p.display_name)
    )
}

/// `CS:invite` (caldav-sharing §5.2.2): the owner as `CS:organizer`, then one `CS:user` per
/// share. Absent on a collection nobody shares. Pending invitations are
/// `invite-noresponse`, users who removed the share from their home `invite-declined`, every
/// other share `invite-accepted` (shares need no acceptance here). Who may not read the access
/// list (read-acl: view and modify sharees) sees only the organizer and themselves, as
/// §5.2.2 allows a privacy policy to do.
fn invite(ctx: &Ctx<'_>, res: &Resource) -> Option<PropValue> {
    let Resource::Collection { coll, place } = res else { return None };
    if !sharing::is_shareable(coll.kind) {
        return None;
    }
    let store = ctx.store();
    let owner = store.principal_by_id(coll.owner_id).ok()??;
    let mut xml = format!("<CS:organizer>{}</CS:organizer>", address_and_name(ctx, &owner));
    let privileges = acl::effective_privileges(&ctx.subject, ctx.target(res));
    let user = |who: String, status: &str, access: CsAccess| {
        format!("<CS:user>{who}<CS:{status}/><CS:access>{}</CS:access></CS:user>", access.xml())
    };
    if !privileges.contains(Privilege::ReadAcl) {
        let access =
            if privileges.contains(Privilege::WriteContent) { CsAccess::ReadWrite } else { CsAccess::Read };
        xml.push_str(&user(address_and_name(ctx, &ctx.subject.principal), "invite-accepted", access));
        return Some(PropValue::Xml(xml));
    }
    let shares = org::shares(store, Actor::User(&ctx.subject), coll).ok()?;
    if shares.is_empty() && !sharing::is_mount(place, coll) {
        return None;
    }
    for share in &shares {
        let access = CsAccess::of(share.access);
        let entry = match &share.grantee {
            Grantee::User(id) => {
                let p = store.principal_by_id(*id).ok()??;
                let mounted = store.mounted_collections(*id, coll.kind.home_kind()).ok()?;
                let kept = mounted.iter().any(|m| m.collection.id == coll.id);
                user(
                    address_and_name(ctx, &p),
                    if kept { "invite-accepted" } else { "invite-declined" },
                    access,
                )
            }
            Grantee::Team(id) => {
                let team = store.principal_by_id(*id).ok()??;
                user(address_and_name(ctx, &team), "invite-accepted", access)
            }
            Grantee::Organization(_) => {
                let who = format!(
                    "<D:href>{}</D:href><CS:common-name>{}</CS:common-name>",
                    escape_text(&sharing::organization_address(ctx.hrefs())),
                    escape_text(&share.grantee_name)
                );
                user(who, "invite-accepted", access)
            }
            Grantee::Email(address) => {
                let address = escape_text(address);
                let who =
                    format!("<D:href>mailto:{address}</D:href><CS:common-name>{address}</CS:common-name>");
                user(who, "invite-noresponse", access)
            }
        };
        xml.push_str(&entry);
    }
    Some(PropValue::Xml(xml))
}

/// The href of a collection at its owner's home (what a sharee's copy stands for).
fn original_href(ctx: &Ctx<'_>, coll: &Collection) -> Option<String> {
    let mut segments = Vec::new();
    let mut current = coll.clone();
    while let Some(parent) = current.parent_id {
        segments.push(current.segment.clone());
        if segments.len() > super::paths::MAX_SEGMENTS {
            return None;
        }
        current = ctx.store().collection(parent).ok()??;
    }
    segments.reverse();
    let owner = ctx.store().principal_by_id(current.owner_id).ok()??;
    Some(ctx.hrefs().in_home(current.kind.home_kind(), &owner.slug, &segments, true))
}

fn calendarserver_prop(ctx: &Ctx<'_>, res: &Resource, name: &str) -> Option<PropValue> {
    match name {
        "getctag" => res.collection().map(|c| PropValue::Text(crate::sync::token(c))),
        "invite" => invite(ctx, res),
        // caldav-sharing §5.2.3: can-be-shared where the subject may share.
        "allowed-sharing-modes" => {
            res.collection().filter(|c| sharing::is_shareable(c.kind))?;
            let may = acl::effective_privileges(&ctx.subject, ctx.target(res)).contains(Privilege::Share);
            Some(if may { PropValue::Xml("<CS:can-be-shared/>".into()) } else { PropValue::Empty })
        }
        // §5.2.4: on the sharee's copy, the owner's collection.
        "shared-url" => match res {
            Resource::Collection { coll, place } if sharing::is_mount(place, coll) => {
                original_href(ctx, coll).map(PropValue::Href)
            }
            _ => None,
        },
        "share-access" => share_access(ctx, res),
        // Apple asks for it on principals and searches it (calendarserver.org extension).
        "email-address-set" => match res {
            Resource::Principal(p) => p.email.as_deref().map(|email| {
                PropValue::Xml(format!("<CS:email-address>{}</CS:email-address>", escape_text(email)))
            }),
            _ => None,
        },
        _ => None,
    }
}

fn privilege_set_xml(ctx: &Ctx<'_>, res: &Resource) -> PropValue {
    let set = acl::effective_privileges(&ctx.subject, ctx.target(res));
    let mut xml = String::new();
    if set.has_aggregate_write() {
        xml.push_str("<D:privilege><D:write/></D:privilege>");
    }
    for p in set.iter() {
        let (ns, name) = p.element();
        let prefix = if ns == DAV { "D" } else { "C" };
        xml.push_str(&format!("<D:privilege><{prefix}:{name}/></D:privilege>"));
    }
    PropValue::Xml(xml)
}

/// RFC 3744 §5.3: the privileges davit knows, as a tree (`DAV:all` aggregates everything;
/// `write-acl` is listed as defined even though the ACL method is not offered).
const SUPPORTED_PRIVILEGES: &str = "<D:supported-privilege><D:privilege><D:all/></D:privilege><D:abstract/>\
     <D:description xml:lang=\"en\">Any operation</D:description>\
     <D:supported-privilege><D:privilege><D:read/></D:privilege>\
     <D:description xml:lang=\"en\">Read resources and properties</D:description>\
     <D:supported-privilege><D:privilege><C:read-free-busy/></D:privilege>\
     <D:description xml:lang=\"en\">Read free/busy time</D:description></D:supported-privilege>\
     </D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:read-acl/></D:privilege>\
     <D:description xml:lang=\"en\">Read who has access</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>\
     <D:description xml:lang=\"en\">Read one's own privileges</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:write/></D:privilege>\
     <D:description xml:lang=\"en\">Write resources and properties</D:description>\
     <D:supported-privilege><D:privilege><D:write-properties/></D:privilege>\
     <D:description xml:lang=\"en\">Rename, recolour, describe</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:write-content/></D:privilege>\
     <D:description xml:lang=\"en\">Change existing content</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:bind/></D:privilege>\
     <D:description xml:lang=\"en\">Add members</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:unbind/></D:privilege>\
     <D:description xml:lang=\"en\">Remove members</D:description></D:supported-privilege>\
     </D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:write-acl/></D:privilege>\
     <D:description xml:lang=\"en\">Change access (not offered: use sharing)</D:description></D:supported-privilege>\
     <D:supported-privilege><D:privilege><D:share/></D:privilege>\
     <D:description xml:lang=\"en\">Share with others</D:description></D:supported-privilege>\
     </D:supported-privilege>";

/// RFC 3744 §5.5, read-only: the owner's ACE, then one per share (users and teams by
/// principal URL; an organization-wide share as `DAV:authenticated`, which here excludes
/// external members). Readable by holders of read-acl only; pending invitations name no
/// principal yet and are left out. All ACEs are protected: sharing changes them, not ACL.
fn acl_xml(ctx: &Ctx<'_>, res: &Resource) -> Option<PropValue> {
    if !acl::effective_privileges(&ctx.subject, ctx.target(res)).contains(acl::Privilege::ReadAcl) {
        return None;
    }
    let coll = match res {
        Resource::Collection { coll, .. } => coll,
        Resource::Object { parent, .. } => parent,
        _ => return None,
    };
    let store = ctx.store();
    let href_of = |id| store.principal_by_id(id).ok().flatten().map(|p| ctx.hrefs().principal(&p.slug));
    let ace = |principal: String, privileges: &[&str]| {
        let privileges: String =
            privileges.iter().map(|p| format!("<D:privilege><D:{p}/></D:privilege>")).collect();
        format!(
            "<D:ace><D:principal>{principal}</D:principal><D:grant>{privileges}</D:grant><D:protected/></D:ace>"
        )
    };
    let mut xml =
        ace(format!("<D:href>{}</D:href>", crate::dav::xml::escape_text(&href_of(coll.owner_id)?)), &["all"]);
    if !coll.kind.is_home() {
        for share in store.shares(coll.id).ok()? {
            let principal = match share.grantee {
                crate::store::Grantee::User(id) | crate::store::Grantee::Team(id) => {
                    format!("<D:href>{}</D:href>", crate::dav::xml::escape_text(&href_of(id)?))
                }
                crate::store::Grantee::Organization(_) => "<D:authenticated/>".to_owned(),
                crate::store::Grantee::Email(_) => continue,
            };
            let privileges: &[&str] = match share.access {
                crate::store::ShareAccess::View => &["read"],
                crate::store::ShareAccess::Modify => &["read", "write-content", "bind", "unbind"],
                crate::store::ShareAccess::Share => &["read", "write-content", "bind", "unbind", "share"],
            };
            xml.push_str(&ace(principal, privileges));
        }
    }
    Some(PropValue::Xml(xml))
}

fn owner_href(ctx: &Ctx<'_>, res: &Resource) -> Option<PropValue> {
    match res {
        Resource::Principal(p) => Some(PropValue::Href(ctx.hrefs().principal(&p.slug))),
        Resource::Collection { coll: c, place } | Resource::Object { parent: c, place, .. } => {
            // A share seen from the sharee's home is still the sharer's (RFC 3744 §5.1).
            if place.is_mounted(c.owner_id) {
                let owner = ctx.store().principal_by_id(c.owner_id).ok().flatten()?;
                return Some(PropValue::Href(ctx.hrefs().principal(&owner.slug)));
            }
            Some(PropValue::Href(ctx.hrefs().principal(&place.owner.slug)))
        }
        _ => None,
    }
}

/// Computes one live property; `None` means it is not defined on this resource (404).
pub fn live(ctx: &Ctx<'_>, res: &Resource, q: &QName) -> Option<PropValue> {
    match q.ns.as_str() {
        DAV => dav_prop(ctx, res, &q.name),
        CALDAV => caldav_prop(ctx, res, &q.name),
        CARDDAV => carddav_prop(ctx, res, &q.name),
        CALENDARSERVER => calendarserver_prop(ctx, res, &q.name),
        APPLE_ICAL => {
            let coll = res.collection().filter(|c| c.kind == CollectionKind::Calendar)?;
            let value = match q.name.as_str() {
                "calendar-color" => coll.props.color.clone(),
                "calendar-order" => coll.props.sort_order.clone(),
                _ => None,
            };
            value.map(PropValue::Text)
        }
        _ => None,
    }
}

fn dav_prop(ctx: &Ctx<'_>, res: &Resource, name: &str) -> Option<PropValue> {
    let not_object = !matches!(res, Resource::Object { .. });
    Some(match name {
        "resourcetype" => resourcetype(ctx, res),
        "displayname" => match res {
            Resource::Collection { coll, .. } => PropValue::Text(coll.props.displayname.clone()?),
            Resource::Principal(p) => PropValue::Text(p.display_name.clone()),
            Resource::Object { .. } => return None,
            _ => PropValue::Text(String::from("davit")),
        },
        "getetag" => match res {
            Resource::Object { meta, .. } => PropValue::Text(quoted(&meta.etag)),
            _ => return None,
        },
        "getcontenttype" => match res {
            Resource::Object { meta, .. } => PropValue::Text(meta.content_type.clone()),
            _ => return None,
        },
        "getcontentlength" => match res {
            Resource::Object { meta, .. } => PropValue::Text(meta.size.to_string()),
            _ => return None,
        },
        "getlastmodified" => match res {
            Resource::Object { meta, .. } => {
                PropValue::Text(super::headers::format_http_date(meta.modified_at))
            }
            Resource::Collection { coll, .. } => {
                PropValue::Text(super::headers::format_http_date(coll.modified_at))
            }
            _ => return None,
        },
        "creationdate" => match res {
            Resource::Object { meta, .. } => PropValue::Text(timestamp_rfc3339(meta.created_at)),
            Resource::Collection { coll, .. } => PropValue::Text(timestamp_rfc3339(coll.created_at)),
            _ => return None,
        },
        "current-user-principal" => PropValue::Href(ctx.hrefs().principal(&ctx.subject.principal.slug)),
        "principal-URL" if not_object => match res {
            Resource::Principal(p) => PropValue::Href(ctx.hrefs().principal(&p.slug)),
            _ => PropValue::Href(ctx.hrefs().principal(&ctx.subject.principal.slug)),
        },
        "principal-collection-set" if not_object => PropValue::Href(ctx.hrefs().principals()),
        "owner" => owner_href(ctx, res)?,
        "current-user-privilege-set" => privilege_set_xml(ctx, res),
        "supported-privilege-set" if not_object => PropValue::Xml(SUPPORTED_PRIVILEGES.into()),
        "acl" => acl_xml(ctx, res)?,
        "group-membership" => match res {
            Resource::Principal(p) if p.kind == crate::store::PrincipalKind::User => PropValue::Hrefs(
                ctx.store().teams_of(p.id).ok()?.iter().map(|t| ctx.hrefs().principal(&t.slug)).collect(),
            ),
            Resource::Principal(_) => PropValue::Empty,
            _ => return None,
        },
        "group-member-set" => match res {
            Resource::Principal(p) if p.kind == crate::store::PrincipalKind::Team => PropValue::Hrefs(
                ctx.store().team_members(p.id).ok()?.iter().map(|m| ctx.hrefs().principal(&m.slug)).collect(),
            ),
            Resource::Principal(_) => PropValue::Empty,
            _ => return None,
        },
        "supported-report-set" => PropValue::Xml(capabilities::supported_reports_xml(res)),
        "sync-token" => PropValue::Text(crate::sync::token(res.collection()?)),
        "share-access" => share_access(ctx, res)?,
        _ => return None,
    })
}

fn caldav_prop(ctx: &Ctx<'_>, res: &Resource, name: &str) -> Option<PropValue> {
    let calendar = res.collection().filter(|c| c.kind == CollectionKind::Calendar);
    Some(match name {
        "calendar-home-set" if !matches!(res, Resource::Object { .. }) => {
            home_set(ctx, res, HomeKind::Calendar)
        }
        "calendar-user-address-set" if !matches!(res, Resource::Object { .. }) => {
            let p = match res {
                Resource::Principal(p) => p,
                _ => &ctx.subject.principal,
            };
            let mut hrefs = Vec::new();
            if let Some(email) = &p.email {
                hrefs.push(format!("mailto:{email}"));
            }
            hrefs.push(ctx.hrefs().principal(&p.slug));
            PropValue::Hrefs(hrefs)
        }
        "calendar-user-type" => match res {
            Resource::Principal(p) => PropValue::Text(calendar_user_type(p.kind).to_owned()),
            _ => return None,
        },
        "supported-calendar-component-set" => {
            let comps = calendar?.props.components.clone().unwrap_or_else(|| "VEVENT,VTODO,VJOURNAL".into());
            let xml = comps.split(',').map(|c| format!("<C:comp name=\"{}\"/>", c.trim())).collect();
            PropValue::Xml(xml)
        }
        "supported-calendar-data" => {
            calendar?;
            PropValue::Xml("<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into())
        }
        "max-resource-size" => PropValue::Text(calendar.map(|_| MAX_RESOURCE_SIZE.to_string())?),
        "calendar-description" => PropValue::Text(calendar?.props.description.clone()?),
        "min-date-time" => PropValue::Text(calendar.map(|_| limits::MIN_DATE_TIME.to_owned())?),
        "max-date-time" => PropValue::Text(calendar.map(|_| limits::MAX_DATE_TIME.to_owned())?),
        "max-instances" => PropValue::Text(calendar.map(|_| limits::MAX_INSTANCES.to_string())?),
        "max-attendees-per-instance" => {
            PropValue::Text(calendar.map(|_| limits::MAX_ATTENDEES_PER_INSTANCE.to_string())?)
        }
        // RFC 6638 §9.1: opaque unless the client set it (a set value is a dead property,
        // found before this live default).
        "schedule-calendar-transp" => PropValue::Xml(calendar.map(|_| "<C:opaque/>".to_owned())?),
        "calendar-timezone" => PropValue::Text(calendar?.props.timezone.clone()?),
        _ => return None,
    })
}

fn carddav_prop(ctx: &Ctx<'_>, res: &Resource, name: &str) -> Option<PropValue> {
    let book = res.collection().filter(|c| c.kind == CollectionKind::Addressbook);
    Some(match name {
        "addressbook-home-set" if !matches!(res, Resource::Object { .. }) => {
            home_set(ctx, res, HomeKind::Addressbook)
        }
        "supported-address-data" => {
            book?;
            PropValue::Xml(
                "<CR:address-data-type content-type=\"text/vcard\" version=\"3.0\"/>\
                 <CR:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>"
                    .into(),
            )
        }
        "max-resource-size" => PropValue::Text(book.map(|_| MAX_RESOURCE_SIZE.to_string())?),
        "addressbook-description" => PropValue::Text(book?.props.description.clone()?),
        _ => return None,
    })
}

/// An entity tag as a header and `DAV:getetag` carry it: in double quotes (one per member of
/// every listing, query and multiget, so without the formatting machinery).
fn quoted(etag: &str) -> String {
    let mut s = String::with_capacity(etag.len() + 2);
    s.push('"');
    s.push_str(etag);
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(timestamp_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp_rfc3339(1_790_000_000), "2026-09-21T14:13:20Z");
    }

    #[test]
    fn protected_names() {
        assert!(is_protected(&QName::new(DAV, "getetag")));
        assert!(!is_protected(&QName::new(DAV, "displayname")));
        assert!(!is_protected(&QName::new("urn:x", "getetag")));
    }
}
