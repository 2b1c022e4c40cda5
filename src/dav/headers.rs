//! Request headers parsed once into typed values (RFC 4918 §10, RFC 9110 §13, RFC 7240).

use http::HeaderMap;

use super::error::{DavError, DavResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

/// `*` or a list of entity tags (opaque values without quotes; `weak` marks `W/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagMatch {
    Any,
    List(Vec<EntityTag>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    pub tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfCondition {
    StateToken(String),
    Etag(String),
}

/// One parenthesised list of the `If` header; every condition must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfList {
    pub resource: Option<String>,
    pub conditions: Vec<(bool /* negated */, IfCondition)>,
}

#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    pub depth: Option<Depth>,
    pub if_match: Option<EtagMatch>,
    pub if_none_match: Option<EtagMatch>,
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
    pub if_lists: Option<Vec<IfList>>,
    /// `Overwrite` (RFC 4918 §10.6); absent means T.
    pub overwrite: bool,
    pub destination: Option<String>,
    /// `Prefer: return=minimal` (RFC 8144) or Apple's `Brief: t`.
    pub minimal: bool,
    pub content_type: Option<String>,
    pub host: Option<String>,
    /// `Accept`, for vCard version negotiation (RFC 6352 §5.1.1).
    pub accept: Option<String>,
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> DavResult<Option<&'a str>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| DavError::bad_request(format!("the {name} header is not ASCII"))),
    }
}

impl RequestHeaders {
    pub fn parse(headers: &HeaderMap) -> DavResult<Self> {
        let depth = match text(headers, "depth")? {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "0" => Depth::Zero,
                "1" => Depth::One,
                "infinity" => Depth::Infinity,
                _ => return Err(DavError::bad_request("Depth must be 0, 1 or infinity")),
            }),
        };
        let overwrite = match text(headers, "overwrite")? {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("T") => true,
            Some(v) if v.eq_ignore_ascii_case("F") => false,
            Some(_) => return Err(DavError::bad_request("Overwrite must be T or F")),
        };
        let minimal = text(headers, "prefer")?
            .is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("return=minimal")))
            || text(headers, "brief")?.is_some_and(|v| v.eq_ignore_ascii_case("t"));
        Ok(RequestHeaders {
            depth,
            if_match: text(headers, "if-match")?.map(parse_etag_match).transpose()?,
            if_none_match: text(headers, "if-none-match")?.map(parse_etag_match).transpose()?,
            // RFC 9110 §13.1.3: an invalid date is ignored.
            if_modified_since: text(headers, "if-modified-since")?.and_then(parse_http_date),
            if_unmodified_since: text(headers, "if-unmodified-since")?.and_then(parse_http_date),
            if_lists: text(headers, "if")?.map(parse_if).transpose()?,
            overwrite,
            destination: text(headers, "destination")?.map(str::to_owned),
            minimal,
            content_type: text(headers, "content-type")?.map(str::to_owned),
            host: text(headers, "host")?.map(str::to_owned),
            accept: text(headers, "accept")?.map(str::to_owned),
        })
    }
}

pub fn parse_http_date(v: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(v).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

pub fn format_http_date(unix: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64))
}

fn parse_etag_match(v: &str) -> DavResult<EtagMatch> {
    if v == "*" {
        return Ok(EtagMatch::Any);
    }
    let mut tags = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        tags.push(parse_entity_tag(part).ok_or_else(|| DavError::bad_request("malformed entity tag"))?);
    }
    if tags.is_empty() {
        return Err(DavError::bad_request("empty entity-tag list"));
    }
    Ok(EtagMatch::List(tags))
}

/// `"abc"`, `W/"abc"`; also Evolution's backslash-escaped `\"abc\"` (seen by sabre/dav) and,
/// for Outlook CalDav Synchronizer's option, an unquoted tag.
pub fn parse_entity_tag(part: &str) -> Option<EntityTag> {
    let (weak, rest) = match part.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, part),
    };
    let rest = rest.replace("\\\"", "\"");
    let tag = match rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.to_owned(),
        None if !rest.contains(['"', ' ']) && !rest.is_empty() => rest,
        None => return None,
    };
    Some(EntityTag { weak, tag })
}

