//! The organization endpoints: members and roles, teams, rooms, grants, shares and
//! invitations, member removal. Every rule lives in `crate::org` (shared with the CLI); this
//! module only maps JSON to those calls and their errors to statuses. Changes need the main
//! password or a session (`require_full_login`), never a possibly scoped app password.
//!
//! ```text
//! GET    org                                   the organization and its members
//! PUT    org/members/{name}/role               {"role"}
//! POST   org/members/{name}/remove             {"password", "transfer_to"|"delete", "collections"?}
//! GET    teams                                 POST teams {"name", "display_name"?}
//! DELETE teams/{team}                          PUT|DELETE teams/{team}/members/{user}
//! GET    rooms                                 POST rooms {"name", "display_name"?, "email"?}
//! DELETE rooms/{room}
//! GET    grants                                POST grants {"to", "collection"|"every"|"everything", "use", "manage"}
//! DELETE grants/{id}
//! GET    collections/{owner}/{name}/shares     POST … {"to", "right"}
//! DELETE collections/{owner}/{name}/shares/{to}
//! POST   collections/{owner}/{name}/shares/{to}/resend
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiContext, ApiError, ApiRequest, ApiResponse, json_body, timestamp};
use crate::org::{self, Actor, GrantOn, MemberDisposition, OrgError};
use crate::store::{
    ContentAccess, GrantScope, Grantee, Id, Principal, PrincipalKind, Role, Share, ShareAccess,
};

fn org_error(e: OrgError) -> ApiError {
    match e {
        OrgError::NotFound(m) => ApiError::not_found(m),
        OrgError::Forbidden(m) => ApiError::forbidden(m),
        OrgError::Invalid(m) => ApiError::invalid("invalid", m),
        OrgError::WrongPassword => ApiError::new(
            http::StatusCode::FORBIDDEN,
            "wrong_password",
            "the password is not correct; removing a member needs your own password",
        ),
        OrgError::Store(e) => e.into(),
    }
}

fn my_org(ctx: &ApiContext<'_>) -> Result<Id, ApiError> {
    ctx.subject
        .organization
        .as_ref()
        .map(|o| o.id)
        .ok_or_else(|| ApiError::forbidden("you are not a member of an organization"))
}

fn actor<'a>(ctx: &'a ApiContext<'_>) -> Actor<'a> {
    Actor::User(&ctx.subject)
}

fn principal_json(p: &Principal) -> Value {
    json!({ "name": p.slug, "display_name": p.display_name, "email": p.email })
}

pub fn route_org(ctx: &ApiContext<'_>, req: &ApiRequest, rest: &[&str]) -> Result<ApiResponse, ApiError> {
    let org = my_org(ctx)?;
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            if ctx.subject.role == Some(Role::External) {
                return Err(ApiError::forbidden("external members do not see the member list"));
            }
            let members: Vec<Value> = ctx
                .store()
                .org_members(org)?
                .iter()
                .map(|m| {
                    let mut v = principal_json(&m.principal);
                    v["role"] = json!(m.role.as_str());
                    v
                })
                .collect();
            let name = ctx.subject.organization.as_ref().map(|o| o.name.clone());
            Ok(ApiResponse::ok(json!({ "name": name, "members": members })))
        }
        ("PUT", ["members", name, "role"]) => {
            ctx.require_full_login()?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                role: String,
            }
            let body: Body = json_body(req)?;
            let role = Role::parse(&body.role).ok_or_else(|| {
                ApiError::invalid("invalid_role", "role: owner, admin, collaborator or external")
            })?;
            org::set_role(ctx.store(), actor(ctx), org, name, role).map_err(org_error)?;
            Ok(ApiResponse::ok(json!({ "name": name, "role": role.as_str() })))
        }
        ("POST", ["members", name, "remove"]) => remove_member(ctx, req, org, name),
        (_, ["members", _, "role"]) => Err(ApiError::method_not_allowed("PUT")),
        (_, ["members", _, "remove"]) => Err(ApiError::method_not_allowed("POST")),
        (_, []) => Err(ApiError::method_not_allowed("GET")),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveBody {
    password: String,
    transfer_to: Option<String>,
    #[serde(default)]
    delete: bool,
    /// Per collection (`OWNER/NAME`): `"delete"` or `"transfer:NAME"`.
    #[serde(default)]
    collections: BTreeMap<String, String>,
}

