//! vCard 3.0 ↔ 4.0 conversion for content negotiation (RFC 6352 §5.1.1, §10.4).
//!
//! calcard does the syntactic part (value types, escaping, date formats, base64 ↔ `data:`);
//! each entry it writes is lexed back into a [`Line`] and rewritten for what it leaves out
//! (DEPENDENCIES.md §3.3–3.4). Mapping choices, all symmetric so 4.0 → 3.0 → 4.0 keeps data:
//!
//! | 4.0 (RFC 6350)            | 3.0 (RFC 2426 + Apple extensions)                           |
//! |---------------------------|-------------------------------------------------------------|
//! | `KIND:group`              | `X-ADDRESSBOOKSERVER-KIND:group`                            |
//! | `KIND:org`                | `X-ABShowAs:COMPANY`                                        |
//! | `KIND:individual`         | (nothing: the 3.0 default)                                  |
//! | `MEMBER`                  | `X-ADDRESSBOOKSERVER-MEMBER`                                |
//! | `ANNIVERSARY`             | `itemN.X-ABDATE` + `itemN.X-ABLabel:_$!<Anniversary>!$_`    |
//! | `RELATED;TYPE=spouse`     | `itemN.X-ABRELATEDNAMES` + `itemN.X-ABLabel:_$!<Spouse>!$_` |
//! | other 4.0-only properties | the same name with `X-` (`GENDER` → `X-GENDER`, `LANG` …)   |
//! | `PREF=1`                  | `TYPE=PREF` (other ranks have no 3.0 form and are dropped)  |
//! | `PHOTO:data:image/jpeg;base64,…` | `PHOTO;ENCODING=b;TYPE=JPEG:…`                       |
//! | `TEL;VALUE=uri:tel:+1-555` | `TEL:+1-555`                                               |
//! | `BDAY:--0415`             | `BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15`                    |
//!
//! Apple's labelled items were chosen over plain `X-ANNIVERSARY`/`X-RELATED` because Apple
//! Contacts is the 3.0 client davit serves most, and it shows them natively; `X-ANNIVERSARY`
//! is still read back as `ANNIVERSARY`.

use super::index::strip_prefix_ci;
use super::line::{Line, Param};
use super::{Card, Version};
use calcard::common::Data;
use calcard::vcard::{VCardEntry, VCardProperty, VCardValue};
use std::collections::{HashMap, HashSet};

/// RFC 6350 properties with no RFC 2426 counterpart, written `X-<name>` in 3.0 output and
/// read back from that spelling (KIND, MEMBER, ANNIVERSARY and RELATED are mapped first).
const V4_ONLY: &[&str] = &[
    "KIND",
    "MEMBER",
    "ANNIVERSARY",
    "RELATED",
    "GENDER",
    "LANG",
    "XML",
    "CLIENTPIDMAP",
    "BIRTHPLACE",
    "DEATHPLACE",
    "DEATHDATE",
    "EXPERTISE",
    "HOBBY",
    "INTEREST",
    "ORG-DIRECTORY",
    "CONTACT-URI",
    "CREATED",
    "GRAMGENDER",
    "LANGUAGE",
    "PRONOUNS",
    "SOCIALPROFILE",
    "JSPROP",
];

/// Properties whose 4.0 value type is URI by default (RFC 6350 §6, RFC 6715, RFC 8605,
/// RFC 9554).
const V4_URI_DEFAULT: &[&str] = &[
    "SOURCE",
    "PHOTO",
    "IMPP",
    "GEO",
    "LOGO",
    "MEMBER",
    "RELATED",
    "SOUND",
    "UID",
    "URL",
    "KEY",
    "FBURL",
    "CALADRURI",
    "CALURI",
    "ORG-DIRECTORY",
    "CONTACT-URI",
    "SOCIALPROFILE",
];

/// Properties carrying inline media (RFC 6350 §6.2.4, §6.6.3, §6.7.5, §6.8.1).
const MEDIA: &[&str] = &["PHOTO", "LOGO", "SOUND", "KEY"];

const ANNIVERSARY_LABEL: &str = "_$!<Anniversary>!$_";
const OTHER_LABEL: &str = "_$!<Other>!$_";

