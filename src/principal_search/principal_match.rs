//! `principal-match` (RFC 3744 §9.3), where it is cheap to answer:
//!
//! | body                         | request-URI                              | answer                       |
//! |------------------------------|------------------------------------------|------------------------------|
//! | `self`                       | root, DAV root, principal collection     | the user and their teams     |
//! | `self`                       | anything else                            | empty: no principals below   |
//! | `principal-property`/`owner` | a home, or a collection or object in one | the members the user owns    |
//! | any other                    | anywhere                                 | 501                          |
//!
//! Teams count because §9.3 has `self` match a group when one of its members is the user.

use http::StatusCode;

use super::request::{MatchBy, PrincipalMatch};
use super::{describe_match, holds_principals, readable, require_depth_zero};
use crate::dav::error::{DavError, DavResult};
use crate::dav::multistatus::Multistatus;
use crate::dav::names::DAV;
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response};
use crate::store::Id;

/// Most resources one owner match lists before answering 507 for the rest.
pub const MAX_MATCHES: usize = 1000;

pub fn principal_match(ctx: &Ctx<'_>, res: &Resource, request: &PrincipalMatch) -> DavResult<DavResponse> {
    require_depth_zero(ctx, "principal-match")?;
    let mut ms = Multistatus::default();
    match &request.by {
        MatchBy::CurrentUser => {
            if holds_principals(res) {
                let teams = ctx.store().teams_of(ctx.subject.principal.id)?;
                let me = std::iter::once(ctx.subject.principal.clone()).chain(teams);
                for principal in me.map(Resource::Principal).filter(|p| readable(ctx, p)) {
                    ms.responses.push(describe_match(ctx, &principal, &request.props)?);
                }
            }
        }
        MatchBy::Property(q) if q.is(DAV, "owner") && in_home(res) => {
            owned_members(ctx, res, request, &mut ms)?
        }
        MatchBy::Property(q) => {
            return Err(DavError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "principal-match on {{{}}}{} is not implemented here; DAV:self, and DAV:owner on \
                     collections below a home, are",
                    q.ns, q.name
                ),
            ));
        }
    }
    Ok(multistatus_response(ctx, &ms))
}

fn in_home(res: &Resource) -> bool {
    matches!(res, Resource::Collection { .. } | Resource::Object { .. })
}

fn owner_of(res: &Resource) -> Option<Id> {
    match res {
        Resource::Collection { coll, .. } => Some(coll.owner_id),
        Resource::Object { parent, .. } => Some(parent.owner_id),
        _ => None,
    }
}

/// Every member, at any depth, of `res` whose `DAV:owner` is the current user (not `res`
/// itself, §9.3: "members of the collection"). An object has no members.
fn owned_members(
    ctx: &Ctx<'_>,
    res: &Resource,
    request: &PrincipalMatch,
    ms: &mut Multistatus,
) -> DavResult<()> {
    let me = ctx.subject.principal.id;
    let mut pending = vec![res.clone()];
    while let Some(collection) = pending.pop() {
        let Resource::Collection { coll, .. } = &collection else { continue };
        for stored in ctx.store().members(coll.id)? {
            let Some(member) = collection.member(stored) else { continue };
            // Each member is authorised too; what the subject may not read is neither listed
            // nor searched below.
            if !readable(ctx, &member) {
                continue;
            }
            if owner_of(&member) == Some(me) {
                if ms.responses.len() == MAX_MATCHES {
                    ms.responses.push(super::truncated(ctx, res));
                    return Ok(());
                }
                ms.responses.push(describe_match(ctx, &member, &request.props)?);
            }
            if matches!(member, Resource::Collection { .. }) {
                pending.push(member);
            }
        }
    }
    Ok(())
}
