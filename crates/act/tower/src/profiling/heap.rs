//! The heap profile: jemalloc's sampled live allocations, dumped and converted to pprof by
//! `jemalloc_pprof` (which symbolizes in the process).

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
    ctl.dump_pprof()
        .map_err(|e| (500, format!("cannot dump the heap profile: {e:#}")))
}
