//! Parsing of `Authorization: Basic …` headers (RFC 7617).
//!
//! The parser is deliberately strict: anything unusual is rejected with `None` rather than
//! "repaired", because every accepted quirk is a quirk an attacker can probe. The caller turns
//! `None` into a 401 without saying why, so nothing here needs a detailed error type.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// Longest `Authorization` header value we are willing to decode. Real clients send well under
/// 1 KiB; the bound keeps a hostile header from costing a large allocation (and, downstream, a
/// huge argon2 input or back-off key).
pub const MAX_HEADER_LEN: usize = 4096;

/// A login/password pair taken from a Basic header.
///
/// `Debug` is written by hand so the password can never reach a log through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub login: String,
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Parses the raw value of an `Authorization` header as Basic credentials.
///
/// Returns `None` for any other scheme and for every malformed input: oversized header, bad
/// base64, no colon, non-UTF-8, empty login, or a NUL byte anywhere in the decoded pair.
pub fn parse_basic(header: &[u8]) -> Option<BasicCredentials> {
    if header.len() > MAX_HEADER_LEN {
        return None;
    }
    let token = basic_token(header)?;
    // Clients disagree on padding (some strip it), so accept both forms; the alphabet itself
    // stays the standard one RFC 7617 requires.
    let decoded = STANDARD_PAD_INDIFFERENT.decode(token).ok()?;
    // NUL would truncate the login in C-based tooling and in SQLite text comparisons that
    // treat it specially; no legitimate client sends it.
    if decoded.contains(&0) {
        return None;
    }
    let text = String::from_utf8(decoded).ok()?;
    // RFC 7617: the user-id cannot contain a colon, the password can, so split at the first.
    let (login, password) = text.split_once(':')?;
    if login.is_empty() {
        return None;
    }
    Some(BasicCredentials { login: login.to_owned(), password: password.to_owned() })
}

