//! GET and HEAD (RFC 9110 §9.3.1–9.3.2): objects are served byte-for-byte as stored;
//! collections get a small HTML listing for people who open the URL in a browser.

use http::{HeaderValue, StatusCode, header};

use super::super::conditional::{self, Outcome};
use super::super::error::{DavError, DavResult};
use super::super::headers::format_http_date;
use super::super::paths::DavPath;
use super::super::resource::{Resource, resolve_existing};
use super::super::xml::{escape_attr, escape_text};
use super::super::{Ctx, DavResponse, empty, respond};
use super::propfind::members;
use crate::acl::Privilege;
use crate::store::CollectionKind;

pub fn get(ctx: &Ctx<'_>, path: &DavPath, head: bool) -> DavResult<DavResponse> {
    let res = resolve_existing(ctx.store(), path)?;
    let href = res.href(ctx.hrefs());
    super::authorize(ctx, ctx.target(&res), Privilege::Read, &href)?;
    let v = super::validators(&res);
    let outcome = conditional::evaluate(&ctx.headers, &v, true)?;
    conditional::evaluate_if(&ctx.headers, &v, &|tag| super::tagged_validators(ctx, tag))?;
    let mut response = match (&res, outcome) {
        (_, Outcome::NotModified) => empty(StatusCode::NOT_MODIFIED),
        (Resource::Object { meta, parent, .. }, Outcome::Proceed) => {
            let body = ctx.store().object_body(meta.id)?.ok_or_else(DavError::not_found)?;
            if parent.kind == CollectionKind::Addressbook {
                negotiated_card(ctx, &meta.content_type, body)
            } else {
                respond(StatusCode::OK, &meta.content_type, body)
            }
        }
        (_, Outcome::Proceed) => {
            respond(StatusCode::OK, "text/html; charset=utf-8", listing(ctx, &res, &href)?)
        }
    };
    let headers = response.headers_mut();
    if let Some(etag) = &v.etag
        && let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\""))
    {
        headers.insert(header::ETAG, value);
    }
    if let Some(modified) = v.last_modified
        && let Ok(value) = HeaderValue::from_str(&format_http_date(modified))
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    if head {
        // HEAD: the headers GET would send, Content-Length included, and no body.
        let len = response.body().len();
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        response.body_mut().clear();
    }
    Ok(response)
}

/// A vCard in the version the `Accept` header prefers (RFC 6352 §5.1.1); the stored bytes
/// when it names none, the stored version, or the card no longer parses.
fn negotiated_card(ctx: &Ctx<'_>, stored_type: &str, body: Vec<u8>) -> DavResponse {
    let wanted = ctx.headers.accept.as_deref().and_then(crate::carddav::address_data::preferred_version);
    let converted = wanted.and_then(|version| {
        let spec = crate::carddav::request::AddressData { version: Some(version), props: vec![] };
        crate::carddav::address_data::render(&body, &spec).map(|text| (version, text))
    });
    let mut r = match converted {
        Some((version, text)) if text.as_bytes() != body.as_slice() => {
            let content_type = format!("text/vcard; charset=utf-8; version={}", version.as_str());
            respond(StatusCode::OK, &content_type, text.into_bytes())
        }
        _ => respond(StatusCode::OK, stored_type, body),
    };
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn listing(ctx: &Ctx<'_>, res: &Resource, href: &str) -> DavResult<Vec<u8>> {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title></head><body><h1>{0}</h1><ul>\n",
        escape_text(href)
    );
    for m in members(ctx, res)? {
        let h = m.href(ctx.hrefs());
        html.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", escape_attr(&h), escape_text(&h)));
    }
    html.push_str("</ul></body></html>\n");
    Ok(html.into_bytes())
}
