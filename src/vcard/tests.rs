//! Fixture and conversion tests for the vCard module. Conversions are checked content line by
//! content line, never by comparing whole outputs.

use super::line::Line;
use super::*;

const MACOS: &[u8] = include_bytes!("../../fixtures/vcard/3.0/macos-contacts.vcf");
const MACOS_GROUP: &[u8] = include_bytes!("../../fixtures/vcard/3.0/macos-group.vcf");
const GMAIL: &[u8] = include_bytes!("../../fixtures/vcard/3.0/gmail.vcf");
const DAVX5: &[u8] = include_bytes!("../../fixtures/vcard/3.0/davx5-categories.vcf");
const OUTLOOK: &[u8] = include_bytes!("../../fixtures/vcard/2.1/outlook.vcf");
const THUNDERBIRD: &[u8] = include_bytes!("../../fixtures/vcard/4.0/thunderbird.vcf");
const FOLDED: &[u8] = include_bytes!("../../fixtures/vcard/4.0/folded-utf8.vcf");
const GOOD: &[&[u8]] = &[MACOS, MACOS_GROUP, GMAIL, DAVX5, OUTLOOK, THUNDERBIRD, FOLDED];

fn card(body: &[u8]) -> Card {
    match parse(body) {
        Ok(card) => card,
        Err(e) => panic!("{e}"),
    }
}

fn card_from(lines: &[&str]) -> Card {
    card(format!("{}\r\n", lines.join("\r\n")).as_bytes())
}

/// The content lines of a serialised card, unfolded and lexed.
fn lines_of(text: &str) -> Vec<Line> {
    text.replace("\r\n ", "")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| Line::parse(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn all<'a>(lines: &'a [Line], name: &str) -> Vec<&'a Line> {
    lines.iter().filter(|l| l.is(name)).collect()
}

fn one<'a>(lines: &'a [Line], name: &str) -> &'a Line {
    let found = all(lines, name);
    assert_eq!(found.len(), 1, "expected one {name} in {lines:#?}");
    found[0]
}

/// Parameters as (upper-cased name, values) for exact comparison.
fn params(line: &Line) -> Vec<(String, Vec<String>)> {
    line.params.iter().map(|p| (p.name.to_ascii_uppercase(), p.values.clone().unwrap_or_default())).collect()
}

fn param(name: &str, values: &[&str]) -> (String, Vec<String>) {
    (name.to_string(), values.iter().map(|v| v.to_string()).collect())
}

fn assert_well_formed(out: &str) {
    assert!(out.starts_with("BEGIN:VCARD\r\nVERSION:"), "{out}");
    assert!(out.ends_with("END:VCARD\r\n"), "{out}");
    for physical in out.split("\r\n") {
        assert!(physical.len() <= 75, "line longer than 75 octets: {physical}");
    }
    assert!(!out.contains("CHARSET"), "CHARSET in {out}");
}

fn prop<'a>(props: &'a [PropView], name: &str) -> &'a PropView {
    match props.iter().find(|p| p.name == name) {
        Some(p) => p,
        None => panic!("no {name} in {props:#?}"),
    }
}

// ------------------------------------------------------------------ fixtures: parse + index

#[test]
fn macos_contacts_fixture() {
    let card = card(MACOS);
    assert_eq!(card.version(), Version::V3);
    assert_eq!(card.uid(), "6B29FC40-CA47-1067-B31D-00DD010662DA");
    let idx = index(&card);
    assert_eq!(idx.kind, Kind::Individual);
    assert_eq!(idx.values(Field::Fn).collect::<Vec<_>>(), ["Johnny Appleseed"]);
    assert_eq!(idx.values(Field::N).collect::<Vec<_>>(), ["Appleseed;Johnny;;;"]);
    assert_eq!(
        idx.values(Field::Email).collect::<Vec<_>>(),
        ["johnny@example.com", "johnny.home@example.org"]
    );
    assert_eq!(idx.values(Field::Tel).count(), 2);
    assert_eq!(idx.values(Field::Categories).collect::<Vec<_>>(), ["Friends,Work", "Friends", "Work"]);
    assert_eq!(idx.values(Field::Uid).collect::<Vec<_>>(), [card.uid()]);

    let props = properties(&card);
    let note = prop(&props, "NOTE");
    assert_eq!(note.value, "Met at WWDC, 2019.\nLikes Zoë's café.");
    let email = prop(&props, "EMAIL");
    assert_eq!(email.params, [param("TYPE", &["INTERNET", "WORK", "pref"])]);
    let label = props.iter().find(|p| p.name == "X-ABLABEL").map(|p| p.group.clone());
    assert_eq!(label, Some(Some("item2".to_string())));
    assert!(prop(&props, "PHOTO").value.starts_with("data:image/jpeg;base64,/9j/"));
}

