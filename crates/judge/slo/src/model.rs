//! One model for every SLO source (contracts, OpenSLO, Sloth).

use std::collections::BTreeMap;
use std::time::Duration;

/// A service level objective, whatever file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Service it belongs to.
    pub service: String,
    /// Name, unique within the service.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Share of good events, 0..1 (99.9 % = 0.999).
    pub objective: f64,
    /// Compliance window (rolling).
    pub window: Duration,
    /// The spec gave no window (Sloth specs never do; OpenSLO v1alpha may not), so
    /// `ballast slo rules --default-period` may set it.
    pub window_is_default: bool,
    /// How bad events are counted.
    pub sli: Sli,
    /// Labels added to every generated rule.
    pub labels: BTreeMap<String, String>,
    /// Burn-rate alerting.
    pub alerting: Alerting,
    /// Where it was defined (`file:line`), for messages.
    pub origin: String,
    /// The format it was read from (`prometheus/v1`, `sloth.slok.dev/v1`,
    /// `openslo/v1alpha`, `openslo/v1`, `pyrra.dev/v1alpha1`, `ballast/contract`): Sloth's
    /// `sloth_spec` info label in `--compat sloth`.
    pub spec: String,
    /// Changes to the generated rules the spec asks for (Sloth's built-in SLO plugins).
    pub tweaks: RuleTweaks,
    /// The Kubernetes resource it was read from (Sloth's `PrometheusServiceLevel`), whose
    /// rules are written as a `PrometheusRule` of the same name and namespace.
    pub kubernetes: Option<KubeObject>,
}

/// Changes to an SLO's generated rules, as Sloth's built-in SLO plugins make them
/// (`sloth.dev/core/*` and `sloth.dev/contrib/*`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleTweaks {
    /// The steps, in the order Sloth runs its plugins (by priority, the default core
    /// plugins at 0); `None`: the default steps (SLI rules, metadata rules, alerts).
    pub steps: Option<Vec<RuleStep>>,
}

/// One step of making an SLO's rules (one Sloth plugin).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleStep {
    /// Make the SLI recording rules (`core/sli_rules`); `exact_period`: the period ratio
    /// over the whole period (`disableOptimized`).
    SliRules {
        /// Query the whole period for its ratio.
        exact_period: bool,
    },
    /// Make the metadata recording rules (`core/metadata_rules`).
    MetadataRules,
    /// Make the alerts (`core/alert_rules`).
    AlertRules,
    /// Evaluation intervals of the three groups (`contrib/rule_intervals`).
    Intervals {
        /// SLI recording group.
        sli: Duration,
        /// Metadata recording group.
        metadata: Duration,
        /// Alert group.
        alert: Duration,
    },
    /// Labels merged into one metadata rule (`contrib/info_labels`), if it is made by then.
    InfoLabels {
        /// The recorded name (`None`: the info rule).
        metric: Option<String>,
        /// The labels.
        labels: BTreeMap<String, String>,
    },
    /// The expressions are MetricsQL, for VictoriaMetrics (`contrib/validate_victoria_metrics`):
    /// not checked by the PromQL parser, which would refuse MetricsQL's own functions.
    MetricsQl,
    /// Every label but the ids (and the window) removed from the recording rules made by
    /// then (`contrib/remove_labels`).
    RemoveLabels {
        /// Labels kept besides.
        preserve: Vec<String>,
        /// Recorded names left alone.
        skip: Vec<String>,
    },
}

