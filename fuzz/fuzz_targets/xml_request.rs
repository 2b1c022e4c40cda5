//! DAV request bodies: PROPFIND, PROPPATCH, MKCOL/MKCALENDAR and every REPORT, evaluated like their handlers.
//! The logic is in `davit::fuzzing::xml_request`, which `cargo test` replays on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| davit::fuzzing::xml_request(data));
