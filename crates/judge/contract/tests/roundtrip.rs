//! Property tests: contracts written from generated values load back to the same values.

use ballast_contract::Contract;
use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone)]
struct PhaseGen {
    name: String,
    from: u32,
    to: Option<u32>,
    millis: u64,
    warmup_millis: u64,
}

fn phase() -> impl Strategy<Value = PhaseGen> {
    (
        "[a-z][a-z0-9_-]{0,10}",
        1u32..100_000,
        proptest::option::of(0u32..100_000),
        1u64..3_600_000,
        0u64..60_000,
    )
        .prop_map(|(name, from, to, millis, warmup_millis)| PhaseGen {
            name,
            from,
            to,
            millis,
            warmup_millis,
        })
}

use ballast_contract::expr::RESERVED;

/// Found by the generator below: phases named like a metric (`max`, `p12`) printed as
/// `max.p95`, which reads back as the metric `max` and a stray dot.
#[test]
fn phases_named_like_metrics_print_back_in_phase_form() {
    for name in ["max", "p12", "rps", "mean", "p999x", "errors"] {
        let text = format!(
            "target: {{ base_url: \"http://127.0.0.1:9\" }}\nphases:\n  - {{ name: {name}, rate: 1/s, duration: 1s }}\nclauses:\n  - {{ name: c, check: 'phase(\"{name}\").p95 < 1s' }}\n"
        );
        let contract = Contract::parse(&text, "gen.yaml", Path::new(".")).unwrap();
        let printed = contract.clauses[0].expr.to_string();
        let again = ballast_contract::expr::parse(&printed)
            .unwrap_or_else(|e| panic!("{name}: {printed}: {e}"));
        assert_eq!(again, contract.clauses[0].expr, "{name}: {printed}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_contracts_load_back_exactly(
        phases in proptest::collection::vec(phase(), 1..6),
        threshold in 1u32..10_000,
        factor in 1u32..10,
        warn in any::<bool>(),
    ) {
        let mut names = std::collections::BTreeSet::new();
        let phases: Vec<PhaseGen> = phases
            .into_iter()
            .filter(|p| !RESERVED.contains(&p.name.as_str()) && names.insert(p.name.clone()))
            .collect();
        prop_assume!(!phases.is_empty());
        let mut text = String::from("target: { base_url: \"http://127.0.0.1:9\" }\nphases:\n");
        for p in &phases {
            let rate = match p.to {
                Some(to) => format!("{}/s..{}/s", p.from, to),
                None => format!("{}/s", p.from),
            };
            text.push_str(&format!(
                "  - name: {}\n    rate: \"{rate}\"\n    duration: {}ms\n    warmup: {}ms\n",
                p.name, p.millis, p.warmup_millis
            ));
        }
        let first = &phases[0].name;
        let last = &phases[phases.len() - 1].name;
        // Names with a dash are written phase("…") in expressions; others either way.
        let reference = if first.contains('-') || warn { format!("phase(\"{first}\")") } else { first.clone() };
        text.push_str(&format!(
            "clauses:\n  - name: c\n    phase: {last}\n    severity: {}\n    check: p95 <= {factor} * {reference}.p95 + {threshold}ms\n",
            if warn { "warn" } else { "fail" }
        ));

        let contract = Contract::parse(&text, "gen.yaml", Path::new(".")).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(contract.phases.len(), phases.len());
        for (loaded, written) in contract.phases.iter().zip(&phases) {
            prop_assert_eq!(&loaded.name, &written.name);
            prop_assert_eq!(loaded.duration, Duration::from_millis(written.millis));
            prop_assert_eq!(loaded.warmup, Duration::from_millis(written.warmup_millis));
            let start = loaded.rate.at_fraction(0.0).per_second();
            let end = loaded.rate.at_fraction(1.0).per_second();
            prop_assert_eq!(start, f64::from(written.from));
            prop_assert_eq!(end, f64::from(written.to.unwrap_or(written.from)));
        }
        let clause = &contract.clauses[0];
        prop_assert_eq!(clause.phase.as_deref(), Some(last.as_str()));
        // The compiled expression prints to text that compiles to the same expression.
        let again = ballast_contract::expr::parse(&clause.expr.to_string()).unwrap();
        prop_assert_eq!(&again, &clause.expr);
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "[a-z_:{}\\[\\]\"' \n0-9./%-]{0,200}") {
        match Contract::parse(&text, "x.yaml", Path::new("/nonexistent")) {
            Ok(_) => {}
            Err(ballast_contract::Error::Invalid(d)) => prop_assert!(!d.is_empty()),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}
