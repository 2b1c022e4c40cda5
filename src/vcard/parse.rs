//! Strict parsing of one address object resource.
//!
//! calcard is lenient: it drops lines it cannot read, closes a card that never ends and stops
//! after the first card (DEPENDENCIES.md §2). So the body is lexed here first, and calcard only
//! sees text that already passed: one `BEGIN:VCARD`…`END:VCARD`, every line a content line.

use super::line::{Line, clip};
use super::{Card, VcardError, Version};
use calcard::vcard::{VCard, VCardEntry, VCardProperty, VCardValue};
use calcard::{Entry, Parser};

/// A logical (unfolded) line with the number of the physical line it starts on.
struct Lexed {
    number: usize,
    text: String,
    line: Line,
}

/// How a logical line continues beyond what RFC 6350 §3.2 folding covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Plain,
    /// vCard 2.1 / RFC 2045 §6.7: a trailing `=` is a soft line break.
    QuotedPrintable,
    /// vCard 2.1 writes base64 lines without the folding space; calcard reads them too.
    Base64,
}

/// A logical line being assembled from physical lines.
struct Pending {
    number: usize,
    bytes: Vec<u8>,
    /// Scan state for finding the `:` that ends the name and parameters.
    scanned: usize,
    in_quote: bool,
    escaped: bool,
    encoding: Option<Encoding>,
}

/// Parses one address object resource, stricter than calcard's lenient mode. Refused, with a
/// message naming the line or rule:
/// * bytes that are not UTF-8 once unfolded (RFC 6350 §3.1), control characters but HTAB;
///   2.1/3.0 `QUOTED-PRINTABLE` values are fine in any CHARSET calcard can decode (Outlook);
/// * a body that does not start with `BEGIN:VCARD`, lacks `END:VCARD`, holds a second card
///   (RFC 6352 §5.1: one vCard per resource) or anything after the card;
/// * any line that is not a content line (calcard would drop it silently);
/// * a missing or repeated VERSION, or one other than 2.1, 3.0, 4.0;
/// * no FN in 3.0/4.0 (RFC 2426 §3.1.1, RFC 6350 §6.2.1), no or an empty UID (RFC 6352 §5.1);
/// * a text property whose QUOTED-PRINTABLE bytes do not decode in the declared CHARSET.
pub fn parse(body: &[u8]) -> Result<Card, VcardError> {
    // A UTF-8 byte order mark is harmless; some Windows exporters write one.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let lines = lex(body)?;
    check_frame(&lines)?;
    let (version, legacy_21) = check_version(&lines)?;
    let vcard = run_calcard(&lines)?;
    let uid = check_required(&vcard, version, legacy_21)?;
    Ok(Card { vcard, version, legacy_21, uid })
}

/// Unfolds the body and lexes each logical line; blank lines are skipped.
fn lex(body: &[u8]) -> Result<Vec<Lexed>, VcardError> {
    let mut out = Vec::new();
    for pending in unfold(body) {
        if pending.bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = pending.number;
        // RFC 6350 §3.1 / RFC 6352 §5.1: vCard text is UTF-8. Checked after unfolding because
        // folding is by octets and may split a multi-octet character (RFC 6350 §3.2).
        let text = String::from_utf8(pending.bytes).map_err(|e| {
            VcardError::Syntax(format!(
                "line {number}: not valid UTF-8 at octet {} (RFC 6350 §3.1)",
                e.utf8_error().valid_up_to() + 1
            ))
        })?;
        if let Some(c) = text.chars().find(|c| c.is_ascii_control() && *c != '\t') {
            // RFC 6350 §3.3 / RFC 2426 §4 allow no control character but HTAB in a line; a bare
            // CR or NUL would also make the card unusable inside an XML REPORT response.
            return Err(VcardError::Syntax(format!(
                "line {number}: control character U+{:04X} (only HTAB is allowed)",
                c as u32
            )));
        }
        let line = Line::parse(&text)
            .map_err(|e| VcardError::Syntax(format!("line {number}: {e}: '{}'", clip(&text))))?;
        out.push(Lexed { number, text, line });
    }
    if out.is_empty() {
        return Err(VcardError::Syntax("empty body, expected BEGIN:VCARD".into()));
    }
    Ok(out)
}

/// Joins physical lines into logical ones. Linear in the body size.
fn unfold(body: &[u8]) -> Vec<Pending> {
    let mut out: Vec<Pending> = Vec::new();
    let mut open = false;
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let physical = raw.strip_suffix(b"\r").unwrap_or(raw);
        if open
            && let Some(current) = out.last_mut()
            && current.continue_with(physical)
        {
            continue;
        }
        open = !physical.is_empty();
        if open {
            out.push(Pending::new(i + 1, physical));
        }
    }
    out
}