/// RFC 6350 §6.6.6 RELATED types with an Apple label of the same meaning.
const RELATED_LABELS: &[(&str, &str)] = &[
    ("spouse", "_$!<Spouse>!$_"),
    ("child", "_$!<Child>!$_"),
    ("parent", "_$!<Parent>!$_"),
    ("sibling", "_$!<Sibling>!$_"),
    ("friend", "_$!<Friend>!$_"),
];

/// All RFC 6350 §6.6.6 RELATED types; a custom Apple label spelled like one maps back to it.
const RELATED_TYPES: &[&str] = &[
    "contact",
    "acquaintance",
    "friend",
    "met",
    "co-worker",
    "colleague",
    "co-resident",
    "neighbor",
    "child",
    "parent",
    "sibling",
    "spouse",
    "kin",
    "muse",
    "crush",
    "date",
    "sweetheart",
    "me",
    "agent",
    "emergency",
];

/// Year Apple uses for "no year" in 3.0 dates (with `X-APPLE-OMIT-YEAR`).
const NO_YEAR: &str = "1604";

/// Serialises the card in `to` (RFC 6352 §5.1.1). Linear in the card size.
pub fn convert(card: &Card, to: Version) -> String {
    let lines = render(card, to);
    let mut lines = match to {
        Version::V4 => to_v4(lines),
        Version::V3 => to_v3(lines),
    };
    for line in &mut lines {
        fix_params(line, to);
        fix_media(line, to);
        fix_year_less(line, to);
    }
    ensure_names(&mut lines, to);
    serialize(&lines, to)
}

fn serialize(lines: &[Line], to: Version) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.value.len() + 80).sum());
    out.push_str("BEGIN:VCARD\r\nVERSION:");
    out.push_str(to.as_str());
    out.push_str("\r\n");
    for line in lines {
        line.write_folded(&mut out);
    }
    out.push_str("END:VCARD\r\n");
    out
}

/// calcard writes each entry (typing, escaping, dates, base64); the text is lexed back.
fn render(card: &Card, to: Version) -> Vec<Line> {
    let is_v4 = to == Version::V4;
    card.vcard
        .entries
        .iter()
        .filter(|e| !matches!(e.name, VCardProperty::Begin | VCardProperty::End | VCardProperty::Version))
        .filter_map(|e| render_entry(e, is_v4))
        .collect()
}

/// One entry as calcard writes it, lexed back. `None` if calcard wrote something that is not
/// a content line (seen with a junk media type such as `data:image/png";base64,…` becoming
/// `TYPE=PNG"`): davit must never serve a card it would refuse, so that property is left out.
fn render_entry(entry: &VCardEntry, is_v4: bool) -> Option<Line> {
    let mut folded = String::new();
    // Writing into a String cannot fail.
    let _ = entry.write_to(&mut folded, is_v4);
    // calcard escapes CR and LF inside values, so every CRLF + space is one of its folds.
    let logical = folded.replace("\r\n ", "");
    let logical = logical.trim_end_matches(['\r', '\n']);
    let mut line = match Line::parse(logical) {
        Ok(line) => line,
        Err(e) => {
            tracing::warn!(property = entry.name.as_str(), error = %e, "vCard property dropped in conversion");
            return None;
        }
    };
    if line.value.contains("\\r") {
        line.value = fix_cr_escapes(&line.value);
    }
    if let Some(data) = entry.values.iter().find_map(VCardValue::as_binary) {
        if is_v4 {
            fix_data_uri(&mut line, data);
        } else {
            fix_legacy_binary(&mut line, data);
        }
    }
    Some(line)
}