fn remove_member(
    ctx: &ApiContext<'_>,
    req: &ApiRequest,
    org: Id,
    name: &str,
) -> Result<ApiResponse, ApiError> {
    ctx.require_full_login()?;
    let body: RemoveBody = json_body(req)?;
    let default = match (&body.transfer_to, body.delete) {
        (Some(heir), false) => MemberDisposition::TransferTo(heir),
        (None, true) => MemberDisposition::Delete,
        _ => {
            return Err(ApiError::invalid(
                "disposition_required",
                "say what becomes of the member's collections: \"transfer_to\": NAME or \"delete\": true",
            ));
        }
    };
    let mut per_collection = Vec::new();
    for (path, what) in &body.collections {
        let d = match what.as_str() {
            "delete" => MemberDisposition::Delete,
            other => match other.strip_prefix("transfer:") {
                Some(heir) if !heir.is_empty() => MemberDisposition::TransferTo(heir),
                _ => {
                    return Err(ApiError::invalid(
                        "invalid_disposition",
                        "per collection: \"delete\" or \"transfer:NAME\"",
                    ));
                }
            },
        };
        per_collection.push((path.clone(), d));
    }
    // Who may remove is checked before the (slow, throttle-worthy) password check.
    org::administered_org(actor(ctx), org).map_err(org_error)?;
    org::verify_actor_password(ctx.store(), &ctx.subject.principal.slug, &body.password)
        .map_err(org_error)?;
    let report = org::remove_member(ctx.store(), actor(ctx), org, name, default, &per_collection)
        .map_err(org_error)?;
    // The member's cached credentials die with them: every request builds its subject from
    // the principal, which is gone, so their clients get 401 from the next request on.
    let transferred: Vec<Value> = report
        .transferred
        .iter()
        .map(|(_, segment, heir)| {
            let heir = ctx.store().principal_by_id(*heir).ok().flatten().map(|p| p.slug);
            json!({ "collection": segment, "to": heir })
        })
        .collect();
    Ok(ApiResponse::ok(
        json!({ "removed": name, "transferred": transferred, "deleted": report.deleted.len() }),
    ))
}

pub fn route_groups(
    ctx: &ApiContext<'_>,
    req: &ApiRequest,
    kind: PrincipalKind,
    rest: &[&str],
) -> Result<ApiResponse, ApiError> {
    let org = my_org(ctx)?;
    let store = ctx.store();
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let mut out = Vec::new();
            for p in store.group_principals(org, kind)? {
                let mut v = principal_json(&p);
                if kind == PrincipalKind::Team {
                    v["members"] =
                        json!(store.team_members(p.id)?.iter().map(|m| m.slug.clone()).collect::<Vec<_>>());
                }
                out.push(v);
            }
            Ok(ApiResponse::ok(json!(out)))
        }
        ("POST", []) => {
            ctx.require_full_login()?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                name: String,
                display_name: Option<String>,
                email: Option<String>,
            }
            let body: Body = json_body(req)?;
            if kind == PrincipalKind::Team && body.email.is_some() {
                return Err(ApiError::invalid("invalid", "teams have no e-mail address"));
            }
            let display = body.display_name.clone().unwrap_or_else(|| body.name.clone());
            let p =
                org::create_group(store, actor(ctx), org, kind, &body.name, &display, body.email.as_deref())
                    .map_err(org_error)?;
            let area = if kind == PrincipalKind::Team { "teams" } else { "rooms" };
            let location = format!("{}/api/v1/{area}/{}", ctx.state.config.base_path, p.slug);
            Ok(ApiResponse::created(principal_json(&p), location))
        }
        ("DELETE", [name]) => {
            ctx.require_full_login()?;
            org::delete_group(store, actor(ctx), org, kind, name).map_err(org_error)?;
            Ok(ApiResponse::no_content())
        }
        ("PUT" | "DELETE", [team, "members", user]) if kind == PrincipalKind::Team => {
            ctx.require_full_login()?;
            let join = req.method == http::Method::PUT;
            let changed =
                org::set_team_member(store, actor(ctx), org, team, user, join).map_err(org_error)?;
            if !join && !changed {
                return Err(ApiError::not_found(format!("{user} is not a member of {team}")));
            }
            Ok(ApiResponse::no_content())
        }
        (_, []) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, [_]) => Err(ApiError::method_not_allowed("DELETE")),
        (_, [_, "members", _]) if kind == PrincipalKind::Team => {
            Err(ApiError::method_not_allowed("PUT, DELETE"))
        }
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

