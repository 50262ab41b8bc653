//! Stability contracts (*judge*): what traffic to send, what faults to inject, and what
//! must hold — the seed's "golden contract table" as a file.
//!
//! - [`ContractFile`] and friends are the YAML as written (documented in
//!   `docs/contract.md`; [`json_schema`] publishes it for editors).
//! - [`Contract::load`] reads a file and checks **everything** before any traffic: every
//!   problem comes back at once as a [`Diagnostic`] with file, line, column, field path
//!   and what was expected.
//! - [`expr`] is the clause language (`p95 <= 2 * baseline.p95 and process.oom_kills == 0`).
//!
//! ```
//! let text = r#"
//! target: { base_url: "http://127.0.0.1:8080" }
//! phases:
//!   - { name: baseline, rate: 100/s, duration: 10s }
//!   - { name: surge, rate: 400/s, duration: 10s }
//! clauses:
//!   - name: surge keeps p95 within twice the baseline
//!     phase: surge
//!     check: p95 <= 2 * baseline.p95
//! "#;
//! let contract = ballast_contract::Contract::parse(text, "shop.yaml", std::path::Path::new("."))?;
//! assert_eq!(contract.phases[1].rate.to_string(), "400/s");
//!
//! let broken = text.replace("400/s", "fast");
//! let err = ballast_contract::Contract::parse(&broken, "shop.yaml", std::path::Path::new(".")).unwrap_err();
//! assert!(err.to_string().contains("shop.yaml:5:26: phases[1].rate: expected a rate"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod chaos_mesh;
mod env;
mod error;
pub mod expr;
pub mod faults;
mod load;
mod model;
mod openapi;
mod plan;
pub mod profile;
pub mod yaml;

pub use error::{render as render_diagnostics, Diagnostic, Error};
pub use model::*;
pub use openapi::contract_from_openapi;
pub use plan::{
    AbortPlan, ChaosPlan, ClausePlan, Contract, PhasePlan, ProxyPlan, ReadyPlan, SloPlan,
    SpawnPlan, TargetPlan,
};

/// The JSON Schema of the contract file, for editors (`ballast contract schema`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ContractFile)).unwrap_or_default()
}
