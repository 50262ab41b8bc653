//! Sloth's SLO plugins (`slo_plugins` of a spec, `plugins` of an SLO): Sloth runs them as
//! Go code; ballast honours the built-in ones whose effect it can write the same way, and
//! refuses the others with the reason.
//!
//! | plugin | ballast |
//! |---|---|
//! | `sloth.dev/core/sli_rules/v1` (`disableOptimized`), `core/metadata_rules/v1`, `core/alert_rules/v1` | the three rule kinds; a chain that overrides the defaults and leaves one out leaves that kind out |
//! | `sloth.dev/contrib/rule_intervals/v1` | `interval:` of each rule group |
//! | `sloth.dev/contrib/info_labels/v1` | labels merged into the info rule (or `metricName`) |
//! | `sloth.dev/contrib/remove_labels/v1` | every label but the ids removed from the recording rules |
//! | `sloth.dev/core/debug/v1` | its `msg` logged (tracing, info) when the spec is read, as Sloth logs it |
//! | `sloth.dev/contrib/validate_victoria_metrics/v1` | the expressions are MetricsQL: ballast's PromQL check, which would refuse MetricsQL's own functions, is left out for that SLO (names and labels are still checked) |
//! | anything else (`denominator_corrected_rules`, `error_budget_exhausted_alert`, custom plugins) | refused |

use super::*;
use crate::model::{RuleStep, RuleTweaks};

/// What a chain of plugins asks for, before it is applied to an SLO.
#[derive(Debug, Clone, Default)]
pub(super) struct Chain {
    /// The chain replaces what came before it (the defaults, or the spec's chain).
    override_previous: bool,
    /// Each plugin's priority and step (`None`: no effect on the rules).
    plugins: Vec<(i64, Option<RuleStep>)>,
}

