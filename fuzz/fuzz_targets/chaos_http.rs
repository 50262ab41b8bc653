//! HTTP/1.x framing of a proxied connection: client bytes, a 0xFF byte, upstream bytes.
//! Heads, chunked bodies, pipelining and aborted requests must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (client, upstream) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    ballast_chaos::fuzzing::http_stream(client, upstream);
});
