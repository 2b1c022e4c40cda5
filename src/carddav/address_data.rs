//! address-data in answers (RFC 6352 §10.4) and vCard version negotiation on GET (§5.1.1):
//! the stored bytes unless another version or a property selection is asked for.

use super::request::AddressData;
use crate::vcard::{self, Version};

/// Whether `spec` asks for the stored body as it is (no version, no selection).
pub fn is_verbatim(spec: &AddressData) -> bool {
    spec.version.is_none() && spec.props.is_empty()
}

/// The body to serve for `spec`; `None` when the stored body does not parse any more.
pub fn render(body: &[u8], spec: &AddressData) -> Option<String> {
    let stored = || crate::dav::xml::body_text(body);
    let text = match spec.version {
        Some(version) => {
            let card = vcard::parse(body).ok()?;
            if card.needs_conversion(version) { vcard::convert(&card, version) } else { stored() }
        }
        None => stored(),
    };
    Some(if spec.props.is_empty() { text } else { select(&text, &spec.props) })
}

/// Keeps BEGIN, END, VERSION and the named properties (with or without a group prefix),
/// each logical line with its folded continuation lines.
fn select(text: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut keep = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if keep {
                out.push_str(line);
            }
            continue;
        }
        let head = line.split([':', ';']).next().unwrap_or("");
        let name = head.rsplit('.').next().unwrap_or(head).trim().to_ascii_uppercase();
        keep = matches!(name.as_str(), "BEGIN" | "END" | "VERSION") || names.contains(&name);
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// The vCard version an `Accept` header prefers (RFC 6352 §5.1.1), by q-value; `None` when
/// it names no version davit can produce.
pub fn preferred_version(accept: &str) -> Option<Version> {
    let mut best: Option<(f32, Version)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        if media != "text/vcard" && media != "text/x-vcard" {
            continue;
        }
        let (mut version, mut q) = (None, 1.0f32);
        for p in parts {
            match p.split_once('=').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
            {
                Some((k, v)) if k == "version" => version = Version::from_attr(v),
                Some((k, v)) if k == "q" => q = v.parse().unwrap_or(0.0),
                _ => {}
            }
        }
        if let Some(v) = version
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, v));
        }
    }
    best.map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        assert_eq!(preferred_version("text/vcard; version=4.0"), Some(Version::V4));
        assert_eq!(preferred_version("text/vcard;version=3.0"), Some(Version::V3));
        assert_eq!(
            preferred_version("text/vcard;version=3.0;q=0.5, text/vcard;version=4.0"),
            Some(Version::V4)
        );
        assert_eq!(preferred_version("text/vcard"), None, "no version: serve as stored");
        assert_eq!(preferred_version("*/*"), None);
        assert_eq!(preferred_version("text/vcard;version=5.0"), None);
    }

    #[test]
    fn selection_keeps_folded_lines() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna\r\nNOTE:long\r\n  note\r\nitem1.EMAIL:a@x.org\r\nUID:1\r\nEND:VCARD\r\n";
        assert_eq!(
            select(card, &["EMAIL".into(), "NOTE".into()]),
            "BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:long\r\n  note\r\nitem1.EMAIL:a@x.org\r\nEND:VCARD\r\n"
        );
    }
}
