//! A weighted mix of request templates, and what counts as a good response for each.

use crate::request::PreparedRequest;
use crate::Error;
use ballast_spec::template::{CsvTable, RenderContext, Rng, Template};
use ballast_spec::Target;
use ballast_spec::{RequestTemplate, TemplateBody};
use std::sync::Arc;

/// Which statuses are good.
#[derive(Debug, Clone)]
pub(crate) enum Expectation {
    Default,
    Exactly(Vec<u16>),
}

impl Expectation {
    #[inline]
    pub(crate) fn accepts(&self, status: u16) -> bool {
        match self {
            Expectation::Default => (200..400).contains(&status),
            Expectation::Exactly(codes) => codes.contains(&status),
        }
    }
}

enum Build {
    Static(PreparedRequest),
    Dynamic {
        method: String,
        path: Template,
        headers: Vec<(String, Template)>,
        body: DynamicBody,
        csv: Option<Arc<CsvTable>>,
    },
}

enum DynamicBody {
    Fixed(Vec<u8>),
    Text(Template),
}

pub(crate) struct Entry {
    pub name: String,
    pub expect: Expectation,
    build: Build,
}

/// The requests of a run, with a deterministic weighted order.
pub(crate) struct Mix {
    target: Target,
    /// Path prefix from the base URL, put before every template path.
    prefix: String,
    pub entries: Vec<Entry>,
    /// Entry index for each position of a cycle of length Σ weights, spread out so the
    /// weights hold over any stretch of requests, not only over whole cycles.
    wheel: Vec<u16>,
    /// Whether per-request results are reported.
    pub named: bool,
    /// Whether requests need a run-wide sequence number.
    pub needs_sequence: bool,
}

/// Requests the mix hands out: borrowed when static, rendered when templated.
pub(crate) enum Outgoing<'a> {
    Borrowed(&'a PreparedRequest),
    Owned(Box<PreparedRequest>),
}

impl std::ops::Deref for Outgoing<'_> {
    type Target = PreparedRequest;
    fn deref(&self) -> &PreparedRequest {
        match self {
            Outgoing::Borrowed(r) => r,
            Outgoing::Owned(r) => r,
        }
    }
}

const MAX_WHEEL: u64 = 100_000;

impl Mix {
    /// One unnamed request (the `ballast load` case).
    pub(crate) fn single(target: &Target, request: PreparedRequest) -> Mix {
        Mix {
            target: target.clone(),
            prefix: String::new(),
            entries: vec![Entry {
                name: "default".into(),
                expect: Expectation::Default,
                build: Build::Static(request),
            }],
            wheel: vec![0],
            named: false,
            needs_sequence: false,
        }
    }

