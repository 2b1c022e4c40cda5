//! Conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since
//! (RFC 9110 §13.2.2 order) and the WebDAV `If` header (RFC 4918 §10.4).

use http::StatusCode;

use super::error::{DavError, DavResult};
use super::headers::{EtagMatch, IfCondition, RequestHeaders};
use crate::store::Expect;

/// What a conditional header is compared with.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub exists: bool,
    pub etag: Option<String>,
    pub last_modified: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Proceed,
    NotModified,
}

fn failed() -> DavError {
    DavError::precondition_failed("a conditional request header did not match the resource's current state")
}

fn strong_match(list: &EtagMatch, v: &Validators) -> bool {
    match list {
        EtagMatch::Any => v.exists,
        EtagMatch::List(tags) => v.etag.as_ref().is_some_and(|e| tags.iter().any(|t| !t.weak && &t.tag == e)),
    }
}

fn weak_match(list: &EtagMatch, v: &Validators) -> bool {
    match list {
        EtagMatch::Any => v.exists,
        EtagMatch::List(tags) => v.etag.as_ref().is_some_and(|e| tags.iter().any(|t| &t.tag == e)),
    }
}

/// Evaluates the HTTP preconditions. `safe` is true for GET and HEAD, where a failed
/// If-None-Match or If-Modified-Since means 304 rather than 412.
pub fn evaluate(h: &RequestHeaders, v: &Validators, safe: bool) -> DavResult<Outcome> {
    if let Some(m) = &h.if_match {
        if !strong_match(m, v) {
            return Err(failed());
        }
    } else if let (Some(since), Some(modified)) = (h.if_unmodified_since, v.last_modified)
        && modified > since
    {
        return Err(failed());
    }
    if let Some(m) = &h.if_none_match {
        if weak_match(m, v) {
            return if safe { Ok(Outcome::NotModified) } else { Err(failed()) };
        }
    } else if safe
        && let (Some(since), Some(modified)) = (h.if_modified_since, v.last_modified)
        && modified <= since
    {
        return Ok(Outcome::NotModified);
    }
    Ok(Outcome::Proceed)
}

/// The `If` header: true when any list holds. davit has no locks, so a state token never
/// matches (and `Not <token>` always does). `lookup` gives the validators of a tagged resource.
pub fn evaluate_if(
    h: &RequestHeaders,
    own: &Validators,
    lookup: &dyn Fn(&str) -> Option<Validators>,
) -> DavResult<()> {
    let Some(lists) = &h.if_lists else {
        return Ok(());
    };
    let holds = lists.iter().any(|list| {
        let v = match &list.resource {
            None => Some(own.clone()),
            Some(tag) => lookup(tag),
        };
        let Some(v) = v else { return false };
        list.conditions.iter().all(|(negated, c)| {
            let matched = match c {
                IfCondition::StateToken(_) => false,
                IfCondition::Etag(e) => v.etag.as_deref() == Some(e.as_str()),
            };
            matched != *negated
        })
    });
    if holds {
        Ok(())
    } else {
        Err(DavError::new(StatusCode::PRECONDITION_FAILED, "the If header did not match"))
    }
}

/// The compare-and-swap a write carries into its transaction, so that a concurrent write
/// between evaluation and commit still yields 412 rather than a lost update.
pub fn expect_for_write(h: &RequestHeaders, v: &Validators) -> Expect {
    let conditional = h.if_match.is_some()
        || h.if_none_match.is_some()
        || h.if_unmodified_since.is_some()
        || h.if_lists.is_some();
    match (&v.etag, conditional) {
        (_, false) => Expect::Anything,
        (Some(etag), true) => Expect::Etag(etag.clone()),
        (None, true) => Expect::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::headers::{EntityTag, parse_if};

    fn v(etag: Option<&str>, modified: i64) -> Validators {
        Validators { exists: etag.is_some(), etag: etag.map(Into::into), last_modified: Some(modified) }
    }

    fn tags(t: &[&str]) -> EtagMatch {
        EtagMatch::List(t.iter().map(|t| EntityTag { weak: false, tag: (*t).into() }).collect())
    }

    #[test]
    fn rfc9110_order() {
        let cur = v(Some("a"), 100);
        let mut h = RequestHeaders { if_match: Some(tags(&["a"])), ..Default::default() };
        assert_eq!(evaluate(&h, &cur, false).unwrap(), Outcome::Proceed);
        h.if_match = Some(tags(&["b"]));
        assert!(evaluate(&h, &cur, false).is_err());
        h.if_match = Some(EtagMatch::Any);
        assert!(evaluate(&h, &v(None, 0), false).is_err(), "If-Match: * on a missing resource");
        let h = RequestHeaders { if_none_match: Some(EtagMatch::Any), ..Default::default() };
        assert!(evaluate(&h, &cur, false).is_err(), "If-None-Match: * on an existing resource");
        assert_eq!(evaluate(&h, &v(None, 0), false).unwrap(), Outcome::Proceed);
        let h = RequestHeaders { if_none_match: Some(tags(&["a"])), ..Default::default() };
        assert_eq!(evaluate(&h, &cur, true).unwrap(), Outcome::NotModified);
        let h = RequestHeaders { if_modified_since: Some(100), ..Default::default() };
        assert_eq!(evaluate(&h, &cur, true).unwrap(), Outcome::NotModified);
        assert_eq!(evaluate(&h, &v(Some("a"), 101), true).unwrap(), Outcome::Proceed);
        let h = RequestHeaders { if_unmodified_since: Some(99), ..Default::default() };
        assert!(evaluate(&h, &cur, false).is_err());
    }

    #[test]
    fn if_header_lists() {
        let cur = v(Some("a"), 0);
        let none = |_: &str| None;
        let h = |s: &str| RequestHeaders { if_lists: Some(parse_if(s).unwrap()), ..Default::default() };
        assert!(evaluate_if(&h("([\"a\"])"), &cur, &none).is_ok());
        assert!(evaluate_if(&h("([\"b\"])"), &cur, &none).is_err());
        assert!(evaluate_if(&h("(<urn:uuid:x>)"), &cur, &none).is_err(), "no lock tokens exist");
        assert!(evaluate_if(&h("(Not <urn:uuid:x>)"), &cur, &none).is_ok());
        assert!(evaluate_if(&h("(<urn:uuid:x>) ([\"a\"])"), &cur, &none).is_ok(), "any list may hold");
        assert!(
            evaluate_if(&h("<http://h/other> ([\"a\"])"), &cur, &none).is_err(),
            "unknown tagged resource"
        );
    }

    #[test]
    fn writes_carry_a_compare_and_swap() {
        let h = RequestHeaders { if_match: Some(tags(&["a"])), ..Default::default() };
        assert_eq!(expect_for_write(&h, &v(Some("a"), 0)), Expect::Etag("a".into()));
        let h = RequestHeaders { if_none_match: Some(EtagMatch::Any), ..Default::default() };
        assert_eq!(expect_for_write(&h, &v(None, 0)), Expect::Absent);
        assert_eq!(expect_for_write(&RequestHeaders::default(), &v(Some("a"), 0)), Expect::Anything);
    }
}
