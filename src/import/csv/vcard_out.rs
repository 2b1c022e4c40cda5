//! A contact as a vCard 4.0 (RFC 6350) the address book accepts: escaped text values
//! (§3.4), TYPE parameters in lower case, lines folded at 75 octets with CRLF (§3.2).

use super::contact::{Contact, Typed};

pub fn write(c: &Contact, uid: &str, display_name: &str) -> String {
    let mut out = String::from("BEGIN:VCARD\r\nVERSION:4.0\r\n");
    line(&mut out, "UID", &[], &text(uid));
    line(&mut out, "FN", &[], &text(display_name));
    let n = [&c.family, &c.given, &c.middle, &c.prefix, &c.suffix].map(|p| component(p)).join(";");
    line(&mut out, "N", &[], &n);
    if !c.nickname.is_empty() {
        line(&mut out, "NICKNAME", &[], &text(&c.nickname));
    }
    for e in &c.emails {
        typed(&mut out, "EMAIL", e);
    }
    for p in &c.phones {
        typed(&mut out, "TEL", p);
    }
    for a in &c.addresses {
        let value = [&a.po_box, &a.extended, &a.street, &a.city, &a.region, &a.code, &a.country]
            .map(|p| component(p))
            .join(";");
        line(&mut out, "ADR", &params(&a.types, false), &value);
    }
    if !c.org.is_empty() || !c.department.is_empty() {
        let value = if c.department.is_empty() {
            component(&c.org)
        } else {
            format!("{};{}", component(&c.org), component(&c.department))
        };
        line(&mut out, "ORG", &[], &value);
    }
    if !c.title.is_empty() {
        line(&mut out, "TITLE", &[], &text(&c.title));
    }
    if !c.birthday.is_empty() {
        line(&mut out, "BDAY", &[], &c.birthday);
    }
    if !c.anniversary.is_empty() {
        line(&mut out, "ANNIVERSARY", &[], &c.anniversary);
    }
    for u in &c.urls {
        typed(&mut out, "URL", u);
    }
    if !c.categories.is_empty() {
        let list: Vec<String> = c.categories.iter().map(|s| text(s)).collect();
        line(&mut out, "CATEGORIES", &[], &list.join(","));
    }
    if !c.note.is_empty() {
        line(&mut out, "NOTE", &[], &text(&c.note));
    }
    out.push_str("END:VCARD\r\n");
    out
}

fn typed(out: &mut String, name: &str, t: &Typed) {
    // URL values are URIs (§6.7.8): no text escaping, but control characters (line breaks,
    // NUL) are never valid in one and would break the content line (fuzz finding).
    let value =
        if name == "URL" { t.value.chars().filter(|c| !c.is_control()).collect() } else { text(&t.value) };
    line(out, name, &params(&t.types, t.pref), &value);
}

fn params(types: &[&str], pref: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !types.is_empty() {
        out.push(if types.len() == 1 {
            format!("TYPE={}", types[0])
        } else {
            format!("TYPE=\"{}\"", types.join(","))
        });
    }
    if pref {
        out.push("PREF=1".to_owned());
    }
    out
}

/// RFC 6350 §3.4 text escaping; CR is dropped (a CRLF in a cell is one line break).
pub fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A component of a structured value (N, ADR, ORG): escaped the same way.
fn component(value: &str) -> String {
    text(value)
}

/// Writes `NAME;PARAMS:value`, folded at 75 octets without splitting a UTF-8 sequence.
fn line(out: &mut String, name: &str, params: &[String], value: &str) {
    let mut logical = String::from(name);
    for p in params {
        logical.push(';');
        logical.push_str(p);
    }
    logical.push(':');
    logical.push_str(value);
    let mut width = 0;
    for ch in logical.chars() {
        let len = ch.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
}
