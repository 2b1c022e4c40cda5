//! What addressbook-query filters see of a card (RFC 6352 §10.5), and the
//! i;unicode-casemap collation (RFC 4790 §9.3, RFC 5051) they compare with.

use super::fold_table::NFKD;
use super::{Card, CardIndex, Field, Kind, PropView};
use calcard::common::{IanaString, PartialDateTime};
use calcard::vcard::{
    VCardEntry, VCardKind, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty,
    VCardValue, VCardValueType,
};

/// Extracts the searchable fields. Each indexed property gives its exact [`PropView`] value,
/// so a prefilter on the index never rejects a card that the precise evaluation over
/// [`properties`] would accept. Extra forms only widen it: every item of a NICKNAME or
/// CATEGORIES list (so `equals` can hit one category) and a TEL without its `tel:` prefix (so
/// a number is found alike in 3.0 text and 4.0 URI form).
pub fn index(card: &Card) -> CardIndex {
    let mut fields = Vec::new();
    for entry in &card.vcard.entries {
        let Some(field) = field_of(entry) else {
            continue;
        };
        let whole = value_text(entry);
        let extra = extra_forms(field, entry, &whole);
        fields.push((field, whole));
        fields.extend(extra.into_iter().map(|value| (field, value)));
    }
    CardIndex { uid: card.uid.clone(), version: card.version, kind: kind_of(card), fields }
}

