//! The judges of profiles over whatever decodes: top, folding, shares, flame graphs, diffs
//! and the attribution rules never panic on a profile the reader accepts (negative and
//! huge values, empty stacks, odd names), and a user rule file gets an error, not a panic.
#![no_main]
use ballast_attribution::{
    attribute, diff, diff_svg, flame_svg, fold, share, top, CaptureView, FlameOptions,
    FoldOptions, RuleSet, RuntimeFrames,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A rule file: the first byte says which input this is.
    if data.first() == Some(&b'#') {
        if let Ok(text) = std::str::from_utf8(data) {
            let mut rules = RuleSet::builtin();
            let _ = rules.extend_str(text, "fuzz.yaml");
        }
        return;
    }
    let limits = ballast_profile::Limits {
        max_compressed_bytes: 1 << 20,
        max_decoded_bytes: 8 << 20,
    };
    let Ok(p) = ballast_profile::decode_with(data, &limits) else {
        return;
    };
    for index in 0..p.sample_types.len().min(4) {
        let t = top(&p, index);
        assert!(t.rows.len() <= p.functions.len());
        for runtime_frames in [RuntimeFrames::Keep, RuntimeFrames::Fold] {
            let folded = fold(&p, index, &FoldOptions { runtime_frames });
            let _ = flame_svg(&folded, &FlameOptions::default());
            let _ = diff_svg(&folded, &folded, &FlameOptions::default());
        }
        let _ = share(&p, index, "main");
        let kind = p.sample_types[index].kind.clone();
        let _ = diff(&p, &p, &kind);
    }
    let view = CaptureView {
        cpu: Some(&p),
        heap_start: Some(&p),
        heap_end: Some(&p),
        allocs: Some(&p),
        goroutine_start: Some(&p),
        goroutine_end: Some(&p),
        block: Some(&p),
        mutex: Some(&p),
        block_start: Some(&p),
        mutex_start: Some(&p),
        goroutine_dump: None,
    };
    let _ = attribute(&view, &RuleSet::builtin());
});
