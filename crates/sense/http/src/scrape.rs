//! The target's Prometheus metrics: the text exposition format parsed, and a scraper
//! that samples it every second during a run over one kept-alive connection.

use crate::client::{Client, ClientConfig};
use crate::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One series' value in one scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Metric name.
    pub name: String,
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// One scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    /// Every series on the page.
    pub series: Vec<Series>,
}

/// Parses Prometheus text exposition (version 0.0.4). Comments and blank lines are
/// skipped; an invalid line is an error naming its number.
pub fn parse_exposition(text: &str) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            parse_line(line).map_err(|e| format!("line {}: {e}: {:?}", i + 1, truncate(line)))?,
        );
    }
    Ok(out)
}

fn truncate(line: &str) -> String {
    line.chars().take(80).collect()
}

fn parse_line(line: &str) -> Result<Series, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("expected a metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        labels = parsed;
        rest = remaining;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("expected a value after the name")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|_| format!("expected a number, got {v:?}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("expected a timestamp in ms, got {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("unexpected text after the value".into());
    }
    labels.sort();
    Ok(Series {
        name: name.to_string(),
        labels,
        value,
    })
}

type Labels = Vec<(String, String)>;

/// Parses `a="x",b="y"}` (after the opening brace); returns the labels and the rest.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("expected label=\"value\"")?;
        let name = s[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid label name {name:?}"));
        }
        s = s[eq + 1..].trim_start();
        let mut chars = s.char_indices();
        if !matches!(chars.next(), Some((_, '"'))) {
            return Err("expected a quoted label value".into());
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        let end = end.ok_or("unterminated label value")?;
        labels.push((name.to_string(), value));
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// Scrapes a metrics URL; samples are kept for the whole run.
#[derive(Clone)]
pub struct Scraper {
    client: Client,
    url: url::Url,
    start: Instant,
    samples: Arc<Mutex<Vec<Sample>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Scraper {
    /// A scraper of `url` whose sample times count from `start`. A scrape is one attempt
    /// within 5 s: a slow target shows as a missed second, not as a late one.
    pub fn new(url: &str, start: Instant) -> Result<Self, Error> {
        let client = ClientConfig {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retries: 0,
            ..ClientConfig::default()
        }
        .build()?;
        Ok(Scraper {
            client,
            url: ballast_spec::parse_http_url(url)?,
            start,
            samples: Default::default(),
            failures: Default::default(),
        })
    }

    /// Scrapes once now; a failure is remembered (and reported), not fatal.
    pub async fn scrape_now(&self) {
        let t = self.start.elapsed().as_secs_f64();
        let page = self.client.get_text(&self.url).await;
        match page.and_then(|text| {
            parse_exposition(&text).map_err(|message| Error::Format {
                url: self.url.to_string(),
                message,
            })
        }) {
            Ok(series) => self
                .samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Sample { t, series }),
            Err(e) => self
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string()),
        }
    }

    /// Scrapes every second until dropped (the task is aborted by the caller).
    pub fn spawn_every_second(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                me.scrape_now().await;
            }
        })
    }

    /// All samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Scrape failures so far.
    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_exposition_format() {
        let text = "# HELP shop_fallback_total Fallbacks.\n# TYPE shop_fallback_total counter\n\
            shop_fallback_total{source=\"cache\",le=\"a\\\"b\"} 17 1700000000000\n\
            go_goroutines 42\nprocess_resident_memory_bytes 1.5e+08\nx_bucket{le=\"+Inf\"} +Inf\n";
        let series = parse_exposition(text).unwrap();
        assert_eq!(series.len(), 4);
        assert_eq!(series[0].name, "shop_fallback_total");
        assert_eq!(
            series[0].labels,
            vec![
                ("le".into(), "a\"b".into()),
                ("source".into(), "cache".into())
            ]
        );
        assert_eq!(series[0].value, 17.0);
        assert_eq!(series[2].value, 1.5e8);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_exposition("ok 1\nbad{x=1} 2\n").unwrap_err();
        assert!(
            err.starts_with("line 2: expected a quoted label value"),
            "{err}"
        );
        assert!(parse_exposition("a 1 2 3")
            .unwrap_err()
            .contains("unexpected text"));
        assert!(parse_exposition("a notanumber")
            .unwrap_err()
            .contains("expected a number"));
    }

    proptest! {
        #[test]
        fn never_panics(text in "[a-z_{}=\",. 0-9\\n#+\\\\]{0,80}") {
            let _ = parse_exposition(&text);
        }
    }
}