fn extra_forms(field: Field, entry: &VCardEntry, whole: &str) -> Vec<String> {
    match field {
        Field::Nickname | Field::Categories if entry.values.len() > 1 => entry
            .values
            .iter()
            .map(|value| {
                let mut text = String::new();
                push_value(&mut text, entry, value);
                text
            })
            .collect(),
        Field::Tel => strip_prefix_ci(whole, "tel:").map(|n| vec![n.to_string()]).unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl CardIndex {
    /// The fields folded with [`unicode_casemap`], ready for substring matching.
    pub fn folded(&self) -> Vec<(Field, String)> {
        self.fields.iter().map(|(field, value)| (*field, unicode_casemap(value))).collect()
    }

    /// The raw values of one field.
    pub fn values(&self, field: Field) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(move |(f, _)| *f == field).map(|(_, v)| v.as_str())
    }
}

fn field_of(entry: &VCardEntry) -> Option<Field> {
    Some(match &entry.name {
        VCardProperty::Fn => Field::Fn,
        VCardProperty::N => Field::N,
        VCardProperty::Email => Field::Email,
        VCardProperty::Tel => Field::Tel,
        VCardProperty::Nickname => Field::Nickname,
        VCardProperty::Org => Field::Org,
        VCardProperty::Categories => Field::Categories,
        VCardProperty::Uid => Field::Uid,
        VCardProperty::Member => Field::Member,
        // Apple's 3.0 spelling of MEMBER (RFC 6350 §6.6.5).
        VCardProperty::Other(name) if name.eq_ignore_ascii_case("X-ADDRESSBOOKSERVER-MEMBER") => {
            Field::Member
        }
        _ => return None,
    })
}

/// KIND (RFC 6350 §6.1.4), else Apple's X-ADDRESSBOOKSERVER-KIND, else X-ABShowAs:COMPANY
/// (Apple's way to mark an organisation in 3.0). Unknown kinds read as individual.
fn kind_of(card: &Card) -> Kind {
    let text_of = |name: &str| {
        card.vcard.entries.iter().find_map(|e| match &e.name {
            VCardProperty::Other(n) if n.eq_ignore_ascii_case(name) => {
                e.values.first().and_then(VCardValue::as_text)
            }
            _ => None,
        })
    };
    if let Some(kind) = card.vcard.property(&VCardProperty::Kind) {
        return match kind.values.first() {
            Some(VCardValue::Kind(kind)) => kind_from(*kind),
            Some(other) => other.as_text().map_or(Kind::Individual, kind_from_text),
            None => Kind::Individual,
        };
    }
    if let Some(kind) = text_of("X-ADDRESSBOOKSERVER-KIND") {
        return kind_from_text(kind);
    }
    match text_of("X-ABSHOWAS") {
        Some(show) if show.trim().eq_ignore_ascii_case("COMPANY") => Kind::Org,
        _ => Kind::Individual,
    }
}

fn kind_from(kind: VCardKind) -> Kind {
    match kind {
        VCardKind::Group => Kind::Group,
        VCardKind::Org => Kind::Org,
        VCardKind::Location => Kind::Location,
        _ => Kind::Individual,
    }
}

fn kind_from_text(text: &str) -> Kind {
    match text.trim().to_ascii_lowercase().as_str() {
        "group" => Kind::Group,
        "org" => Kind::Org,
        "location" => Kind::Location,
        _ => Kind::Individual,
    }
}

/// Every property except BEGIN/END, for prop-filter / param-filter / text-match.
pub fn properties(card: &Card) -> Vec<PropView> {
    card.vcard
        .entries
        .iter()
        .filter(|e| !matches!(e.name, VCardProperty::Begin | VCardProperty::End))
        .map(|entry| PropView {
            group: entry.group.clone(),
            name: entry.name.as_str().to_ascii_uppercase(),
            params: param_views(&entry.params),
            value: value_text(entry),
        })
        .collect()
}

/// Parameters grouped by upper-cased name, in order of first appearance. A vCard 2.1 bare
/// parameter (`TEL;WORK;PREF:`) is a TYPE value (vCard 2.1 §2.4.1), as 3.0 spells it.
fn param_views(params: &[VCardParameter]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for param in params {
        let (name, value) = match (&param.name, &param.value) {
            (VCardParameterName::Other(name), VCardParameterValue::Null) => {
                ("TYPE".to_string(), name.to_ascii_uppercase())
            }
            (VCardParameterName::Pref, VCardParameterValue::Null) => ("TYPE".to_string(), "PREF".to_string()),
            (name, value) => (name.as_str().to_ascii_uppercase(), value.clone().into_text().into_owned()),
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

/// The unescaped value text: structured components joined by `;` (RFC 6350 §6.2.2, §6.3.1,
/// §6.6.4), list items by `,`.
fn value_text(entry: &VCardEntry) -> String {
    use VCardProperty as P;
    let separator = match entry.name {
        P::N | P::Adr | P::Org | P::Gender | P::Clientpidmap => ";",
        _ => ",",
    };
    let mut out = String::new();
    for (i, value) in entry.values.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        push_value(&mut out, entry, value);
    }
    out
}

fn push_value(out: &mut String, entry: &VCardEntry, value: &VCardValue) {
    match value {
        VCardValue::Text(text) => out.push_str(text),
        VCardValue::Component(items) => out.push_str(&items.join(",")),
        VCardValue::Integer(i) => out.push_str(&i.to_string()),
        VCardValue::Float(f) => out.push_str(&f.to_string()),
        VCardValue::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        VCardValue::PartialDateTime(dt) => push_date(out, entry, dt),
        // A data: URI, as 4.0 writes it (RFC 6350 §6.2.4).
        VCardValue::Binary(data) => out.push_str(&data.to_unwrapped_string()),
        VCardValue::Sex(sex) => out.push_str(sex.as_str()),
        VCardValue::GramGender(g) => out.push_str(g.as_str()),
        VCardValue::Kind(kind) => out.push_str(kind.as_str()),
    }
}

/// Dates in their vCard 4.0 form (RFC 6350 §4.3), whatever version the card is in.
fn push_date(out: &mut String, entry: &VCardEntry, dt: &PartialDateTime) {
    let declared = entry.params.iter().find_map(|p| match (&p.name, &p.value) {
        (VCardParameterName::Value, VCardParameterValue::ValueType(t)) => Some(*t),
        _ => None,
    });
    let format = declared.unwrap_or(match entry.name {
        VCardProperty::Rev | VCardProperty::Created => VCardValueType::Timestamp,
        VCardProperty::Tz => VCardValueType::UtcOffset,
        _ => VCardValueType::DateAndOrTime,
    });
    // Writing to a String cannot fail.
    let _ = dt.format_as_vcard(out, &format);
}

pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => s.get(prefix.len()..),
        _ => None,
    }
}

/// i;unicode-casemap (RFC 4790 §9.3, defined by RFC 5051 §2): folds `s` so that two strings
/// match iff their folds are equal (or, for substring matching, contain each other).
///
/// What is done, per character:
/// 1. Unicode *simple* case mapping, upper then lower (so `Σ`, `σ` and `ς` fold alike, and `ß`
///    stays `ß` as with RFC 5051's titlecase step, rather than becoming `ss`). Lower-case is
///    used instead of RFC 5051's titlecase; it gives the same equivalence classes.
/// 2. NFKD decomposition (RFC 5051 step 2) from an embedded table covering Latin, Greek,
///    Cyrillic, Vietnamese, ligatures and full/half-width forms, plus algorithmic Hangul.
///    Other scripts (CJK compatibility ideographs, Arabic presentation forms, …) are left
///    undecomposed, and combining marks are not canonically reordered: a deliberate limit
///    while davit has no Unicode normalisation crate.
pub fn unicode_casemap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let folded = simple_fold(c);
        if !push_hangul(&mut out, folded) {
            match NFKD.binary_search_by_key(&folded, |&(k, _)| k) {
                Ok(i) => out.push_str(NFKD[i].1),
                Err(_) => out.push(folded),
            }
        }
    }
    out
}

