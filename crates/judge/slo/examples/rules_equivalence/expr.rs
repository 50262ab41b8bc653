//! PromQL: what an expression reads (selectors, how, compared with what), and renaming the
//! series it reads, through promql-parser's printer when that is shown to round-trip, or
//! by a token-level rewrite of the original text otherwise (checked against the AST too).

use std::collections::BTreeSet;

use promql_parser::label::{MatchOp, Matcher as PMatcher};
use promql_parser::parser::{self, Expr, VectorSelector};

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Eq,
    Ne,
    Re,
    Nre,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::Nre => "!~",
        }
    }
}

/// A label matcher with its value as Prometheus reads it (escapes resolved).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Matcher {
    pub label: String,
    pub op: Op,
    pub value: String,
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.label, self.op.as_str(), self.value)
    }
}

/// How a selector's samples are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Under `rate`, `irate`, `increase` or `resets`.
    Counter,
    /// Anything else (compared, averaged over time, summed as is).
    Gauge,
}

/// A series selector found in an expression.
#[derive(Debug, Clone)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub usage: Usage,
}

/// A comparison of a selector with a number: `name op value`, oriented that way.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub name: String,
    pub op: String,
    pub value: f64,
}

/// What an expression reads.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub selectors: Vec<Selector>,
    pub thresholds: Vec<Threshold>,
}

pub fn parse(text: &str) -> Result<Expr, String> {
    parser::parse(text).map_err(|e| e.to_string().replace('\n', " "))
}

fn matcher_op(op: &MatchOp) -> Op {
    match op {
        MatchOp::Equal => Op::Eq,
        MatchOp::NotEqual => Op::Ne,
        MatchOp::Re(_) => Op::Re,
        MatchOp::NotRe(_) => Op::Nre,
    }
}

/// The value a matcher's raw text (as promql-parser keeps it, escapes and all) stands for:
/// Go's string escapes resolved, unless the original expression wrote it in backquotes.
pub fn unescape(raw: &str, original: &str) -> Result<String, String> {
    if !raw.contains('\\') || original.contains(&format!("`{raw}`")) {
        return Ok(raw.to_string());
    }
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err(format!("string {raw:?} ends with a backslash"));
        };
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, n: usize| {
            let s: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&s, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad escape in {raw:?}"))
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' => out.push(e),
            'x' => out.push(hex(&mut chars, 2)?),
            'u' => out.push(hex(&mut chars, 4)?),
            'U' => out.push(hex(&mut chars, 8)?),
            '0'..='7' => {
                let mut s = String::from(e);
                for _ in 0..2 {
                    if let Some(d) = chars.next() {
                        s.push(d);
                    }
                }
                let v = u32::from_str_radix(&s, 8).map_err(|_| format!("bad escape in {raw:?}"))?;
                out.push(char::from_u32(v).ok_or_else(|| format!("bad escape in {raw:?}"))?);
            }
            other => return Err(format!("unknown escape \\{other} in {raw:?}")),
        }
    }
    Ok(out)
}

fn convert_matchers(vs: &VectorSelector, original: &str) -> Result<Vec<Matcher>, String> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err("selectors with `or` inside braces are not supported".into());
    }
    let mut out = Vec::new();
    for m in &vs.matchers.matchers {
        out.push(Matcher {
            label: m.name.clone(),
            op: matcher_op(&m.op),
            value: unescape(&m.value, original)?,
        });
    }
    Ok(out)
}

/// The metric name a selector reads: its name, or its `__name__="…"` matcher.
fn selector_name(vs: &VectorSelector) -> Result<String, String> {
    if let Some(n) = &vs.name {
        if vs.matchers.matchers.iter().any(|m| m.name == "__name__") {
            return Err(format!("selector {n}{{__name__…}} names its metric twice"));
        }
        return Ok(n.clone());
    }
    let names: Vec<&PMatcher> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name == "__name__")
        .collect();
    match names.as_slice() {
        [m] if matches!(m.op, MatchOp::Equal) => Ok(m.value.clone()),
        _ => Err(format!(
            "selector {vs} picks metrics by a __name__ pattern, which this tool cannot follow"
        )),
    }
}

fn strip_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_paren(&p.expr),
        other => other,
    }
}

