//! The calendarserver.org sharing extension ("Shared and Published Calendars in CalDAV",
//! caldav-sharing-03, Apple 2012; `/work/shared/rfc/caldav-sharing.txt`) mapped onto davit's own
//! sharing model: a `CS:share` POST calls `org::share` / `org::revoke`, which keep every rule
//! (who may share, never above one's own right, same organization, not oneself).
//!
//! How the extension's notions map onto the model:
//! - *Invitations are accepted at once*: a share appears in the sharee's home as soon as it is
//!   made (issue #7), so davit sends no `CS:invite-notification` and has no notification
//!   collection. Only an address without an account is a pending invitation
//!   (`CS:invite-noresponse`) until someone signs up with it.
//! - *Access*: `CS:read` is *can view*, `CS:read-write` is *can modify*. *Can modify and share*
//!   has no CS element: it is shown as `CS:read-write` and given through the CLI or the
//!   management API. A `CS:set` with `CS:read-write` for someone who holds it keeps it, since
//!   that set does not change what the client can see.
//! - *Sharees* are named by `mailto:` (a user with that e-mail, or else an invitation to the
//!   address), by a principal URL (a user or a team), or by the principal collection URL
//!   (`…/dav/principals/`) for the whole organization. `CS:invite` names them the same way, so
//!   a client can send back what it read.
//! - `CS:common-name` and `CS:summary` of a `CS:set` are accepted and not kept (§5.3.2 lets the
//!   server answer its own common name; there is no notification to carry a summary).
//! - Address books are shared the same way as calendars (calendarserver did the same).
//! - A sharee's `CS:invite-reply` (§5.4.1) on their home: decline ends their copy like a
//!   DELETE of it (§5.4.2); accept only confirms a share that is in their home.

use http::{HeaderValue, StatusCode, header};

use super::body::parse_xml;
use super::error::{Condition, DavError, DavResult};
use super::multistatus::status_line;
use super::names::{self, CALENDARSERVER, DAV};
use super::paths::{self, DavPath, Hrefs};
use super::resource::{Place, Resource, mount_segment, resolve_existing};
use super::xml::{Element, XmlWriter, escape_text};
use super::{Ctx, DavResponse, empty, respond};
use crate::acl::{self, Privilege};
use crate::org::{self, Actor, OrgError};
use crate::store::{Collection, CollectionKind, Grantee, Principal, PrincipalKind, Share, ShareAccess};

/// Most `CS:set`/`CS:remove` instructions one POST may carry: each is a transaction of its own.
pub const MAX_CHANGES: usize = 100;

/// Whether a collection of this kind can be shared (and so answers `CS:share` POSTs and the
/// sharing properties).
pub fn is_shareable(kind: CollectionKind) -> bool {
    matches!(kind, CollectionKind::Calendar | CollectionKind::Addressbook)
}

/// Whether `coll` at `place` is a share seen from the sharee's home (a `shared-{id}` member).
pub fn is_mount(place: &Place, coll: &Collection) -> bool {
    place.segments.len() == 1 && place.is_mounted(coll.owner_id)
}

/// How the sharing properties and answers name a principal: a user with an e-mail by `mailto:`
/// (their calendar user address, which Apple shows and sends back), anyone else by principal
/// URL. `resolve_sharee` reads both back.
pub fn principal_address(hrefs: &Hrefs, p: &Principal) -> String {
    match (&p.email, p.kind) {
        (Some(email), PrincipalKind::User) => format!("mailto:{email}"),
        _ => hrefs.principal(&p.slug),
    }
}

/// The href standing for the whole organization as a sharee: the principal collection.
pub fn organization_address(hrefs: &Hrefs) -> String {
    hrefs.principals()
}

/// The access levels of caldav-sharing §5.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsAccess {
    Read,
    ReadWrite,
}

