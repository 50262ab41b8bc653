//! Request templates: text with `{{seq}}`, `{{uuid}}`, `{{randint A B}}` and
//! `{{csv.COLUMN}}`, parsed once and rendered per request.

use std::fmt::Write as _;
use std::sync::Arc;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The request's sequence number in the run (0-based).
    Seq,
    /// A random version-4 UUID.
    Uuid,
    /// A random integer in `[low, high]`.
    RandInt(i64, i64),
    /// A column of the request's CSV row.
    Csv(String),
}

/// What a rendering draws on.
pub struct RenderContext<'a> {
    /// Sequence number of the request.
    pub seq: u64,
    /// The worker's random source.
    pub rng: &'a mut Rng,
    /// The CSV table, when the template uses `{{csv.*}}`.
    pub csv: Option<&'a CsvTable>,
}

impl Template {
    /// Parses `text`; errors name the bad variable and list the valid ones.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| {
                format!("unclosed {{{{ in {text:?}; variables look like {{{{seq}}}}")
            })?;
            let inner = after[..end].trim();
            let words: Vec<&str> = inner.split_whitespace().collect();
            let part = match words.as_slice() {
                ["seq"] => Part::Seq,
                ["uuid"] => Part::Uuid,
                ["randint", low, high] => {
                    let parse = |s: &str| s.parse::<i64>().map_err(|_| format!("{{{{randint {low} {high}}}}}: bounds must be integers"));
                    let (low, high) = (parse(low)?, parse(high)?);
                    if low > high {
                        return Err(format!("{{{{randint {low} {high}}}}}: the low bound is above the high one"));
                    }
                    Part::RandInt(low, high)
                }
                [column] if column.starts_with("csv.") && column.len() > 4 => Part::Csv(column[4..].to_string()),
                _ => {
                    return Err(format!(
                        "unknown variable {{{{{inner}}}}}; expected {{{{seq}}}}, {{{{uuid}}}}, {{{{randint A B}}}} or {{{{csv.COLUMN}}}}"
                    ))
                }
            };
            parts.push(part);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Whether rendering always gives the same text.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// CSV columns the template reads.
    pub fn csv_columns(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Csv(c) => Some(c.as_str()),
            _ => None,
        })
    }

    /// Renders the template.
    pub fn render(&self, ctx: &mut RenderContext<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => {
                    let _ = write!(out, "{}", ctx.seq);
                }
                Part::Uuid => {
                    let (a, b) = (ctx.rng.next_u64(), ctx.rng.next_u64());
                    let _ = write!(
                        out,
                        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0x0fff,
                        ((b >> 48) & 0x3fff) | 0x8000,
                        b & 0xffff_ffff_ffff
                    );
                }
                Part::RandInt(low, high) => {
                    let span = (*high as i128 - *low as i128 + 1) as u128;
                    let value = *low as i128 + (ctx.rng.next_u64() as u128 % span) as i128;
                    let _ = write!(out, "{value}");
                }
                Part::Csv(column) => {
                    if let Some(table) = ctx.csv {
                        out.push_str(table.value(ctx.seq, column).unwrap_or_default());
                    }
                }
            }
        }
        out
    }
}

/// A small, fast random source (SplitMix64); one per worker, seeded per run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Rows of a CSV file with a header line; row `seq % rows` feeds request `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTable {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl CsvTable {
    /// Parses CSV text (RFC 4180 quoting; the first line names the columns).
    pub fn parse(text: &str) -> Result<Arc<CsvTable>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut records = reader.records();
        let columns: Vec<String> = match records.next() {
            None => {
                return Err(
                    "the CSV file is empty; expected a header line and at least one row".into(),
                )
            }
            Some(header) => header
                .map_err(|e| describe(&e))?
                .iter()
                .map(str::to_string)
                .collect(),
        };
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(|e| describe(&e))?;
            rows.push(record.iter().map(str::to_string).collect::<Vec<_>>());
        }
        if rows.is_empty() {
            return Err("the CSV file has a header but no rows".into());
        }
        Ok(Arc::new(CsvTable { columns, rows }))
    }

    /// Column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The value of `column` in the row for request `seq`.
    pub fn value(&self, seq: u64, column: &str) -> Option<&str> {
        let index = self.columns.iter().position(|c| c == column)?;
        let row = &self.rows[(seq % self.rows.len() as u64) as usize];
        row.get(index).map(String::as_str)
    }
}

/// The csv crate's error, in the words a contract author needs: which line, what is wrong.
fn describe(error: &csv::Error) -> String {
    let line = error.position().map(|p| p.line());
    match (error.kind(), line) {
        (
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            },
            Some(line),
        ) => format!("CSV line {line} has {len} fields; the header has {expected_len}"),
        (csv::ErrorKind::Utf8 { .. }, Some(line)) => {
            format!("CSV line {line} is not UTF-8 text")
        }
        (_, Some(line)) => format!("CSV line {line}: {error}"),
        (_, None) => format!("CSV: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{CsvTable, RenderContext, Rng, Template};
    use proptest::prelude::{any, prop_assert, proptest};

    #[test]
    fn renders_every_variable() {
        let csv = CsvTable::parse("user,name\n7,\"Ann, Jr.\"\n9,Bob\n").unwrap();
        let t = Template::parse("/u/{{csv.user}}?n={{ csv.name }}&s={{seq}}&r={{randint 5 5}}")
            .unwrap();
        let mut rng = Rng::new(1);
        let mut ctx = RenderContext {
            seq: 0,
            rng: &mut rng,
            csv: Some(&csv),
        };
        assert_eq!(t.render(&mut ctx), "/u/7?n=Ann, Jr.&s=0&r=5");
        ctx.seq = 1;
        assert_eq!(t.render(&mut ctx), "/u/9?n=Bob&s=1&r=5");
        let uuid = Template::parse("{{uuid}}").unwrap().render(&mut ctx);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(Template::parse("/static").unwrap().is_static());
    }

    #[test]
    fn errors_name_the_variable() {
        assert!(Template::parse("{{sq}}")
            .unwrap_err()
            .contains("unknown variable {{sq}}"));
        assert!(Template::parse("{{seq").unwrap_err().contains("unclosed"));
        assert!(Template::parse("{{randint 9 1}}")
            .unwrap_err()
            .contains("low bound"));
        assert!(CsvTable::parse("a,b\n1\n")
            .unwrap_err()
            .contains("line 2 has 1 fields"));
        assert!(CsvTable::parse("a\n").unwrap_err().contains("no rows"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,60}") {
            if let Ok(t) = Template::parse(&text) {
                let mut rng = Rng::new(3);
                let _ = t.render(&mut RenderContext { seq: 5, rng: &mut rng, csv: None });
            }
            let _ = CsvTable::parse(&text);
        }

        #[test]
        fn randint_stays_in_bounds(low in -1000i64..1000, span in 0i64..1000, seed in any::<u64>()) {
            let t = Template::parse(&format!("{{{{randint {low} {}}}}}", low + span)).unwrap();
            let mut rng = Rng::new(seed);
            let v: i64 = t.render(&mut RenderContext { seq: 0, rng: &mut rng, csv: None }).parse().unwrap();
            prop_assert!(v >= low && v <= low + span);
        }
    }
}
