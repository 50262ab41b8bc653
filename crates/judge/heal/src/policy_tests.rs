//! The policy file's errors: file, line, column, field, and what was expected.

use crate::*;

fn err(text: &str) -> String {
    Policies::parse(text, "heal.yaml", ".".as_ref())
        .unwrap_err()
        .to_string()
}

const GOOD: &str = r#"listen: 127.0.0.1:9095
prometheus: http://127.0.0.1:9090
policies:
  - name: shop
    match: { labels: { alertname: ShopLatency } }
    verify: { query: 'histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))', below: 0.2 }
    actions:
      - http: { url: "http://127.0.0.1:1/{{ labels.service | url }}", body: '{"fp": {{ fingerprint | json }}}' }
"#;

#[test]
fn a_good_file_reads_with_its_defaults() {
    let p = Policies::parse(GOOD, "heal.yaml", "/etc/ballast".as_ref()).unwrap();
    assert_eq!(p.state_dir, std::path::Path::new("/etc/ballast/heal-state"));
    let shop = &p.policies[0];
    assert_eq!((shop.attempts, shop.max_actions_per_hour), (2, 6));
    assert_eq!(shop.cooldown.as_secs(), 600);
    assert_eq!(shop.actions[0].1, 8, "the action's line");
    let v = shop.verify.as_ref().unwrap();
    assert!(v.below && v.bound == 0.2 && v.good(0.1) && !v.good(0.3) && !v.good(f64::NAN));
}

#[test]
fn every_problem_names_its_line_and_field() {
    let e = err(&GOOD.replace("listen: 127.0.0.1:9095", "listen: 0.0.0.0:9095"));
    assert!(
        e.contains("heal.yaml:1:") && e.contains("set `auth`"),
        "{e}"
    );
    let e = err(&GOOD.replace("below: 0.2", "below: 0.2, above: 0.1"));
    assert!(
        e.contains("heal.yaml:6:") && e.contains("exactly one of below or above"),
        "{e}"
    );
    let e = err(&GOOD.replace("http: {", "htp: {"));
    assert!(
        e.contains("heal.yaml:8:") && e.contains("unknown variant `htp`"),
        "{e}"
    );
    let e = err(&GOOD.replace("{{ labels.service | url }}", "{{ label.service }}"));
    assert!(e.contains("policies[0].actions[0].http.url"), "{e}");
    let e = err(&GOOD.replace("name: shop", "name: shop\n    cooldwn: 5m"));
    assert!(
        e.contains("heal.yaml:5:5") && e.contains("unknown key `cooldwn`"),
        "{e}"
    );
    let e = err(&GOOD.replace("match: { labels: { alertname: ShopLatency } }", "match: {}"));
    assert!(e.contains("would act on every alert"), "{e}");
    let e = err(&GOOD.replace("prometheus: http://127.0.0.1:9090\n", ""));
    assert!(e.contains("set the file's `prometheus:`"), "{e}");
    let e = err(&GOOD.replace("listen:", "lisen:"));
    assert!(
        e.contains("heal.yaml:1:1") && e.contains("expected one of listen, auth"),
        "{e}"
    );
    let e = err(&GOOD.replace("rate(x_bucket[1m])", "rate(x_bucket[1m]"));
    assert!(e.contains("not PromQL"), "{e}");
}

#[test]
fn actions_are_checked_before_anything_runs() {
    let with = |action: &str| {
        GOOD.replace(
        r#"      - http: { url: "http://127.0.0.1:1/{{ labels.service | url }}", body: '{"fp": {{ fingerprint | json }}}' }"#,
        action,
    )
    };
    assert!(
        err(&with("      - exec: { argv: [/bin/sh, -c, 'kill 1'] }"))
            .contains("never go through a shell")
    );
    assert!(err(&with("      - exec: { argv: [] }")).contains("the program and its arguments"));
    assert!(err(&with(
        "      - tower: { admin: 'http://h/admin', token_env: T }"
    ))
    .contains("at least one of limit"));
    assert!(err(&with(
        "      - tower: { admin: 'http://h/admin', token_env: T, limit: 0 }"
    ))
    .contains("at least 1, or auto"));
    assert!(err(&with(
        "      - go_gc: { admin: 'ftp://h/admin', token_env: T, percent: 50 }"
    ))
    .contains("http:// or https://"));
    assert!(err(&with("      - chaos: { api: 'http://h', proxy: p }"))
        .contains("exactly one of add_toxic"));
    assert!(err(&with(
        "      - restart: { supervisor: 'http://h', service: s, token_env: 'A B' }"
    ))
    .contains("environment variable's name"));
    let ok = with(
        "      - chaos: { api: 'http://127.0.0.1:8474', proxy: inventory, remove_toxic: slow }",
    );
    assert!(Policies::parse(&ok, "h.yaml", ".".as_ref()).is_ok());
}

#[test]
fn duplicate_names_and_bad_windows_are_refused() {
    let two = format!("{GOOD}{}", &GOOD[GOOD.find("  - name").unwrap()..]);
    assert!(err(&two).contains("also the name of policies[0]"));
    let m = GOOD.replace("policies:", "maintenance:\n  - { weekly: { days: [someday], start: '02:00', end: '04:00' } }\npolicies:");
    let e = err(&m);
    assert!(
        e.contains("maintenance[0].weekly.days") && e.contains("\"someday\""),
        "{e}"
    );
}