impl CsAccess {
    pub fn of(access: ShareAccess) -> CsAccess {
        match access {
            ShareAccess::View => CsAccess::Read,
            ShareAccess::Modify | ShareAccess::Share => CsAccess::ReadWrite,
        }
    }
    /// The `CS:access` content.
    pub fn xml(self) -> &'static str {
        match self {
            CsAccess::Read => "<CS:read/>",
            CsAccess::ReadWrite => "<CS:read-write/>",
        }
    }
}

/// One instruction of a `CS:share` body (§6.26–6.28), applied in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareChange {
    /// `CS:set`: give the sharee this access (a new share, or a changed right).
    Set { sharee: String, access: CsAccess },
    /// `CS:remove`: end the sharee's share.
    Remove { sharee: String },
}

impl ShareChange {
    pub fn sharee(&self) -> &str {
        match self {
            ShareChange::Set { sharee, .. } | ShareChange::Remove { sharee } => sharee,
        }
    }
}

/// A body that does not follow the extension's grammar: 400, with calendarserver's
/// `CS:valid-request` precondition element and a message saying what is wrong.
fn invalid(message: impl Into<String>) -> DavError {
    DavError::with(StatusCode::BAD_REQUEST, Condition::Other(CALENDARSERVER, "valid-request"), message.into())
}

/// The text of a `DAV:href`: trimmed, non-empty, without child elements.
fn href_text(el: &Element, within: &str) -> DavResult<String> {
    let text = el.text().trim().to_owned();
    if text.is_empty() || el.elements().next().is_some() {
        return Err(invalid(format!("the DAV:href of {within} must hold a URI as text")));
    }
    Ok(text)
}

/// Parses a `CS:share` document (root already checked) into its instructions. Unknown child
/// elements are ignored (RFC 4918 §17); a `CS:set` needs one `DAV:href` and exactly one of
/// `CS:read`/`CS:read-write`, a `CS:remove` one `DAV:href` (§6.27, §6.28).
pub fn parse_share(root: &Element) -> DavResult<Vec<ShareChange>> {
    let mut changes = Vec::new();
    for el in root.elements() {
        let set = match (el.ns.as_str(), el.name.as_str()) {
            (CALENDARSERVER, "set") => true,
            (CALENDARSERVER, "remove") => false,
            _ => continue,
        };
        let within = if set { "CS:set" } else { "CS:remove" };
        let mut sharee = None;
        let mut access = None;
        for child in el.elements() {
            let level = match (child.ns.as_str(), child.name.as_str()) {
                (DAV, "href") if sharee.is_some() => {
                    return Err(invalid(format!("a {within} names one sharee: it has two DAV:href")));
                }
                (DAV, "href") => {
                    sharee = Some(href_text(child, within)?);
                    continue;
                }
                (CALENDARSERVER, "read") => CsAccess::Read,
                (CALENDARSERVER, "read-write") => CsAccess::ReadWrite,
                _ => continue,
            };
            if !set {
                continue; // calendarserver tolerates an access level in a remove; so do we.
            }
            if access.replace(level).is_some() {
                return Err(invalid("a CS:set takes one access level: CS:read or CS:read-write"));
            }
        }
        let sharee =
            sharee.ok_or_else(|| invalid(format!("a {within} needs a DAV:href naming the sharee")))?;
        changes.push(if set {
            let access =
                access.ok_or_else(|| invalid("a CS:set needs an access level: CS:read or CS:read-write"))?;
            ShareChange::Set { sharee, access }
        } else {
            ShareChange::Remove { sharee }
        });
    }
    if changes.is_empty() {
        return Err(invalid("a CS:share holds one or more CS:set or CS:remove (caldav-sharing §5.3.2)"));
    }
    if changes.len() > MAX_CHANGES {
        return Err(invalid(format!("a CS:share may change at most {MAX_CHANGES} sharees at once")));
    }
    Ok(changes)
}

/// Who a sharee href names (§5.3.2: a principal URL, a calendar user address or an e-mail).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sharee {
    /// `mailto:`: the user with that e-mail, or else a pending invitation to the address.
    Email(String),
    /// A principal URL of this server: a user or a team.
    Principal(Principal),
    /// The principal collection URL: everyone in the organization (davit's representation).
    Organization,
}

