//! The addressbook-query REPORT (RFC 6352 §8.6): candidates from the card index when the
//! filter allows it, exact evaluation on candidates only, and `CR:limit` truncation (507).

use http::StatusCode;

use super::filter::{self, fold};
use super::request::{AddressbookQuery, Collation, Filter, MatchType, PropFilter};
use super::validate_put::INDEXED;
use crate::dav::error::{Condition, DavError, DavResult};
use crate::dav::headers::Depth;
use crate::dav::methods::{Content, describe_object_into};
use crate::dav::multistatus::{Multistatus, MultistatusWriter, Response, ResponseBody};
use crate::dav::resource::Resource;
use crate::dav::{Ctx, DavResponse, multistatus_response, multistatus_xml_response};
use crate::store::{Collection, CollectionKind, ObjectMeta};
use crate::vcard;

/// A LIKE pattern over folded index values for a prop-filter, when the index can answer
/// it: one non-negated text-match with a case-folding collation on an indexed property.
fn index_pattern(pf: &PropFilter) -> Option<(&str, String)> {
    let [tm] = pf.text_matches.as_slice() else { return None };
    let indexable = INDEXED.contains(&pf.name.as_str())
        && !pf.is_not_defined
        && pf.param_filters.is_empty()
        && !tm.negate
        && tm.collation != Collation::Octet;
    if !indexable {
        return None;
    }
    let text = fold(Collation::UnicodeCasemap, &tm.text)
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = match tm.match_type {
        MatchType::Equals => text,
        MatchType::Contains => format!("%{text}%"),
        MatchType::StartsWith => format!("{text}%"),
        MatchType::EndsWith => format!("%{text}"),
    };
    Some((pf.name.as_str(), pattern))
}

/// Indexed properties whose index rows are exactly the values the evaluator compares, one
/// row per property instance (NICKNAME, CATEGORIES and TEL also get widened forms).
const EXACTLY_INDEXED: &[&str] = &["FN", "N", "EMAIL", "ORG", "UID", "MEMBER"];

/// Whether the index alone decides the filter: a single prop-filter whose one text-match the
/// index answers with the same folding the evaluator uses (i;unicode-casemap), on a property
/// indexed exactly. Then every candidate matches and none need be parsed.
fn index_is_exact(f: &Filter) -> bool {
    let [pf] = f.prop_filters.as_slice() else { return false };
    index_pattern(pf).is_some()
        && EXACTLY_INDEXED.contains(&pf.name.as_str())
        && pf.text_matches.iter().all(|tm| tm.collation == Collation::UnicodeCasemap)
}

/// Candidate cards: from the index when every alternative (anyof) or at least one
/// requirement (allof) is indexable, else the whole address book.
fn candidates(ctx: &Ctx<'_>, coll: &Collection, f: &Filter) -> DavResult<Vec<(ObjectMeta, bytes::Bytes)>> {
    let patterns: Vec<Option<(&str, String)>> = f.prop_filters.iter().map(index_pattern).collect();
    let chosen: Vec<(&str, String)> = if f.all_of {
        patterns.into_iter().flatten().take(1).collect()
    } else if !patterns.is_empty() && patterns.iter().all(Option::is_some) {
        patterns.into_iter().flatten().collect()
    } else {
        Vec::new()
    };
    if chosen.is_empty() {
        return Ok(ctx.store().query_candidates(coll.id, None, None)?);
    }
    if let [(field, pattern)] = chosen.as_slice() {
        // Already one per card, in segment order.
        return Ok(ctx.store().card_candidates(coll.id, field, pattern)?);
    }
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(ObjectMeta, bytes::Bytes)> = Vec::new();
    for (field, pattern) in chosen {
        for candidate in ctx.store().card_candidates(coll.id, field, &pattern)? {
            if seen.insert(candidate.0.id) {
                out.push(candidate);
            }
        }
    }
    out.sort_by(|a, b| a.0.segment.cmp(&b.0.segment));
    Ok(out)
}

pub fn addressbook_query(ctx: &Ctx<'_>, res: &Resource, query: &AddressbookQuery) -> DavResult<DavResponse> {
    let (coll, single) = match res {
        Resource::Collection { coll, .. } if coll.kind == CollectionKind::Addressbook => (coll, None),
        Resource::Object { parent, meta, .. } if parent.kind == CollectionKind::Addressbook => {
            (parent, Some(meta))
        }
        _ => {
            return Err(DavError::with(
                StatusCode::FORBIDDEN,
                Condition::SupportedReport,
                "addressbook-query applies to address books and their cards",
            ));
        }
    };
    if single.is_none() && ctx.headers.depth == Some(Depth::Zero) {
        return Ok(multistatus_response(ctx, &Multistatus::default()));
    }
    let content = Content { address: query.address_data.as_ref(), ..Content::default() };
    let limit = query.limit.unwrap_or(usize::MAX);
    let exact = index_is_exact(&query.filter);
    let candidates = candidates(ctx, coll, &query.filter)?;
    // Each answer is written out as soon as it is described (not held until the end).
    let mut ms = MultistatusWriter::new(
        ctx.headers.minimal,
        candidates.iter().map(|(_, b)| b.len() + b.len() / 8 + 300).sum(),
    );
    let mut answered = 0;
    for (meta, body) in candidates {
        if single.is_some_and(|m| m.id != meta.id) {
            continue;
        }
        if !exact {
            let Ok(card) = vcard::parse(&body) else { continue };
            if !filter::matches(&query.filter, &vcard::properties(&card)) {
                continue;
            }
        }
        if answered == limit {
            // RFC 6352 §8.6.1: truncated results carry a 507 for the request-URI.
            ms.push(&Response {
                href: res.href(ctx.hrefs()),
                body: ResponseBody::Status(
                    StatusCode::INSUFFICIENT_STORAGE,
                    Some(Condition::NumberOfMatchesWithinLimits),
                ),
            });
            break;
        }
        let with_body = Content { body: Some((meta.id, &body)), ..content };
        describe_object_into(&mut ms, ctx, res, meta, &query.props, &with_body)?;
        answered += 1;
    }
    Ok(multistatus_xml_response(ctx, ms.finish(None)))
}
