//! One CSV row as a contact: the cells applied through the column map, then the stable UID
//! that makes a re-import find the same contact again.

use std::collections::BTreeMap;

use csv::StringRecord;

use super::column::{AdrPart, Column, Kind, Phone, SlotKind, SlotPart};

/// A value with its vCard TYPE parameters (`home`, `work`, `cell`, `fax`…) and preference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typed {
    pub types: Vec<&'static str>,
    pub value: String,
    pub pref: bool,
}

/// ADR components (RFC 6350 §6.3.1), with the address's TYPE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub types: Vec<&'static str>,
    pub po_box: String,
    pub extended: String,
    pub street: String,
    pub city: String,
    pub region: String,
    pub code: String,
    pub country: String,
}

impl Address {
    fn set(&mut self, part: AdrPart, value: &str) {
        let field = match part {
            AdrPart::Street => &mut self.street,
            AdrPart::PoBox => &mut self.po_box,
            AdrPart::Extended => &mut self.extended,
            AdrPart::City => &mut self.city,
            AdrPart::Region => &mut self.region,
            AdrPart::Code => &mut self.code,
            AdrPart::Country => &mut self.country,
        };
        // Outlook's "Business Street 2/3" continue the street on further lines.
        if !field.is_empty() {
            field.push('\n');
        }
        field.push_str(value);
    }

    pub fn is_empty(&self) -> bool {
        [&self.po_box, &self.extended, &self.street, &self.city, &self.region, &self.code, &self.country]
            .iter()
            .all(|f| f.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub full_name: String,
    pub given: String,
    pub middle: String,
    pub family: String,
    pub prefix: String,
    pub suffix: String,
    pub nickname: String,
    pub emails: Vec<Typed>,
    pub phones: Vec<Typed>,
    pub addresses: Vec<Address>,
    pub org: String,
    pub department: String,
    pub title: String,
    /// vCard 4.0 date (`19800517`, `--0517`), when the cell could be read as a date.
    pub birthday: String,
    pub anniversary: String,
    pub note: String,
    pub urls: Vec<Typed>,
    pub categories: Vec<String>,
}

/// Google puts several values in one cell separated by ` ::: `.
const MULTI: &str = " ::: ";

#[derive(Default)]
struct Slot {
    label: String,
    values: Vec<String>,
    address: Address,
}

pub fn from_row(columns: &[Option<Column>], row: &StringRecord) -> Contact {
    let mut c = Contact::default();
    let mut slots: BTreeMap<(SlotKind, u8), Slot> = BTreeMap::new();
    let mut addresses: Vec<(Kind, Address)> = Vec::new();
    let (mut year, mut month, mut day) = (String::new(), String::new(), String::new());
    for (i, cell) in row.iter().enumerate() {
        let v = cell.trim();
        let Some(Some(column)) = columns.get(i) else { continue };
        // Outlook writes `0/0/00` (`0.0.00` in German) for "no date".
        if v.is_empty()
            || matches!(column, Column::Birthday | Column::Anniversary) && super::dates::is_no_date(v)
        {
            continue;
        }
        let append = |field: &mut String| {
            if !field.is_empty() {
                field.push(' ');
            }
            field.push_str(v);
        };
        match *column {
            Column::FullName => append(&mut c.full_name),
            Column::Given => append(&mut c.given),
            Column::Middle => append(&mut c.middle),
            Column::Family => append(&mut c.family),
            Column::Prefix => append(&mut c.prefix),
            Column::Suffix => append(&mut c.suffix),
            Column::Nickname => append(&mut c.nickname),
            Column::Org => append(&mut c.org),
            Column::Department => append(&mut c.department),
            Column::Title => append(&mut c.title),
            Column::Email(kind) => push_email(&mut c.emails, kind_types(kind), v, false),
            Column::Phone(p) => {
                c.phones.push(Typed { types: phone_types(p), value: v.to_owned(), pref: false })
            }
            Column::Url(kind) => {
                c.urls.push(Typed { types: kind_types(kind), value: v.to_owned(), pref: false })
            }
            Column::Adr(kind, part) => match addresses.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, a)) => a.set(part, v),
                None => {
                    let mut a = Address { types: kind_types(kind), ..Default::default() };
                    a.set(part, v);
                    addresses.push((kind, a));
                }
            },
            Column::Birthday => {
                c.birthday = super::dates::parse(v).unwrap_or_else(|| note_line(&mut c.note, "Birthday", v))
            }
            Column::Anniversary => {
                c.anniversary =
                    super::dates::parse(v).unwrap_or_else(|| note_line(&mut c.note, "Anniversary", v))
            }
            Column::BirthYear => year = v.to_owned(),
            Column::BirthMonth => month = v.to_owned(),
            Column::BirthDay => day = v.to_owned(),
            Column::Note => {
                if !c.note.is_empty() {
                    c.note.push('\n');
                }
                c.note.push_str(&v.replace("\r\n", "\n"));
            }
            Column::Categories => c.categories.extend(split_categories(v)),
            Column::Slot(kind, n, part) => {
                let slot = slots.entry((kind, n)).or_default();
                match part {
                    SlotPart::Label => slot.label = v.to_owned(),
                    SlotPart::Value => slot.values.extend(v.split(MULTI).map(|s| s.trim().to_owned())),
                    SlotPart::Adr(p) => slot.address.set(p, v),
                }
            }
        }
    }
    if c.birthday.is_empty() && !month.is_empty() && !day.is_empty() {
        let text = if year.is_empty() {
            format!("--{month:0>2}-{day:0>2}")
        } else {
            format!("{year}-{month:0>2}-{day:0>2}")
        };
        c.birthday = super::dates::parse(&text).unwrap_or_default();
    }
    c.addresses.extend(addresses.into_iter().map(|(_, a)| a));
    apply_slots(&mut c, slots);
    c
}