impl Sharee {
    /// The grantee as `org::share` takes it.
    fn grantee_spec(&self) -> String {
        match self {
            Sharee::Email(address) => format!("email:{address}"),
            Sharee::Principal(p) if p.kind == PrincipalKind::Team => format!("team:{}", p.slug),
            // Rooms included: `org::share` answers that a room is not a user.
            Sharee::Principal(p) => format!("user:{}", p.slug),
            Sharee::Organization => "org".into(),
        }
    }

    /// Whether an existing share is for this sharee (a user may be named by e-mail or by
    /// principal URL).
    fn holds(&self, ctx: &Ctx<'_>, share: &Share) -> bool {
        match (self, &share.grantee) {
            (Sharee::Email(address), Grantee::Email(invited)) => address == invited,
            (Sharee::Email(address), Grantee::User(id)) => ctx
                .store()
                .principal_by_id(*id)
                .ok()
                .flatten()
                .and_then(|p| p.email)
                .is_some_and(|e| e.eq_ignore_ascii_case(address)),
            (Sharee::Principal(p), Grantee::User(id) | Grantee::Team(id)) => p.id == *id,
            (Sharee::Organization, Grantee::Organization(_)) => true,
            _ => false,
        }
    }
}

/// The absolute path an href names on this server, if it is an absolute path or an
/// absolute http(s) URL.
fn href_path(href: &str) -> Option<String> {
    if href.starts_with('/') {
        return Some(href.split(['?', '#']).next().unwrap_or(href).to_owned());
    }
    let scheme = href.split_once(':')?.0.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    href.parse::<http::Uri>().ok().map(|u| u.path().to_owned())
}

fn resolve_sharee(ctx: &Ctx<'_>, href: &str) -> DavResult<Sharee> {
    if let Some((scheme, address)) = href.split_once(':')
        && scheme.eq_ignore_ascii_case("mailto")
    {
        // RFC 6068 §2: an address in a mailto URI may be percent-encoded.
        let address = percent_encoding::percent_decode_str(address).decode_utf8_lossy();
        let address = address.trim().to_lowercase();
        if address.is_empty() {
            return Err(unprocessable(format!("{href}: the mailto: URI has no address")));
        }
        return Ok(Sharee::Email(address));
    }
    let not_a_sharee =
        || unprocessable(format!("{href}: name a sharee by mailto: address or by principal URL"));
    let path = href_path(href).ok_or_else(not_a_sharee)?;
    match paths::parse(&ctx.state.config.base_path, &path).map_err(|_| not_a_sharee())?.0 {
        DavPath::Principal(slug) => match ctx.store().principal_by_slug(&slug)? {
            Some(p) => Ok(Sharee::Principal(p)),
            None => Err(DavError::new(StatusCode::NOT_FOUND, format!("{href}: no such principal"))),
        },
        DavPath::Principals => Ok(Sharee::Organization),
        _ => Err(not_a_sharee()),
    }
}