impl Reader<'_> {
    /// The chain at `v[field]` (absent: an empty chain that overrides nothing).
    pub(super) fn sloth_chain(&mut self, v: &Value, base: &str, field: &str) -> Chain {
        let path = join(base, field);
        let Some(c) = v.get(field).filter(|c| !c.is_null()) else {
            return Chain::default();
        };
        if !c.is_object() {
            self.error(
                &path,
                "expected { overridePrevious, chain: [{ id, config, priority }] }",
            );
            return Chain::default();
        }
        self.known_keys(c, &path, &["overridePrevious", "chain"]);
        let override_previous = match c.get("overridePrevious") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.error(
                    &join(&path, "overridePrevious"),
                    format!("expected true or false, got {other}"),
                );
                false
            }
        };
        let items = match c.get("chain") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                self.error(&join(&path, "chain"), "expected a list of plugins");
                Vec::new()
            }
        };
        let mut plugins = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.chain[{i}]");
            if let Some(step) = self.sloth_plugin(item, &p) {
                let priority = item.get("priority").and_then(Value::as_i64).unwrap_or(0);
                plugins.push((priority, step));
            }
        }
        Chain {
            override_previous,
            plugins,
        }
    }

    /// One plugin: `Some(step)` when read (`Some(None)` for a plugin with no effect on the
    /// rules), `None` when refused.
    fn sloth_plugin(&mut self, item: &Value, path: &str) -> Option<Option<RuleStep>> {
        if !item.is_object() {
            self.error(path, "expected { id, config, priority }");
            return None;
        }
        self.known_keys(item, path, &["id", "config", "priority"]);
        if let Some(p) = item.get("priority") {
            if !p.is_i64() && !p.is_u64() {
                self.error(
                    &join(path, "priority"),
                    format!("expected a whole number, got {p}"),
                );
            }
        }
        let id = self.text(item, path, "id")?;
        let config = item.get("config").cloned().unwrap_or(Value::Null);
        let cpath = join(path, "config");
        let known = |r: &mut Self, keys: &[&str]| {
            if !config.is_null() && !config.is_object() {
                r.error(&cpath, "expected a mapping");
            }
            r.known_keys(&config, &cpath, keys);
        };
        let plugin = match id.as_str() {
            "sloth.dev/core/sli_rules/v1" => {
                known(self, &["disableOptimized"]);
                let disable_optimized = match config.get("disableOptimized") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        self.error(
                            &join(&cpath, "disableOptimized"),
                            format!("expected true or false, got {other}"),
                        );
                        false
                    }
                };
                RuleStep::SliRules {
                    exact_period: disable_optimized,
                }
            }
            "sloth.dev/core/metadata_rules/v1" => {
                known(self, &[]);
                RuleStep::MetadataRules
            }
            "sloth.dev/core/alert_rules/v1" => {
                known(self, &[]);
                RuleStep::AlertRules
            }
            "sloth.dev/contrib/rule_intervals/v1" => {
                known(self, &["interval"]);
                let ipath = join(&cpath, "interval");
                let interval = config.get("interval").cloned().unwrap_or(Value::Null);
                self.known_keys(
                    &interval,
                    &ipath,
                    &["default", "sliError", "metadata", "alert"],
                );
                let d = |r: &mut Self, key: &str| -> Option<Duration> {
                    let text = optional_text(r, &interval, &ipath, key)?;
                    match promql_parser::util::parse_duration(text.trim()) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            r.error(
                                &join(&ipath, key),
                                format!("expected a duration such as 5m: {e}"),
                            );
                            None
                        }
                    }
                };
                let default = d(self, "default");
                let (sli, metadata, alert) =
                    (d(self, "sliError"), d(self, "metadata"), d(self, "alert"));
                let Some(default) = default else {
                    self.error(&ipath, "missing key `default`: at least the default interval is required (as Sloth requires)");
                    return None;
                };
                RuleStep::Intervals {
                    sli: sli.unwrap_or(default),
                    metadata: metadata.unwrap_or(default),
                    alert: alert.unwrap_or(default),
                }
            }
            "sloth.dev/contrib/info_labels/v1" => {
                known(self, &["labels", "metricName"]);
                let labels = self.map(&config, &cpath, "labels");
                if labels.is_empty() {
                    self.error(
                        &cpath,
                        "at least one label is required in labels (as Sloth requires)",
                    );
                    return None;
                }
                RuleStep::InfoLabels {
                    metric: optional_text(self, &config, &cpath, "metricName")
                        .filter(|m| !m.is_empty()),
                    labels,
                }
            }
            "sloth.dev/contrib/remove_labels/v1" => {
                known(self, &["preserveLabels", "skipMetrics"]);
                let list = |r: &mut Self, key: &str| -> Vec<String> {
                    match config.get(key) {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(String::from))
                            .collect(),
                        Some(_) => {
                            r.error(&join(&cpath, key), "expected a list of names");
                            Vec::new()
                        }
                    }
                };
                RuleStep::RemoveLabels {
                    preserve: list(self, "preserveLabels"),
                    skip: list(self, "skipMetrics"),
                }
            }
            "sloth.dev/core/debug/v1" => {
                known(self, &["msg"]);
                if let Some(msg) = optional_text(self, &config, &cpath, "msg") {
                    tracing::info!(file = self.file, "Sloth debug plugin: {msg}");
                }
                return Some(None);
            }
            "sloth.dev/contrib/validate_victoria_metrics/v1" => {
                known(self, &[]);
                RuleStep::MetricsQl
            }
            other => {
                self.error(
                    &join(path, "id"),
                    format!(
                        "the Sloth plugin {other:?} is not supported: ballast honours the core \
                         plugins, rule_intervals, info_labels, remove_labels, debug and \
                         validate_victoria_metrics (docs/slo.md); the others run Go code inside \
                         Sloth"
                    ),
                );
                return None;
            }
        };
        Some(Some(plugin))
    }
}

/// The spec's chain and then the SLO's, as Sloth composes them: an SLO chain that overrides
/// replaces the spec's; any overriding chain replaces the default core plugins. The plugins
/// run by priority, lower first (stable), the default core plugins between the negative
/// and the others, as Sloth's generator orders them.
pub(super) fn tweaks(spec: &Chain, slo: &Chain) -> RuleTweaks {
    if spec.plugins.is_empty()
        && slo.plugins.is_empty()
        && !spec.override_previous
        && !slo.override_previous
    {
        return RuleTweaks::default();
    }
    let overridden = spec.override_previous || slo.override_previous;
    let mut plugins: Vec<(i64, Option<RuleStep>)> = Vec::new();
    if !slo.override_previous {
        plugins.extend(spec.plugins.iter().cloned());
    }
    plugins.extend(slo.plugins.iter().cloned());
    plugins.sort_by_key(|(priority, _)| *priority);
    let (before, after): (Vec<_>, Vec<_>) = plugins.into_iter().partition(|(p, _)| *p < 0);
    let mut steps: Vec<RuleStep> = before.into_iter().filter_map(|(_, s)| s).collect();
    if !overridden {
        steps.extend([
            RuleStep::SliRules {
                exact_period: false,
            },
            RuleStep::MetadataRules,
            RuleStep::AlertRules,
        ]);
    }
    steps.extend(after.into_iter().filter_map(|(_, s)| s));
    RuleTweaks { steps: Some(steps) }
}
