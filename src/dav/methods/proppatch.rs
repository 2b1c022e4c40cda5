//! PROPPATCH (RFC 4918 §9.2): all instructions succeed or none does; a refused one gets its
//! own status and every other one `424 Failed Dependency`.

use http::StatusCode;

use super::super::body::{PropUpdate, parse_propertyupdate};
use super::super::error::{Condition, DavError, DavResult};
use super::super::multistatus::{Multistatus, Propstat, Response, ResponseBody};
use super::super::names::{APPLE_ICAL, CALDAV, CARDDAV, DAV, QName};
use super::super::paths::DavPath;
use super::super::props::{self, PropValue};
use super::super::resource::{Resource, resolve_existing};
use super::super::xml::Element;
use super::super::{Ctx, DavResponse, multistatus_response};
use crate::acl::Privilege;
use crate::store::{CollectionField, DeadProp, PropPatchOp, PropTarget};

pub fn proppatch(ctx: &Ctx<'_>, path: &DavPath, body: &[u8]) -> DavResult<DavResponse> {
    let updates = parse_propertyupdate(body)?;
    let res = resolve_existing(ctx.store(), path)?;
    let href = res.href(ctx.hrefs());
    let target = match &res {
        Resource::Collection { coll, .. } => PropTarget::Collection(coll.id),
        Resource::Object { meta, .. } => PropTarget::Object(meta.id),
        _ => {
            return Err(DavError::forbidden("the properties of this resource are managed by the server"));
        }
    };
    if let Some(fields) = sharee_fields(ctx, &res, &updates) {
        return patch_sharee_view(ctx, &res, href, &updates, &fields);
    }
    super::authorize(ctx, ctx.target(&res), Privilege::WriteProperties, &href)?;
    let planned: Vec<Result<PropPatchOp, DavError>> = updates.iter().map(|u| plan(u, &res)).collect();
    let failed = planned.iter().any(Result::is_err);
    let mut stats: Vec<Propstat> = Vec::new();
    let mut add = |status: StatusCode, q: &QName, condition: Option<Condition>| match stats
        .iter_mut()
        .find(|s| s.status == status && s.condition == condition)
    {
        Some(s) => s.props.push((q.clone(), PropValue::Empty)),
        None => stats.push(Propstat { status, props: vec![(q.clone(), PropValue::Empty)], condition }),
    };
    if failed {
        for (u, p) in updates.iter().zip(&planned) {
            match p {
                Ok(_) => add(StatusCode::FAILED_DEPENDENCY, &u.name, None),
                Err(e) => add(e.status, &u.name, e.condition.clone()),
            }
        }
    } else {
        let ops: Vec<PropPatchOp> = planned.into_iter().filter_map(Result::ok).collect();
        ctx.store().patch_props(target, &ops)?;
        for u in &updates {
            add(StatusCode::OK, &u.name, None);
        }
    }
    let ms = Multistatus {
        responses: vec![Response { href, body: ResponseBody::Propstats(stats) }],
        sync_token: None,
    };
    Ok(multistatus_response(ctx, &ms))
}

/// A sharee renaming, recolouring or reordering a collection shared into their home changes
/// only their own view of it (issue #7): the fields, when that is all the request sets.
fn sharee_fields(
    ctx: &Ctx<'_>,
    res: &Resource,
    updates: &[PropUpdate],
) -> Option<Vec<(CollectionField, Option<String>)>> {
    let Resource::Collection { coll, place } = res else { return None };
    let own_mount = place.segments.len() == 1
        && place.is_mounted(coll.owner_id)
        && place.owner.id == ctx.subject.principal.id;
    if !own_mount {
        return None;
    }
    updates
        .iter()
        .map(|u| match field_of(&u.name)? {
            f @ (CollectionField::Displayname | CollectionField::Color | CollectionField::SortOrder) => {
                Some((f, u.value.as_ref().map(Element::text)))
            }
            _ => None,
        })
        .collect()
}

fn patch_sharee_view(
    ctx: &Ctx<'_>,
    res: &Resource,
    href: String,
    updates: &[PropUpdate],
    fields: &[(CollectionField, Option<String>)],
) -> DavResult<DavResponse> {
    super::authorize(ctx, ctx.target(res), Privilege::Read, &href)?;
    let Resource::Collection { coll, .. } = res else { return Err(DavError::not_found()) };
    if fields.iter().any(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_PROPERTY_BYTES)) {
        return Err(DavError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("property values are limited to {MAX_PROPERTY_BYTES} bytes"),
        ));
    }
    ctx.store().set_sharee_props(ctx.subject.principal.id, coll.id, fields)?;
    let props = updates.iter().map(|u| (u.name.clone(), PropValue::Empty)).collect();
    let ms = Multistatus {
        responses: vec![Response {
            href,
            body: ResponseBody::Propstats(vec![Propstat { status: StatusCode::OK, props, condition: None }]),
        }],
        sync_token: None,
    };
    Ok(multistatus_response(ctx, &ms))
}

/// The collection column a settable live property is kept in.
pub fn field_of(q: &QName) -> Option<CollectionField> {
    Some(match (q.ns.as_str(), q.name.as_str()) {
        (DAV, "displayname") => CollectionField::Displayname,
        (CALDAV, "calendar-description") | (CARDDAV, "addressbook-description") => {
            CollectionField::Description
        }
        (CALDAV, "calendar-timezone") => CollectionField::Timezone,
        (APPLE_ICAL, "calendar-color") => CollectionField::Color,
        (APPLE_ICAL, "calendar-order") => CollectionField::SortOrder,
        _ => return None,
    })
}

/// Largest property value PROPPATCH or MKCOL stores.
pub const MAX_PROPERTY_BYTES: usize = 64 * 1024;

fn plan(u: &PropUpdate, res: &Resource) -> Result<PropPatchOp, DavError> {
    if let Some(value) = &u.value
        && value.to_xml().len() > MAX_PROPERTY_BYTES
    {
        // RFC 4918 §9.2.1: 507 when the server cannot record the property.
        return Err(DavError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("property values are limited to {MAX_PROPERTY_BYTES} bytes"),
        ));
    }
    if props::is_settable_live(&u.name, res)
        && let Some(field) = field_of(&u.name)
    {
        return Ok(PropPatchOp::SetField(field, u.value.as_ref().map(Element::text)));
    }
    if props::is_protected(&u.name) {
        return Err(DavError::with(
            StatusCode::FORBIDDEN,
            Condition::CannotModifyProtectedProperty,
            "this property is computed by the server",
        ));
    }
    Ok(match &u.value {
        Some(el) => PropPatchOp::SetDead(DeadProp {
            ns: u.name.ns.clone(),
            name: u.name.name.clone(),
            xml: el.to_xml(),
        }),
        None => PropPatchOp::RemoveDead { ns: u.name.ns.clone(), name: u.name.name.clone() },
    })
}
