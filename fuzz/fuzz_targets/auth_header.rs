//! The Authorization header and the other request headers davit interprets.
//! The logic is in `davit::fuzzing::auth_header`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::auth_header(data));
