//! Every fixture under fixtures/csv/: its vendor is recognised, its rows become valid
//! vCards with the right fields, and the UIDs are stable.

use super::detect::Vendor;
use super::*;
use crate::vcard;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/csv/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// The vCards of a file, each as (NAME, value) pairs, checked to be cards PUT accepts.
fn cards(data: &[u8]) -> (Parsed, Vec<Vec<(String, String)>>) {
    let parsed = read(data);
    let cards = parsed
        .items
        .iter()
        .map(|item| {
            crate::carddav::validate_put::validate(&item.body)
                .unwrap_or_else(|e| panic!("{}: {}", e.message, String::from_utf8_lossy(&item.body)));
            let card = vcard::parse(&item.body).expect("parses");
            vcard::properties(&card).into_iter().map(|p| (p.name, p.value)).collect()
        })
        .collect();
    (parsed, cards)
}

fn values<'a>(card: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    card.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn outlook_english_with_bom_multiline_note_and_exchange_address() {
    let data = fixture("outlook_en.csv");
    assert_eq!(rows(&data).vendor, Vendor::Outlook);
    let (parsed, cards) = cards(&data);
    assert_eq!(parsed.format, "CSV (Outlook, UTF-8)");
    assert_eq!(cards.len(), 3);
    let jane = &cards[0];
    assert_eq!(values(jane, "FN"), ["Dr. Jane Q. Doe PhD"]);
    assert_eq!(values(jane, "N"), ["Doe;Jane;Q.;Dr.;PhD"]);
    // The EX (Exchange-internal) address is dropped; the two SMTP ones stay.
    assert_eq!(values(jane, "EMAIL"), ["jane.doe@contoso.example", "jane@home.example"]);
    assert_eq!(values(jane, "TEL").len(), 3);
    assert_eq!(values(jane, "ORG"), ["Contoso, Ltd.;Research"]);
    assert_eq!(values(jane, "TITLE"), ["Chief Scientist"]);
    assert_eq!(values(jane, "BDAY"), ["19800517"]);
    assert!(values(jane, "ANNIVERSARY").is_empty(), "0/0/00 is no date");
    assert_eq!(values(jane, "CATEGORIES"), ["Business,VIP"]);
    assert_eq!(values(jane, "NOTE"), ["Met at Build, 2024.\nPrefers e-mail; call only if urgent."]);
    assert_eq!(
        values(jane, "ADR"),
        [";;1 Microsoft Way\nBuilding 4;Redmond;WA;98052;United States of America"]
    );
    assert_eq!(values(jane, "URL"), ["https://contoso.example/jane"]);
    assert_eq!(values(&cards[2], "FN"), ["Fabrikam Inc."], "a company-only row is named after it");
    let skipped: Vec<_> = parsed.skipped.iter().map(|e| e.line).collect();
    assert_eq!(skipped, [6], "the row with nothing but a note, on its own line number");
}

#[test]
fn outlook_german_in_windows_1252() {
    let data = fixture("outlook_de.csv");
    let (parsed, cards) = cards(&data);
    assert_eq!(parsed.format, "CSV (Outlook, windows-1252)");
    assert_eq!(cards.len(), 2);
    let j = &cards[0];
    assert_eq!(values(j, "FN"), ["Herr Jürgen Müller"]);
    assert_eq!(values(j, "ORG"), ["Müller & Söhne GmbH"]);
    assert_eq!(values(j, "TITLE"), ["Geschäftsführer"]);
    assert_eq!(values(j, "BDAY"), ["19650517"]);
    assert_eq!(values(j, "CATEGORIES"), ["Kunden,Köln"]);
    assert_eq!(values(j, "ADR"), [";;Königstraße 12;Köln;;50667;Deutschland"]);
    assert_eq!(values(j, "NOTE"), ["Grüße an Frau Müller.\nRückruf erbeten."]);
    assert_eq!(values(&cards[1], "EMAIL"), ["zoe.weiss@example.de"]);
}

#[test]
fn office_365_export() {
    let (parsed, cards) = cards(&fixture("office365_en.csv"));
    assert!(parsed.format.starts_with("CSV (Outlook"));
    assert_eq!(values(&cards[0], "NICKNAME"), ["Al"]);
    assert_eq!(values(&cards[0], "EMAIL").len(), 2);
    assert_eq!(values(&cards[0], "BDAY"), ["19900304"]);
    assert_eq!(values(&cards[1], "FN"), ["Megan Bowen"]);
}

