//! WebDAV (RFC 4918) with the CalDAV and CardDAV collection types: parse the request once,
//! resolve the resource, authorise through `acl::authorize`, run the method, serialise.
//! Everything here is synchronous; the HTTP layer runs it on tokio's blocking pool.

pub mod admission;
pub mod body;
pub mod capabilities;
pub mod conditional;
pub mod error;
pub mod headers;
pub mod methods;
pub mod multistatus;
pub mod names;
pub mod paths;
pub mod props;
pub mod report;
pub mod resource;
pub mod sharing;
pub mod xml;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::acl::{Subject, Target};
use crate::state::AppState;
use crate::store::{Collection, CollectionAccess, Id, Store};
use error::{DavError, DavResult};
use headers::RequestHeaders;
use paths::{DavPath, Hrefs};

/// A request as the DAV layer sees it: authenticated, body read and bounded.
pub struct DavRequest {
    pub method: Method,
    /// The percent-encoded path of the request URI.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub type DavResponse = http::Response<Vec<u8>>;

/// Per-request context handed to every method.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub subject: Subject,
    pub headers: RequestHeaders,
    /// Access facts of collections others own, looked up once per request.
    access: std::cell::RefCell<std::collections::HashMap<Id, CollectionAccess>>,
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a AppState, subject: Subject, headers: RequestHeaders) -> Self {
        Ctx { state, subject, headers, access: Default::default() }
    }
    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// The ACL target of `res` with what shares, grants and the owner's organization mean for
    /// this subject. A failed look-up yields no access (fails closed).
    pub fn target(&self, res: &resource::Resource) -> Target {
        match res.acl_target() {
            Target::Principal { id, .. } => Target::Principal { id, organization: self.organization_of(id) },
            Target::Home { owner, .. } => {
                Target::Home { owner, access: self.access_of(owner, res.collection_id()) }
            }
            Target::Owned { owner, collection, .. } => {
                Target::Owned { owner, collection, access: self.access_of(owner, Some(collection)) }
            }
            other => other,
        }
    }

    /// The ACL target of a collection about to gain or lose a member.
    pub fn container_target(&self, coll: &Collection) -> Target {
        let access = self.access_of(coll.owner_id, Some(coll.id));
        if coll.kind.is_home() {
            Target::Home { owner: coll.owner_id, access }
        } else {
            Target::Owned { owner: coll.owner_id, collection: coll.id, access }
        }
    }

    /// The organization of a principal other than the subject (whose own needs no look-up).
    fn organization_of(&self, principal: Id) -> Option<Id> {
        if principal == self.subject.principal.id {
            return self.subject.organization.as_ref().map(|o| o.id);
        }
        self.store().organization_of(principal).unwrap_or_else(|e| {
            tracing::warn!(error = %e, principal, "organization unavailable; denying");
            None
        })
    }

    fn access_of(&self, owner: Id, collection: Option<Id>) -> CollectionAccess {
        let (Some(collection), false) = (collection, owner == self.subject.principal.id) else {
            return CollectionAccess::default();
        };
        if let Some(found) = self.access.borrow().get(&collection) {
            return *found;
        }
        let found = match self.store().collection_access(self.subject.principal.id, collection) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, collection, "access facts unavailable; denying");
                CollectionAccess::default()
            }
        };
        self.access.borrow_mut().insert(collection, found);
        found
    }
    pub fn hrefs(&self) -> &Hrefs {
        &self.state.hrefs
    }
}

pub fn handle(state: &AppState, subject: Subject, req: DavRequest) -> DavResponse {
    let result = run(state, subject, &req);
    finalize(state, &req, result)
}

/// What [`handle_deferring`] gives back.
pub enum Handled {
    Answered(DavResponse),
    /// A PUT whose write is queued: once `write` resolves, `answer` gives the response.
    Writing {
        write: crate::store::Deferred<crate::store::PutOutcome>,
        answer: PutAnswer,
    },
}