/// A sharee the model refuses although the body is well-formed (oneself, another
/// organization, a room, an href that names no sharee): 422, which RFC 4918 §11.2 defines for
/// instructions that are understood but cannot be processed, and which the management API
/// answers for the same refusals. 400 stays for bodies that break the grammar.
fn unprocessable(message: String) -> DavError {
    DavError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// An `OrgError` as the answer for one sharee: the model's refusal with its message.
fn org_error(e: OrgError) -> DavError {
    match e {
        OrgError::NotFound(m) => DavError::new(StatusCode::NOT_FOUND, m),
        OrgError::Forbidden(m) => DavError::forbidden(m),
        OrgError::Invalid(m) => unprocessable(m),
        OrgError::WrongPassword => DavError::forbidden("this needs the acting user's password"),
        OrgError::Store(e) => e.into(),
    }
}

fn apply(ctx: &Ctx<'_>, coll: &Collection, change: &ShareChange, existing: &[Share]) -> DavResult<()> {
    let actor = Actor::User(&ctx.subject);
    let sharee = match (resolve_sharee(ctx, change.sharee()), change) {
        // An unknown principal holds no share: removing it leaves things as asked.
        (Err(e), ShareChange::Remove { .. }) if e.status == StatusCode::NOT_FOUND => return Ok(()),
        (sharee, _) => sharee?,
    };
    match change {
        ShareChange::Set { access, .. } => {
            let held = existing.iter().find(|s| sharee.holds(ctx, s)).map(|s| s.access);
            let access = match (access, held) {
                (CsAccess::Read, _) => ShareAccess::View,
                // read-write is also how *can modify and share* is shown: keep it.
                (CsAccess::ReadWrite, Some(ShareAccess::Share)) => ShareAccess::Share,
                (CsAccess::ReadWrite, _) => ShareAccess::Modify,
            };
            org::share(ctx.store(), actor, coll, &sharee.grantee_spec(), access).map(drop).map_err(org_error)
        }
        // Removing someone who holds no share leaves things as asked: not an error
        // (calendarserver answers the same).
        ShareChange::Remove { .. } => match org::revoke(ctx.store(), actor, coll, &sharee.grantee_spec()) {
            Ok(()) | Err(OrgError::NotFound(_)) => Ok(()),
            Err(e) => Err(org_error(e)),
        },
    }
}

/// POST of a `CS:share` document on a calendar or address book (§5.3.2). Needs the `share`
/// privilege. Each instruction is applied on its own, in order; the answer is 200 when all
/// succeeded, the refusal itself when the only instruction was refused, and otherwise a 207
/// with one status per sharee href (applied ones 200; unlike calendarserver, which then
/// applies none and answers 424 for them, since each share is its own transaction here).
pub fn share(ctx: &Ctx<'_>, res: &Resource, root: &Element) -> DavResult<DavResponse> {
    let changes = parse_share(root)?;
    let Resource::Collection { coll, .. } = res else { return Err(DavError::not_found()) };
    let href = res.href(ctx.hrefs());
    super::methods::authorize(ctx, ctx.target(res), Privilege::Share, &href)?;
    // Holding the share privilege means holding read-acl too, so this normally succeeds; it
    // only serves to keep *can modify and share* on a read-write set.
    let existing = org::shares(ctx.store(), Actor::User(&ctx.subject), coll).unwrap_or_default();
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in &changes {
        let outcome = apply(ctx, coll, change, &existing);
        if let Err(e) = &outcome
            && e.status.is_server_error()
        {
            return Err(e.clone());
        }
        outcomes.push((change.sharee(), outcome));
    }
    if outcomes.iter().all(|(_, o)| o.is_ok()) {
        return Ok(empty(StatusCode::OK));
    }
    if let [(_, Err(e))] = outcomes.as_slice() {
        return Err(e.clone());
    }
    Ok(per_sharee_status(&outcomes))
}

/// A 207 with, per sharee href, its status and (for refusals) the reason as
/// `DAV:responsedescription` (RFC 4918 §14.24).
fn per_sharee_status(outcomes: &[(&str, DavResult<()>)]) -> DavResponse {
    let mut w = XmlWriter::new();
    let attrs = names::xmlns_attrs();
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    w.open("D:multistatus", &attrs);
    for (href, outcome) in outcomes {
        w.open("D:response", &[]);
        w.text_element("D:href", href);
        match outcome {
            Ok(()) => w.text_element("D:status", &status_line(StatusCode::OK)),
            Err(e) => {
                w.text_element("D:status", &status_line(e.status));
                w.text_element("D:responsedescription", &e.message);
            }
        }
        w.close("D:response");
    }
    w.close("D:multistatus");
    respond(StatusCode::MULTI_STATUS, "application/xml; charset=utf-8", w.into_string().into_bytes())
}

/// A `CS:invite-reply` (§6.22) as this server needs it: accept or decline, and which shared
/// collection (`CS:hosturl`). `CS:in-reply-to` names a notification davit never sent, so it
/// is not required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteReply {
    pub accept: bool,
    pub host_url: String,
}

