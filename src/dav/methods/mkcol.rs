//! MKCOL (RFC 4918 §9.3), extended MKCOL (RFC 5689) and MKCALENDAR (RFC 4791 §5.3.1).

use http::StatusCode;

use super::super::body::parse_mkcol_body;
use super::super::error::{Condition, DavError, DavResult};
use super::super::multistatus::{Propstat, status_line};
use super::super::names::{self, CALDAV, CARDDAV, DAV, QName};
use super::super::paths::DavPath;
use super::super::props;
use super::super::resource::{Located, Place, accepts_subcollections, resolve};
use super::super::xml::{Element, XmlWriter};
use super::super::{Ctx, DavResponse, empty, respond};
use super::proppatch::field_of;
use crate::acl::Privilege;
use crate::store::{CollectionField, CollectionKind, CollectionProps, DeadProp, HomeKind, NewCollection};

pub fn mkcol(ctx: &Ctx<'_>, path: &DavPath, body: &[u8], calendar: bool) -> DavResult<DavResponse> {
    if !super::super::is_in_home(path) {
        return Err(DavError::method_not_allowed("collections can only be created inside a home"));
    }
    let (parent, place, segment) = match resolve(ctx.store(), path)? {
        Located::Found(_) => {
            return Err(DavError::method_not_allowed("something already exists at this URL"));
        }
        Located::Missing { parent: Some((parent, place)), segment: Some(segment) } => {
            (parent, place, segment)
        }
        Located::Missing { .. } => {
            return Err(DavError::conflict("the parent collection does not exist"));
        }
    };
    let parent_href = ctx.hrefs().in_home(place.area, &place.owner.slug, &place.segments, true);
    super::authorize(ctx, ctx.container_target(&parent), Privilege::Bind, &parent_href)?;
    if parent.kind.is_home() && crate::dav::resource::is_mount_segment(&segment) {
        return Err(DavError::forbidden(format!(
            "{segment} is reserved in homes for collections others share with you; choose another name"
        )));
    }
    let requested = requested_props(ctx, body, calendar)?;
    let kind = collection_kind(&requested, calendar)?;
    check_location(parent.kind, kind, &place)?;
    let (fields, dead, refused) = split_props(&requested, kind);
    if !refused.is_empty() {
        return Ok(failure_response(&requested, &refused, calendar));
    }
    let mut props = CollectionProps::default();
    for (field, value) in fields {
        match field {
            CollectionField::Displayname => props.displayname = value,
            CollectionField::Description => props.description = value,
            CollectionField::Color => props.color = value,
            CollectionField::SortOrder => props.sort_order = value,
            CollectionField::Timezone => props.timezone = value,
            CollectionField::Components => props.components = value,
        }
    }
    if kind == CollectionKind::Calendar && props.components.is_none() {
        props.components = Some("VEVENT,VTODO,VJOURNAL".into());
    }
    ctx.store().create_collection(&NewCollection {
        owner_id: parent.owner_id,
        parent_id: parent.id,
        segment,
        kind,
        props,
        dead_props: dead,
    })?;
    Ok(empty(StatusCode::CREATED))
}

fn requested_props(ctx: &Ctx<'_>, body: &[u8], calendar: bool) -> DavResult<Vec<Element>> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let is_xml = ctx.headers.content_type.as_deref().is_none_or(|t| {
        let t = t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        t == "application/xml" || t == "text/xml"
    });
    if !is_xml {
        // RFC 4918 §9.3: a body the server does not understand is 415.
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "MKCOL takes no body, or an XML mkcol body",
        ));
    }
    // Not well-formed XML is 400 (RFC 4918 §8.2); well-formed but not an mkcol body is 415.
    parse_mkcol_body(body, calendar)
}

/// The kind named by `DAV:resourcetype` (RFC 5689 §3); unknown types are refused.
fn collection_kind(props: &[Element], calendar: bool) -> DavResult<CollectionKind> {
    let Some(rt) = props.iter().find(|p| p.is(DAV, "resourcetype")) else {
        return Ok(if calendar { CollectionKind::Calendar } else { CollectionKind::Plain });
    };
    let mut kind = CollectionKind::Plain;
    let mut collection = false;
    for t in rt.elements() {
        match (t.ns.as_str(), t.name.as_str()) {
            (DAV, "collection") => collection = true,
            (CALDAV, "calendar") => kind = CollectionKind::Calendar,
            (CARDDAV, "addressbook") => kind = CollectionKind::Addressbook,
            // Apple creates server-side subscriptions with MKCALENDAR and a CS:subscribed
            // resourcetype (CLIENTS.md §5): a collection of its own kind, holding no data.
            (names::CALENDARSERVER, "subscribed") => kind = CollectionKind::Subscription,
            _ => {
                return Err(DavError::with(
                    StatusCode::FORBIDDEN,
                    Condition::ValidResourcetype,
                    format!("cannot create a collection of type {{{}}}{}", t.ns, t.name),
                ));
            }
        }
    }
    if !collection || (calendar && !matches!(kind, CollectionKind::Calendar | CollectionKind::Subscription)) {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::ValidResourcetype,
            "the resourcetype must be a collection",
        ));
    }
    Ok(kind)
}

