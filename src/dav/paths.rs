//! THE URL layout. Every path davit accepts is parsed here into a `DavPath`, and every href it
//! emits is built here, so percent-encoding happens in exactly one place.
//!
//! ```text
//! {base}/                                 root (answers discovery PROPFIND)
//! {base}/dav/                             DAV root
//! {base}/dav/principals/{user}/           principals
//! {base}/dav/calendars/{user}/…           calendar home and everything below it
//! {base}/dav/addressbooks/{user}/…        address-book home and everything below it
//! ```

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::store::HomeKind;

/// Characters escaped in emitted path segments: everything that is not allowed raw in a
/// path segment (RFC 3986 §3.3), plus `%` itself.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

pub const MAX_SEGMENTS: usize = 32;
pub const MAX_SEGMENT_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DavPath {
    Root,
    DavRoot,
    Principals,
    Principal(String),
    Homes(HomeKind),
    /// A home (`rest` empty) or anything below it.
    InHome {
        kind: HomeKind,
        owner: String,
        rest: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is outside the DAV space")]
    NotDav,
    #[error("the path has an invalid segment: {0}")]
    BadSegment(String),
    #[error("the path is too long")]
    TooLong,
}

/// Decodes one segment; rejects what could escape the tree or confuse storage.
pub fn decode_segment(raw: &str) -> Result<String, PathError> {
    let decoded =
        percent_decode_str(raw).decode_utf8().map_err(|_| PathError::BadSegment("not UTF-8".into()))?;
    if decoded.is_empty() || decoded == "." || decoded == ".." {
        return Err(PathError::BadSegment(format!("{decoded:?}")));
    }
    if decoded.contains('/') || decoded.chars().any(|c| c.is_control()) {
        return Err(PathError::BadSegment("contains a slash or control character".into()));
    }
    if decoded.len() > MAX_SEGMENT_BYTES {
        return Err(PathError::TooLong);
    }
    Ok(decoded.into_owned())
}

pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_encoded_segment(&mut out, segment);
    out
}

/// `encode_segment` onto `out`; hrefs of long listings are built this way, one buffer each.
pub fn push_encoded_segment(out: &mut String, segment: &str) {
    for piece in utf8_percent_encode(segment, SEGMENT) {
        out.push_str(piece);
    }
}

/// Parses the path part of a request URI (percent-encoded) into a `DavPath`.
/// Returns the path and whether it ended in a slash.
pub fn parse(base: &str, raw_path: &str) -> Result<(DavPath, bool), PathError> {
    let rest = raw_path.strip_prefix(base).ok_or(PathError::NotDav)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return Err(PathError::NotDav);
    }
    let trailing = rest.ends_with('/') || rest.is_empty();
    let raw: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if raw.len() > MAX_SEGMENTS {
        return Err(PathError::TooLong);
    }
    if rest.contains("//") {
        return Err(PathError::BadSegment("empty segment".into()));
    }
    let segments = raw.into_iter().map(decode_segment).collect::<Result<Vec<_>, _>>()?;
    let mut it = segments.into_iter();
    let path = match it.next().as_deref() {
        None => DavPath::Root,
        Some("dav") => match it.next().as_deref() {
            None => DavPath::DavRoot,
            Some("principals") => match it.next() {
                None => DavPath::Principals,
                Some(slug) if it.len() == 0 => DavPath::Principal(slug),
                Some(_) => return Err(PathError::NotDav),
            },
            Some(area @ ("calendars" | "addressbooks")) => {
                let kind = if area == "calendars" { HomeKind::Calendar } else { HomeKind::Addressbook };
                match it.next() {
                    None => DavPath::Homes(kind),
                    Some(owner) => DavPath::InHome { kind, owner, rest: it.collect() },
                }
            }
            Some(_) => return Err(PathError::NotDav),
        },
        Some(_) => return Err(PathError::NotDav),
    };
    Ok((path, trailing))
}