/// RFC 4918 §10.4: `If: [<tag>] (cond cond) (cond) <tag2> (…)`.
pub fn parse_if(v: &str) -> DavResult<Vec<IfList>> {
    let bad = || DavError::bad_request("malformed If header");
    let mut lists = Vec::new();
    let mut resource: Option<String> = None;
    let mut rest = v.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('<') {
            let end = r.find('>').ok_or_else(bad)?;
            resource = Some(r[..end].to_owned());
            rest = r[end + 1..].trim_start();
            if !rest.starts_with('(') {
                return Err(bad());
            }
            continue;
        }
        let r = rest.strip_prefix('(').ok_or_else(bad)?;
        let end = r.find(')').ok_or_else(bad)?;
        let conditions = parse_if_conditions(&r[..end]).ok_or_else(bad)?;
        lists.push(IfList { resource: resource.clone(), conditions });
        rest = r[end + 1..].trim_start();
    }
    if lists.is_empty() {
        return Err(bad());
    }
    Ok(lists)
}

fn parse_if_conditions(mut s: &str) -> Option<Vec<(bool, IfCondition)>> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        // `get`, not `[..3]`: the third byte may fall inside a character.
        let negated = s.get(..3).is_some_and(|word| word.eq_ignore_ascii_case("not"));
        if negated {
            s = s[3..].trim_start();
        }
        let (cond, rest) = if let Some(r) = s.strip_prefix('<') {
            let end = r.find('>')?;
            (IfCondition::StateToken(r[..end].to_owned()), &r[end + 1..])
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r.find(']')?;
            (IfCondition::Etag(parse_entity_tag(r[..end].trim())?.tag), &r[end + 1..])
        } else {
            return None;
        };
        out.push((negated, cond));
        s = rest;
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn depth_values() {
        assert_eq!(
            RequestHeaders::parse(&headers(&[("depth", "Infinity")])).unwrap().depth,
            Some(Depth::Infinity)
        );
        assert_eq!(RequestHeaders::parse(&headers(&[("depth", "1")])).unwrap().depth, Some(Depth::One));
        assert!(RequestHeaders::parse(&headers(&[("depth", "2")])).is_err());
        assert!(RequestHeaders::parse(&headers(&[("depth", "banana")])).is_err());
    }

    #[test]
    fn etags_in_client_spellings() {
        let h = RequestHeaders::parse(&headers(&[("if-match", "\"a\", W/\"b\""), ("if-none-match", "*")]))
            .unwrap();
        assert_eq!(
            h.if_match,
            Some(EtagMatch::List(vec![
                EntityTag { weak: false, tag: "a".into() },
                EntityTag { weak: true, tag: "b".into() }
            ]))
        );
        assert_eq!(h.if_none_match, Some(EtagMatch::Any));
        assert_eq!(parse_entity_tag("\\\"x\\\"").unwrap().tag, "x");
        assert_eq!(parse_entity_tag("plain").unwrap().tag, "plain");
        assert!(parse_entity_tag("\"unterminated").is_none());
    }

    #[test]
    fn if_header_grammar() {
        let lists = parse_if("<http://h/a> (<urn:x> [\"e1\"]) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].resource.as_deref(), Some("http://h/a"));
        assert_eq!(lists[0].conditions[1], (false, IfCondition::Etag("e1".into())));
        assert_eq!(lists[1].conditions[0], (true, IfCondition::StateToken("DAV:no-lock".into())));
        assert!(parse_if("garbage").is_err());
        assert!(parse_if("(").is_err());
        assert!(parse_if("()").is_err());
    }

    /// Found by the `auth_header` fuzz target (`fuzz/regressions/auth_header/`): a condition
    /// starting with multi-byte characters panicked on `s[..3]` while looking for `Not`. Over
    /// HTTP the header must be ASCII, but `parse_if` takes any `&str`.
    #[test]
    fn if_header_with_multibyte_characters_is_malformed_not_a_panic() {
        for v in ["(ݞݞ)", "(€)", "(Nö <urn:x>)", "<a> (😀 [\"e\"])"] {
            assert!(parse_if(v).is_err(), "{v}");
        }
        assert!(parse_if("(nOt <urn:x>)").unwrap()[0].conditions[0].0, "Not is case-insensitive");
    }

    #[test]
    fn prefer_and_brief() {
        assert!(
            RequestHeaders::parse(&headers(&[("prefer", "depth-noroot, return=minimal")])).unwrap().minimal
        );
        assert!(RequestHeaders::parse(&headers(&[("brief", "t")])).unwrap().minimal);
        assert!(!RequestHeaders::parse(&headers(&[])).unwrap().minimal);
        assert!(RequestHeaders::parse(&headers(&[("overwrite", "x")])).is_err());
    }
}