/// The value of a constant expression (numbers, arithmetic, `vector(c)`, `scalar`), if it is one.
pub fn const_value(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => const_value(&p.expr),
        Expr::Unary(u) => const_value(&u.expr).map(|v| -v),
        Expr::Binary(b) => {
            let (l, r) = (const_value(&b.lhs)?, const_value(&b.rhs)?);
            match b.op.to_string().as_str() {
                "+" => Some(l + r),
                "-" => Some(l - r),
                "*" => Some(l * r),
                "/" => Some(l / r),
                _ => None,
            }
        }
        Expr::Call(c) if c.func.name == "vector" || c.func.name == "scalar" => {
            c.args.args.first().and_then(|a| const_value(a))
        }
        _ => None,
    }
}

fn flip(op: &str) -> &str {
    match op {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        other => other,
    }
}

struct Walker<'a> {
    original: &'a str,
    reads: Reads,
    error: Option<String>,
}

impl Walker<'_> {
    fn selector(&mut self, vs: &VectorSelector, usage: Usage) {
        let name = match selector_name(vs) {
            Ok(n) => n,
            Err(e) => {
                self.error.get_or_insert(e);
                return;
            }
        };
        let matchers = match convert_matchers(vs, self.original) {
            Ok(m) => m.into_iter().filter(|m| m.label != "__name__").collect(),
            Err(e) => {
                self.error.get_or_insert(e);
                return;
            }
        };
        self.reads.selectors.push(Selector {
            name,
            matchers,
            usage,
        });
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p);
                }
                self.walk(&a.expr);
            }
            Expr::Unary(u) => self.walk(&u.expr),
            Expr::Binary(b) => {
                if b.op.is_comparison_operator() {
                    let (l, r) = (strip_paren(&b.lhs), strip_paren(&b.rhs));
                    let op = b.op.to_string();
                    let found = match (l, r) {
                        (Expr::VectorSelector(vs), other) => {
                            const_value(other).map(|c| (vs, op.clone(), c))
                        }
                        (other, Expr::VectorSelector(vs)) => {
                            const_value(other).map(|c| (vs, flip(&op).to_string(), c))
                        }
                        _ => None,
                    };
                    if let Some((vs, op, value)) = found {
                        if let Ok(name) = selector_name(vs) {
                            self.reads.thresholds.push(Threshold { name, op, value });
                        }
                    }
                }
                self.walk(&b.lhs);
                self.walk(&b.rhs);
            }
            Expr::Paren(p) => self.walk(&p.expr),
            Expr::Subquery(s) => self.walk(&s.expr),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            Expr::VectorSelector(vs) => self.selector(vs, Usage::Gauge),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs, Usage::Gauge),
            Expr::Call(c) => {
                let counter = matches!(c.func.name, "rate" | "irate" | "increase" | "resets");
                for a in &c.args.args {
                    match (counter, a.as_ref()) {
                        (true, Expr::MatrixSelector(ms)) => self.selector(&ms.vs, Usage::Counter),
                        _ => self.walk(a),
                    }
                }
            }
            Expr::Extension(_) => {
                self.error
                    .get_or_insert("unsupported expression node".into());
            }
        }
    }
}

/// Everything `e` (parsed from `original`) reads.
pub fn reads(e: &Expr, original: &str) -> Result<Reads, String> {
    let mut w = Walker {
        original,
        reads: Reads::default(),
        error: None,
    };
    w.walk(e);
    match w.error {
        Some(err) => Err(err),
        None => Ok(w.reads),
    }
}

fn for_each_selector(e: &mut Expr, f: &mut dyn FnMut(&mut VectorSelector)) {
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                for_each_selector(p, f);
            }
            for_each_selector(&mut a.expr, f);
        }
        Expr::Unary(u) => for_each_selector(&mut u.expr, f),
        Expr::Binary(b) => {
            for_each_selector(&mut b.lhs, f);
            for_each_selector(&mut b.rhs, f);
        }
        Expr::Paren(p) => for_each_selector(&mut p.expr, f),
        Expr::Subquery(s) => for_each_selector(&mut s.expr, f),
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&mut ms.vs),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                for_each_selector(a, f);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The AST with matcher order made canonical (the printer sorts them).
fn normalised(e: &Expr) -> Expr {
    let mut e = e.clone();
    for_each_selector(&mut e, &mut |vs| {
        let key = |m: &PMatcher| (m.name.clone(), m.op.to_string(), m.value.clone());
        vs.matchers.matchers.sort_by_key(key);
        for group in &mut vs.matchers.or_matchers {
            group.sort_by_key(key);
        }
    });
    e
}