fn note_line(note: &mut String, label: &str, value: &str) -> String {
    // A date we cannot read is kept for the user rather than dropped.
    if !note.is_empty() {
        note.push('\n');
    }
    note.push_str(&format!("{label}: {value}"));
    String::new()
}

fn apply_slots(c: &mut Contact, slots: BTreeMap<(SlotKind, u8), Slot>) {
    for ((kind, _), slot) in slots {
        let (types, pref) = label_types(&slot.label);
        let values = slot.values.into_iter().filter(|v| !v.is_empty());
        match kind {
            SlotKind::Email => values.for_each(|v| push_email(&mut c.emails, types.clone(), &v, pref)),
            SlotKind::Phone => {
                c.phones.extend(values.map(|value| Typed { types: types.clone(), value, pref }))
            }
            SlotKind::Website => {
                c.urls.extend(values.map(|value| Typed { types: types.clone(), value, pref }))
            }
            SlotKind::Address => {
                if !slot.address.is_empty() {
                    c.addresses.push(Address { types: types.clone(), ..slot.address });
                }
            }
        }
    }
}

/// Only real addresses: Outlook exports Exchange-internal ones (`/o=ExchangeLabs/…`, type EX)
/// that no other client can use.
fn push_email(emails: &mut Vec<Typed>, types: Vec<&'static str>, value: &str, pref: bool) {
    let value = value.trim().trim_start_matches("mailto:").trim();
    if value.contains('@')
        && !value.starts_with('/')
        && !emails.iter().any(|e| e.value.eq_ignore_ascii_case(value))
    {
        emails.push(Typed { types, value: value.to_owned(), pref });
    }
}

fn kind_types(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Home => vec!["home"],
        Kind::Work => vec!["work"],
        Kind::Other | Kind::Unspecified => vec![],
    }
}

fn phone_types(p: Phone) -> Vec<&'static str> {
    match p {
        Phone::Cell => vec!["cell"],
        Phone::Home => vec!["home", "voice"],
        Phone::Work => vec!["work", "voice"],
        Phone::Fax(kind) => [kind_types(kind), vec!["fax"]].concat(),
        Phone::Pager => vec!["pager"],
        Phone::Main | Phone::Other => vec!["voice"],
    }
}

/// A Google label (`* Home`, `Work`, `Mobile`, `Work Fax`, a custom one) as TYPE values; the
/// leading `* ` marks the primary value.
fn label_types(label: &str) -> (Vec<&'static str>, bool) {
    let pref = label.trim_start().starts_with('*');
    let l = label.trim_start_matches(|c: char| c == '*' || c.is_whitespace()).to_lowercase();
    let mut types = Vec::new();
    for (word, t) in [
        ("home", "home"),
        ("work", "work"),
        ("mobile", "cell"),
        ("cell", "cell"),
        ("fax", "fax"),
        ("pager", "pager"),
    ] {
        if l.contains(word) && !types.contains(&t) {
            types.push(t);
        }
    }
    (types, pref)
}

/// Categories as Outlook (`;`), Google (` ::: `, `* myContacts` system groups) and others
/// (`,`) write them.
fn split_categories(v: &str) -> Vec<String> {
    v.split(MULTI)
        .flat_map(|s| s.split([';', ',']))
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('*'))
        .map(str::to_owned)
        .collect()
}

impl Contact {
    /// The display name: as exported, else built from the name parts, else the company,
    /// e-mail or phone (a row with none of these is not a contact).
    pub fn display_name(&self) -> Option<String> {
        if !self.full_name.is_empty() {
            return Some(self.full_name.clone());
        }
        let parts = [&self.prefix, &self.given, &self.middle, &self.family, &self.suffix];
        let built = parts.iter().filter(|p| !p.is_empty()).map(|p| p.as_str()).collect::<Vec<_>>().join(" ");
        if !built.is_empty() {
            return Some(built);
        }
        [&self.nickname, &self.org]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .or_else(|| self.emails.first().map(|e| e.value.clone()))
            .or_else(|| self.phones.first().map(|p| p.value.clone()))
    }

    /// A UID derived from who the contact is: the normalized name and e-mail addresses (the
    /// phone numbers too when there is no address, to tell apart namesakes). Notes, phones and
    /// addresses can change between two exports without making the contact a new one.
    pub fn stable_uid(&self) -> String {
        let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        let name = fold(&[&self.given, &self.middle, &self.family].map(|s| s.as_str()).join(" "));
        let name = if name.is_empty() { fold(&self.display_name().unwrap_or_default()) } else { name };
        let mut emails: Vec<String> = self.emails.iter().map(|e| e.value.to_lowercase()).collect();
        emails.sort();
        let mut key = format!("{name}|{}", emails.join(","));
        if emails.is_empty() {
            let mut phones: Vec<String> = self
                .phones
                .iter()
                .map(|p| p.value.chars().filter(|c| c.is_ascii_digit()).collect::<String>())
                .collect();
            phones.sort();
            key.push('|');
            key.push_str(&phones.join(","));
        }
        crate::import::content_uid("csv", &key)
    }
}
