//! Are two Prometheus rule files equivalent? Both are evaluated by one `promtool test rules`
//! run on the same synthetic input series, scenario by scenario, and every recording rule
//! and alert of one is compared with the other's at every evaluation step.
//!
//! ```sh
//! cargo run -p ballast-slo --example rules_equivalence -- OURS.yml THEIRS.yml \
//!     [--scenario healthy|blip|outage|slow-burn|all] [--keep DIR]
//! ```
//!
//! Exit 0: equivalent; 1: different; 2: bad input. See docs/slo.md, "Equivalence with Sloth".

#[path = "rules_equivalence/mod.rs"]
mod tool;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let report = tool::run(&args);
    print!("{}", report.stdout);
    eprint!("{}", report.stderr);
    std::process::exit(report.code);
}