/// The metadata of a Kubernetes resource an SLO was read from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubeObject {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels` (of the resource; they go on the PrometheusRule, not the series).
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations` (likewise).
    pub annotations: BTreeMap<String, String>,
}

/// How the error ratio is computed. Queries are PromQL with the range written as
/// `{{.window}}` (Sloth's placeholder), or bare selectors that get `sum(rate(…[w]))`.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Bad events over all events (counters).
    Events {
        /// Query of bad events.
        errors: String,
        /// Query of all events.
        total: String,
    },
    /// Good events over all events; bad = total − good.
    Good {
        /// Query of good events.
        good: String,
        /// Query of all events.
        total: String,
    },
    /// An expression that is the error ratio itself.
    Raw {
        /// Error-ratio query.
        error_ratio: String,
    },
    /// Requests slower than `threshold` from a Prometheus histogram.
    Latency {
        /// The histogram's base name (without `_bucket`), with optional label matchers
        /// inside braces, e.g. `http_request_duration_seconds{route="/orders"}`.
        histogram: String,
        /// The threshold in seconds; must be a bucket boundary (`le`).
        threshold_seconds: f64,
    },
    /// Good while an instant query compares with a value (OpenSLO `thresholdMetric`): the
    /// error ratio is the share of the window the comparison failed, sampled by subquery.
    Threshold {
        /// The instant query, e.g. a p99 latency from a histogram.
        query: String,
        /// `lt`, `lte`, `gt` or `gte`: how a good value compares with `value`.
        op: String,
        /// The value.
        value: f64,
    },
    /// Measured by `ballast verify` (contract `availability`): failed requests over all.
    VerifyAvailability {
        /// One request template, or all.
        request: Option<String>,
    },
    /// Measured by `ballast verify` (contract `latency`): requests slower than the threshold.
    VerifyLatency {
        /// The threshold.
        threshold: Duration,
        /// One request template, or all.
        request: Option<String>,
    },
}

/// A pair of windows that must both burn faster than `factor` for the alert to fire
/// (Google SRE workbook, chapter 5: multiwindow, multi-burn-rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnWindow {
    /// Long window: enough budget is really burning.
    pub long: Duration,
    /// Short window: it is still burning now (the alert resets quickly).
    pub short: Duration,
    /// Burn rate threshold (1 = exactly the budget over the SLO window).
    pub factor: f64,
}

/// Alerting settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// Alert name (Prometheus `alert:`).
    pub name: String,
    /// Page when any of these burns (defaults: 2 % of budget in 1 h, 5 % in 6 h). The
    /// first pair's short window is the base of the period ratio and the current burn rate,
    /// as Sloth's page-quick short window is.
    pub page: Vec<BurnWindow>,
    /// Ticket when any of these burns (defaults: 10 % in 1 d, 10 % in 3 d).
    pub ticket: Vec<BurnWindow>,
    /// Extra labels on page alerts.
    pub page_labels: BTreeMap<String, String>,
    /// Extra labels on ticket alerts.
    pub ticket_labels: BTreeMap<String, String>,
    /// Annotations on both.
    pub annotations: BTreeMap<String, String>,
    /// Annotations of page alerts only (over `annotations`).
    pub page_annotations: BTreeMap<String, String>,
    /// Annotations of ticket alerts only (over `annotations`).
    pub ticket_annotations: BTreeMap<String, String>,
    /// No page alert is written; the page windows are still recorded (Sloth's
    /// `page_alert.disable`).
    pub page_disabled: bool,
    /// No ticket alert is written; its windows are still recorded.
    pub ticket_disabled: bool,
    /// Prometheus `for:` on both (default none: the short window already debounces).
    pub hold: Duration,
}

impl Alerting {
    /// The workbook's defaults, scaled to `window`: the factor of each pair is the share
    /// of budget it catches times the SLO window over the long window (14.4, 6, 3 and 1
    /// for 30 days).
    pub fn defaults(name: &str, window: Duration) -> Alerting {
        let hour = Duration::from_secs(3600);
        let pair = |share: f64, long: Duration, short: Duration| BurnWindow {
            long,
            short,
            factor: share * window.as_secs_f64() / long.as_secs_f64(),
        };
        Alerting {
            name: name.to_string(),
            page: vec![pair(0.02, hour, hour / 12), pair(0.05, hour * 6, hour / 2)],
            ticket: vec![
                pair(0.10, hour * 24, hour * 2),
                pair(0.10, hour * 72, hour * 6),
            ],
            page_labels: BTreeMap::new(),
            ticket_labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            page_annotations: BTreeMap::new(),
            ticket_annotations: BTreeMap::new(),
            page_disabled: false,
            ticket_disabled: false,
            hold: Duration::ZERO,
        }
    }
}

impl Slo {
    /// `service-name`, the id used in rule labels.
    pub fn id(&self) -> String {
        format!("{}-{}", self.service, self.name)
    }

    /// The window the period ratio and the current burn rate are computed from: the first
    /// page pair's short window (Sloth's page-quick short window), else the shortest.
    pub fn base_window(&self) -> Duration {
        self.alerting
            .page
            .first()
            .map(|p| p.short)
            .or_else(|| self.alert_windows().first().copied())
            .unwrap_or(self.window)
    }

    /// Every window an error ratio is needed for: the alert windows, sorted.
    pub fn alert_windows(&self) -> Vec<Duration> {
        let mut windows: Vec<Duration> = self
            .alerting
            .page
            .iter()
            .chain(&self.alerting.ticket)
            .flat_map(|w| [w.long, w.short])
            .collect();
        windows.sort();
        windows.dedup();
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn every_pair_catches_its_share_of_the_budget(days in 1u64..400) {
            let window = Duration::from_secs(days * 86_400);
            let a = Alerting::defaults("x", window);
            let shares = [0.02, 0.05, 0.10, 0.10];
            for (pair, share) in a.page.iter().chain(&a.ticket).zip(shares) {
                // Burning at the factor for the long window spends exactly the share.
                let spent = pair.factor * pair.long.as_secs_f64() / window.as_secs_f64();
                proptest::prop_assert!((spent - share).abs() < 1e-9);
                proptest::prop_assert!(pair.short < pair.long);
            }
        }
    }

    #[test]
    fn defaults_are_the_workbook_factors_for_30_days() {
        let a = Alerting::defaults("x", Duration::from_secs(30 * 86_400));
        let factors: Vec<f64> = a
            .page
            .iter()
            .chain(&a.ticket)
            .map(|w| (w.factor * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(factors, vec![14.4, 6.0, 3.0, 1.0]);
        let week = Alerting::defaults("x", Duration::from_secs(7 * 86_400));
        assert!((week.page[0].factor - 3.36).abs() < 1e-9);
    }
}