    pub(crate) fn from_templates(
        target: &Target,
        prefix: &str,
        templates: &[RequestTemplate],
    ) -> Result<Mix, Error> {
        let invalid = |name: &str, message: String| Error::InvalidConfig {
            field: "requests",
            message: format!("request {name:?}: {message}"),
        };
        if templates.len() > usize::from(u16::MAX) {
            return Err(invalid("*", "too many request templates".into()));
        }
        let mut entries = Vec::new();
        let mut needs_sequence = templates.len() > 1;
        for t in templates {
            if t.weight == 0 {
                return Err(invalid(&t.name, "weight must be at least 1".into()));
            }
            if !t.path.starts_with('/') {
                return Err(invalid(
                    &t.name,
                    format!("path must start with '/', got {:?}", t.path),
                ));
            }
            let path = Template::parse(&t.path).map_err(|e| invalid(&t.name, e))?;
            let mut headers = Vec::new();
            for (name, value) in &t.headers {
                headers.push((
                    name.clone(),
                    Template::parse(value).map_err(|e| invalid(&t.name, e))?,
                ));
            }
            let body = match &t.body {
                TemplateBody::None => DynamicBody::Fixed(Vec::new()),
                TemplateBody::Bytes(b) => DynamicBody::Fixed(b.clone()),
                TemplateBody::Text(text) => {
                    DynamicBody::Text(Template::parse(text).map_err(|e| invalid(&t.name, e))?)
                }
            };
            let templates_used = std::iter::once(&path)
                .chain(headers.iter().map(|(_, v)| v))
                .chain(match &body {
                    DynamicBody::Text(t) => Some(t),
                    DynamicBody::Fixed(_) => None,
                });
            let mut is_static = true;
            for template in templates_used {
                is_static &= template.is_static();
                for column in template.csv_columns() {
                    match &t.csv {
                        None => {
                            return Err(invalid(
                                &t.name,
                                format!("{{{{csv.{column}}}}} needs a csv file"),
                            ))
                        }
                        Some(table) if !table.columns().iter().any(|c| c == column) => {
                            return Err(invalid(
                                &t.name,
                                format!(
                                    "the CSV file has no column {column:?}; it has {}",
                                    table.columns().join(", ")
                                ),
                            ))
                        }
                        Some(_) => {}
                    }
                }
            }
            let expect = match &t.expect {
                None => Expectation::Default,
                Some(codes)
                    if codes.iter().all(|c| (100..600).contains(c)) && !codes.is_empty() =>
                {
                    Expectation::Exactly(codes.clone())
                }
                Some(codes) => {
                    return Err(invalid(
                        &t.name,
                        format!("expect: statuses must be 100–599, got {codes:?}"),
                    ))
                }
            };
            let build = if is_static {
                let mut rng = Rng::new(0);
                let mut ctx = RenderContext {
                    seq: 0,
                    rng: &mut rng,
                    csv: None,
                };
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.render(&mut ctx)))
                    .collect();
                let body = match body {
                    DynamicBody::Fixed(b) => b,
                    DynamicBody::Text(t) => t.render(&mut ctx).into_bytes(),
                };
                let full_path = format!("{prefix}{}", path.render(&mut ctx));
                Build::Static(PreparedRequest::new(
                    target, &full_path, &t.method, &headers, body,
                )?)
            } else {
                needs_sequence = true;
                // Check method and header names once, with a sample rendering.
                let mut rng = Rng::new(0);
                let mut ctx = RenderContext {
                    seq: 0,
                    rng: &mut rng,
                    csv: t.csv.as_deref(),
                };
                let sample_headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.render(&mut ctx)))
                    .collect();
                let sample_path = format!("{prefix}{}", safe_path(&path.render(&mut ctx)));
                PreparedRequest::new(target, &sample_path, &t.method, &sample_headers, Vec::new())?;
                Build::Dynamic {
                    method: t.method.clone(),
                    path,
                    headers,
                    body,
                    csv: t.csv.clone(),
                }
            };
            entries.push(Entry {
                name: t.name.clone(),
                expect,
                build,
            });
        }
        let weights: Vec<u64> = templates.iter().map(|t| u64::from(t.weight)).collect();
        Ok(Mix {
            target: target.clone(),
            prefix: prefix.to_string(),
            wheel: smooth_wheel(&weights),
            entries,
            named: true,
            needs_sequence,
        })
    }

    /// The entry for request `seq` and the request to send.
    pub(crate) fn pick(&self, seq: u64, rng: &mut Rng) -> (usize, Outgoing<'_>) {
        let index = usize::from(self.wheel[(seq % self.wheel.len() as u64) as usize]);
        let entry = &self.entries[index];
        let outgoing = match &entry.build {
            Build::Static(request) => Outgoing::Borrowed(request),
            Build::Dynamic {
                method,
                path,
                headers,
                body,
                csv,
            } => {
                let mut ctx = RenderContext {
                    seq,
                    rng,
                    csv: csv.as_deref(),
                };
                let path = format!("{}{}", self.prefix, safe_path(&path.render(&mut ctx)));
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), safe_header_value(&v.render(&mut ctx))))
                    .collect();
                let body = match body {
                    DynamicBody::Fixed(b) => b.clone(),
                    DynamicBody::Text(t) => t.render(&mut ctx).into_bytes(),
                };
                // Method and header names were checked at build, and rendered values are
                // made safe for a request line and header values, so this cannot fail.
                let request = PreparedRequest::new(&self.target, &path, method, &headers, body)
                    .expect(
                        "templated requests are validated at build and sanitized when rendered",
                    );
                Outgoing::Owned(Box::new(request))
            }
        };
        (index, outgoing)
    }
}

/// Percent-encodes what may not appear in a request target (spaces, quotes, controls,
/// non-ASCII), so values from CSV files cannot break the request line.
fn safe_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let allowed = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%[]".contains(&byte);
        if allowed {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Header values cannot hold line breaks or other control characters; they become spaces.
fn safe_header_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect()
}

/// Smooth weighted round robin (as nginx balances upstreams): each entry appears
/// `weight` times per cycle, spread evenly. Weights are scaled down when the cycle
/// would exceed 100,000 slots.
fn smooth_wheel(weights: &[u64]) -> Vec<u16> {
    let total: u64 = weights.iter().sum();
    let weights: Vec<u64> = if total > MAX_WHEEL {
        weights
            .iter()
            .map(|w| (w * MAX_WHEEL / total).max(1))
            .collect()
    } else {
        weights.to_vec()
    };
    let total: i64 = weights.iter().sum::<u64>() as i64;
    let mut current = vec![0i64; weights.len()];
    let mut wheel = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += *w as i64;
        }
        let best = (0..current.len())
            .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
            .unwrap_or(0);
        current[best] -= total;
        wheel.push(best as u16);
    }
    wheel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_values_are_made_safe() {
        assert_eq!(safe_path("/a b/\"x\"?q=ü"), "/a%20b/%22x%22?q=%C3%BC");
        assert_eq!(safe_header_value("a\r\nb"), "a  b");
    }

    #[test]
    fn wheel_honours_weights_and_spreads_them() {
        let wheel = smooth_wheel(&[3, 1]);
        assert_eq!(wheel, vec![0, 0, 1, 0]);
        let wheel = smooth_wheel(&[1, 1, 2]);
        assert_eq!(wheel.iter().filter(|&&i| i == 2).count(), 2);
        assert_eq!(smooth_wheel(&[1_000_000, 1]).len() as u64, 100_000);
    }
}