impl Pending {
    fn new(number: usize, first: &[u8]) -> Pending {
        Pending { number, bytes: first.to_vec(), scanned: 0, in_quote: false, escaped: false, encoding: None }
    }

    /// Appends `physical` if it continues this logical line; false if it starts a new one.
    fn continue_with(&mut self, physical: &[u8]) -> bool {
        let encoding = self.encoding();
        if encoding == Encoding::QuotedPrintable && self.bytes.last() == Some(&b'=') {
            // Soft line break: drop the '=' and keep the next line verbatim (RFC 2045 §6.7).
            self.bytes.pop();
            self.bytes.extend_from_slice(physical);
            return true;
        }
        match physical.first() {
            Some(b' ' | b'\t') if encoding == Encoding::Base64 => {
                // 2.1 indents base64 freely; whitespace is never part of base64 data.
                self.bytes.extend_from_slice(physical.trim_ascii_start());
                true
            }
            Some(b' ' | b'\t') => {
                // RFC 6350 §3.2: remove CRLF and exactly one whitespace octet.
                self.bytes.extend_from_slice(&physical[1..]);
                true
            }
            Some(_) if encoding == Encoding::Base64 && is_base64_line(physical) => {
                self.bytes.extend_from_slice(physical);
                true
            }
            _ => false,
        }
    }

    /// The ENCODING of this line, once its name and parameters are complete. The scan resumes
    /// where it stopped, so a huge line is scanned once however many pieces it has.
    fn encoding(&mut self) -> Encoding {
        if let Some(encoding) = self.encoding {
            return encoding;
        }
        while let Some(&b) = self.bytes.get(self.scanned) {
            self.scanned += 1;
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.in_quote = !self.in_quote,
                b':' if !self.in_quote => {
                    let encoding = encoding_of(&self.bytes[..self.scanned - 1]);
                    self.encoding = Some(encoding);
                    return encoding;
                }
                _ => {}
            }
        }
        Encoding::Plain
    }
}

/// Reads ENCODING from a line's name and parameters, including 2.1's bare
/// `QUOTED-PRINTABLE` / `BASE64` parameters (vCard 2.1 §2.1.3).
fn encoding_of(head: &[u8]) -> Encoding {
    let mut encoding = Encoding::Plain;
    for param in head.split(|&b| b == b';').skip(1) {
        let value = match param.iter().position(|&b| b == b'=') {
            Some(eq) if param[..eq].trim_ascii().eq_ignore_ascii_case(b"ENCODING") => &param[eq + 1..],
            Some(_) => continue,
            None => param,
        };
        match value.trim_ascii().to_ascii_uppercase().as_slice() {
            b"QUOTED-PRINTABLE" => encoding = Encoding::QuotedPrintable,
            b"B" | b"BASE64" => encoding = Encoding::Base64,
            _ => {}
        }
    }
    encoding
}