/// calcard escapes CR as `\r`, which neither RFC 6350 §3.4 nor RFC 2426 §4 defines (readers
/// see a literal `r`). A CR ends up in values from 2.1 QUOTED-PRINTABLE `=0D=0A` line breaks:
/// CRLF becomes the one newline escape `\n`, a lone CR too.
fn fix_cr_escapes(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r' | 'R') => {
                let crlf = chars.peek() == Some(&'\\') && chars.clone().nth(1) == Some('n');
                if !crlf {
                    out.push_str("\\n");
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// calcard writes `data:<type>;base64\,…`. A URI value is not text and takes no escapes
/// (RFC 6350 §4.2, RFC 2397); clients given the backslash lose the photo
/// (sabre-io/vobject#382). An unknown type is sniffed: RFC 2397 reads `data:;base64` as text.
fn fix_data_uri(line: &mut Line, data: &Data) {
    // On a property whose 4.0 default type is text (an X- property carrying 3.0 ENCODING=b),
    // the unescaped URI is only right with VALUE=uri (RFC 6350 §5.2).
    if !V4_URI_DEFAULT.iter().any(|n| line.is(n)) && !line.has_param("VALUE") {
        line.params.push(Param::new("VALUE", &["uri"]));
    }
    if let Some(at) = line.value.find(";base64\\,") {
        line.value.replace_range(at..at + 9, ";base64,");
    }
    if line.value.starts_with("data:;") {
        line.value.insert_str(5, sniff(&data.data));
    }
}

/// 3.0 inline media is `ENCODING=b` with the media type as a TYPE token (RFC 2426 §3.1.4).
/// calcard adds that token only when there is no TYPE at all, and keeps a `VALUE=uri` or
/// `MEDIATYPE` that would contradict `ENCODING=b`.
fn fix_legacy_binary(line: &mut Line, data: &Data) {
    line.remove_param("VALUE");
    line.remove_param("MEDIATYPE");
    let has_media_token = line
        .params
        .iter()
        .filter(|p| p.is("TYPE"))
        .flat_map(|p| p.unquoted())
        .any(|v| !is_v4_media_type_param(v) && !v.eq_ignore_ascii_case("PREF"));
    let token = data.content_type.as_deref().and_then(legacy_token);
    if let Some(token) = token
        && !has_media_token
    {
        line.add_param_value("TYPE", &token);
    }
}

/// The media type of inline data whose type nobody declared, from its magic number.
fn sniff(data: &[u8]) -> &'static str {
    match data {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        _ => "application/octet-stream",
    }
}

/// The 3.0 TYPE token for a media type (`image/jpeg` → `JPEG`, RFC 2426 §3.1.4).
fn legacy_token(media_type: &str) -> Option<String> {
    match media_type.trim().to_ascii_lowercase().as_str() {
        "application/pgp-keys" => Some("PGP".into()),
        "application/pkix-cert" | "application/x-x509-user-cert" => Some("X509".into()),
        other => other
            .split_once('/')
            .filter(|(top, _)| matches!(*top, "image" | "audio" | "video"))
            .map(|(_, sub)| sub.to_ascii_uppercase()),
    }
}

/// The media type for a 3.0 TYPE token on a media property (`JPEG` → `image/jpeg`).
fn media_type_of(property: &str, token: &str) -> Option<String> {
    let token = token.to_ascii_lowercase();
    match (property.to_ascii_uppercase().as_str(), token.as_str()) {
        (_, t) if t.contains('/') => Some(token),
        ("PHOTO" | "LOGO", "jpg") => Some("image/jpeg".into()),
        ("PHOTO" | "LOGO", _) => Some(format!("image/{token}")),
        ("SOUND", _) => Some(format!("audio/{token}")),
        ("KEY", "pgp" | "gpg") => Some("application/pgp-keys".into()),
        ("KEY", "x509") => Some("application/pkix-cert".into()),
        _ => None,
    }
}

/// TYPE values RFC 6350 §6.2.4 allows on media properties.
fn is_v4_media_type_param(value: &str) -> bool {
    value.eq_ignore_ascii_case("work") || value.eq_ignore_ascii_case("home")
}

// ---------------------------------------------------------------- 4.0 → 3.0

fn to_v3(lines: Vec<Line>) -> Vec<Line> {
    let mut next_item = next_item_number(&lines);
    let mut out = Vec::with_capacity(lines.len() + 4);
    for mut line in lines {
        let upper = line.name.to_ascii_uppercase();
        match upper.as_str() {
            "KIND" => out.extend(kind_v3(line)),
            "MEMBER" => {
                line.name = "X-ADDRESSBOOKSERVER-MEMBER".into();
                out.push(line);
            }
            "ANNIVERSARY" => {
                let label = ANNIVERSARY_LABEL.to_string();
                out.extend(apple_item(line, "X-ABDATE", label, &mut next_item));
            }
            "RELATED" => {
                let label = related_label(&line);
                out.extend(apple_item(line, "X-ABRELATEDNAMES", label, &mut next_item));
            }
            "TEL" => {
                tel_v3(&mut line);
                out.push(line);
            }
            name if V4_ONLY.contains(&name) => {
                line.name = format!("X-{}", line.name);
                out.push(line);
            }
            _ => out.push(line),
        }
    }
    out
}

/// The first free N in Apple's `itemN.` groups.
fn next_item_number(lines: &[Line]) -> usize {
    let taken = lines
        .iter()
        .filter_map(|l| l.group.as_deref())
        .filter_map(|g| strip_prefix_ci(g, "item"))
        .filter_map(|n| n.parse::<usize>().ok());
    taken.max().unwrap_or(0).saturating_add(1)
}

/// KIND (RFC 6350 §6.1.4) in Apple's 3.0 vocabulary; `individual` is the default.
fn kind_v3(mut line: Line) -> Option<Line> {
    match line.value.trim().to_ascii_lowercase().as_str() {
        "individual" => None,
        "group" => Some(Line::new(line.group, "X-ADDRESSBOOKSERVER-KIND", "group".into())),
        "org" => Some(Line::new(line.group, "X-ABShowAs", "COMPANY".into())),
        _ => {
            line.name = "X-KIND".into();
            Some(line)
        }
    }
}

/// Moves a property into a fresh Apple `itemN.` group with an `X-ABLabel`. TYPE and VALUE
/// go: the label carries the relation, and Apple reads these values as text.
fn apple_item(mut line: Line, name: &str, label: String, next: &mut usize) -> [Line; 2] {
    let group = format!("item{next}");
    *next = next.saturating_add(1);
    line.group = Some(group.clone());
    line.name = name.to_string();
    line.remove_param("VALUE");
    line.retain_param_values("TYPE", |v| v.eq_ignore_ascii_case("PREF"));
    [line, Line::new(Some(group), "X-ABLabel", label)]
}

/// The Apple label for a RELATED's first TYPE; an unlisted type becomes a custom label.
fn related_label(line: &Line) -> String {
    let first = line
        .params
        .iter()
        .filter(|p| p.is("TYPE"))
        .flat_map(|p| p.unquoted())
        .find(|v| !v.eq_ignore_ascii_case("PREF"));
    let Some(kind) = first else {
        return OTHER_LABEL.to_string();
    };
    RELATED_LABELS
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(kind))
        .map_or_else(|| kind.to_ascii_lowercase(), |(_, label)| label.to_string())
}

