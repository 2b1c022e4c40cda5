//! Request paths and hrefs: parse, build, parse again.
//! The logic is in `davit::fuzzing::url_path`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::url_path(data));
