//! Property: a contact written as an Outlook CSV row, imported (decode → detect → map →
//! vCard) and parsed back by the vcard module, has the same fields — whatever commas,
//! semicolons, quotes, backslashes, line breaks and non-ASCII letters they hold.

use proptest::prelude::*;

use crate::vcard;

const HEADERS: [&str; 9] = [
    "First Name",
    "Last Name",
    "E-mail Address",
    "E-mail 2 Address",
    "Mobile Phone",
    "Company",
    "Job Title",
    "Categories",
    "Notes",
];

fn name() -> impl Strategy<Value = String> {
    "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ ,;\\\\\"'.-]{0,15}[A-Za-zà-ÿ]"
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,10}\\.[a-z]{2,4}"
}

prop_compose! {
    fn row()(
        given in name(),
        family in name(),
        emails in prop::collection::btree_set(email(), 0..=2),
        phone in proptest::option::of("[0-9+][0-9 ()-]{1,12}[0-9]"),
        company in proptest::option::of(name()),
        title in proptest::option::of(name()),
        categories in prop::collection::vec("[A-Za-z0-9][A-Za-z0-9 ]{0,8}[A-Za-z0-9]", 0..3),
        note in "[ -~äöü\n]{0,40}",
    ) -> Vec<String> {
        let emails: Vec<String> = emails.into_iter().collect();
        vec![
            given,
            family,
            emails.first().cloned().unwrap_or_default(),
            emails.get(1).cloned().unwrap_or_default(),
            phone.unwrap_or_default(),
            company.unwrap_or_default(),
            title.unwrap_or_default(),
            categories.join(";"),
            note,
        ]
    }
}

fn csv_of(row: &[String]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADERS).unwrap();
    w.write_record(row).unwrap();
    w.into_inner().unwrap()
}

proptest! {
    #[test]
    fn csv_row_to_vcard_and_back_keeps_the_fields(row in row()) {
        let parsed = super::read(&csv_of(&row));
        prop_assert_eq!(parsed.items.len(), 1, "{:?}", parsed.skipped);
        let card = vcard::parse(&parsed.items[0].body).expect("the importer's card parses");
        let props = vcard::properties(&card);
        let values = |name: &str| -> Vec<String> {
            props.iter().filter(|p| p.name == name).map(|p| p.value.clone()).collect()
        };
        let some = |s: &str| if s.trim().is_empty() { vec![] } else { vec![s.trim().to_owned()] };
        prop_assert_eq!(values("FN"), vec![format!("{} {}", row[0], row[1])]);
        prop_assert_eq!(values("N"), vec![format!("{};{};;;", row[1], row[0])]);
        let emails: Vec<String> = row[2..4].iter().filter(|e| !e.is_empty()).cloned().collect();
        prop_assert_eq!(values("EMAIL"), emails);
        prop_assert_eq!(values("TEL"), some(&row[4]));
        prop_assert_eq!(values("ORG"), some(&row[5]));
        prop_assert_eq!(values("TITLE"), some(&row[6]));
        let categories = if row[7].is_empty() { vec![] } else { vec![row[7].replace(';', ",")] };
        prop_assert_eq!(values("CATEGORIES"), categories);
        prop_assert_eq!(values("NOTE"), some(&row[8]));
        // Importing the same row again gives the same card (the stable UID).
        prop_assert_eq!(&super::read(&csv_of(&row)).items, &parsed.items);
    }
}