pub fn parse_invite_reply(root: &Element) -> DavResult<InviteReply> {
    let accepted = root.child(CALENDARSERVER, "invite-accepted").is_some();
    let declined = root.child(CALENDARSERVER, "invite-declined").is_some();
    if accepted == declined {
        return Err(invalid("a CS:invite-reply holds one of CS:invite-accepted or CS:invite-declined"));
    }
    let host = root
        .child(CALENDARSERVER, "hosturl")
        .and_then(|h| h.child(DAV, "href"))
        .ok_or_else(|| invalid("a CS:invite-reply needs CS:hosturl with the shared collection's DAV:href"))?;
    Ok(InviteReply { accept: accepted, host_url: href_text(host, "CS:hosturl")? })
}

/// POST of a `CS:invite-reply` on the sharee's own home (§5.4.1).
pub fn invite_reply(ctx: &Ctx<'_>, res: &Resource, root: &Element) -> DavResult<DavResponse> {
    let reply = parse_invite_reply(root)?;
    let Resource::Collection { coll: home, place } = res else { return Err(DavError::not_found()) };
    let me = &ctx.subject.principal;
    if home.owner_id != me.id {
        return Err(DavError::forbidden("a sharee replies on their own calendar or address-book home"));
    }
    let not_shared = || {
        DavError::forbidden(format!("{} is not a calendar or address book shared with you", reply.host_url))
    };
    let path = href_path(&reply.host_url).ok_or_else(not_shared)?;
    let (path, _) = paths::parse(&ctx.state.config.base_path, &path).map_err(|_| not_shared())?;
    let shared = match resolve_existing(ctx.store(), &path).map_err(|_| not_shared())? {
        Resource::Collection { coll, .. }
            if is_shareable(coll.kind) && coll.owner_id != me.id && coll.kind.home_kind() == place.area =>
        {
            coll
        }
        _ => return Err(not_shared()),
    };
    if !reply.accept {
        // A declined share gives no access any more, so declining twice is refused like
        // declining what was never shared.
        let target = ctx.container_target(&shared);
        if !acl::effective_privileges(&ctx.subject, target).contains(Privilege::Read) {
            return Err(not_shared());
        }
        ctx.store().decline_share(me.id, shared.id)?;
        return Ok(empty(StatusCode::OK));
    }
    let in_home =
        ctx.store().mounted_collections(me.id, place.area)?.iter().any(|m| m.collection.id == shared.id);
    if !in_home {
        // Declined shares cannot be taken back by the sharee: there is no invitation left to
        // accept (shares are accepted when made), only the owner's share to renew.
        return Err(DavError::forbidden(format!(
            "{} is not shared with you, or you removed it from your home: then it comes back when its \
             owner shares it with you again",
            reply.host_url
        )));
    }
    // §5.4.1: an acceptance answers CS:shared-as with the URL of the sharee's copy.
    let copy = ctx.hrefs().in_home(place.area, &me.slug, &[mount_segment(shared.id)], true);
    let mut w = XmlWriter::new();
    w.raw(&format!(
        "<CS:shared-as xmlns:D=\"DAV:\" xmlns:CS=\"{CALENDARSERVER}\"><D:href>{}</D:href></CS:shared-as>",
        escape_text(&copy)
    ));
    let mut r = respond(StatusCode::OK, "application/xml; charset=utf-8", w.into_string().into_bytes());
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// POST on a calendar, address book or home: parses the XML body once and hands it to the
/// handler its root element names.
pub fn post(ctx: &Ctx<'_>, res: &Resource, body: &[u8]) -> DavResult<DavResponse> {
    let Resource::Collection { coll, .. } = res else {
        return Err(not_for_post());
    };
    let (shareable, home) = (is_shareable(coll.kind), coll.kind.is_home());
    if !shareable && !home {
        return Err(not_for_post());
    }
    let is_xml = ctx.headers.content_type.as_deref().is_some_and(|t| {
        let t = t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        t == "application/xml" || t == "text/xml"
    });
    let expected = if home { "CS:invite-reply" } else { "CS:share" };
    if !is_xml {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("POST here takes an application/xml {expected} document (calendarserver sharing)"),
        ));
    }
    let root = parse_xml(body)?;
    match (root.ns.as_str(), root.name.as_str()) {
        (CALENDARSERVER, "share") if shareable => share(ctx, res, &root),
        (CALENDARSERVER, "invite-reply") if home => invite_reply(ctx, res, &root),
        _ => Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("POST here takes a {expected} document, not {{{}}}{}", root.ns, root.name),
        )),
    }
}