#[test]
fn macos_group_fixture() {
    let idx = index(&card(MACOS_GROUP));
    assert_eq!(idx.kind, Kind::Group);
    assert_eq!(
        idx.values(Field::Member).collect::<Vec<_>>(),
        ["urn:uuid:6B29FC40-CA47-1067-B31D-00DD010662DA", "urn:uuid:0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"]
    );
}

#[test]
fn gmail_fixture() {
    let card = card(GMAIL);
    let idx = index(&card);
    assert_eq!(idx.values(Field::Fn).collect::<Vec<_>>(), ["Maria Müller"]);
    assert_eq!(idx.values(Field::Org).collect::<Vec<_>>(), ["Beispiel GmbH"]);
    assert_eq!(
        idx.values(Field::Categories).collect::<Vec<_>>(),
        ["myContacts,Kollegen", "myContacts", "Kollegen"]
    );
    let folded = idx.folded();
    assert!(folded.contains(&(Field::Fn, unicode_casemap("MARIA MÜLLER"))));
    let props = properties(&card);
    // Google escapes the colon in URLs; the value seen by text-match is the real URL.
    assert_eq!(prop(&props, "URL").value, "https://www.example.de");
    assert_eq!(prop(&props, "ADR").value, ";;Hauptstraße 5;Berlin;;10115;Germany");
}

#[test]
fn outlook_21_fixture_decodes_quoted_printable() {
    let card = card(OUTLOOK);
    assert!(card.is_v21());
    assert_eq!(card.version(), Version::V3);
    assert!(card.needs_conversion(Version::V3));
    let idx = index(&card);
    assert_eq!(idx.values(Field::Fn).collect::<Vec<_>>(), ["Jürgen Müller"]);
    assert_eq!(idx.values(Field::N).collect::<Vec<_>>(), ["Müller;Jürgen"]);
    let props = properties(&card);
    assert_eq!(prop(&props, "NOTE").value, "Grüße aus Köln – ein langer Kommentar, der umbrochen wird");
    assert_eq!(prop(&props, "LABEL").value, "Straße 1\r\nKöln 50667\r\nDeutschland");
    // 2.1 bare parameters read as TYPE values (vCard 2.1 §2.4.1).
    assert_eq!(prop(&props, "EMAIL").params, [param("TYPE", &["PREF", "INTERNET"])]);
    assert_eq!(prop(&props, "TEL").params, [param("TYPE", &["WORK", "VOICE"])]);
}

#[test]
fn thunderbird_fixture() {
    let card = card(THUNDERBIRD);
    assert_eq!(card.version(), Version::V4);
    assert!(!card.needs_conversion(Version::V4));
    let idx = index(&card);
    assert_eq!(idx.kind, Kind::Individual);
    assert_eq!(idx.values(Field::Nickname).collect::<Vec<_>>(), ["Ally"]);
    assert_eq!(idx.values(Field::Org).collect::<Vec<_>>(), ["Wonderland Inc.;Research"]);
    assert_eq!(idx.values(Field::Tel).collect::<Vec<_>>(), ["+44 20 7946 0000", "+44 7700 900123"]);
    let props = properties(&card);
    assert_eq!(prop(&props, "EMAIL").params, [param("PREF", &["1"])]);
    assert_eq!(prop(&props, "BDAY").value, "19900504");
}

#[test]
fn davx5_categories_fixture() {
    let idx = index(&card(DAVX5));
    assert_eq!(
        idx.values(Field::Categories).collect::<Vec<_>>(),
        ["Family,Soccer Team,Friends, close", "Family", "Soccer Team", "Friends, close"]
    );
}

#[test]
fn folded_utf8_fixture_unfolds_by_octets() {
    let split = FOLDED.utf8_chunks().any(|chunk| !chunk.invalid().is_empty());
    assert!(split, "the fixture must fold inside a UTF-8 sequence");
    let card = card(FOLDED);
    let idx = index(&card);
    assert_eq!(
        idx.values(Field::Fn).collect::<Vec<_>>(),
        ["Zoë Ångström-Łukasiewicz née Müller-Lüdenscheidt,日本語の名前テスト"]
    );
    let props = properties(&card);
    assert!(prop(&props, "NOTE").value.contains("Кириллица, 한국어, emoji 🎉🎈 and more"));
    assert_eq!(card.uid(), "urn:uuid:8c0e3a5e-2c1d-4b8f-9e7a-6d5c4b3a2f10");
}

#[test]
fn index_holds_exact_values_and_wider_forms() {
    let card = card_from(V4_CARD);
    let idx = index(&card);
    assert_eq!(idx.values(Field::Tel).collect::<Vec<_>>(), ["tel:+1-555", "+1-555"]);
    let props = properties(&card);
    // Every indexed property's exact value is in the index (prefilter ⊇ precise filter).
    for (field, name) in [(Field::Tel, "TEL"), (Field::Email, "EMAIL"), (Field::Fn, "FN")] {
        for p in props.iter().filter(|p| p.name == name) {
            assert!(idx.values(field).any(|v| v == p.value), "{name}: {}", p.value);
        }
    }
    assert_eq!(prop(&props, "GENDER").value, "F");
    assert_eq!(prop(&props, "BDAY").value, "--1210");
}

