//! Evaluating an addressbook-query filter against one card (RFC 6352 §10.5).

use super::request::{Collation, Filter, MatchType, ParamFilter, PropFilter, TextMatch};
use crate::vcard::{PropView, unicode_casemap};

/// An empty filter matches every card (§10.5: no prop-filter = all).
pub fn matches(filter: &Filter, props: &[PropView]) -> bool {
    let mut results = filter.prop_filters.iter().map(|pf| prop_matches(pf, props));
    if filter.prop_filters.is_empty() {
        true
    } else if filter.all_of {
        results.all(|r| r)
    } else {
        results.any(|r| r)
    }
}

fn prop_matches(pf: &PropFilter, props: &[PropView]) -> bool {
    let mut named = props.iter().filter(|p| p.name == pf.name).peekable();
    if pf.is_not_defined {
        return named.peek().is_none();
    }
    named.any(|p| {
        let mut tests = pf
            .text_matches
            .iter()
            .map(|tm| text_matches(tm, &p.value))
            .chain(pf.param_filters.iter().map(|pa| param_matches(pa, p)))
            .peekable();
        if tests.peek().is_none() {
            true
        } else if pf.all_of {
            tests.all(|t| t)
        } else {
            tests.any(|t| t)
        }
    })
}

fn param_matches(pf: &ParamFilter, p: &PropView) -> bool {
    let defined = p.params.iter().any(|(k, _)| *k == pf.name);
    if pf.is_not_defined {
        return !defined;
    }
    match &pf.text_match {
        None => defined,
        Some(tm) => {
            p.params.iter().filter(|(k, _)| *k == pf.name).flat_map(|(_, v)| v).any(|v| text_matches(tm, v))
        }
    }
}

/// Folds a string for the collation (RFC 4790): the same function prepares index values.
pub fn fold(collation: Collation, s: &str) -> String {
    match collation {
        Collation::UnicodeCasemap => unicode_casemap(s),
        Collation::AsciiCasemap => s.to_ascii_lowercase(),
        Collation::Octet => s.to_owned(),
    }
}

pub fn text_matches(tm: &TextMatch, value: &str) -> bool {
    let (needle, hay) = (fold(tm.collation, &tm.text), fold(tm.collation, value));
    let found = match tm.match_type {
        MatchType::Equals => hay == needle,
        MatchType::Contains => hay.contains(&needle),
        MatchType::StartsWith => hay.starts_with(&needle),
        MatchType::EndsWith => hay.ends_with(&needle),
    };
    found != tm.negate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tm(text: &str, collation: Collation, match_type: MatchType, negate: bool) -> TextMatch {
        TextMatch { text: text.into(), collation, match_type, negate }
    }

    #[test]
    fn match_types_and_collations() {
        use Collation::*;
        use MatchType::*;
        assert!(text_matches(&tm("JOSÉ", UnicodeCasemap, Contains, false), "Dr. josé Müller"));
        assert!(
            !text_matches(&tm("JOSÉ", AsciiCasemap, Contains, false), "Dr. josé Müller"),
            "ASCII folding only"
        );
        assert!(text_matches(&tm("JOS", AsciiCasemap, StartsWith, false), "josé"));
        assert!(!text_matches(&tm("jos", Octet, StartsWith, false), "José"));
        assert!(text_matches(&tm("müller", UnicodeCasemap, EndsWith, false), "Dr. josé MÜLLER"));
        assert!(text_matches(&tm("anna", UnicodeCasemap, Equals, false), "Anna"));
        assert!(!text_matches(&tm("ann", UnicodeCasemap, Equals, false), "Anna"));
        assert!(text_matches(&tm("bob", UnicodeCasemap, Contains, true), "Anna"), "negate");
    }
}
