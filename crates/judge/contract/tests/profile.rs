//! Profiles in a contract: `phases[].profile` read into its plan, `profile.*` clauses
//! checked against what the phases capture, every mistake named with its line.

use ballast_contract::expr::{parse as parse_expr, FactKind};
use ballast_contract::profile::{ProfileKind, ProfileStat};
use ballast_contract::Contract;
use std::path::Path;
use std::time::Duration;

const CONTRACT: &str = r#"
target:
  base_url: http://127.0.0.1:18080
phases:
  - name: baseline
    rate: 50/s
    duration: 20s
    profile: { kinds: [cpu, heap, goroutine], seconds: 10 }
  - name: surge
    rate: 200/s
    duration: 8s
    profile: { url: "http://127.0.0.1:6060" }
clauses:
  - name: json is not the bottleneck
    phase: surge
    check: profile.cpu.share("encoding/json") <= 20%
  - name: the heap does not grow with the surge
    phase: surge
    check: profile.heap.inuse <= 1.5 * baseline.profile.heap.inuse
  - name: goroutines stay bounded
    check: baseline.profile.goroutine.count < 10000
"#;

fn parse(text: &str) -> Result<Contract, String> {
    Contract::parse(text, "profile.yaml", Path::new("/contracts")).map_err(|e| e.to_string())
}

#[test]
fn phases_read_into_their_plans_with_the_documented_defaults() {
    let c = parse(CONTRACT).unwrap();
    let baseline = c.phases[0].profile.as_ref().unwrap();
    assert_eq!(
        baseline.kinds,
        [ProfileKind::Cpu, ProfileKind::Heap, ProfileKind::Goroutine]
    );
    assert_eq!(baseline.window, Duration::from_secs(10));
    assert_eq!(baseline.url, "http://127.0.0.1:18080");
    let surge = c.phases[1].profile.as_ref().unwrap();
    // Default kinds cpu and heap; the window is the phase's length when under 30 s.
    assert_eq!(surge.kinds, [ProfileKind::Cpu, ProfileKind::Heap]);
    assert_eq!(surge.window, Duration::from_secs(8));
    assert_eq!(surge.url, "http://127.0.0.1:6060");
    assert_eq!(c.clauses.len(), 3);
    assert!(c.phases.iter().all(|p| p.name != "x"));
}

#[test]
fn facts_parse_print_back_and_carry_their_dimension() {
    for (text, printed) in [
        (
            r#"profile.cpu.share("encoding/json") <= 20%"#,
            r#"profile.cpu.share("encoding/json") <= 20%"#,
        ),
        (
            "profile.heap.total < 1GiB",
            "profile.heap.inuse < 1073741824B",
        ),
        (
            "surge.profile.goroutine.total < 100",
            "surge.profile.goroutine.count < 100",
        ),
        ("profile.block.total < 2s", "profile.block.total < 2000ms"),
    ] {
        let e = parse_expr(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(e.to_string(), printed);
        assert_eq!(parse_expr(printed).unwrap(), e, "{printed} reads back");
    }
    let e = parse_expr(r#"profile.mutex.share("main.(*Cache).Get") > 1%"#).unwrap();
    let ballast_contract::expr::Expr::Binary(_, fact, _) = e else {
        panic!("a comparison")
    };
    let ballast_contract::expr::Expr::Fact(fact) = *fact else {
        panic!("a fact")
    };
    assert_eq!(
        fact.kind,
        FactKind::Profile {
            kind: ProfileKind::Mutex,
            stat: ProfileStat::Share("main.(*Cache).Get".into())
        }
    );
}

#[test]
fn mistakes_are_named_with_their_line_and_what_was_expected() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "    profile: { kinds: [cpu, heep], seconds: 10 }",
            "profile.yaml:8:",
            "unknown profile kind \"heep\"; expected one of cpu, heap, allocs, goroutine, block, mutex",
        ),
        (
            "    profile: { kinds: [cpu, cpu], seconds: 10 }",
            "phases[0].profile.kinds[1]",
            "cpu is listed twice",
        ),
        (
            "    profile: { kinds: [cpu, heap, goroutine], seconds: 30 }",
            "phases[0].profile.seconds",
            "at most the phase's length (20s)",
        ),
        (
            "    profile: { kinds: [cpu, heap, goroutine], seconds: 0 }",
            "phases[0].profile.seconds",
            "expected 1 or more seconds",
        ),
        (
            "    profile: { kinds: [cpu, heap, goroutine], sekonds: 3 }",
            "profile.yaml:8:",
            "sekonds",
        ),
        (
            "    profile: { kinds: [cpu, heap, goroutine], url: \"ftp://x\" }",
            "phases[0].profile.url",
            "http:// or https://",
        ),
    ];
    for (line, place, message) in cases {
        let text = CONTRACT.replace(
            "    profile: { kinds: [cpu, heap, goroutine], seconds: 10 }",
            line,
        );
        let err = parse(&text).expect_err(line);
        assert!(err.contains(place), "{line}: {err}");
        assert!(err.contains(message), "{line}: {err}");
    }
}

#[test]
fn a_sub_second_phase_cannot_capture_and_a_token_is_kept_for_the_capture() {
    let text = CONTRACT.replace("    duration: 20s\n", "    duration: 500ms\n");
    let err = parse(&text).expect_err("a 500 ms phase");
    assert!(
        err.contains("phases[0].profile: a phase that captures profiles lasts at least 1s"),
        "{err}"
    );
    let text = CONTRACT.replace(
        "    profile: { url: \"http://127.0.0.1:6060\" }",
        "    profile: { url: \"http://127.0.0.1:6060\", token: s3cret }",
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.phases[1].profile.as_ref().unwrap().token.as_deref(),
        Some("s3cret")
    );
    let text = CONTRACT.replace(
        "    profile: { url: \"http://127.0.0.1:6060\" }",
        "    profile: { url: \"http://127.0.0.1:6060\", token: \" \" }",
    );
    assert!(parse(&text)
        .unwrap_err()
        .contains("phases[1].profile.token"));
}

#[test]
fn clauses_need_a_phase_that_captures_the_kind_they_read() {
    let cases: &[(&str, &str)] = &[
        (
            "baseline.profile.mutex.total < 1s",
            "phase \"baseline\" does not capture a mutex profile; add mutex to its profile.kinds",
        ),
        (
            "profile.cpu.total < 1s",
            "profile.cpu.… is captured per phase: give the clause a phase, or write PHASE.profile.cpu.…",
        ),
        ("profile.heap.count < 3", "unknown heap profile fact \"count\"; expected total, inuse or share"),
        ("profile.cpu.share(\"\") < 3%", "share(\"\") matches every stack"),
        ("baseline.profile.cpu.share(\"main\") < 3ms", "cannot compare"),
        (
            "request(\"x\").profile.cpu.total < 1s",
            "unknown request",
        ),
    ];
    for (check, message) in cases {
        let text = CONTRACT.replace(
            "    check: baseline.profile.goroutine.count < 10000",
            &format!("    check: '{check}'"),
        );
        let err = parse(&text).expect_err(check);
        assert!(err.contains("profile.yaml:21:"), "{check}: {err}");
        assert!(err.contains(message), "{check}: {err}");
    }
    // A phase without profile: in a clause's own phase.
    let text = CONTRACT.replace("    profile: { url: \"http://127.0.0.1:6060\" }\n", "");
    let err = parse(&text).expect_err("surge captures nothing");
    assert!(
        err.contains("phase \"surge\" captures no profiles; add profile: {kinds: [cpu]} to it"),
        "{err}"
    );
}
