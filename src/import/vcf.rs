//! vCard files holding many cards (Apple, Thunderbird, Outlook, Gmail exports; vCard 2.1,
//! 3.0 and 4.0): split into one card per item, each kept as exported (2.1 QUOTED-PRINTABLE
//! and CHARSET included, which the vcard module reads), with two repairs that exports need:
//! a card without UID gets one derived from its content (RFC 6352 §5.1 requires it; the
//! derivation keeps re-imports idempotent), and a 3.0/4.0 card without FN gets one built from
//! N, ORG or EMAIL (RFC 6350 §6.2.1).

use super::{Entry, Item, Parsed, content_uid, property_name};

pub fn split(data: &[u8]) -> Parsed {
    let decoded = super::csv::encoding::decode(data);
    let mut parsed = Parsed { format: format!("vCard ({})", decoded.encoding), ..Default::default() };
    let mut card: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut stray: Option<usize> = None;
    for (i, raw) in decoded.text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        let is_begin = trimmed.eq_ignore_ascii_case("BEGIN:VCARD");
        if depth == 0 {
            if is_begin {
                if let Some(at) = stray.take() {
                    parsed.skipped.push(Entry::skipped(at, "text outside BEGIN:VCARD … END:VCARD"));
                }
                start = line_no;
                card.clear();
            } else {
                if !trimmed.is_empty() && stray.is_none() {
                    stray = Some(line_no);
                }
                continue;
            }
        }
        card.push(line);
        // AGENT cards of 2.1 nest whole vCards; only the outermost END closes the item.
        if is_begin {
            depth += 1;
        } else if trimmed.eq_ignore_ascii_case("END:VCARD") {
            depth -= 1;
            if depth == 0 {
                parsed.items.push(Item { line: start, body: repair(&card).into_bytes() });
            }
        }
    }
    if depth > 0 {
        parsed.skipped.push(Entry::skipped(start, "the card has no END:VCARD (the file is cut short?)"));
    }
    if let Some(at) = stray {
        parsed.skipped.push(Entry::skipped(at, "text outside BEGIN:VCARD … END:VCARD"));
    }
    parsed
}

/// The card with CRLF line ends, plus UID and FN when they are missing.
fn repair(lines: &[&str]) -> String {
    let logical = unfold(lines);
    let names: Vec<String> = logical.iter().map(|l| property_name(l)).collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let version = logical
        .iter()
        .find(|l| property_name(l) == "VERSION")
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let mut extra = Vec::new();
    if !has("FN")
        && version != "2.1"
        && let Some(name) = fallback_name(&logical)
    {
        extra.push(format!("FN:{}", escape(&name)));
    }
    if !has("UID") {
        extra.push(format!("UID:{}", content_uid("import", &lines.join("\n"))));
    }
    let mut out = String::new();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if i == last {
            for e in &extra {
                out.push_str(e);
                out.push_str("\r\n");
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// Logical lines (RFC 6350 §3.2 unfolding; 2.1 QUOTED-PRINTABLE soft breaks are left alone,
/// only names and plain values are read here).
fn unfold(lines: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        match (line.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => out.push((*line).to_owned()),
        }
    }
    out
}

/// A display name from N (`Family;Given;…`), else ORG, else the first EMAIL.
fn fallback_name(logical: &[String]) -> Option<String> {
    let value = |name: &str| {
        logical
            .iter()
            .find(|l| property_name(l) == name)
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim())
    };
    if let Some(n) = value("N") {
        let parts: Vec<&str> = n.split(';').map(str::trim).collect();
        let ordered = [parts.get(3), parts.get(1), parts.get(2), parts.first(), parts.get(4)];
        let name =
            ordered.into_iter().flatten().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
        if !name.is_empty() {
            return Some(name.replace("\\,", ",").replace("\\;", ";"));
        }
    }
    ["ORG", "EMAIL", "TEL"]
        .into_iter()
        .filter_map(value)
        .map(|v| v.split(';').next().unwrap_or("").replace("\\,", ","))
        .find(|v| !v.is_empty())
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace(',', "\\,").replace(';', "\\;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(p: &Parsed) -> Vec<String> {
        p.items.iter().map(|i| String::from_utf8(i.body.clone()).unwrap()).collect()
    }

    #[test]
    fn splits_cards_and_reports_junk() {
        let file = "BEGIN:VCARD\nVERSION:3.0\nFN:A\nUID:a\nEND:VCARD\njunk\nBEGIN:VCARD\nVERSION:4.0\n\
                    FN:B\nUID:b\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:C\n";
        let p = split(file.as_bytes());
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[1].line, 7);
        assert!(bodies(&p)[0].starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"));
        let reasons: Vec<_> = p.skipped.iter().map(|e| (e.line, e.reason.clone().unwrap())).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].0, 6);
        assert_eq!(reasons[1].0, 12);
    }

    #[test]
    fn adds_a_stable_uid_and_a_name() {
        let file =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Müller;Jürgen;;Dr.;\r\nEMAIL:j@example.org\r\nEND:VCARD\r\n";
        let first = bodies(&split(file.as_bytes()))[0].clone();
        assert!(first.contains("FN:Dr. Jürgen Müller\r\n"), "{first}");
        assert!(first.contains("UID:import-"), "{first}");
        assert_eq!(first, bodies(&split(file.as_bytes()))[0], "the derived UID is stable");
        crate::vcard::parse(first.as_bytes()).expect("the repaired card is valid");
    }

    #[test]
    fn outlook_21_card_is_kept_and_valid() {
        let p = split(include_bytes!("../../fixtures/vcard/2.1/outlook.vcf"));
        assert_eq!(p.items.len(), 1);
        let card = crate::vcard::parse(&p.items[0].body).expect("valid");
        assert!(card.is_v21());
    }
}