/// 3.0 TEL is text (RFC 2426 §3.3.1): a 4.0 `tel:` URI (RFC 3966) becomes the bare number;
/// an `ext=` parameter becomes " x<ext>", other URI parameters are dropped.
fn tel_v3(line: &mut Line) {
    let uri = strip_prefix_ci(&line.value, "tel:").map(str::to_string);
    if !(uri.is_some() || line.param_has("VALUE", "uri")) {
        return;
    }
    line.remove_param("VALUE");
    if let Some(uri) = uri {
        let mut parts = uri.split(';');
        let mut number = parts.next().unwrap_or_default().to_string();
        for ext in parts.filter_map(|p| strip_prefix_ci(p, "ext=")) {
            number.push_str(" x");
            number.push_str(ext);
        }
        line.value = number;
    }
}

// ---------------------------------------------------------------- 3.0 → 4.0

fn to_v4(lines: Vec<Line>) -> Vec<Line> {
    let labels: HashMap<String, String> = lines
        .iter()
        .filter(|l| l.is("X-ABLABEL"))
        .filter_map(|l| Some((l.group.as_ref()?.to_ascii_lowercase(), l.value.clone())))
        .collect();
    let has_kind = lines.iter().any(|l| l.is("KIND") || l.is("X-ADDRESSBOOKSERVER-KIND"));
    let mut consumed = HashSet::new();
    let mut out: Vec<Line> =
        lines.into_iter().filter_map(|line| map_v4(line, &labels, has_kind, &mut consumed)).collect();
    // The labels of items that became ANNIVERSARY / RELATED have nothing left to label.
    out.retain(|l| {
        !(l.is("X-ABLABEL") && l.group.as_ref().is_some_and(|g| consumed.contains(&g.to_ascii_lowercase())))
    });
    // sabre/vobject writes an anniversary twice (X-ANNIVERSARY and X-ABDATE); 4.0 allows one
    // value (RFC 6350 §6.2.6 cardinality *1), so repeats of the same date go.
    let mut seen = HashSet::new();
    out.retain(|l| !l.is("ANNIVERSARY") || seen.insert(l.value.clone()));
    out
}