/// Calendars and address books hold no collections (RFC 4791 §4.2, RFC 6352 §5.2), and
/// each lives in the home area of its type.
fn check_location(parent: CollectionKind, kind: CollectionKind, place: &Place) -> DavResult<()> {
    let wrong_area = match kind {
        CollectionKind::Calendar | CollectionKind::Subscription => place.area != HomeKind::Calendar,
        CollectionKind::Addressbook => place.area != HomeKind::Addressbook,
        _ => false,
    };
    if accepts_subcollections(parent) && !wrong_area {
        return Ok(());
    }
    let condition = match kind {
        CollectionKind::Addressbook => Condition::Other(CARDDAV, "addressbook-collection-location-ok"),
        CollectionKind::Calendar => Condition::CalendarCollectionLocationOk,
        _ if parent == CollectionKind::Addressbook => {
            Condition::Other(CARDDAV, "addressbook-collection-location-ok")
        }
        _ => Condition::CalendarCollectionLocationOk,
    };
    Err(DavError::with(StatusCode::FORBIDDEN, condition, "a collection of this type cannot be created here"))
}

type Split = (Vec<(CollectionField, Option<String>)>, Vec<DeadProp>, Vec<QName>);

fn split_props(requested: &[Element], kind: CollectionKind) -> Split {
    let (mut fields, mut dead, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for p in requested.iter().filter(|p| !p.is(DAV, "resourcetype")) {
        let q = QName::new(&p.ns, &p.name);
        if q.is(CALDAV, "supported-calendar-component-set") && kind == CollectionKind::Calendar {
            let comps: Vec<String> = p
                .elements()
                .filter(|c| c.is(CALDAV, "comp"))
                .filter_map(|c| c.attr("name").map(str::to_ascii_uppercase))
                .collect();
            match comps.iter().all(|c| ["VEVENT", "VTODO", "VJOURNAL"].contains(&c.as_str()))
                && !comps.is_empty()
            {
                true => fields.push((CollectionField::Components, Some(comps.join(",")))),
                false => refused.push(q),
            }
        } else if let Some(field) = field_of(&q).filter(|_| kind_allows(&q, kind)) {
            fields.push((field, Some(p.text())));
        } else if props::is_protected(&q) {
            refused.push(q);
        } else {
            dead.push(DeadProp { ns: q.ns.clone(), name: q.name.clone(), xml: p.to_xml() });
        }
    }
    (fields, dead, refused)
}

fn kind_allows(q: &QName, kind: CollectionKind) -> bool {
    match q.ns.as_str() {
        CALDAV | names::APPLE_ICAL => kind == CollectionKind::Calendar,
        CARDDAV => kind == CollectionKind::Addressbook,
        _ => true,
    }
}

/// RFC 5689 §3.2 / RFC 4791 §5.3.1.2: on failure, which property failed and why.
fn failure_response(requested: &[Element], refused: &[QName], calendar: bool) -> DavResponse {
    let root = if calendar { "C:mkcalendar-response" } else { "D:mkcol-response" };
    let mut w = XmlWriter::new();
    let attrs = names::xmlns_attrs();
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    w.open(root, &attrs);
    let stat = |status: StatusCode, names: Vec<QName>| Propstat {
        status,
        props: names.into_iter().map(|q| (q, props::PropValue::Empty)).collect(),
        condition: None,
    };
    let others: Vec<QName> =
        requested.iter().map(|p| QName::new(&p.ns, &p.name)).filter(|q| !refused.contains(q)).collect();
    for s in [stat(StatusCode::FORBIDDEN, refused.to_vec()), stat(StatusCode::FAILED_DEPENDENCY, others)] {
        if s.props.is_empty() {
            continue;
        }
        let mut prop = String::from("<D:propstat><D:prop>");
        for (q, v) in &s.props {
            super::super::multistatus::write_prop(&mut prop, q, v);
        }
        prop.push_str("</D:prop>");
        w.raw(&prop);
        w.text_element("D:status", &status_line(s.status));
        w.close("D:propstat");
    }
    w.close(root);
    respond(StatusCode::FORBIDDEN, "application/xml; charset=utf-8", w.into_string().into_bytes())
}