/// How to answer a PUT once its write is done.
pub struct PutAnswer(methods::put::Written);

impl PutAnswer {
    pub fn respond(self, outcome: crate::store::StoreResult<crate::store::PutOutcome>) -> DavResponse {
        with_dav_header(self.0.respond(outcome).unwrap_or_else(|e| error_response(&e)))
    }
}

/// [`handle`], except that a PUT returns as soon as its write is queued, so that the caller
/// can await the group commit instead of blocking its thread until it.
pub fn handle_deferring(state: &AppState, subject: Subject, req: DavRequest) -> Handled {
    if req.method != http::Method::PUT {
        return Handled::Answered(handle(state, subject, req));
    }
    let prepared = context(state, subject, &req)
        .and_then(|(ctx, path)| methods::put::prepare(&ctx, &path, req.body.clone()));
    match prepared {
        Ok((put, written)) => {
            Handled::Writing { write: state.store.put_object_deferred(put), answer: PutAnswer(written) }
        }
        Err(e) => Handled::Answered(finalize(state, &req, Err(e))),
    }
}

/// The response to `req` from its handler's result: errors rendered, and the headers every
/// DAV response carries.
fn finalize(state: &AppState, req: &DavRequest, result: DavResult<DavResponse>) -> DavResponse {
    let mut response = match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    // RFC 9110 §15.5.6: a 405 lists the methods the resource does support.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let located = paths::parse(&state.config.base_path, &req.path)
            .ok()
            .and_then(|(path, _)| resource::resolve(state.store.as_ref(), &path).ok());
        if let Some(located) = located {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(capabilities::allow(&located)));
        }
    }
    with_dav_header(response)
}

/// Apple reads the DAV header on PROPFIND responses too, not only on OPTIONS: every DAV
/// response carries it.
fn with_dav_header(mut response: DavResponse) -> DavResponse {
    response.headers_mut().insert("dav", HeaderValue::from_static(capabilities::DAV_HEADER));
    response
}

fn run(state: &AppState, subject: Subject, req: &DavRequest) -> DavResult<DavResponse> {
    let (ctx, path) = context(state, subject, req)?;
    methods::dispatch(&ctx, &req.method, &path, &req.body)
}

/// The request's parsed headers and path, with who asks.
fn context<'a>(state: &'a AppState, subject: Subject, req: &DavRequest) -> DavResult<(Ctx<'a>, DavPath)> {
    let headers = RequestHeaders::parse(&req.headers)?;
    let (path, _) = paths::parse(&state.config.base_path, &req.path)
        .map_err(|e| DavError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok((Ctx::new(state, subject, headers), path))
}

pub fn error_response(e: &DavError) -> DavResponse {
    let body = if e.status == StatusCode::NOT_MODIFIED {
        Vec::new()
    } else {
        multistatus::error_body(e).into_bytes()
    };
    let mut r = http::Response::builder()
        .status(e.status)
        .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .body(body)
        .unwrap_or_default();
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// Builds a response with a body and content type.
pub fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> DavResponse {
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub fn empty(status: StatusCode) -> DavResponse {
    let mut r = http::Response::new(Vec::new());
    *r.status_mut() = status;
    r
}

pub fn multistatus_response(ctx: &Ctx<'_>, ms: &multistatus::Multistatus) -> DavResponse {
    multistatus_xml_response(ctx, ms.to_xml(ctx.headers.minimal))
}

/// A 207 with a body written by a `MultistatusWriter` created with `ctx.headers.minimal`.
pub fn multistatus_xml_response(ctx: &Ctx<'_>, xml: String) -> DavResponse {
    let mut r = respond(StatusCode::MULTI_STATUS, "application/xml; charset=utf-8", xml.into_bytes());
    if ctx.headers.minimal {
        r.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
    }
    r
}

/// The path a request addressed, for methods that need to reason about it.
pub fn is_in_home(path: &DavPath) -> bool {
    matches!(path, DavPath::InHome { rest, .. } if !rest.is_empty())
}