fn map_v4(
    mut line: Line,
    labels: &HashMap<String, String>,
    has_kind: bool,
    consumed: &mut HashSet<String>,
) -> Option<Line> {
    let upper = line.name.to_ascii_uppercase();
    match upper.as_str() {
        "X-ADDRESSBOOKSERVER-KIND" => kind_v4(line),
        // calcard upper-cases KIND values; RFC 6350 §6.1.4 spells them in lower case, and
        // some clients compare them case-sensitively.
        "KIND" => {
            line.value = line.value.to_ascii_lowercase();
            Some(line)
        }
        "X-ABSHOWAS" if !has_kind && line.value.trim().eq_ignore_ascii_case("COMPANY") => {
            Some(Line::new(line.group, "KIND", "org".into()))
        }
        "X-ADDRESSBOOKSERVER-MEMBER" => {
            rename_v4(&mut line, "MEMBER");
            Some(line)
        }
        "X-ABDATE" | "X-ABRELATEDNAMES" => Some(apple_item_v4(line, labels, consumed)),
        _ => {
            if let Some(base) = strip_prefix_ci(&upper, "X-")
                && let Some(name) = V4_ONLY.iter().find(|n| **n == base)
            {
                rename_v4(&mut line, name);
            }
            Some(line)
        }
    }
}

/// Apple's group marker as RFC 6350 §6.1.4 KIND; `individual` is the default and goes.
fn kind_v4(line: Line) -> Option<Line> {
    match line.value.trim().to_ascii_lowercase().as_str() {
        "individual" => None,
        kind => Some(Line::new(line.group, "KIND", kind.to_string())),
    }
}

/// Gives an X- property its 4.0 name; the value was written as X- text, so it is unescaped
/// where 4.0 expects a URI or structure.
fn rename_v4(line: &mut Line, name: &str) {
    line.name = name.to_string();
    if V4_URI_DEFAULT.contains(&name) && !line.param_has("VALUE", "text") {
        line.value = unescape_uri(&line.value);
    } else if name == "GENDER" || name == "CLIENTPIDMAP" {
        // Structured (RFC 6350 §6.2.7, §6.7.7): the `;` separates components.
        line.value = line.value.replace("\\;", ";");
    } else if name == "ANNIVERSARY" {
        line.value = date_v4(&line.value);
    }
}

/// `itemN.X-ABDATE` labelled Anniversary → ANNIVERSARY; `itemN.X-ABRELATEDNAMES` with a label
/// naming an RFC 6350 §6.6.6 relation → RELATED. Other items stay as they are.
fn apple_item_v4(mut line: Line, labels: &HashMap<String, String>, consumed: &mut HashSet<String>) -> Line {
    let Some(group) = line.group.as_ref().map(|g| g.to_ascii_lowercase()) else {
        return line;
    };
    let Some(label) = labels.get(&group) else {
        return line;
    };
    if line.is("X-ABDATE") {
        if label != ANNIVERSARY_LABEL {
            return line;
        }
        line.name = "ANNIVERSARY".into();
        line.value = date_v4(&line.value);
    } else {
        let Some(kind) = related_type(label) else {
            return line;
        };
        line.name = "RELATED".into();
        if let Some(kind) = kind {
            line.add_param_value("TYPE", kind);
        }
        if looks_like_uri(&line.value) {
            line.value = unescape_uri(&line.value);
        } else {
            // RELATED defaults to URI (RFC 6350 §6.6.6); Apple stores a name.
            line.params.push(Param::new("VALUE", &["text"]));
        }
    }
    line.group = None;
    consumed.insert(group);
    line
}

/// `None`: not a relation label; `Some(None)`: a relation without a type.
fn related_type(label: &str) -> Option<Option<&'static str>> {
    if label == OTHER_LABEL {
        return Some(None);
    }
    if let Some((kind, _)) = RELATED_LABELS.iter().find(|(_, l)| *l == label) {
        return Some(Some(kind));
    }
    RELATED_TYPES.iter().find(|t| t.eq_ignore_ascii_case(label.trim())).map(|t| Some(*t))
}