fn error_of(body: &[u8]) -> VcardError {
    match parse(body) {
        Ok(card) => panic!("accepted: {card:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_fixtures_are_refused() {
    let two = error_of(include_bytes!("../../fixtures/vcard/bad/two-cards.vcf"));
    assert!(matches!(&two, VcardError::Invalid(m) if m.contains("RFC 6352 §5.1")), "{two}");
    let no_end = error_of(include_bytes!("../../fixtures/vcard/bad/no-end.vcf"));
    assert!(matches!(&no_end, VcardError::Syntax(m) if m.contains("END:VCARD")), "{no_end}");
    let no_fn = error_of(include_bytes!("../../fixtures/vcard/bad/missing-fn.vcf"));
    assert!(matches!(&no_fn, VcardError::Invalid(m) if m.contains("FN")), "{no_fn}");
    let no_uid = error_of(include_bytes!("../../fixtures/vcard/bad/missing-uid.vcf"));
    assert!(matches!(&no_uid, VcardError::Invalid(m) if m.contains("UID")), "{no_uid}");
    let latin1 = error_of(include_bytes!("../../fixtures/vcard/bad/not-utf8.vcf"));
    assert!(matches!(&latin1, VcardError::Syntax(m) if m.contains("line 3") && m.contains("UTF-8")));
    let junk = error_of(include_bytes!("../../fixtures/vcard/bad/junk-line.vcf"));
    assert!(matches!(&junk, VcardError::Syntax(m) if m.contains("line 5")), "{junk}");
}

/// Found by the `vcard` fuzz target (`fuzz/regressions/vcard/uid-escaped-carriage-return.vcf`):
/// `\r` in a UID decoded to a carriage return, which conversion wrote back as `\n`, so the card
/// served to a client of the other version had another UID than the one stored and indexed.
#[test]
fn uid_with_an_escaped_control_character_is_refused() {
    for uid in ["c1a2b\\r3d4", "a\\nb"] {
        let body = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nUID:{uid}\r\nEND:VCARD\r\n");
        let e = error_of(body.as_bytes());
        assert!(matches!(&e, VcardError::Invalid(m) if m.contains("UID")), "{uid}: {e}");
    }
    assert_eq!(card_from(&["BEGIN:VCARD", "VERSION:3.0", "FN:X", "UID:a\\,b", "END:VCARD"]).uid(), "a,b");
}

#[test]
fn missing_version_is_refused() {
    let body = b"BEGIN:VCARD\r\nFN:a\r\nUID:1\r\nEND:VCARD\r\n";
    assert!(matches!(parse(body), Err(VcardError::Invalid(m)) if m.contains("VERSION")));
}

// ------------------------------------------------------------------ 3.0 → 4.0

#[test]
fn v3_to_v4_apple_group_becomes_kind_and_member() {
    let out = convert(&card(MACOS_GROUP), Version::V4);
    assert_well_formed(&out);
    let lines = lines_of(&out);
    assert_eq!(one(&lines, "VERSION").value, "4.0");
    let kind = one(&lines, "KIND");
    assert_eq!((kind.value.as_str(), kind.params.len()), ("group", 0));
    let members: Vec<&str> = all(&lines, "MEMBER").iter().map(|l| l.value.as_str()).collect();
    assert_eq!(
        members,
        ["urn:uuid:6B29FC40-CA47-1067-B31D-00DD010662DA", "urn:uuid:0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"]
    );
    assert!(lines.iter().all(|l| !l.name.starts_with("X-ADDRESSBOOKSERVER")));
    assert_eq!(index(&card(out.as_bytes())).kind, Kind::Group);
}

#[test]
fn v3_to_v4_photo_becomes_unescaped_data_uri() {
    let out = convert(&card(MACOS), Version::V4);
    assert_well_formed(&out);
    let lines = lines_of(&out);
    let photo = one(&lines, "PHOTO");
    assert!(photo.params.is_empty(), "TYPE=JPEG must move into the data: URI: {photo:?}");
    let original = lines_of(std::str::from_utf8(MACOS).unwrap_or_default());
    let base64 = &one(&original, "PHOTO").value;
    assert_eq!(photo.value, format!("data:image/jpeg;base64,{base64}"));
    assert!(!photo.value.contains('\\'));
}

#[test]
fn v3_to_v4_type_pref_becomes_pref_1() {
    let lines = lines_of(&convert(&card(MACOS), Version::V4));
    let email = all(&lines, "EMAIL")[0];
    assert_eq!(params(email), [param("TYPE", &["INTERNET", "WORK"]), param("PREF", &["1"])]);
    let tel = all(&lines, "TEL")[0];
    assert_eq!(params(tel), [param("TYPE", &["CELL", "VOICE"]), param("PREF", &["1"])]);
}

#[test]
fn v3_to_v4_has_no_charset() {
    for body in [GMAIL, MACOS, OUTLOOK] {
        let out = convert(&card(body), Version::V4);
        assert_well_formed(&out);
        assert!(!out.contains("CHARSET") && !out.contains("ENCODING"), "{out}");
    }
    let lines = lines_of(&convert(&card(GMAIL), Version::V4));
    assert_eq!(one(&lines, "FN").value, "Maria Müller");
    assert!(one(&lines, "FN").params.is_empty());
}

#[test]
fn v3_to_v4_apple_items_become_anniversary_and_related() {
    let lines = lines_of(&convert(&card(MACOS), Version::V4));
    let anniversary = one(&lines, "ANNIVERSARY");
    assert_eq!((anniversary.group.as_deref(), anniversary.value.as_str()), (None, "20100612"));
    assert_eq!(params(anniversary), [param("PREF", &["1"])]);
    let related = one(&lines, "RELATED");
    assert_eq!(related.value, "Jane Appleseed");
    assert_eq!(
        params(related),
        [param("TYPE", &["spouse"]), param("VALUE", &["text"]), param("PREF", &["1"])]
    );
    let labels: Vec<&str> = all(&lines, "X-ABLABEL").iter().map(|l| l.value.as_str()).collect();
    assert_eq!(labels, ["_$!<HomePage>!$_"], "only the URL's label is left");
    assert_eq!(one(&lines, "X-ABADR").group.as_deref(), Some("item1"));
    let social = one(&lines, "SOCIALPROFILE");
    assert_eq!(social.value, "http://twitter.com/johnny");
    assert_eq!(one(&lines, "BDAY").value, "19800517");
}

#[test]
fn v21_to_v3_and_v4_spell_out_bare_parameters() {
    let v3 = lines_of(&convert(&card(OUTLOOK), Version::V3));
    let email = one(&v3, "EMAIL");
    assert_eq!(params(email), [param("TYPE", &["PREF", "INTERNET"])]);
    assert_eq!(one(&v3, "FN").value, "Jürgen Müller");
    assert!(one(&v3, "FN").params.is_empty(), "no CHARSET in 3.0 output");
    let v4 = lines_of(&convert(&card(OUTLOOK), Version::V4));
    let email = one(&v4, "EMAIL");
    assert_eq!(params(email), [param("PREF", &["1"]), param("TYPE", &["INTERNET"])]);
    let adr = one(&v4, "ADR");
    assert_eq!(adr.value, ";;Straße 1;Köln;;50667;Deutschland");
    // QUOTED-PRINTABLE =0D=0A is CRLF; vCard escapes a line break as \n only.
    assert_eq!(one(&v3, "LABEL").value, "Straße 1\\nKöln 50667\\nDeutschland");
    assert_eq!(one(&v4, "LABEL").value, "Straße 1\\nKöln 50667\\nDeutschland");
}

#[test]
fn v21_base64_photo_converts_both_ways() {
    // The 2.1 photo is the PHOTO line's (empty) value plus its indented base64 lines.
    let b64: String = std::str::from_utf8(OUTLOOK)
        .unwrap_or_default()
        .split("\r\n")
        .skip_while(|l| !l.starts_with("PHOTO"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(str::trim)
        .collect();
    assert!(b64.len() > 400);
    let v4 = lines_of(&convert(&card(OUTLOOK), Version::V4));
    let photo = one(&v4, "PHOTO");
    assert_eq!((photo.value.clone(), photo.params.len()), (format!("data:image/jpeg;base64,{b64}"), 0));
    let v3 = lines_of(&convert(&card(OUTLOOK), Version::V3));
    let photo = one(&v3, "PHOTO");
    assert_eq!(photo.value, b64);
    assert_eq!(params(photo), [param("TYPE", &["JPEG"]), param("ENCODING", &["b"])]);
}

#[test]
fn binary_x_property_gets_value_uri_in_4_0() {
    let card = card_from(&[
        "BEGIN:VCARD",
        "VERSION:3.0",
        "FN:X",
        "N:X;;;;",
        "X-MS-CARDPICTURE;TYPE=JPEG;ENCODING=b:/9j/4AAQSkZJRg==",
        "UID:x",
        "END:VCARD",
    ]);
    let lines = lines_of(&convert(&card, Version::V4));
    let picture = one(&lines, "X-MS-CARDPICTURE");
    assert_eq!(picture.value, "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
    assert!(picture.param_has("VALUE", "uri"), "{picture:?}");
}

// ------------------------------------------------------------------ 4.0 → 3.0

const V4_CARD: &[&str] = &[
    "BEGIN:VCARD",
    "VERSION:4.0",
    "FN:Ada Lovelace",
    "N:Lovelace;Ada;;;",
    "GENDER:F",
    "ANNIVERSARY:18350708",
    "RELATED;TYPE=spouse;VALUE=text:William King",
    "RELATED;TYPE=co-worker:urn:uuid:5f4e3d2c-0000-4000-8000-000000000001",
    "LANG;PREF=1:en-GB",
    "TEL;VALUE=uri;TYPE=cell:tel:+1-555",
    "EMAIL;PREF=1:ada@example.org",
    "EMAIL;PREF=2:countess@example.org",
    "URL:http://example.org/a,b",
    "PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==",
    "BDAY:--1210",
    "NOTE:Analytical Engine \u{2013} notes",
    "UID:urn:uuid:ada",
    "END:VCARD",
];

fn v4_to_v3() -> Vec<Line> {
    let out = convert(&card_from(V4_CARD), Version::V3);
    assert_well_formed(&out);
    lines_of(&out)
}

#[test]
fn v4_to_v3_group_becomes_apple_kind_and_members() {
    let card = card_from(&[
        "BEGIN:VCARD",
        "VERSION:4.0",
        "KIND:group",
        "FN:Book Club",
        "MEMBER:urn:uuid:a",
        "MEMBER:urn:uuid:b",
        "UID:g",
        "END:VCARD",
    ]);
    let lines = lines_of(&convert(&card, Version::V3));
    assert_eq!(one(&lines, "VERSION").value, "3.0");
    assert_eq!(one(&lines, "X-ADDRESSBOOKSERVER-KIND").value, "group");
    let members: Vec<&str> =
        all(&lines, "X-ADDRESSBOOKSERVER-MEMBER").iter().map(|l| l.value.as_str()).collect();
    assert_eq!(members, ["urn:uuid:a", "urn:uuid:b"]);
    assert!(all(&lines, "KIND").is_empty() && all(&lines, "MEMBER").is_empty());
    // RFC 2426 requires N; a group keeps its whole name as family name, as Apple writes it.
    assert_eq!(one(&lines, "N").value, "Book Club;;;;");
}

#[test]
fn v4_to_v3_gender_and_lang_are_x_prefixed() {
    let lines = v4_to_v3();
    assert_eq!(one(&lines, "X-GENDER").value, "F");
    let lang = one(&lines, "X-LANG");
    assert_eq!((lang.value.as_str(), params(lang)), ("en-GB", vec![param("TYPE", &["PREF"])]));
    assert!(all(&lines, "GENDER").is_empty() && all(&lines, "LANG").is_empty());
}

#[test]
fn v4_to_v3_anniversary_becomes_apple_abdate() {
    let lines = v4_to_v3();
    assert!(all(&lines, "ANNIVERSARY").is_empty());
    let date = one(&lines, "X-ABDATE");
    assert_eq!(date.value, "1835-07-08");
    let group = date.group.clone();
    let label = lines.iter().find(|l| l.is("X-ABLabel") && l.group == group);
    assert_eq!(label.map(|l| l.value.as_str()), Some("_$!<Anniversary>!$_"));
}

#[test]
fn v4_to_v3_related_becomes_apple_related_names() {
    let lines = v4_to_v3();
    assert!(all(&lines, "RELATED").is_empty());
    let names = all(&lines, "X-ABRELATEDNAMES");
    assert_eq!(names.len(), 2);
    let label_of =
        |l: &Line| lines.iter().find(|x| x.is("X-ABLABEL") && x.group == l.group).map(|x| x.value.clone());
    assert_eq!(names[0].value, "William King");
    assert_eq!(label_of(names[0]).as_deref(), Some("_$!<Spouse>!$_"));
    assert!(names[0].params.is_empty());
    assert_eq!(names[1].value, "urn:uuid:5f4e3d2c-0000-4000-8000-000000000001");
    assert_eq!(label_of(names[1]).as_deref(), Some("co-worker"));
    assert_ne!(names[0].group, names[1].group);
}

#[test]
fn v4_to_v3_tel_uri_becomes_text() {
    let lines = v4_to_v3();
    let tel = one(&lines, "TEL");
    assert_eq!(tel.value, "+1-555");
    assert_eq!(params(tel), [param("TYPE", &["CELL"])]);
}

#[test]
fn v4_to_v3_data_photo_becomes_encoding_b() {
    let lines = v4_to_v3();
    let photo = one(&lines, "PHOTO");
    assert_eq!(params(photo), [param("ENCODING", &["b"]), param("TYPE", &["PNG"])]);
    assert_eq!(
        photo.value,
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    );
}

#[test]
fn v4_to_v3_pref_1_becomes_type_pref() {
    let lines = v4_to_v3();
    let emails = all(&lines, "EMAIL");
    assert_eq!(params(emails[0]), [param("TYPE", &["PREF"])]);
    assert!(emails[1].params.is_empty(), "PREF=2 has no 3.0 form");
}

#[test]
fn v4_to_v3_adds_no_charset_and_no_uri_backslash() {
    let lines = v4_to_v3();
    let note = one(&lines, "NOTE");
    assert_eq!((note.value.as_str(), note.params.len()), ("Analytical Engine \u{2013} notes", 0));
    assert_eq!(one(&lines, "URL").value, "http://example.org/a,b");
    assert!(lines.iter().all(|l| !l.has_param("CHARSET")));
}

#[test]
fn v4_to_v3_year_less_birthday_uses_apple_convention() {
    let lines = v4_to_v3();
    let bday = one(&lines, "BDAY");
    assert_eq!(bday.value, "1604-12-10");
    assert_eq!(params(bday), [param("X-APPLE-OMIT-YEAR", &["1604"])]);
    // and back
    let back = lines_of(&convert(&card_from(V4_CARD), Version::V3));
    let v3 = back.iter().map(Line::to_unfolded).collect::<Vec<_>>().join("\r\n");
    let again = lines_of(&convert(&card(format!("{v3}\r\n").as_bytes()), Version::V4));
    assert_eq!(one(&again, "BDAY").value, "--1210");
    assert!(one(&again, "BDAY").params.is_empty());
}

#[test]
fn v4_to_v3_round_trip_keeps_4_0_only_properties() {
    let v3 = convert(&card_from(V4_CARD), Version::V3);
    let back = lines_of(&convert(&card(v3.as_bytes()), Version::V4));
    assert_eq!(one(&back, "GENDER").value, "F");
    assert_eq!(one(&back, "LANG").value, "en-GB");
    assert_eq!(one(&back, "ANNIVERSARY").value, "18350708");
    let related = all(&back, "RELATED");
    assert_eq!(related.len(), 2);
    assert_eq!(params(related[0]), [param("TYPE", &["spouse"]), param("VALUE", &["text"])]);
    assert_eq!(params(related[1]), [param("TYPE", &["co-worker"])]);
    assert!(all(&back, "X-ABLABEL").is_empty());
    let photo = one(&back, "PHOTO");
    assert!(photo.value.starts_with("data:image/png;base64,iVBOR"), "{photo:?}");
}

#[test]
fn thunderbird_value_url_is_dropped_and_anniversary_becomes_abdate() {
    let v3 = lines_of(&convert(&card(THUNDERBIRD), Version::V3));
    let url = one(&v3, "URL");
    assert_eq!((url.value.as_str(), url.params.len()), ("https://alice.example.net", 0));
    assert_eq!(params(one(&v3, "PHOTO")), [param("ENCODING", &["b"]), param("TYPE", &["PNG"])]);
    assert_eq!(one(&v3, "X-ABDATE").value, "2015-06-20");
    assert_eq!(params(all(&v3, "EMAIL")[0]), [param("TYPE", &["PREF"])]);
}

#[test]
fn duplicate_anniversaries_from_sabre_collapse() {
    let card = card_from(&[
        "BEGIN:VCARD",
        "VERSION:3.0",
        "FN:A B",
        "N:B;A;;;",
        "X-ANNIVERSARY:2001-02-03",
        "ITEM1.X-ABDATE;VALUE=DATE-AND-OR-TIME:2001-02-03",
        "ITEM1.X-ABLABEL:_$!<Anniversary>!$_",
        "UID:s",
        "END:VCARD",
    ]);
    let lines = lines_of(&convert(&card, Version::V4));
    assert_eq!(one(&lines, "ANNIVERSARY").value, "20010203");
    assert!(all(&lines, "X-ABLABEL").is_empty() && all(&lines, "X-ABDATE").is_empty());
}

// ------------------------------------------------------------------ names, size, round trips

#[test]
fn n_is_synthesised_from_fn_for_3_0() {
    let card = card_from(&["BEGIN:VCARD", "VERSION:4.0", "FN:Jean de la Fontaine", "UID:x", "END:VCARD"]);
    let lines = lines_of(&convert(&card, Version::V3));
    assert_eq!(one(&lines, "N").value, "Fontaine;Jean de la;;;");
    assert_eq!(one(&lines, "FN").value, "Jean de la Fontaine");
}

#[test]
fn fn_is_synthesised_from_n_for_2_1_cards() {
    let card = card_from(&["BEGIN:VCARD", "VERSION:2.1", "N:Doe;John;Q.;Dr.;", "UID:x", "END:VCARD"]);
    for to in [Version::V3, Version::V4] {
        let lines = lines_of(&convert(&card, to));
        assert_eq!(one(&lines, "FN").value, "Dr. John Q. Doe");
        assert_eq!(one(&lines, "N").value, "Doe;John;Q.;Dr.;");
    }
}

#[test]
fn every_fixture_converts_to_a_card_that_parses_again() {
    for body in GOOD {
        let original = card(body);
        for to in [Version::V3, Version::V4] {
            let out = convert(&original, to);
            assert_well_formed(&out);
            let again = card(out.as_bytes());
            assert_eq!(again.version(), to);
            assert_eq!(again.uid(), original.uid());
            let (a, b) = (index(&original), index(&again));
            assert_eq!(a.kind, b.kind);
            for field in [Field::Fn, Field::Email, Field::Categories, Field::Member] {
                let (x, y): (Vec<_>, Vec<_>) = (a.values(field).collect(), b.values(field).collect());
                assert_eq!(x, y, "{field:?} changed converting to {to:?}");
            }
        }
    }
}

/// A serialised card with parameter order and the case of names and enumerated values
/// ignored: calcard upper-cases TYPE/VALUE values and moves VALUE last, both equivalent.
fn canonical(text: &str) -> Vec<String> {
    let upper = |s: &str| s.to_ascii_uppercase();
    lines_of(text)
        .iter()
        .map(|l| {
            let mut params: Vec<String> = params(l)
                .iter()
                .flat_map(|(n, v)| v.iter().map(move |v| format!("{n}={}", upper(v))))
                .collect();
            params.sort();
            params.dedup();
            format!("{:?}.{}{params:?}:{}", l.group.as_deref().map(upper), upper(&l.name), l.value)
        })
        .collect()
}

#[test]
fn conversion_is_stable() {
    let mut bodies: Vec<Vec<u8>> = GOOD.iter().map(|b| b.to_vec()).collect();
    bodies.push(format!("{}\r\n", V4_CARD.join("\r\n")).into_bytes());
    for body in &bodies {
        for to in [Version::V3, Version::V4] {
            let once = convert(&card(body), to);
            let twice = convert(&card(once.as_bytes()), to);
            assert_eq!(canonical(&twice), canonical(&once), "not stable for {to:?}");
        }
    }
}

#[test]
fn large_photo_parses_and_converts_in_linear_time() {
    // ~500 kB of base64, folded at 75 octets as Apple writes it.
    let payload: String = "/9j/4AAQSkZJRgABAQAAAQABAAD".chars().cycle().take(500_000).collect();
    let mut body = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nN:Big;;;;\r\n");
    super::line::fold_into(&mut body, &format!("PHOTO;ENCODING=b;TYPE=JPEG:{payload}"));
    body.push_str("UID:big\r\nEND:VCARD\r\n");

    let card = card(body.as_bytes());
    let v4 = convert(&card, Version::V4);
    let lines = lines_of(&v4);
    let photo = one(&lines, "PHOTO");
    assert_eq!(photo.value.len(), "data:image/jpeg;base64,".len() + payload.len());
    assert!(photo.value.ends_with(&payload[payload.len() - 100..]));

    let back = convert(&super::parse(v4.as_bytes()).unwrap_or_else(|e| panic!("{e}")), Version::V3);
    let lines = lines_of(&back);
    let photo = one(&lines, "PHOTO");
    assert_eq!(photo.value, payload);
    assert_eq!(params(photo), [param("ENCODING", &["b"]), param("TYPE", &["JPEG"])]);
    assert_eq!(properties(&card).len(), 5);
}

/// Mutated fixtures never panic, and whatever is accepted converts to cards that are
/// accepted again (davit must be able to read what it serves).
#[test]
fn mutated_fixtures_never_panic_and_conversions_reparse() {
    const BYTES: &[u8] = b":;=,\"\\\r\n \t.\xC3\xA9\xFFAx-0";
    let mut seed: u64 = 0x5EED;
    let mut next = move |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n.max(1)
    };
    for body in GOOD {
        for _ in 0..150 {
            let mut b = body.to_vec();
            for _ in 0..1 + next(4) {
                let at = next(b.len());
                match next(4) {
                    0 => b[at] = BYTES[next(BYTES.len())],
                    1 => b.insert(at, BYTES[next(BYTES.len())]),
                    2 => drop(b.drain(at..(at + next(8)).min(b.len()))),
                    _ => b.splice(at..at, b[at..(at + next(30)).min(b.len())].to_vec()).for_each(drop),
                }
            }
            let Ok(card) = parse(&b) else { continue };
            let _ = (index(&card), properties(&card));
            for to in [Version::V3, Version::V4] {
                let out = convert(&card, to);
                if let Err(e) = parse(out.as_bytes()) {
                    panic!("{e}\n--- input\n{}\n--- output\n{out}", String::from_utf8_lossy(&b));
                }
            }
        }
    }
}

// ------------------------------------------------------------------ properties (proptest)

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::carddav::address_data;
    use crate::carddav::request::AddressData;

    /// TEXT with what vCard escapes (`\`, `,`, `;`, newline), quotes, colons, Unicode, and
    /// lengths that need folding.
    fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::char::range('a', 'z'),
                2 => prop::sample::select(vec![' ', ',', ';', '\\', ':', '"', '\n', '=', '\'']),
                1 => prop::sample::select(vec!['é', 'ß', '日', '€', '😀', '𝄞', 'Ω', 'ø']),
                1 => prop::char::range('\u{A1}', '\u{2FFF}'),
            ],
            1..max,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("no surrounding white space", |s| s.trim() == s)
    }

    /// A name component or list item: no separators, so it is unambiguous once joined.
    fn word() -> impl Strategy<Value = String> {
        "[A-Za-zÀ-ÿ日本 -]{1,12}".prop_filter("no surrounding white space", |s| s.trim() == s)
    }

    fn escape(text: &str) -> String {
        text.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace('\n', "\\n")
    }

    /// Folds every `width` octets, never inside a character (RFC 6350 §3.2).
    fn folded(line: &str, width: usize) -> String {
        let mut out = String::new();
        let mut used = 0;
        for ch in line.chars() {
            if used + ch.len_utf8() > width {
                out.push_str("\r\n ");
                used = 1;
            }
            out.push(ch);
            used += ch.len_utf8();
        }
        out.push_str("\r\n");
        out
    }

    #[derive(Debug, Clone)]
    struct Contact {
        v4: bool,
        full_name: String,
        name: [String; 3],
        emails: Vec<String>,
        note: String,
        categories: Vec<String>,
        org: String,
        uid: String,
        group: bool,
        width: usize,
    }

    fn contact() -> impl Strategy<Value = Contact> {
        (
            (any::<bool>(), text(40), [word(), word(), word()]),
            (prop::collection::vec("[a-z0-9._+-]{1,10}@[a-z]{1,8}\\.(org|com)", 0..3), text(200)),
            (
                prop::collection::vec(word(), 0..4),
                text(30),
                "[A-Za-z0-9:.-]{1,36}",
                any::<bool>(),
                20usize..76,
            ),
        )
            .prop_map(
                |((v4, full_name, name), (emails, note), (categories, org, uid, group, width))| Contact {
                    v4,
                    full_name,
                    name,
                    emails,
                    note,
                    categories,
                    org,
                    uid,
                    group,
                    width,
                },
            )
    }

    impl Contact {
        fn body(&self) -> Vec<u8> {
            let mut lines = vec![
                "BEGIN:VCARD".to_owned(),
                format!("VERSION:{}", if self.v4 { "4.0" } else { "3.0" }),
                format!("FN:{}", escape(&self.full_name)),
                format!("N:{};{};{};;", self.name[0], self.name[1], self.name[2]),
            ];
            for (i, email) in self.emails.iter().enumerate() {
                let group = if self.group { format!("item{i}.") } else { String::new() };
                let kind = if self.v4 { "TYPE=work;PREF=1" } else { "TYPE=INTERNET,WORK" };
                lines.push(format!("{group}EMAIL;{kind}:{email}"));
            }
            lines.push(format!("NOTE:{}", escape(&self.note)));
            if !self.categories.is_empty() {
                lines.push(format!("CATEGORIES:{}", self.categories.join(",")));
            }
            lines.push(format!("ORG:{};Dept", escape(&self.org)));
            lines.push(format!("UID:{}", self.uid));
            lines.push("END:VCARD".to_owned());
            lines.iter().map(|l| folded(l, self.width)).collect::<String>().into_bytes()
        }
    }

    fn values(index: &CardIndex, field: Field) -> Vec<String> {
        index.values(field).map(str::to_owned).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// parse → convert → parse keeps what clients search and show, and converting again
        /// changes nothing; address-data serves exactly the conversion.
        #[test]
        fn parse_convert_parse_is_stable(contact in contact()) {
            let body = contact.body();
            let original = parse(&body).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let version = if contact.v4 { Version::V4 } else { Version::V3 };
            prop_assert_eq!(original.version(), version);
            prop_assert_eq!(original.uid(), contact.uid.as_str());
            let props = properties(&original);
            let note = props.iter().find(|p| p.name == "NOTE").map(|p| p.value.as_str());
            prop_assert_eq!(note, Some(contact.note.as_str()));
            let index = index(&original);
            prop_assert!(values(&index, Field::Fn).contains(&contact.full_name), "{:?}", index);
            for email in &contact.emails {
                prop_assert!(values(&index, Field::Email).contains(email), "{:?}", index);
            }
            for category in &contact.categories {
                prop_assert!(values(&index, Field::Categories).contains(category), "{:?}", index);
            }

            for to in [Version::V3, Version::V4] {
                let once = convert(&original, to);
                prop_assert!(once.split("\r\n").all(|line| line.len() <= 75), "unfolded line:\n{}", once);
                let again = parse(once.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{once}")))?;
                prop_assert_eq!(again.version(), to);
                let twice = convert(&again, to);
                prop_assert_eq!(canonical(&twice), canonical(&once), "converting to {:?} is not stable", to);
                let converted = super::index(&again);
                for field in [Field::Fn, Field::Email, Field::Categories, Field::Uid] {
                    prop_assert_eq!(values(&converted, field), values(&index, field), "{:?} → {:?}", field, to);
                }
                let spec = AddressData { version: Some(to), props: vec![] };
                let served = address_data::render(&body, &spec).expect("renders");
                let expected =
                    if original.needs_conversion(to) { once.clone() } else { String::from_utf8(body.clone()).unwrap() };
                prop_assert_eq!(served, expected);
            }
        }
    }
}
