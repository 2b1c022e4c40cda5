//! Google Contacts / Gmail "Google CSV": the current export (`First Name`, `Labels`,
//! `E-mail 1 - Label`) and the older one (`Given Name`, `Group Membership`,
//! `E-mail 1 - Type`). Multi-valued things come in numbered groups whose label and value
//! columns are paired by number (see `SlotKind`).

use super::column::AdrPart;
use super::column::Column::{self, *};
use super::column::{SlotKind, SlotPart};

const NAMED: &[(&str, Column)] = &[
    ("Name", FullName),
    ("First Name", Given),
    ("Given Name", Given),
    ("Middle Name", Middle),
    ("Additional Name", Middle),
    ("Last Name", Family),
    ("Family Name", Family),
    ("Name Prefix", Prefix),
    ("Name Suffix", Suffix),
    ("Nickname", Nickname),
    ("Organization Name", Org),
    ("Organization 1 - Name", Org),
    ("Organization Title", Title),
    ("Organization 1 - Title", Title),
    ("Organization Department", Department),
    ("Organization 1 - Department", Department),
    ("Birthday", Birthday),
    ("Notes", Note),
    ("Labels", Categories),
    ("Group Membership", Categories),
];

pub fn column(header: &str) -> Option<Column> {
    super::column::lookup(NAMED, header).or_else(|| numbered(header))
}

/// `E-mail 2 - Value`, `Phone 1 - Type`, `Address 1 - Postal Code`, `Website 1 - Label`.
fn numbered(header: &str) -> Option<Column> {
    let h = super::column::normalize_header(header);
    let (group, part) = h.split_once(" - ")?;
    let (kind, n) = group.rsplit_once(' ')?;
    let n: u8 = n.parse().ok()?;
    let kind = match kind {
        "e-mail" | "email" => SlotKind::Email,
        "phone" => SlotKind::Phone,
        "address" => SlotKind::Address,
        "website" => SlotKind::Website,
        _ => return None,
    };
    let part = match part {
        "label" | "type" => SlotPart::Label,
        "value" if kind != SlotKind::Address => SlotPart::Value,
        "street" => SlotPart::Adr(AdrPart::Street),
        "city" => SlotPart::Adr(AdrPart::City),
        "po box" => SlotPart::Adr(AdrPart::PoBox),
        "region" => SlotPart::Adr(AdrPart::Region),
        "postal code" => SlotPart::Adr(AdrPart::Code),
        "country" => SlotPart::Adr(AdrPart::Country),
        "extended address" => SlotPart::Adr(AdrPart::Extended),
        _ => return None,
    };
    Some(Slot(kind, n, part))
}