pub fn route_grants(ctx: &ApiContext<'_>, req: &ApiRequest, rest: &[&str]) -> Result<ApiResponse, ApiError> {
    let org = my_org(ctx)?;
    let store = ctx.store();
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            org::administered_org(actor(ctx), org).map_err(org_error)?;
            let grants: Vec<Value> = store
                .grants(org)?
                .iter()
                .map(|g| {
                    let kind = if g.grantee.kind == PrincipalKind::Team { "team" } else { "user" };
                    json!({
                        "id": g.id,
                        "to": format!("{kind}:{}", g.grantee.slug),
                        "collection_id": g.collection_id,
                        "every": g.collection_id.is_none().then(|| g.scope.as_str()),
                        "use": g.use_access.as_str(),
                        "manage": g.manage,
                        "created_at": timestamp(g.created_at),
                    })
                })
                .collect();
            Ok(ApiResponse::ok(json!(grants)))
        }
        ("POST", []) => {
            ctx.require_full_login()?;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                to: String,
                collection: Option<String>,
                every: Option<String>,
                #[serde(default)]
                everything: bool,
                #[serde(rename = "use")]
                use_access: Option<String>,
                #[serde(default)]
                manage: bool,
            }
            let body: Body = json_body(req)?;
            let id = if body.everything {
                let user = body
                    .to
                    .strip_prefix("user:")
                    .ok_or_else(|| ApiError::invalid("invalid", "\"everything\" is given to a user:NAME"))?;
                org::grant_everything(store, actor(ctx), org, user).map_err(org_error)?
            } else {
                let on = match (&body.collection, &body.every) {
                    (Some(c), None) => GrantOn::Collection(c.clone()),
                    (None, Some(scope)) => GrantOn::Every(GrantScope::parse(scope).ok_or_else(|| {
                        ApiError::invalid("invalid", "\"every\": calendars, addressbooks or all")
                    })?),
                    _ => {
                        return Err(ApiError::invalid(
                            "invalid",
                            "a grant is on one \"collection\" (OWNER/NAME) or on \"every\" calendars|addressbooks|all",
                        ));
                    }
                };
                let use_access = match body.use_access.as_deref() {
                    None => ContentAccess::Read,
                    Some(u) => ContentAccess::parse(u)
                        .ok_or_else(|| ApiError::invalid("invalid", "\"use\": none, read or write"))?,
                };
                org::add_grant(store, actor(ctx), org, &body.to, &on, use_access, body.manage)
                    .map_err(org_error)?
            };
            let location = format!("{}/api/v1/grants/{id}", ctx.state.config.base_path);
            Ok(ApiResponse::created(json!({ "id": id }), location))
        }
        ("DELETE", [id]) => {
            ctx.require_full_login()?;
            let id: Id = id.parse().map_err(|_| ApiError::not_found("no such grant"))?;
            org::revoke_grant(store, actor(ctx), org, id).map_err(org_error)?;
            Ok(ApiResponse::no_content())
        }
        (_, []) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, [_]) => Err(ApiError::method_not_allowed("DELETE")),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}

fn share_json(s: &Share) -> Value {
    let (kind, pending) = match s.grantee {
        Grantee::User(_) => ("user", false),
        Grantee::Team(_) => ("team", false),
        Grantee::Organization(_) => ("org", false),
        Grantee::Email(_) => ("email", true),
    };
    let to = if kind == "org" { "org".to_owned() } else { format!("{kind}:{}", s.grantee_name) };
    json!({
        "id": s.id,
        "to": to,
        "right": s.access.as_str(),
        "pending": pending,
        "created_at": timestamp(s.created_at),
        "invited_at": s.invited_at.and_then(timestamp),
    })
}

pub fn route_shares(
    ctx: &ApiContext<'_>,
    req: &ApiRequest,
    owner: &str,
    name: &str,
    rest: &[&str],
) -> Result<ApiResponse, ApiError> {
    let store = ctx.store();
    let path = format!("{owner}/{name}");
    let collection = org::find_collection(store, &path).map_err(org_error)?;
    // Someone who cannot even read the collection learns nothing about it.
    let target = org::target_for(store, &ctx.subject, &collection).map_err(org_error)?;
    if !crate::acl::effective_privileges(&ctx.subject, target).contains(crate::acl::Privilege::Read) {
        return Err(ApiError::not_found(format!("no calendar or address book {path}")));
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let shares = org::shares(store, actor(ctx), &collection).map_err(org_error)?;
            Ok(ApiResponse::ok(json!(shares.iter().map(share_json).collect::<Vec<_>>())))
        }
        ("POST", []) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                to: String,
                right: String,
            }
            let body: Body = json_body(req)?;
            let access = ShareAccess::parse(&body.right)
                .ok_or_else(|| ApiError::invalid("invalid_right", "\"right\": view, modify or share"))?;
            let share = org::share(store, actor(ctx), &collection, &body.to, access).map_err(org_error)?;
            let location = format!(
                "{}/api/v1/collections/{path}/shares/{}",
                ctx.state.config.base_path,
                share_json(&share)["to"].as_str().unwrap_or_default()
            );
            Ok(ApiResponse::created(share_json(&share), location))
        }
        ("DELETE", [to]) => {
            org::revoke(store, actor(ctx), &collection, to).map_err(org_error)?;
            Ok(ApiResponse::no_content())
        }
        ("POST", [to, "resend"]) => {
            let email = to.strip_prefix("email:").unwrap_or(to);
            org::resend_invitation(store, actor(ctx), &collection, email).map_err(org_error)?;
            Ok(ApiResponse::no_content())
        }
        (_, []) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, [_]) => Err(ApiError::method_not_allowed("DELETE")),
        (_, [_, "resend"]) => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found("no such API endpoint (see docs/api.md)")),
    }
}