fn area(kind: HomeKind) -> &'static str {
    match kind {
        HomeKind::Calendar => "calendars",
        HomeKind::Addressbook => "addressbooks",
    }
}

/// Builds absolute-path hrefs (never absolute URLs: Outlook CalDav Synchronizer glues them
/// to scheme://host itself). Collections and principals end in `/` (Apple requires it).
#[derive(Debug, Clone)]
pub struct Hrefs {
    base: String,
}

impl Hrefs {
    pub fn new(base: &str) -> Self {
        Hrefs { base: base.to_owned() }
    }
    pub fn root(&self) -> String {
        format!("{}/", self.base)
    }
    pub fn dav_root(&self) -> String {
        format!("{}/dav/", self.base)
    }
    pub fn principals(&self) -> String {
        format!("{}/dav/principals/", self.base)
    }
    pub fn principal(&self, slug: &str) -> String {
        format!("{}/dav/principals/{}/", self.base, encode_segment(slug))
    }
    pub fn homes(&self, kind: HomeKind) -> String {
        format!("{}/dav/{}/", self.base, area(kind))
    }
    pub fn home(&self, kind: HomeKind, owner: &str) -> String {
        self.in_home(kind, owner, &[], true)
    }
    /// A resource below a home: `segments` from the home down, the last one the resource.
    pub fn in_home(&self, kind: HomeKind, owner: &str, segments: &[String], collection: bool) -> String {
        let area = area(kind);
        let len =
            self.base.len() + area.len() + owner.len() + segments.iter().map(|s| s.len() + 1).sum::<usize>();
        let mut href = String::with_capacity(len + 8);
        href.push_str(&self.base);
        href.push_str("/dav/");
        href.push_str(area);
        href.push('/');
        push_encoded_segment(&mut href, owner);
        href.push('/');
        for (i, s) in segments.iter().enumerate() {
            push_encoded_segment(&mut href, s);
            if collection || i + 1 < segments.len() {
                href.push('/');
            }
        }
        href
    }
    /// The href of a member, given its parent collection's href (ending in `/`).
    pub fn member(parent: &str, segment: &str, collection: bool) -> String {
        let mut href = String::with_capacity(parent.len() + segment.len() + 1);
        href.push_str(parent);
        push_encoded_segment(&mut href, segment);
        if collection {
            href.push('/');
        }
        href
    }
}

