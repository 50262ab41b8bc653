//! The heap profile: jemalloc's sampled live allocations, dumped and converted to pprof by
//! `jemalloc_pprof` (which symbolizes in the process), with the allocator's own frames cut
//! on ballast-core's profile model (read and written back by ballast-profile).

use ballast_core::profile::Profile;

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
    let mut profile = ballast_profile::decode(gzipped).map_err(|e| e.to_string())?;
    trim_allocator_frames(&mut profile);
    Ok(ballast_profile::encode_gzip(&profile))
}

fn trim_allocator_frames(profile: &mut Profile) {
    let allocator: Vec<bool> = profile
        .locations
        .iter()
        .map(|location| {
            location.lines.iter().any(|line| {
                profile
                    .functions
                    .get(line.function as usize)
                    .is_some_and(|f| is_allocator_frame(&f.name))
            })
        })
        .collect();
    let is_allocator = |l: &u32| allocator.get(*l as usize).copied().unwrap_or(false);
    for sample in &mut profile.samples {
        if let Some(last) = sample.locations.iter().rposition(is_allocator) {
            if last + 1 < sample.locations.len() {
                sample.locations.drain(..=last);
            } else {
                // Nothing but allocator frames: keep the outermost, so the sample has a stack.
                sample.locations.drain(..last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_core::profile::{Function, Location, Sample, ValueType};

    /// Functions named `names`, one location each at the same index; `stacks` index them.
    fn profile(names: &[&str], stacks: &[&[u32]]) -> Profile {
        Profile {
            sample_types: vec![ValueType::new("inuse_space", "bytes")],
            functions: names.iter().map(|n| Function::named(*n)).collect(),
            locations: (0..names.len() as u32).map(Location::of_function).collect(),
            samples: stacks
                .iter()
                .map(|stack| Sample {
                    locations: stack.to_vec(),
                    values: vec![1],
                    labels: vec![],
                })
                .collect(),
            strings: vec![String::new()],
            ..Profile::default()
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
        let original = profile(&names, &[&[0, 1, 2, 3, 4, 5], &[4, 5], &[0, 1]]);
        let trimmed =
            ballast_profile::decode(&trim(&ballast_profile::encode_gzip(&original)).unwrap())
                .unwrap();
        let stacks: Vec<_> = trimmed
            .samples
            .iter()
            .map(|s| s.locations.clone())
            .collect();
        assert_eq!(stacks, [vec![4, 5], vec![4, 5], vec![1]]);
        assert_eq!(trimmed.functions, original.functions);
        assert!(is_allocator_frame("__rust_realloc"));
        assert!(!is_allocator_frame("alloc::alloc::alloc"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let error = trim(b"\x1f\x8b not gzip").unwrap_err();
        assert!(error.starts_with("not a gzipped profile"), "{error}");
        assert!(trim(b"not gzip").is_err());
    }
}