fn not_for_post() -> DavError {
    DavError::method_not_allowed(
        "POST is supported on calendars and address books (CS:share) and on homes (CS:invite-reply)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> DavResult<Vec<ShareChange>> {
        parse_share(&crate::dav::xml::parse(body.as_bytes()).unwrap())
    }

    const NS: &str = "xmlns:D=\"DAV:\" xmlns:CS=\"http://calendarserver.org/ns/\"";

    #[test]
    fn share_bodies_become_instructions_in_order() {
        let changes = parse(&format!(
            "<CS:share {NS}><CS:set><D:href> mailto:eric@example.com </D:href><CS:common-name>Eric</CS:common-name>\
             <CS:summary>Shared workspace</CS:summary><CS:read-write/></CS:set>\
             <CS:remove><D:href>mailto:wilfredo@example.com</D:href></CS:remove><CS:future/></CS:share>"
        ))
        .unwrap();
        assert_eq!(
            changes,
            vec![
                ShareChange::Set { sharee: "mailto:eric@example.com".into(), access: CsAccess::ReadWrite },
                ShareChange::Remove { sharee: "mailto:wilfredo@example.com".into() },
            ]
        );
    }

    #[test]
    fn malformed_share_bodies_are_400_valid_request() {
        for inner in [
            "",
            "<CS:set><CS:read/></CS:set>",
            "<CS:set><D:href>mailto:a@b.c</D:href></CS:set>",
            "<CS:set><D:href>mailto:a@b.c</D:href><CS:read/><CS:read-write/></CS:set>",
            "<CS:set><D:href>mailto:a@b.c</D:href><D:href>mailto:d@b.c</D:href><CS:read/></CS:set>",
            "<CS:set><D:href>  </D:href><CS:read/></CS:set>",
            "<CS:remove/>",
        ] {
            let e = parse(&format!("<CS:share {NS}>{inner}</CS:share>")).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{inner}");
            assert_eq!(e.condition, Some(Condition::Other(CALENDARSERVER, "valid-request")), "{inner}");
        }
        let many = "<CS:remove><D:href>mailto:a@b.c</D:href></CS:remove>".repeat(MAX_CHANGES + 1);
        assert!(parse(&format!("<CS:share {NS}>{many}</CS:share>")).is_err());
    }

    #[test]
    fn invite_replies() {
        let root = |inner: &str| {
            crate::dav::xml::parse(format!("<CS:invite-reply {NS}>{inner}</CS:invite-reply>").as_bytes())
                .unwrap()
        };
        let r = parse_invite_reply(&root(
            "<D:href>mailto:b@x.org</D:href><CS:invite-declined/><CS:hosturl><D:href>/dav/calendars/a/c/</D:href></CS:hosturl><CS:in-reply-to>u</CS:in-reply-to>",
        ))
        .unwrap();
        assert_eq!(r, InviteReply { accept: false, host_url: "/dav/calendars/a/c/".into() });
        assert!(parse_invite_reply(&root("<CS:invite-accepted/>")).is_err());
        assert!(parse_invite_reply(&root("<CS:hosturl><D:href>/x/</D:href></CS:hosturl>")).is_err());
    }

    #[test]
    fn hrefs_name_paths_on_this_server() {
        assert_eq!(href_path("/dav/principals/bob/").as_deref(), Some("/dav/principals/bob/"));
        assert_eq!(
            href_path("https://h.example/dav/principals/bob/").as_deref(),
            Some("/dav/principals/bob/")
        );
        assert_eq!(href_path("urn:uuid:1234"), None);
    }
}