/// Upper then lower case, keeping only one-to-one mappings (Unicode simple case mapping).
fn simple_fold(c: char) -> char {
    let mut upper = c.to_uppercase();
    let u = match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    };
    // Only U+0130 lower-cases to two characters; its simple mapping is the first, `i`.
    u.to_lowercase().next().unwrap_or(u)
}

/// Decomposes a precomposed Hangul syllable (Unicode §3.12); false if `c` is not one.
fn push_hangul(out: &mut String, c: char) -> bool {
    const S_BASE: u32 = 0xAC00;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let Some(index) = (c as u32).checked_sub(S_BASE).filter(|i| *i < 19 * N_COUNT) else {
        return false;
    };
    let jamo = [
        Some(0x1100 + index / N_COUNT),
        Some(0x1161 + (index % N_COUNT) / T_COUNT),
        Some(index % T_COUNT).filter(|t| *t != 0).map(|t| 0x11A7 + t),
    ];
    out.extend(jamo.into_iter().flatten().filter_map(char::from_u32));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casemap_folds_case_and_compatibility_forms() {
        assert_eq!(unicode_casemap("HeLLo"), "hello");
        assert_eq!(unicode_casemap("ΣΊΣΥΦΟΣ"), unicode_casemap("σίσυφος"));
        assert_eq!(unicode_casemap("ÉCOLE"), unicode_casemap("e\u{301}cole"));
        assert_eq!(unicode_casemap("ﬁle"), "file");
        assert_eq!(unicode_casemap("ＡＢＣ"), "abc");
        assert_eq!(unicode_casemap("Straße"), "stra\u{df}e");
        assert_eq!(unicode_casemap("ПРИВЕТ"), "привет");
        assert_eq!(unicode_casemap("Nguyễn"), unicode_casemap("NGUYỄN"));
        assert_eq!(unicode_casemap("İ"), "i");
    }

    #[test]
    fn casemap_decomposes_hangul() {
        assert_eq!(unicode_casemap("한"), "\u{1112}\u{1161}\u{11ab}");
        assert_eq!(unicode_casemap("가"), "\u{1100}\u{1161}");
    }

    #[test]
    fn nfkd_table_is_sorted() {
        assert!(NFKD.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