fn is_base64_line(line: &[u8]) -> bool {
    line.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn is_marker(line: &Line, name: &str) -> bool {
    line.group.is_none() && line.is(name)
}

fn is_vcard(line: &Line) -> bool {
    line.value.trim().eq_ignore_ascii_case("VCARD")
}

/// One card from the first line to the last (RFC 6350 §6.1.1, RFC 6352 §5.1).
fn check_frame(lines: &[Lexed]) -> Result<(), VcardError> {
    let syntax = |n: usize, msg: &str| Err(VcardError::Syntax(format!("line {n}: {msg}")));
    let Some((first, rest)) = lines.split_first() else {
        return Err(VcardError::Syntax("empty body, expected BEGIN:VCARD".into()));
    };
    if !(is_marker(&first.line, "BEGIN") && is_vcard(&first.line)) {
        return syntax(first.number, "the body must start with BEGIN:VCARD");
    }
    let mut end = None;
    for (i, l) in rest.iter().enumerate() {
        if is_marker(&l.line, "BEGIN") {
            return syntax(l.number, "BEGIN inside a vCard (is END:VCARD missing?)");
        }
        if is_marker(&l.line, "END") {
            if !is_vcard(&l.line) {
                return syntax(l.number, "END does not match BEGIN:VCARD");
            }
            end = Some(i);
            break;
        }
    }
    let Some(end) = end else {
        return Err(VcardError::Syntax("missing END:VCARD".into()));
    };
    match rest.get(end + 1) {
        None => Ok(()),
        Some(l) if is_marker(&l.line, "BEGIN") => Err(VcardError::Invalid(format!(
            "line {}: a second vCard starts here; RFC 6352 §5.1 allows one vCard per \
             address object resource",
            l.number
        ))),
        Some(l) => syntax(l.number, "content after END:VCARD"),
    }
}

/// VERSION is required (RFC 6350 §6.7.9, RFC 2426 §3.6.9); davit reads 2.1, 3.0 and 4.0.
fn check_version(lines: &[Lexed]) -> Result<(Version, bool), VcardError> {
    let mut versions = lines.iter().filter(|l| l.line.is("VERSION"));
    let Some(first) = versions.next() else {
        return Err(VcardError::Invalid("missing VERSION (RFC 6350 §6.7.9, RFC 2426 §3.6.9)".into()));
    };
    if let Some(second) = versions.next() {
        return Err(VcardError::Invalid(format!("line {}: more than one VERSION", second.number)));
    }
    match first.line.value.trim() {
        "4.0" => Ok((Version::V4, false)),
        "3.0" => Ok((Version::V3, false)),
        "2.1" => Ok((Version::V3, true)),
        other => Err(VcardError::Invalid(format!(
            "line {}: unsupported VERSION:{}; davit accepts 2.1, 3.0 and 4.0",
            first.number,
            clip(other)
        ))),
    }
}

/// Hands the checked lines to calcard. Lines are passed unfolded, so calcard never has to
/// unfold across a split UTF-8 sequence (it takes `&str`).
fn run_calcard(lines: &[Lexed]) -> Result<VCard, VcardError> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.text.len() + 2).sum());
    for l in lines {
        push_for_calcard(&mut text, l);
        text.push_str("\r\n");
    }
    let mut parser = Parser::new(&text);
    let vcard = match parser.entry() {
        Entry::VCard(vcard) => vcard,
        other => return Err(VcardError::Syntax(format!("unreadable vCard: {other:?}"))),
    };
    // Every line between BEGIN and END must have become an entry: calcard skips what it cannot
    // read, and a skipped line is an error here, not silent data loss.
    if vcard.entries.len() + 2 != lines.len() || !matches!(parser.entry(), Entry::Eof) {
        return Err(VcardError::Syntax("a line could not be read as a vCard property".into()));
    }
    Ok(vcard)
}

/// calcard decodes `ENCODING=QUOTED-PRINTABLE` but not 2.1's bare `QUOTED-PRINTABLE`
/// parameter, so that one is spelled out; every other line goes through untouched.
fn push_for_calcard(text: &mut String, l: &Lexed) {
    let bare_qp = |p: &super::line::Param| p.values.is_none() && p.is("QUOTED-PRINTABLE");
    if !l.line.params.iter().any(bare_qp) {
        text.push_str(&l.text);
        return;
    }
    let mut line = l.line.clone();
    for param in line.params.iter_mut().filter(|p| bare_qp(p)) {
        *param = super::line::Param::new("ENCODING", &["QUOTED-PRINTABLE"]);
    }
    text.push_str(&line.to_unfolded());
}

/// The rules calcard does not check. Returns the UID.
fn check_required(vcard: &VCard, version: Version, legacy_21: bool) -> Result<String, VcardError> {
    // FN is required in 3.0 (RFC 2426 §3.1.1) and 4.0 (RFC 6350 §6.2.1), not in 2.1.
    if !legacy_21 && !vcard.entries.iter().any(|e| e.name == VCardProperty::Fn) {
        return Err(VcardError::Invalid(format!(
            "missing FN, required in vCard {} (RFC 6350 §6.2.1, RFC 2426 §3.1.1)",
            version.as_str()
        )));
    }
    check_decoded(vcard)?;
    let mut uids = vcard.entries.iter().filter(|e| e.name == VCardProperty::Uid);
    let uid = uids
        .next()
        .and_then(|e| e.values.first())
        .and_then(VCardValue::as_text)
        .map(str::trim)
        .unwrap_or_default();
    if uid.is_empty() {
        return Err(VcardError::Invalid(
            "missing UID; RFC 6352 §5.1 requires one in every address object resource".into(),
        ));
    }
    if uids.next().is_some() {
        return Err(VcardError::Invalid("more than one UID".into()));
    }
    // An escape such as `\r` decodes to a control character that no writer puts back the same
    // way (`\r` comes out as `\n`), so the card would change its identity when converted.
    if uid.chars().any(char::is_control) {
        return Err(VcardError::Invalid("the UID contains a control character".into()));
    }
    Ok(uid.to_string())
}

/// A text property whose QUOTED-PRINTABLE bytes calcard could not decode in the declared
/// CHARSET comes back as binary; storing it would serve garbage, so it is refused.
fn check_decoded(vcard: &VCard) -> Result<(), VcardError> {
    let undecoded = |e: &&VCardEntry| {
        is_text_property(&e.name) && e.values.iter().any(|v| matches!(v, VCardValue::Binary(_)))
    };
    match vcard.entries.iter().find(undecoded) {
        Some(e) => Err(VcardError::Invalid(format!(
            "{} could not be decoded to UTF-8 text (unknown CHARSET?)",
            e.name.as_str()
        ))),
        None => Ok(()),
    }
}

