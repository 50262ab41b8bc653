//! Target URLs, methods and headers: everything `ballast load` takes from its flags.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let url = parts.next().unwrap_or_default().to_string();
    let method = parts.next().unwrap_or("GET").to_string();
    let header = parts.next().unwrap_or_default();
    let mut config = ballast_load::LoadConfig::new(url);
    config.method = method;
    if let Some((name, value)) = header.split_once(':') {
        config.headers.push((name.to_string(), value.to_string()));
    }
    let _ = config.build();
});
