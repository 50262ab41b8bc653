//! Response heads from the server under load, which may be anything.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ballast_load::fuzzing::parse_response_head(data);
});