/// Returns the token68 part of a `Basic <token>` header, or `None` for another scheme.
fn basic_token(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    const SCHEME: &[u8] = b"basic";
    let scheme = header.get(..SCHEME.len())?;
    // Auth schemes are case-insensitive (RFC 9110 §11.1).
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = header.get(SCHEME.len()..)?;
    // At least one space must separate scheme and token, otherwise "Basicfoo" would parse.
    if rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii_start();
    if token.is_empty() { None } else { Some(token) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(scheme: &str, payload: &[u8]) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        format!("{scheme} {encoded}").into_bytes()
    }

    fn parse(scheme: &str, payload: &[u8]) -> Option<BasicCredentials> {
        parse_basic(&header(scheme, payload))
    }

    #[test]
    fn parses_plain_credentials() {
        let creds = parse("Basic", b"alice:secret").expect("valid header");
        assert_eq!(creds.login, "alice");
        assert_eq!(creds.password, "secret");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for scheme in ["basic", "Basic", "BASIC", "bAsIc"] {
            let creds = parse(scheme, b"bob:pw").expect("scheme accepted");
            assert_eq!(creds.login, "bob");
        }
    }

    #[test]
    fn other_schemes_and_missing_token_are_rejected() {
        assert!(parse("Bearer", b"bob:pw").is_none());
        assert!(parse("Basicx", b"bob:pw").is_none());
        assert!(parse_basic(b"Basic").is_none());
        assert!(parse_basic(b"Basic   ").is_none());
        assert!(parse_basic(b"").is_none());
        // "Basic" glued to the token must not be accepted.
        assert!(parse_basic(b"BasicYm9iOnB3").is_none());
    }

    #[test]
    fn tolerates_extra_spaces_around_token() {
        let creds = parse_basic(b"  Basic    Ym9iOnB3  ").expect("spaces tolerated");
        assert_eq!(creds.login, "bob");
        assert_eq!(creds.password, "pw");
    }

    #[test]
    fn padding_is_optional() {
        // "a:b" encodes to "YTpi" (no padding); "ab:c" needs one '='.
        let padded = parse_basic(b"Basic YWI6Yw==").expect("padded accepted");
        let unpadded = parse_basic(b"Basic YWI6Yw").expect("unpadded accepted");
        assert_eq!(padded, unpadded);
        assert_eq!(padded.login, "ab");
        assert_eq!(padded.password, "c");
    }

    #[test]
    fn no_colon_is_rejected() {
        assert!(parse("Basic", b"alice").is_none());
    }

    #[test]
    fn splits_at_first_colon() {
        let creds = parse("Basic", b"alice:pa:ss:word").expect("valid");
        assert_eq!(creds.login, "alice");
        assert_eq!(creds.password, "pa:ss:word");
    }

    #[test]
    fn empty_password_is_allowed_but_empty_login_is_not() {
        let creds = parse("Basic", b"alice:").expect("empty password is well-formed");
        assert_eq!(creds.password, "");
        assert!(parse("Basic", b":secret").is_none());
    }

    #[test]
    fn bad_base64_is_rejected() {
        assert!(parse_basic(b"Basic !!!notbase64").is_none());
        assert!(parse_basic(b"Basic YWJj=ZA==").is_none());
        // URL-safe alphabet is not the standard one.
        assert!(parse_basic(b"Basic _-_-").is_none());
    }

    #[test]
    fn non_utf8_is_rejected() {
        assert!(parse("Basic", b"al\xffice:pw").is_none());
        assert!(parse("Basic", b"alice:p\xc3w").is_none());
    }

    #[test]
    fn utf8_credentials_are_accepted() {
        let creds = parse("Basic", "jürgen:pässwörd".as_bytes()).expect("UTF-8 ok");
        assert_eq!(creds.login, "jürgen");
        assert_eq!(creds.password, "pässwörd");
    }

    #[test]
    fn nul_bytes_are_rejected() {
        assert!(parse("Basic", b"alice\0:pw").is_none());
        assert!(parse("Basic", b"alice:p\0w").is_none());
    }

    #[test]
    fn oversized_header_is_rejected() {
        let long_password = "x".repeat(MAX_HEADER_LEN);
        let payload = format!("alice:{long_password}");
        assert!(parse("Basic", payload.as_bytes()).is_none());

        // Just under the limit still parses, so the bound is on the header, not the payload.
        let fits = "y".repeat(3000);
        let payload = format!("alice:{fits}");
        let h = header("Basic", payload.as_bytes());
        assert!(h.len() <= MAX_HEADER_LEN);
        assert!(parse_basic(&h).is_some());
    }

    #[test]
    fn debug_redacts_password() {
        let creds = parse("Basic", b"alice:hunter2").expect("valid");
        let shown = format!("{creds:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever a client encodes (a login without colon, any password, no NUL), in any
            /// spelling of the scheme, padded or not, parses back to exactly the same pair.
            #[test]
            fn encoded_credentials_parse_back(
                login in "[^:\u{0}]{1,40}",
                password in "[^\u{0}]{0,80}",
                scheme in prop::sample::select(vec!["Basic", "basic", "BASIC", "bAsIc"]),
                padded in any::<bool>(),
                spaces in 1usize..4,
            ) {
                let mut token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
                if !padded {
                    token = token.trim_end_matches('=').to_owned();
                }
                let header = format!("{scheme}{}{token}", " ".repeat(spaces));
                let creds = parse_basic(header.as_bytes());
                prop_assert_eq!(creds, Some(BasicCredentials { login, password }));
            }

            /// Arbitrary bytes never panic, and what is accepted obeys the documented rules.
            #[test]
            fn any_header_is_accepted_only_when_well_formed(header in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Some(creds) = parse_basic(&header) {
                    prop_assert!(!creds.login.is_empty() && !creds.login.contains(':'));
                    prop_assert!(!creds.login.contains('\0') && !creds.password.contains('\0'));
                }
            }
        }
    }
}
