//! The chaos API's request bodies and paths: `METHOD PATH\n` then the body. Every input
//! must get an answer (a status), never a panic; the body also goes through a live
//! connection's toxic pipeline with whatever toxics the request left behind.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (method, path) = match head.iter().position(|&b| b == b' ') {
        Some(i) => (&head[..i], &head[i + 1..]),
        None => (head, &b"/"[..]),
    };
    let path = String::from_utf8_lossy(path);
    let status = ballast_chaos::fuzzing::api_request(method, &path, body);
    assert!((200..600).contains(&status), "status {status}");
});