fn looks_like_uri(value: &str) -> bool {
    ["urn:", "mailto:", "tel:", "data:", "http:", "https:"]
        .iter()
        .any(|scheme| strip_prefix_ci(value, scheme).is_some())
}

/// A 3.0 (ISO 8601 extended) date or date-time in RFC 6350 §4.3 basic format:
/// `2009-08-08` → `20090808`, `--08-08` → `--0808`, `T14:30:00-05:00` → `T143000-0500`.
/// A year-month date (`1985-04`) keeps its dash, which 4.0 requires.
fn date_v4(value: &str) -> String {
    let (date, time) = match value.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (value, None),
    };
    let year_month = date.len() == 7 && date.as_bytes().get(4) == Some(&b'-');
    let mut out = match date.strip_prefix("--") {
        Some(rest) => format!("--{}", rest.replace('-', "")),
        None if year_month => date.to_string(),
        None => date.replace('-', ""),
    };
    if let Some(time) = time {
        out.push('T');
        out.push_str(&time.replace(':', ""));
    }
    out
}

// ---------------------------------------------------------------- both directions

fn fix_params(line: &mut Line, to: Version) {
    // calcard adds CHARSET=UTF-8 to every non-ASCII 3.0 value; UTF-8 is the only charset
    // either version allows here (RFC 6350 §3.1, RFC 6352 §5.1), so the parameter says nothing.
    line.remove_param("CHARSET");
    // Thunderbird's VALUE=URL is no value type in either version (RFC 6350 §5.2, RFC 2426
    // §4); the properties it puts it on are URIs by default anyway.
    if V4_URI_DEFAULT.iter().any(|n| line.is(n)) && line.param_has("VALUE", "URL") {
        line.remove_param("VALUE");
    }
    match to {
        Version::V4 => pref_v4(line),
        Version::V3 => pref_v3(line),
    }
    bare_to_type(line);
}

/// 3.0 `TYPE=PREF` (RFC 2426 §3.3.1) and 2.1's bare `PREF` become `PREF=1` (RFC 6350 §5.3).
fn pref_v4(line: &mut Line) {
    let bare = |p: &Param| p.is("PREF") && p.values.is_none();
    if !(line.params.iter().any(bare) || line.param_has("TYPE", "PREF")) {
        return;
    }
    line.params.retain(|p| !bare(p));
    line.retain_param_values("TYPE", |v| !v.eq_ignore_ascii_case("PREF"));
    if !line.has_param("PREF") {
        line.params.push(Param::new("PREF", &["1"]));
    }
}

/// `PREF=1` becomes `TYPE=PREF`; other ranks have no 3.0 form and are dropped (as
/// sabre/vobject does).
fn pref_v3(line: &mut Line) {
    if !line.has_param("PREF") {
        return;
    }
    let preferred = line
        .params
        .iter()
        .filter(|p| p.is("PREF"))
        .any(|p| p.values.is_none() || p.unquoted().any(|v| v.trim() == "1"));
    line.remove_param("PREF");
    if preferred && !line.param_has("TYPE", "PREF") {
        line.add_param_value("TYPE", "PREF");
    }
}

/// vCard 2.1 bare parameters (`EMAIL;INTERNET:`) are TYPE values (vCard 2.1 §2.4.1); calcard
/// passes the ones it does not know through bare, which neither 3.0 nor 4.0 allows.
fn bare_to_type(line: &mut Line) {
    let mut bare = Vec::new();
    line.params.retain(|p| {
        if p.values.is_none() {
            bare.push(p.name.clone());
        }
        p.values.is_some()
    });
    if bare.is_empty() {
        return;
    }
    // One pass, so a line with thousands of bare parameters stays linear.
    match line.params.iter_mut().find(|p| p.is("TYPE")) {
        Some(Param { values: Some(values), .. }) => values.extend(bare),
        _ => line.params.push(Param { name: "TYPE".into(), values: Some(bare) }),
    }
}

fn fix_media(line: &mut Line, to: Version) {
    if !MEDIA.iter().any(|m| line.is(m)) {
        return;
    }
    match to {
        Version::V4 => media_v4(line),
        Version::V3 => media_v3(line),
    }
}

