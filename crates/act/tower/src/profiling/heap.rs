//! The heap profile: jemalloc's sampled live allocations, dumped and converted to pprof by
//! `jemalloc_pprof` (which symbolizes in the process), with the allocator's own frames cut.

use super::proto;
use prost::Message;
use std::io::{Read, Write};

/// The gzipped pprof heap profile, or the status and reason to answer.
pub(super) async fn dump() -> Result<Vec<u8>, (u16, String)> {
    // Dumping writes a temporary file and symbolizes every sampled stack: blocking work, on a
    // thread of its own rather than a runtime worker.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("ballast-pprof-heap".into())
        .spawn(move || {
            let _ = tx.send(dump_blocking());
        })
        .map_err(|e| (500, format!("cannot start the heap dump's thread: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err((500, "the heap dump's thread ended without an answer".into())))
}

fn dump_blocking() -> Result<Vec<u8>, (u16, String)> {
    let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() else {
        return Err((
            503,
            "jemalloc heap profiling is off: use ballast_tower::profiling::Jemalloc as the global \
             allocator and start with _RJEM_MALLOC_CONF=prof:true,prof_active:true (or export \
             _rjem_malloc_conf)"
                .into(),
        ));
    };
    let mut ctl = ctl.blocking_lock();
    if !ctl.activated() {
        return Err((
            503,
            "jemalloc heap profiling is built in but not active (prof_active:false)".into(),
        ));
    }
    let gzipped = ctl
        .dump_pprof()
        .map_err(|e| (500, format!("cannot dump the heap profile: {e:#}")))?;
    drop(ctl);
    trim(&gzipped).map_err(|e| (500, format!("cannot re-encode the heap profile: {e}")))
}

/// Whether a function is the allocator's: jemalloc's sampling and entry points, the global
/// allocator shim and `__rust_alloc` & co. Every sampled stack starts (leaf end) with a run of
/// these, which would make jemalloc's `prof_backtrace_impl` every stack's flat function.
fn is_allocator_frame(name: &str) -> bool {
    name.starts_with("_rjem_")
        || name.starts_with("prof_backtrace")
        || name.starts_with("__rustc::__rust_")
        || matches!(
            name,
            "__rust_alloc" | "__rust_alloc_zeroed" | "__rust_realloc" | "__rust_dealloc"
        )
        || name.starts_with("<tikv_jemallocator::Jemalloc as")
}

/// Cuts from every sample the leaf-side locations up to the last allocator frame (the
/// `__rust_alloc` the program's code called), so a stack starts at the program's allocation.
/// Gzip in, gzip out, like Go's heap endpoint.
fn trim(gzipped: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut raw)
        .map_err(|e| format!("gunzip: {e}"))?;
    let mut profile = proto::Profile::decode(raw.as_slice()).map_err(|e| format!("decode: {e}"))?;
    let allocator: std::collections::HashSet<u64> = profile
        .location
        .iter()
        .filter(|location| {
            location.line.iter().any(|line| {
                profile
                    .function
                    .iter()
                    .find(|f| f.id == line.function_id)
                    .is_some_and(|f| is_allocator_frame(profile.string(f.name)))
            })
        })
        .map(|location| location.id)
        .collect();
    for sample in &mut profile.sample {
        if let Some(last) = sample
            .location_id
            .iter()
            .rposition(|id| allocator.contains(id))
        {
            if last + 1 < sample.location_id.len() {
                sample.location_id.drain(..=last);
            } else {
                // Nothing but allocator frames: keep the outermost, so the sample has a stack.
                sample.location_id.drain(..last);
            }
        }
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&profile.encode_to_vec())
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("gzip: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(profile: &proto::Profile) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&profile.encode_to_vec()).unwrap();
        encoder.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> proto::Profile {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .unwrap();
        proto::Profile::decode(raw.as_slice()).unwrap()
    }

    /// Functions 1..=n named `names`, one location each with the same id.
    fn profile(names: &[&str], stacks: &[&[u64]]) -> proto::Profile {
        let mut string_table = vec![String::new()];
        string_table.extend(names.iter().map(|n| n.to_string()));
        let ids = 1..=names.len() as u64;
        proto::Profile {
            string_table,
            function: ids
                .clone()
                .map(|id| proto::Function {
                    id,
                    name: id as i64,
                    ..Default::default()
                })
                .collect(),
            location: ids
                .map(|id| proto::Location {
                    id,
                    line: vec![proto::Line {
                        function_id: id,
                        line: 0,
                        column: 0,
                    }],
                    ..Default::default()
                })
                .collect(),
            sample: stacks
                .iter()
                .map(|stack| proto::Sample {
                    location_id: stack.to_vec(),
                    value: vec![1],
                    label: vec![],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn stacks_start_at_the_program_s_allocation() {
        let names = [
            "prof_backtrace_impl",
            "_rjem_malloc",
            "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc",
            "__rustc::__rust_alloc",
            "app::load_cache",
            "main",
        ];
        let original = profile(&names, &[&[1, 2, 3, 4, 5, 6], &[5, 6], &[1, 2]]);
        let trimmed = gunzip(&trim(&gzip(&original)).unwrap());
        let stacks: Vec<_> = trimmed
            .sample
            .iter()
            .map(|s| s.location_id.clone())
            .collect();
        assert_eq!(stacks, [vec![5, 6], vec![5, 6], vec![2]]);
        assert_eq!(trimmed.function, original.function);
        assert!(is_allocator_frame("__rust_realloc"));
        assert!(!is_allocator_frame("alloc::alloc::alloc"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(trim(b"not gzip").unwrap_err().starts_with("gunzip"));
    }
}
