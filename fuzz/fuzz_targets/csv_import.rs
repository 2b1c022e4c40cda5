//! A CSV contacts import: decode, vendor detection, column mapping, vCard output.
//! The logic is in `davit::fuzzing::csv_import`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::csv_import(data));