/// In 4.0 the media type lives in the `data:` URI or MEDIATYPE (RFC 6350 §5.7, §6.2.4), and
/// TYPE keeps only work/home. VALUE=uri is the default; Thunderbird's VALUE=URL is no type.
fn media_v4(line: &mut Line) {
    let token = line
        .params
        .iter()
        .filter(|p| p.is("TYPE"))
        .flat_map(|p| p.unquoted())
        .find(|v| !is_v4_media_type_param(v))
        .map(str::to_string);
    line.retain_param_values("TYPE", is_v4_media_type_param);
    let is_data = strip_prefix_ci(&line.value, "data:").is_some();
    if let Some(token) = token
        && !is_data
        && !line.has_param("MEDIATYPE")
        && let Some(media_type) = media_type_of(&line.name, &token)
    {
        line.params.push(Param::new("MEDIATYPE", &[&media_type]));
    }
    if line.param_has("VALUE", "uri") || line.param_has("VALUE", "url") {
        line.remove_param("VALUE");
    }
}

/// 3.0 media (RFC 2426 §3.1.4) is binary by default: inline `data:` becomes `ENCODING=b` with
/// a TYPE token, and a link needs `VALUE=uri`.
fn media_v3(line: &mut Line) {
    if line.has_param("ENCODING") || line.value.is_empty() {
        return;
    }
    let media_type = line.param("MEDIATYPE").and_then(|p| p.unquoted().next()).map(str::to_string);
    line.remove_param("VALUE");
    line.remove_param("MEDIATYPE");
    if let Some((inline_type, payload)) = split_data_uri(&line.value) {
        let token = legacy_token(inline_type);
        line.value = payload.to_string();
        line.params.push(Param::new("ENCODING", &["b"]));
        if let Some(token) = token {
            line.add_param_value("TYPE", &token);
        }
        return;
    }
    line.params.push(Param::new("VALUE", &["uri"]));
    if let Some(token) = media_type.as_deref().and_then(legacy_token) {
        line.add_param_value("TYPE", &token);
    }
}

/// `data:<type>[;…];base64,<payload>` → (type, payload); other data: URIs are not split.
fn split_data_uri(value: &str) -> Option<(&str, &str)> {
    let rest = strip_prefix_ci(value, "data:")?;
    let comma = rest.find(',')?;
    let meta = rest[..comma].trim_end_matches('\\');
    let is_base64 = meta.rsplit(';').next().is_some_and(|last| last.eq_ignore_ascii_case("base64"));
    let media_type = meta.split(';').next().unwrap_or_default();
    is_base64.then(|| (media_type, &rest[comma + 1..]))
}

/// A date without a year: 4.0 writes `--MMDD` (RFC 6350 §4.3.1); 3.0 dates need a year
/// (RFC 2426 §3.1.5), so Apple's convention is used: year 1604 and `X-APPLE-OMIT-YEAR=1604`.
fn fix_year_less(line: &mut Line, to: Version) {
    if !(line.is("BDAY") || line.is("ANNIVERSARY") || line.is("X-ABDATE")) {
        return;
    }
    match to {
        Version::V3 => {
            let Some(rest) = line.value.strip_prefix("--") else {
                return;
            };
            let digits: String = rest.chars().filter(|c| *c != '-').collect();
            if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
                line.value = format!("{NO_YEAR}-{}-{}", &digits[..2], &digits[2..]);
                line.params.push(Param::new("X-APPLE-OMIT-YEAR", &[NO_YEAR]));
            }
        }
        Version::V4 => {
            let Some(year) =
                line.param("X-APPLE-OMIT-YEAR").and_then(|p| p.unquoted().next()).map(str::to_string)
            else {
                return;
            };
            line.remove_param("X-APPLE-OMIT-YEAR");
            if let Some(rest) = line.value.strip_prefix(year.as_str())
                && rest.len() >= 4
            {
                line.value = format!("--{rest}");
            }
        }
    }
}

