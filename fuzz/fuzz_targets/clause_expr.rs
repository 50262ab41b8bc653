//! Clause expressions: parse, check, evaluate, and print back to the same tree.
#![no_main]
use ballast_contract::expr::{self, CheckContext, Fact, Facts};
use libfuzzer_sys::fuzz_target;

struct Everything;
impl Facts for Everything {
    fn value(&self, fact: &Fact, _phase: Option<&str>) -> Option<f64> {
        Some(fact.to_string().len() as f64)
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = expr::parse(text) {
            let phases = vec!["baseline".to_string(), "surge".to_string()];
            let requests = vec!["checkout".to_string()];
            // Both phases capture every profile kind, so profile.* clauses are checked too.
            let profiles: Vec<(String, Vec<ballast_contract::profile::ProfileKind>)> = phases
                .iter()
                .map(|p| (p.clone(), ballast_contract::profile::ProfileKind::ALL.to_vec()))
                .collect();
            let ctx = CheckContext {
                phases: &phases,
                requests: &requests,
                has_metrics: true,
                has_process: true,
                profiles: &profiles,
                clause_phase: Some("surge"),
            };
            if parsed.check(&ctx).is_ok() {
                let _ = parsed.evaluate(&Everything, Some("surge"));
            }
            let printed = parsed.to_string();
            let again = expr::parse(&printed).expect("a printed expression parses");
            assert_eq!(again.to_string(), printed);
        }
    }
});