/// `e` with every selector of a series in `names` reading `prefix + name` instead.
fn renamed_ast(e: &Expr, names: &BTreeSet<String>, prefix: &str) -> Expr {
    let mut e = e.clone();
    for_each_selector(&mut e, &mut |vs| {
        if let Some(n) = &vs.name {
            if names.contains(n) {
                vs.name = Some(format!("{prefix}{n}"));
            }
        }
        for m in &mut vs.matchers.matchers {
            if m.name == "__name__" && matches!(m.op, MatchOp::Equal) && names.contains(&m.value) {
                m.value = format!("{prefix}{}", m.value);
            }
        }
    });
    e
}

/// How an expression was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Nothing to rename: the text is kept.
    Unchanged,
    /// Printed by promql-parser, reparsed to the same AST.
    Printer,
    /// The original text with the names replaced token by token.
    Textual,
}

/// Renames what `text` reads from `names` to `prefix + name`.
///
/// promql-parser's printer writes a matcher's value between double quotes exactly as it
/// was read (escapes included), so it is only trusted for expressions written without
/// single quotes or backquotes, and when its output parses back to the renamed AST
/// (matcher order aside, which it sorts). Otherwise the original text is rewritten token by
/// token, and that too must parse to the renamed AST.
pub fn rename(
    text: &str,
    names: &BTreeSet<String>,
    prefix: &str,
) -> Result<(String, Method), String> {
    let ast = parse(text)?;
    let target = renamed_ast(&ast, names, prefix);
    if target == ast {
        return Ok((text.to_string(), Method::Unchanged));
    }
    let want = normalised(&target);
    if !text.contains('\'') && !text.contains('`') {
        let printed = target.to_string();
        if let Ok(back) = parse(&printed) {
            if normalised(&back) == want {
                return Ok((printed, Method::Printer));
            }
        }
    }
    let rewritten = textual_rename(text, names, prefix);
    match parse(&rewritten) {
        Ok(back) if normalised(&back) == want => Ok((rewritten, Method::Textual)),
        Ok(_) => Err("could not rename the series it reads without changing its meaning".into()),
        Err(e) => Err(format!("renaming the series it reads broke it: {e}")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident,
    Str,
    Number,
    Space,
    Punct(char),
}

fn tokens(text: &str) -> Vec<(Tok, usize, usize)> {
    let b: Vec<char> = text.chars().collect();
    let idx: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = if c.is_whitespace() {
            while i < b.len() && b[i].is_whitespace() {
                i += 1;
            }
            Tok::Space
        } else if c == '#' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            Tok::Space
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == '\\' && c != '`' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            Tok::Str
        } else if c.is_ascii_digit()
            || (c == '.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < b.len() {
                let d = b[i];
                let exponent_sign = (d == '+' || d == '-')
                    && matches!(b[i - 1], 'e' | 'E')
                    && !text[idx[start]..idx[i]].starts_with("0x");
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Tok::Number
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_' || b[i] == ':') {
                i += 1;
            }
            Tok::Ident
        } else {
            i += 1;
            Tok::Punct(c)
        };
        out.push((kind, idx[start], idx[i]));
    }
    out
}

const LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Token-level rename: identifiers in a metric-name position (outside braces and label
/// lists, not a function name) and `__name__="…"` matcher values.
fn textual_rename(text: &str, names: &BTreeSet<String>, prefix: &str) -> String {
    let toks = tokens(text);
    let mut out = String::new();
    let mut brace = 0usize;
    let mut list_pending = false;
    let mut list_depth = 0usize;
    let mut paren = 0usize;
    let next_significant = |from: usize| {
        toks[from + 1..]
            .iter()
            .find(|(k, _, _)| *k != Tok::Space)
            .map(|(k, s, e)| (k.clone(), &text[*s..*e]))
    };
    let prev_significant = |from: usize, n: usize| {
        toks[..from]
            .iter()
            .rev()
            .filter(|(k, _, _)| *k != Tok::Space)
            .nth(n)
            .map(|(k, s, e)| (k.clone(), &text[*s..*e]))
    };
    for (i, (kind, s, e)) in toks.iter().enumerate() {
        let word = &text[*s..*e];
        match kind {
            Tok::Punct('{') => brace += 1,
            Tok::Punct('}') => brace = brace.saturating_sub(1),
            Tok::Punct('(') => {
                paren += 1;
                if list_pending {
                    list_pending = false;
                    list_depth = paren;
                }
            }
            Tok::Punct(')') => {
                if list_depth == paren {
                    list_depth = 0;
                }
                paren = paren.saturating_sub(1);
            }
            Tok::Ident if brace == 0 && list_depth == 0 => {
                if LIST_KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    list_pending = matches!(next_significant(i), Some((Tok::Punct('('), _)));
                } else if names.contains(word)
                    && !matches!(next_significant(i), Some((Tok::Punct('('), _)))
                {
                    out.push_str(prefix);
                }
            }
            Tok::Str if brace > 0 => {
                // `__name__ = "X"` inside braces
                let is_name_matcher = matches!(prev_significant(i, 0), Some((Tok::Punct('='), _)))
                    && !matches!(prev_significant(i, 1), Some((Tok::Punct('!'), _)))
                    && matches!(prev_significant(i, 1), Some((Tok::Ident, "__name__")));
                if is_name_matcher && word.len() >= 2 && names.contains(&word[1..word.len() - 1]) {
                    out.push_str(&word[..1]);
                    out.push_str(prefix);
                    out.push_str(&word[1..]);
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn printer_renames_and_keeps_the_rest() {
        let (out, how) = rename(
            "max(slo:a{x=\"1\"} > (14.4 * 0.001)) without (w) and on() b",
            &set(&["slo:a"]),
            "ours__",
        )
        .unwrap();
        assert_eq!(how, Method::Printer);
        assert!(out.contains("ours__slo:a{x=\"1\"}"), "{out}");
        assert!(out.contains(" b"), "{out}");
    }

    #[test]
    fn single_quotes_go_the_textual_way() {
        let (out, how) = rename(
            "sum by (a) (slo:a{x='q\"'}) / slo:b",
            &set(&["slo:a", "slo:b", "a"]),
            "p_",
        )
        .unwrap();
        assert_eq!(how, Method::Textual);
        assert_eq!(out, "sum by (a) (p_slo:a{x='q\"'}) / p_slo:b");
    }

    #[test]
    fn textual_rename_leaves_functions_labels_and_strings() {
        let names = set(&["rate", "job", "x", "vector"]);
        let out = textual_rename(
            "rate(x{job=\"x\"}[5m]) + on(job) group_left(x) vector(1) # x\n + {__name__=\"x\"}",
            &names,
            "p_",
        );
        assert_eq!(
            out,
            "rate(p_x{job=\"x\"}[5m]) + on(job) group_left(x) vector(1) # x\n + {__name__=\"p_x\"}"
        );
    }

    #[test]
    fn go_escapes_are_resolved() {
        assert_eq!(unescape(r"a\\.b", r#"x{a="a\\.b"}"#).unwrap(), r"a\.b");
        assert_eq!(unescape(r"a\.b", r"x{a=`a\.b`}").unwrap(), r"a\.b");
        assert_eq!(unescape(r#"q\"z"#, "").unwrap(), "q\"z");
    }

    #[test]
    fn reads_finds_counters_gauges_and_thresholds() {
        let text = "sum(rate(a{code=~\"5..\"}[5m])) / sum_over_time((count(g < 0.75))[30m:])";
        let r = reads(&parse(text).unwrap(), text).unwrap();
        assert_eq!(r.selectors.len(), 2);
        assert_eq!(r.selectors[0].usage, Usage::Counter);
        assert_eq!(r.selectors[1].usage, Usage::Gauge);
        assert_eq!(r.thresholds[0].op, "<");
        assert_eq!(r.thresholds[0].value, 0.75);
    }
}