fn is_text_property(name: &VCardProperty) -> bool {
    use VCardProperty as P;
    match name {
        P::Fn | P::N | P::Nickname | P::Adr | P::Tel | P::Email | P::Title | P::Role => true,
        P::Org | P::Categories | P::Note => true,
        P::Other(name) => name.eq_ignore_ascii_case("LABEL"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(lines: &[&str]) -> Vec<u8> {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n");
        s.into_bytes()
    }

    #[test]
    fn unfolds_by_octets_inside_a_utf8_sequence() {
        // "é" is C3 A9; the fold falls between the two octets.
        let mut body = b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ren\xC3\r\n \xA9e\r\n".to_vec();
        body.extend_from_slice(b"UID:x\r\nEND:VCARD\r\n");
        let card = parse(&body).unwrap();
        let fname = card.vcard.property(&VCardProperty::Fn).unwrap();
        assert_eq!(fname.values[0].as_text(), Some("Renée"));
    }

    #[test]
    fn bare_quoted_printable_parameter_is_decoded() {
        let body = card(&[
            "BEGIN:VCARD",
            "VERSION:2.1",
            "N:X;Y",
            "NOTE;QUOTED-PRINTABLE;CHARSET=utf-8:Gr=C3=BC=",
            "=C3=9Fe",
            "UID:1",
            "END:VCARD",
        ]);
        let card = parse(&body).unwrap();
        let note = card.vcard.property(&VCardProperty::Note).unwrap();
        assert_eq!(note.values[0].as_text(), Some("Grüße"));
    }

    #[test]
    fn v21_base64_continuation_lines() {
        let body = card(&[
            "BEGIN:VCARD",
            "VERSION:2.1",
            "N:X;Y",
            "PHOTO;TYPE=GIF;ENCODING=BASE64:",
            "    R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7",
            "",
            "UID:1",
            "END:VCARD",
        ]);
        let card = parse(&body).unwrap();
        let photo = card.vcard.property(&VCardProperty::Photo).unwrap();
        let data = photo.values[0].as_binary().unwrap();
        assert!(data.data.starts_with(b"GIF89a"));
    }

    #[test]
    fn rejects_unsupported_or_duplicate_version() {
        let body = card(&["BEGIN:VCARD", "VERSION:5.0", "FN:a", "UID:1", "END:VCARD"]);
        assert!(matches!(parse(&body), Err(VcardError::Invalid(m)) if m.contains("5.0")));
        let body = card(&["BEGIN:VCARD", "VERSION:3.0", "VERSION:4.0", "FN:a", "UID:1", "END:VCARD"]);
        assert!(matches!(parse(&body), Err(VcardError::Invalid(_))));
    }

    #[test]
    fn rejects_other_components_and_trailing_content() {
        let body = card(&["BEGIN:VCALENDAR", "VERSION:2.0", "END:VCALENDAR"]);
        assert!(matches!(parse(&body), Err(VcardError::Syntax(_))));
        let body = card(&["BEGIN:VCARD", "VERSION:4.0", "FN:a", "UID:1", "END:VCARD", "X:y"]);
        assert!(matches!(parse(&body), Err(VcardError::Syntax(m)) if m.contains("after END")));
        assert!(matches!(parse(b""), Err(VcardError::Syntax(_))));
    }

    #[test]
    fn rejects_empty_uid_and_undecodable_text() {
        let body = card(&["BEGIN:VCARD", "VERSION:4.0", "FN:a", "UID: ", "END:VCARD"]);
        assert!(matches!(parse(&body), Err(VcardError::Invalid(m)) if m.contains("UID")));
        let body = card(&[
            "BEGIN:VCARD",
            "VERSION:3.0",
            "FN;CHARSET=x-unknown;ENCODING=QUOTED-PRINTABLE:J=FCrgen",
            "UID:1",
            "END:VCARD",
        ]);
        assert!(matches!(parse(&body), Err(VcardError::Invalid(m)) if m.contains("FN")));
    }

    #[test]
    fn rejects_control_characters_and_bare_cr() {
        let body = card(&["BEGIN:VCARD", "VERSION:4.0", "FN:a\u{0}b", "UID:1", "END:VCARD"]);
        assert!(matches!(parse(&body), Err(VcardError::Syntax(m)) if m.contains("U+0000")));
        let body = b"BEGIN:VCARD\rVERSION:4.0\rFN:a\rUID:1\rEND:VCARD\r";
        assert!(matches!(parse(body), Err(VcardError::Syntax(m)) if m.contains("U+000D")));
    }
}
