//! `/debug/pprof/heap` end to end: a service on jemalloc with profiling on holds a planted
//! amount of memory allocated in one named function; the heap profile over loopback must put
//! that function on the stacks holding most of the live bytes.

mod pprof_support;

use ballast_tower::profiling::Jemalloc;
use pprof_support::{bearer, decode, get, serve, top};
use std::sync::OnceLock;

// What a service does to be heap-profiled (module docs of `ballast_tower::profiling`):
// jemalloc as the allocator, and profiling on from the first allocation. Sampling every
// 64 KiB on average (jemalloc's default is 512 KiB) so the planted 64 MiB is sampled densely.
#[global_allocator]
static ALLOC: Jemalloc = Jemalloc;

#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:16\0";

/// The planted cause: 64 blocks of 1 MiB, each written so the pages are really used.
#[inline(never)]
fn planted_heap_hold() -> Vec<Vec<u8>> {
    (0..64u8).map(|i| vec![i | 1; 1 << 20]).collect()
}

static HELD: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_profile_over_loopback_names_the_planted_allocation() {
    let held = HELD.get_or_init(planted_heap_hold);
    assert_eq!(held.len(), 64);
    let addr = serve().await;

    assert_eq!(get(addr, "/debug/pprof/heap", None).await.status, 401);
    assert_eq!(
        get(addr, "/debug/pprof/heap", Some("Bearer nope"))
            .await
            .status,
        401
    );

    let answer = get(addr, "/debug/pprof/heap", Some(&bearer())).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.body[..2], [0x1f, 0x8b], "gzipped pprof");
    let profile = decode(&answer.body);
    let types: Vec<_> = profile
        .sample_types
        .iter()
        .map(|t| (t.kind.as_str(), t.unit.as_str()))
        .collect();
    assert_eq!(types, [("inuse_space", "bytes")]);

    let rows = top(&profile, 0);
    let total = profile.total(0);
    let table: String = rows
        .iter()
        .take(15)
        .map(|(name, flat, cum)| format!("{flat:>12} {cum:>12} {name}\n"))
        .collect();
    let planted = rows
        .iter()
        .find(|(name, _, _)| name.ends_with("::planted_heap_hold"))
        .unwrap_or_else(|| panic!("planted_heap_hold is on no stack:\n{table}"));
    // The allocator's frames were cut: stacks start where the program allocated.
    for (name, _, _) in &rows {
        assert!(
            !name.starts_with("_rjem_") && !name.starts_with("prof_backtrace"),
            "allocator frame {name} left in:\n{table}"
        );
    }
    // The planted 64 MiB are most of what this process holds.
    assert!(
        planted.2 * 2 > total,
        "planted_heap_hold holds {} of {total} bytes:\n{table}",
        planted.2
    );
    eprintln!("total {total}\n{table}");
}