pub fn href_for(hrefs: &Hrefs, path: &DavPath, collection: bool) -> String {
    match path {
        DavPath::Root => hrefs.root(),
        DavPath::DavRoot => hrefs.dav_root(),
        DavPath::Principals => hrefs.principals(),
        DavPath::Principal(slug) => hrefs.principal(slug),
        DavPath::Homes(kind) => hrefs.homes(*kind),
        DavPath::InHome { kind, owner, rest } => hrefs.in_home(*kind, owner, rest, collection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> Result<DavPath, PathError> {
        parse("", raw).map(|(p, _)| p)
    }

    #[test]
    fn layout() {
        assert_eq!(p("/").unwrap(), DavPath::Root);
        assert_eq!(p("/dav/").unwrap(), DavPath::DavRoot);
        assert_eq!(p("/dav/principals/alice/").unwrap(), DavPath::Principal("alice".into()));
        assert_eq!(
            p("/dav/calendars/alice/work/x.ics").unwrap(),
            DavPath::InHome {
                kind: HomeKind::Calendar,
                owner: "alice".into(),
                rest: vec!["work".into(), "x.ics".into()]
            }
        );
        assert_eq!(p("/other"), Err(PathError::NotDav));
        assert_eq!(parse("/base", "/base/dav/").unwrap().0, DavPath::DavRoot);
        assert_eq!(parse("/base", "/basement/dav/"), Err(PathError::NotDav));
    }

    #[test]
    fn traversal_in_every_form_is_refused() {
        for raw in [
            "/dav/calendars/alice/../bob/",
            "/dav/calendars/alice/%2e%2e/bob/",
            "/dav/calendars/alice/%2E%2E/",
            "/dav/calendars/alice/a%2fb",
            "/dav/calendars/alice/a%2Fb",
            "/dav/calendars/alice/a%00b",
            "/dav/calendars/alice/./x",
            "/dav/calendars/alice//x",
            "/dav/calendars/alice/%ff",
        ] {
            assert!(p(raw).is_err(), "{raw} accepted");
        }
        let long = format!("/dav/calendars/alice/{}", "a/".repeat(40));
        assert_eq!(p(&long), Err(PathError::TooLong));
    }

    #[test]
    fn names_round_trip_through_encoding() {
        let hrefs = Hrefs::new("");
        for name in ["with space.ics", "ünïcødé €.ics", "a%b", "q?#[]", "plus+amp&at@.ics", "😀"] {
            let href = hrefs.in_home(HomeKind::Calendar, "alice", &[name.to_string()], false);
            let back = p(&href).unwrap();
            assert_eq!(
                back,
                DavPath::InHome { kind: HomeKind::Calendar, owner: "alice".into(), rest: vec![name.into()] },
                "{href}"
            );
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A name davit accepts for a segment: any Unicode but `/` and control characters.
        fn segment() -> impl Strategy<Value = String> {
            "[^/\\p{Cc}]{1,24}".prop_filter("not a dot segment", |s| s != "." && s != "..")
        }

        fn kind() -> impl Strategy<Value = HomeKind> {
            prop::sample::select(vec![HomeKind::Calendar, HomeKind::Addressbook])
        }

        fn base() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec!["", "/base", "/dav", "/a/b"])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Encoding then decoding gives the segment back exactly when davit accepts the
            /// name at all; anything else is refused after decoding, never altered.
            #[test]
            fn any_segment_round_trips_or_is_refused(segment in any::<String>()) {
                let acceptable = !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && !segment.contains('/')
                    && !segment.chars().any(char::is_control)
                    && segment.len() <= MAX_SEGMENT_BYTES;
                let decoded = decode_segment(&encode_segment(&segment));
                if acceptable {
                    prop_assert_eq!(decoded, Ok(segment));
                } else {
                    prop_assert!(decoded.is_err(), "{:?} accepted as {:?}", segment, decoded);
                }
            }

            /// Every href davit builds parses back to the resource it was built for.
            #[test]
            fn hrefs_parse_back_to_their_resource(
                base in base(),
                kind in kind(),
                owner in segment(),
                rest in prop::collection::vec(segment(), 0..6),
                collection in any::<bool>(),
            ) {
                let hrefs = Hrefs::new(base);
                let href = hrefs.in_home(kind, &owner, &rest, collection);
                let trailing = collection || rest.is_empty();
                prop_assert_eq!(
                    parse(base, &href),
                    Ok((DavPath::InHome { kind, owner: owner.clone(), rest: rest.clone() }, trailing))
                );
                let path = DavPath::InHome { kind, owner, rest };
                prop_assert_eq!(parse(base, &href_for(&hrefs, &path, collection)).map(|(p, _)| p), Ok(path));
            }

            #[test]
            fn principal_hrefs_parse_back(base in base(), slug in segment()) {
                let href = Hrefs::new(base).principal(&slug);
                prop_assert_eq!(parse(base, &href), Ok((DavPath::Principal(slug), true)));
            }

            /// A parsed path, built again and parsed again, is the same path.
            #[test]
            fn parse_build_parse_is_stable(base in base(), raw in "(/[a-z%2EFC0-9\\.]{0,6}){0,7}/?") {
                let raw = format!("{base}{raw}");
                if let Ok((path, trailing)) = parse(base, &raw) {
                    let href = href_for(&Hrefs::new(base), &path, trailing);
                    prop_assert_eq!(parse(base, &href).map(|(p, _)| p), Ok(path));
                }
            }
        }
    }
}
