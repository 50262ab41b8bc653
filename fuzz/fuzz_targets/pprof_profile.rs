//! pprof profile.proto, gzipped or raw: decode never panics, and what it returns writes
//! back to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits: a bomb must stop at them, not exhaust the fuzzer's memory.
    let limits = ballast_profile::Limits {
        max_compressed_bytes: 1 << 20,
        max_decoded_bytes: 16 << 20,
    };
    if let Ok(profile) = ballast_profile::decode_with(data, &limits) {
        for s in &profile.samples {
            assert_eq!(s.values.len(), profile.sample_types.len());
            let _ = profile.frames(s).count();
        }
        let _ = profile.total(profile.default_sample_index());
        let again = ballast_profile::decode(&ballast_profile::encode(&profile))
            .expect("an encoded profile decodes");
        assert_eq!(again, profile);
    }
});
