//! The parsers on any input: no panics, and what the kernel writes comes back exactly.

use ballast_proc::parse;
use proptest::prelude::*;

fn all_parsers(text: &str) {
    let _ = parse::stat(text);
    let _ = parse::flat_keyed(text);
    let _ = parse::single(text);
    let _ = parse::limit(text);
    let _ = parse::memory_events(text);
    let _ = parse::oom_control(text);
    let _ = parse::cpu_stat(text);
    let _ = parse::cpu_max(text);
    let _ = parse::cfs_quota(text, text);
    let _ = parse::pressure(text);
    let _ =
        parse::mountinfo(text).map(|m| m.iter().map(|m| m.v1_controllers().len()).sum::<usize>());
    let _ = parse::proc_cgroup(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        all_parsers(&text);
    }

    #[test]
    fn never_panics_on_kernel_like_text(
        text in r"((some|full|oom_kill|max|[0-9]+|-1|\(|\)|[a-z_]{1,8}|=|:|/|\\[0-7]{0,3}| |-|[0-9.]{1,6})( |\n)?){0,40}"
    ) {
        all_parsers(&text);
    }

    #[test]
    fn memory_events_round_trip(v in proptest::collection::vec(any::<u64>(), 6), with_group in any::<bool>()) {
        let mut text = format!(
            "low {}\nhigh {}\nmax {}\noom {}\noom_kill {}\n", v[0], v[1], v[2], v[3], v[4]
        );
        if with_group {
            text.push_str(&format!("oom_group_kill {}\n", v[5]));
        }
        let e = parse::memory_events(&text).unwrap();
        prop_assert_eq!(
            (e.low, e.high, e.max, e.oom, e.oom_kill, e.oom_group_kill),
            (Some(v[0]), Some(v[1]), Some(v[2]), Some(v[3]), Some(v[4]), with_group.then_some(v[5]))
        );
    }

    #[test]
    fn stat_round_trips_any_comm(
        comm in r"[ -~]{0,15}",
        pid in 1u32..4_000_000,
        ppid in 0u32..4_000_000,
        times in proptest::collection::vec(0u64..1 << 40, 4),
        threads in 1u64..10_000,
        start in any::<u64>(),
        rss in 0u64..1 << 40,
    ) {
        let text = format!(
            "{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 1 0 0 0 {} {} {} {} 20 0 {threads} 0 {start} 1000 {rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
            times[0], times[1], times[2], times[3]
        );
        let s = parse::stat(&text).unwrap();
        prop_assert_eq!(&s.comm, &comm);
        prop_assert_eq!((s.pid, s.ppid, s.state), (pid, ppid, 'S'));
        prop_assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (times[0], times[1], times[2], times[3]));
        prop_assert_eq!((s.threads, s.start_ticks, s.rss_pages), (threads, start, rss));
    }

    #[test]
    fn pressure_round_trips(
        a in proptest::collection::vec(0u32..10_000, 6),
        totals in proptest::collection::vec(any::<u64>(), 2),
        with_full in any::<bool>(),
    ) {
        let line = |kind: &str, a: &[u32], total: u64| format!(
            "{kind} avg10={}.{:02} avg60={}.{:02} avg300={}.{:02} total={total}\n",
            a[0] / 100, a[0] % 100, a[1] / 100, a[1] % 100, a[2] / 100, a[2] % 100
        );
        let mut text = line("some", &a[..3], totals[0]);
        if with_full {
            text.push_str(&line("full", &a[3..], totals[1]));
        }
        let p = parse::pressure(&text).unwrap();
        prop_assert!((p.some.avg10 - f64::from(a[0]) / 100.0).abs() < 1e-9);
        prop_assert_eq!(p.some.total_usec, totals[0]);
        prop_assert_eq!(p.full.map(|f| f.total_usec), with_full.then_some(totals[1]));
    }
}
