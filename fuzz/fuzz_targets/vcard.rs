//! A vCard PUT, its index, and address-data in every version.
//! The logic is in `davit::fuzzing::vcard`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::vcard(data));
