//! A calendar object PUT and what is later done with a stored one (expansion, calendar-data, feed).
//! The logic is in `davit::fuzzing::icalendar`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::icalendar(data));
