//! Sloth's built-in SLO plugins as ballast honours them, in Sloth's order: by priority,
//! the default core plugins at 0, an overriding chain replacing them.

use ballast_slo::load_str;
use ballast_slo::rules::{generate_with, Flavour, RuleOptions};

fn rules(plugins: &str) -> Result<String, String> {
    let spec = format!(
        r#"version: prometheus/v1
service: shop
labels: {{ team: web }}
{plugins}
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total[{{{{.window}}}}]))
    alerting:
      name: ShopAvailability
"#
    );
    let slos = load_str(&spec, "shop.yaml", ".".as_ref()).map_err(|e| e.to_string())?;
    let options = RuleOptions {
        flavour: Flavour::Sloth,
        ..RuleOptions::default()
    };
    generate_with(&slos, &options).map_err(|e| e.to_string())
}

/// The text of the rule recording `name` (up to the next rule).
fn rule<'a>(rules: &'a str, name: &str) -> &'a str {
    let start = rules
        .find(&format!("record: {name}\n"))
        .unwrap_or_else(|| panic!("no {name}:\n{rules}"));
    let rest = &rules[start..];
    let end = rest[1..].find("- record:").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn intervals_go_on_each_group() {
    let r = rules(
        "slo_plugins:\n  chain:\n    - id: sloth.dev/contrib/rule_intervals/v1\n      config: { interval: { default: 2m, alert: 30s } }",
    )
    .unwrap();
    let intervals: Vec<&str> = r.lines().filter(|l| l.contains("interval:")).collect();
    assert_eq!(
        intervals,
        ["    interval: 2m", "    interval: 2m", "    interval: 30s"],
        "{r}"
    );
}

#[test]
fn info_labels_join_the_info_rule_and_remove_labels_strips_the_others() {
    let r = rules(
        "slo_plugins:\n  chain:\n    - id: sloth.dev/contrib/info_labels/v1\n      config: { labels: { owner: web_team } }\n    - id: sloth.dev/contrib/remove_labels/v1",
    )
    .unwrap();
    let info = rule(&r, "sloth_slo_info");
    assert!(
        info.contains("owner: \"web_team\"") && info.contains("team: \"web\""),
        "{info}"
    );
    let ratio = rule(&r, "slo:sli_error:ratio_rate5m");
    assert!(!ratio.contains("team:"), "{ratio}");
    assert!(
        ratio.contains("sloth_window: \"5m\"") && ratio.contains("sloth_id:"),
        "{ratio}"
    );
    assert!(!rule(&r, "slo:objective:ratio").contains("team:"));
}

#[test]
fn plugins_before_the_core_ones_find_no_rules_to_change() {
    // At a negative priority, Sloth runs info_labels before the metadata rules exist.
    let r = rules(
        "slo_plugins:\n  chain:\n    - id: sloth.dev/contrib/info_labels/v1\n      priority: -1\n      config: { labels: { owner: web_team } }",
    )
    .unwrap();
    assert!(!r.contains("owner"), "{r}");
}

#[test]
fn an_overriding_chain_makes_only_what_it_lists() {
    let r = rules(
        "slo_plugins:\n  overridePrevious: true\n  chain:\n    - id: sloth.dev/core/sli_rules/v1\n      config: { disableOptimized: true }",
    )
    .unwrap();
    assert!(
        !r.contains("- alert:") && !r.contains("slo:objective:ratio"),
        "{r}"
    );
    // disableOptimized: the period ratio is the SLI over the whole period.
    let period = rule(&r, "slo:sli_error:ratio_rate30d");
    assert!(
        period.contains("[30d]") && !period.contains("sum_over_time"),
        "{period}"
    );
}

#[test]
fn unknown_plugins_and_bad_options_are_refused_where_they_stand() {
    let e = rules("slo_plugins:\n  chain:\n    - id: example.com/custom/v1").unwrap_err();
    assert!(
        e.contains("shop.yaml:6:") && e.contains("\"example.com/custom/v1\" is not supported"),
        "{e}"
    );
    let e = rules(
        "slo_plugins:\n  chain:\n    - id: sloth.dev/contrib/info_labels/v1\n      config: { labels: {}, metric: x }",
    )
    .unwrap_err();
    assert!(e.contains("config.metric: unknown field"), "{e}");
    assert!(e.contains("at least one label is required"), "{e}");
    let e =
        rules("slo_plugins:\n  chain:\n    - id: sloth.dev/core/debug/v1\n      priority: high")
            .unwrap_err();
    assert!(e.contains("priority: expected a whole number"), "{e}");
}