/// FN is required in both versions (RFC 6350 §6.2.1, RFC 2426 §3.1.1) but not in 2.1, and N
/// is required in 3.0 (RFC 2426 §3.1.2): whichever is missing is derived from the other.
fn ensure_names(lines: &mut Vec<Line>, to: Version) {
    if !lines.iter().any(|l| l.is("FN")) {
        let fname = fn_from(lines);
        lines.insert(0, Line::new(None, "FN", escape_text(&fname)));
    }
    if to == Version::V3 && !lines.iter().any(|l| l.is("N")) {
        let at = lines.iter().position(|l| l.is("FN")).map_or(0, |i| i + 1);
        let n = n_from_fn(lines);
        lines.insert(at, Line::new(None, "N", n));
    }
}

/// FN from N (prefix given additional family suffix), else ORG, else EMAIL.
fn fn_from(lines: &[Line]) -> String {
    let first = |name: &str| lines.iter().find(|l| l.is(name)).map(|l| components(&l.value));
    if let Some(n) = first("N") {
        let order = [3, 1, 2, 0, 4];
        let parts: Vec<&str> =
            order.iter().filter_map(|&i| n.get(i).map(|s| s.trim())).filter(|s| !s.is_empty()).collect();
        if !parts.is_empty() {
            return parts.join(" ");
        }
    }
    first("ORG").or_else(|| first("EMAIL")).and_then(|c| c.into_iter().next()).unwrap_or_default()
}

/// N from FN: the last word is the family name, the rest the given names. A group or company
/// card (Apple's markers) keeps the whole FN as family name, as Apple writes it.
fn n_from_fn(lines: &[Line]) -> String {
    let fname = lines.iter().find(|l| l.is("FN")).map(|l| unescape_text(&l.value)).unwrap_or_default();
    let not_a_person = lines.iter().any(|l| l.is("X-ADDRESSBOOKSERVER-KIND") || l.is("X-ABSHOWAS"));
    let words: Vec<&str> = fname.split_whitespace().collect();
    let (family, given) = match words.split_last() {
        Some((last, rest)) if !not_a_person && !rest.is_empty() => (last.to_string(), rest.join(" ")),
        _ => (fname.trim().to_string(), String::new()),
    };
    format!("{};{};;;", escape_text(&family), escape_text(&given))
}

/// Splits a structured value at unescaped `;` and unescapes each component (RFC 6350 §3.4);
/// list commas become spaces.
fn components(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => current.push('\n'),
                Some(other) => current.push(other),
                None => {}
            },
            ';' => out.push(std::mem::take(&mut current)),
            ',' => current.push(' '),
            _ => current.push(c),
        }
    }
    out.push(current);
    out
}

/// Undoes RFC 6350 §3.4 text escaping.
fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// A value written as X- text, read as a URI: only `\,`, `\;` and `\\` are undone. A `\n`
/// stays as it is: a URI holds no line break, and a raw one would break the content line.
fn unescape_uri(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next @ (',' | ';' | '\\')) = chars.peek().copied()
        {
            out.push(next);
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// RFC 6350 §3.4 text escaping.
fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | ',' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_to_basic_format() {
        assert_eq!(date_v4("2009-08-08"), "20090808");
        assert_eq!(date_v4("--08-08"), "--0808");
        assert_eq!(date_v4("1985-04"), "1985-04");
        assert_eq!(date_v4("2009-08-08T14:30:00-05:00"), "20090808T143000-0500");
    }

    #[test]
    fn data_uri_split() {
        assert_eq!(split_data_uri("data:image/png;base64,iVBO"), Some(("image/png", "iVBO")));
        assert_eq!(split_data_uri("data:image/png;base64\\,iVBO"), Some(("image/png", "iVBO")));
        assert_eq!(split_data_uri("data:text/plain,hello"), None);
        assert_eq!(split_data_uri("http://x/y.png"), None);
    }

    #[test]
    fn text_escaping_round_trips() {
        let text = "a,b;c\\d\ne";
        assert_eq!(unescape_text(&escape_text(text)), text);
        assert_eq!(components("Doe;John;Philip\\, Jr,Paul;;"), ["Doe", "John", "Philip, Jr Paul", "", ""]);
    }

    #[test]
    fn media_tokens() {
        assert_eq!(legacy_token("image/jpeg").as_deref(), Some("JPEG"));
        assert_eq!(legacy_token("application/pgp-keys").as_deref(), Some("PGP"));
        assert_eq!(legacy_token("text/plain"), None);
        assert_eq!(media_type_of("PHOTO", "JPG").as_deref(), Some("image/jpeg"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
    }
}