#[test]
fn google_current_export_pairs_labels_and_values() {
    let data = fixture("google_en.csv");
    assert_eq!(rows(&data).vendor, Vendor::Google);
    let (_, cards) = cards(&data);
    let m = &cards[0];
    assert_eq!(values(m, "FN"), ["María García"]);
    assert_eq!(values(m, "EMAIL"), ["maria@example.com", "maria.garcia@example.net", "mgarcia@acme.example"]);
    assert_eq!(values(m, "CATEGORIES"), ["Family,Friends"], "system group * myContacts dropped");
    assert_eq!(values(m, "ADR"), [";;Calle Mayor 1;Madrid;;28013;ES"]);
    assert_eq!(values(m, "BDAY"), ["19851224"]);
    assert_eq!(values(m, "NOTE"), ["Line one\nLine two, with comma"]);
    let tel = crate::vcard::properties(&vcard::parse(&read(&data).items[0].body).unwrap());
    let fax = tel.iter().find(|p| p.name == "TEL" && p.value.starts_with("+34 910")).expect("fax");
    assert!(
        fax.params.iter().any(|(n, v)| n == "TYPE" && v.iter().any(|t| t.eq_ignore_ascii_case("fax"))),
        "{fax:?}"
    );
    assert_eq!(values(&cards[1], "BDAY"), ["--0704"]);
}

#[test]
fn google_legacy_export() {
    let data = fixture("google_legacy_en.csv");
    assert_eq!(rows(&data).vendor, Vendor::Google);
    let (_, cards) = cards(&data);
    let s = &cards[0];
    assert_eq!(values(s, "FN"), ["Sam Taylor"]);
    assert_eq!(values(s, "ORG"), ["Initech"]);
    assert_eq!(values(s, "TITLE"), ["TPS Reports"]);
    assert_eq!(values(s, "CATEGORIES"), ["Coworkers"]);
    assert_eq!(values(s, "URL"), ["http://sam.example.org"]);
}

#[test]
fn thunderbird_export_with_split_birthday() {
    let data = fixture("thunderbird_en.csv");
    assert_eq!(rows(&data).vendor, Vendor::Thunderbird);
    let (_, cards) = cards(&data);
    assert_eq!(values(&cards[0], "BDAY"), ["19921103"]);
    assert_eq!(values(&cards[0], "ADR"), [";;5 Elm St\nApt 3;New York;NY;10001;USA"]);
    assert_eq!(values(&cards[1], "FN"), ["Support Desk"]);
}

#[test]
fn apple_yahoo_and_generic_exports() {
    let apple = fixture("apple_en.csv");
    assert_eq!(rows(&apple).vendor, Vendor::Apple);
    let (_, cards_a) = cards(&apple);
    assert_eq!(values(&cards_a[0], "CATEGORIES"), ["Work,Keynote"]);
    assert_eq!(values(&cards_a[0], "TEL"), ["+1 408 555 0101"]);

    let yahoo = fixture("yahoo_en.csv");
    assert_eq!(rows(&yahoo).vendor, Vendor::Yahoo);
    let (_, cards_y) = cards(&yahoo);
    assert_eq!(values(&cards_y[0], "BDAY"), ["19880815"]);
    assert_eq!(values(&cards_y[0], "EMAIL").len(), 2);

    let generic = fixture("generic_en.csv");
    assert_eq!(rows(&generic).vendor, Vendor::Generic);
    let (_, cards_g) = cards(&generic);
    assert_eq!(values(&cards_g[0], "NOTE"), ["semicolon; inside"]);
    assert_eq!(values(&cards_g[0], "CATEGORIES"), ["customer,norway"]);
    assert_eq!(values(&cards_g[1], "FN"), ["+47 900 00 000"], "a phone-only row is named by its number");
}

#[test]
fn uids_are_stable_and_follow_name_and_email() {
    let data = fixture("outlook_en.csv");
    let first: Vec<_> = read(&data).items;
    assert_eq!(first, read(&data).items, "the same file gives the same cards");
    let edited = String::from_utf8_lossy(&data).replace("+1 425 555 0199", "+1 425 555 0000");
    let again = read(edited.as_bytes());
    let uid = |body: &[u8]| crate::vcard::parse(body).unwrap().uid().to_owned();
    assert_eq!(uid(&first[0].body), uid(&again.items[0].body), "a changed phone keeps the contact");
    assert_ne!(first[0].body, again.items[0].body);
}

#[test]
fn headers_nobody_knows_are_one_clear_skip() {
    let parsed = read(b"foo,bar\n1,2\n");
    assert!(parsed.items.is_empty());
    assert_eq!(parsed.skipped.len(), 1);
    assert!(parsed.skipped[0].reason.as_deref().unwrap().contains("no column"));
    assert!(read(b"").items.is_empty());
}
