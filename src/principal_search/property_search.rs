//! `principal-property-search` (RFC 3744 §9.4) and `principal-search-property-set` (§9.5).
//!
//! Matching is caseless substring matching, the default §9.4 prefers, with the
//! i;unicode-casemap fold CardDAV uses; Apple's `match-type` narrows it to a prefix, suffix
//! or the whole value. `calendar-user-address-set` is matched on its `mailto:` address (the
//! principal-URL it also lists is not searched).

use http::StatusCode;

use super::request::{Criterion, PropertySearch};
use super::{SEARCHABLE, Searched, describe_match, holds_principals, readable, require_depth_zero, searched};
use crate::carddav::filter::text_matches;
use crate::carddav::request::{Collation, MatchType, TextMatch};
use crate::dav::error::DavResult;
use crate::dav::multistatus::{Multistatus, write_prop};
use crate::dav::names::{self, QName};
use crate::dav::props::{PropValue, calendar_user_type};
use crate::dav::resource::Resource;
use crate::dav::xml::XmlWriter;
use crate::dav::{Ctx, DavResponse, multistatus_response, respond};
use crate::store::{PrincipalKind, PrincipalSearch, PrincipalTerm, SearchMatch};

/// Most principals one search answers; a share dialog shows a handful, and a client that
/// gets the 507 asks for something more specific.
pub const MAX_RESULTS: usize = 50;

pub fn principal_property_search(
    ctx: &Ctx<'_>,
    res: &Resource,
    search: &PropertySearch,
) -> DavResult<DavResponse> {
    require_depth_zero(ctx, "principal-property-search")?;
    let mut ms = Multistatus::default();
    // Without apply-to-principal-collection-set only principals below the request-URI count.
    let in_scope = search.apply_to_principal_collection_set || holds_principals(res);
    let Some(terms) = store_terms(&search.criteria, search.all_of).filter(|_| in_scope) else {
        return Ok(multistatus_response(ctx, &ms));
    };
    let found = ctx.store().search_principals(&PrincipalSearch {
        viewer: ctx.subject.principal.id,
        organization: ctx.subject.organization.as_ref().map(|o| o.id),
        terms,
        all_of: search.all_of,
        limit: MAX_RESULTS + 1,
    })?;
    // The store searched the subject's organization; the ACL still decides each result.
    let visible = found.into_iter().map(Resource::Principal).filter(|p| readable(ctx, p));
    for (i, principal) in visible.enumerate() {
        if i == MAX_RESULTS {
            ms.responses.push(super::truncated(ctx, res));
            break;
        }
        ms.responses.push(describe_match(ctx, &principal, &search.props)?);
    }
    Ok(multistatus_response(ctx, &ms))
}

/// The criteria as store terms, or `None` when no principal can match: an unsearchable
/// property matches nobody (RFC 3744 §9.4), which sinks an allof search and drops out of an
/// anyof one.
fn store_terms(criteria: &[Criterion], all_of: bool) -> Option<Vec<PrincipalTerm>> {
    let terms: Vec<Option<PrincipalTerm>> = criteria.iter().map(store_term).collect();
    if all_of {
        terms.into_iter().collect()
    } else {
        let possible: Vec<PrincipalTerm> = terms.into_iter().flatten().collect();
        (criteria.is_empty() || !possible.is_empty()).then_some(possible)
    }
}

fn store_term(c: &Criterion) -> Option<PrincipalTerm> {
    Some(match searched(&c.property)? {
        Searched::Field(field) => PrincipalTerm::Text { field, text: c.text.clone(), how: c.how },
        Searched::CalendarUserType => {
            // The value is not stored: compare it here as the store compares its fields.
            let match_type = match c.how {
                SearchMatch::Contains => MatchType::Contains,
                SearchMatch::StartsWith => MatchType::StartsWith,
                SearchMatch::EndsWith => MatchType::EndsWith,
                SearchMatch::Equals => MatchType::Equals,
            };
            let tm = TextMatch {
                text: c.text.clone(),
                collation: Collation::UnicodeCasemap,
                match_type,
                negate: false,
            };
            let kinds = [PrincipalKind::User, PrincipalKind::Room, PrincipalKind::Team];
            PrincipalTerm::Kind(
                kinds.into_iter().filter(|k| text_matches(&tm, calendar_user_type(*k))).collect(),
            )
        }
    })
}

/// RFC 3744 §9.5: a `200` with a `principal-search-property-set` document; each description
/// carries `xml:lang` (English only: Accept-Language has nothing else to choose from).
pub fn principal_search_property_set(ctx: &Ctx<'_>) -> DavResult<DavResponse> {
    require_depth_zero(ctx, "principal-search-property-set")?;
    let mut w = XmlWriter::new();
    let xmlns = names::xmlns_attrs();
    let attrs: Vec<(&str, &str)> = xmlns.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    w.open("D:principal-search-property-set", &attrs);
    for (ns, name, _, description) in SEARCHABLE {
        w.open("D:principal-search-property", &[]);
        let mut prop = String::from("<D:prop>");
        write_prop(&mut prop, &QName::new(ns, name), &PropValue::Empty);
        prop.push_str("</D:prop>");
        w.raw(&prop);
        w.open("D:description", &[("xml:lang", "en")]);
        w.text(description);
        w.close("D:description");
        w.close("D:principal-search-property");
    }
    w.close("D:principal-search-property-set");
    Ok(respond(StatusCode::OK, "application/xml; charset=utf-8", w.into_string().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::names::{CALDAV, CALENDARSERVER, DAV};
    use crate::store::PrincipalField;

    fn criterion(ns: &str, name: &str, text: &str, how: SearchMatch) -> Criterion {
        Criterion { property: QName::new(ns, name), text: text.into(), how }
    }

    #[test]
    fn calendar_user_type_matches_kinds_by_their_value() {
        let kinds = |text: &str, how| store_term(&criterion(CALDAV, "calendar-user-type", text, how));
        assert_eq!(kinds("room", SearchMatch::Equals), Some(PrincipalTerm::Kind(vec![PrincipalKind::Room])));
        assert_eq!(
            kinds("R", SearchMatch::Contains),
            Some(PrincipalTerm::Kind(vec![PrincipalKind::Room, PrincipalKind::Team]))
        );
        assert_eq!(
            kinds("individual", SearchMatch::StartsWith),
            Some(PrincipalTerm::Kind(vec![PrincipalKind::User]))
        );
        assert_eq!(kinds("RESOURCE", SearchMatch::Contains), Some(PrincipalTerm::Kind(vec![])));
    }

    #[test]
    fn unsearchable_properties_match_nobody() {
        let name = criterion(DAV, "displayname", "ann", SearchMatch::Contains);
        let first = criterion(CALENDARSERVER, "first-name", "ann", SearchMatch::Contains);
        let ann = PrincipalTerm::Text {
            field: PrincipalField::DisplayName,
            text: "ann".into(),
            how: SearchMatch::Contains,
        };
        assert_eq!(store_terms(&[name.clone(), first.clone()], true), None, "allof: no principal can match");
        assert_eq!(store_terms(&[name, first.clone()], false), Some(vec![ann]), "anyof: the rest still can");
        assert_eq!(store_terms(&[first], false), None);
        assert_eq!(store_terms(&[], false), Some(vec![]), "no criteria: everyone in scope");
    }
}
