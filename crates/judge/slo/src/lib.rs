//! ballast's SLO engine (*judge*): error budgets, multiwindow multi-burn-rate alerts as
//! Prometheus rules, and the live status of SLOs from Prometheus or VictoriaMetrics.
//!
//! - [`load_file`] reads SLOs from a ballast contract (`slos:`), OpenSLO v1 and v1alpha
//!   documents (in any mix), Sloth specs (`prometheus/v1` and the Kubernetes
//!   `PrometheusServiceLevel`) or Pyrra's `ServiceLevelObjective` into one [`Slo`] model. Nothing
//!   is ignored: every document and every field is read into the model or refused with
//!   file, line, column and field, a field OpenSLO or Sloth defines but ballast does not
//!   support saying so.
//! - [`Budget`] is the seed's arithmetic: 99.9 % over 30 days allows 43.2 minutes.
//! - [`rules::generate`] writes recording and alerting rules (`promtool check rules` clean).
//! - [`dashboard::build`] makes a Grafana dashboard that reads only those rules.
//! - [`status::status`] asks a live server for error ratios and burn rates.
//! - [`verify_report::spend`] tells what a `ballast verify` run cost in budget.
//!
//! ```
//! use ballast_slo::{load_str, Budget};
//! use std::time::Duration;
//!
//! let budget = Budget::new(0.999, Duration::from_secs(30 * 86_400)).unwrap();
//! assert_eq!(budget.as_time().as_secs_f64() / 60.0, 43.2);
//!
//! let spec = r#"
//! version: prometheus/v1
//! service: shop
//! slos:
//!   - name: requests-availability
//!     objective: 99.9
//!     sli:
//!       events:
//!         error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
//!         total_query: sum(rate(http_requests_total[{{.window}}]))
//!     alerting:
//!       name: ShopHighErrorRate
//! "#;
//! let slos = load_str(spec, "shop.yaml", ".".as_ref())?;
//! let rules = ballast_slo::rules::generate(&slos)?;
//! assert!(rules.contains("record: slo:sli_error:ratio_rate5m"));
//! assert!(rules.contains("severity: \"page\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod budget;
pub mod dashboard;
mod error;
mod load;
mod model;
pub mod promql;
pub mod rules;
pub mod status;
pub mod verify_report;

pub use budget::{Budget, Spend};
pub use error::Error;
pub use load::{
    alert_windows_str, apply_periods, load_alert_windows, load_file, load_str, AlertWindows,
};
pub use model::{Alerting, BurnWindow, KubeObject, RuleStep, RuleTweaks, Sli, Slo};
pub use rules::{Flavour, RuleOptions};
