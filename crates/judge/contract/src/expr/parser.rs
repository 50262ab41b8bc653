//! Precedence-climbing parser: `or` < `and` < `not` < comparisons < `+ -` < `* /` < unary.

use super::lexer::{tokenize, Tok, Token};
use super::*;

/// Parses a clause expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = p.or()?;
    match p.peek() {
        Tok::End => Ok(expr),
        other => Err(ExprError::new(
            p.at(),
            format!("unexpected {}", describe(other)),
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Deepest nesting of parentheses, `not` and unary minus: far beyond any clause a person
/// writes, and far below what would exhaust the stack (found by fuzzing: `--…--1`).
const MAX_DEPTH: usize = 64;

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Number(n, unit) => format!("number {n}{unit}"),
        Tok::Ident(s) => format!("name {s:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Op(op) => format!("{op:?}"),
        Tok::End => "end of expression".into(),
    }
}

const METRIC_HINT: &str = "expected a metric (p50 p90 p95 p99 p999 min max mean rps error_rate \
    requests errors status[503]), p(95), a phase name followed by '.', request(\"name\").…, \
    metric(\"name\").delta|rate|max|min|mean|last, process.rss_max|oom_kills|restarts, \
    or profile.KIND.total|share(\"function or package\") (KIND: cpu heap allocs goroutine block mutex)";

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }
    fn at(&self) -> usize {
        self.tokens[self.pos].at
    }
    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Tok::Op(o) if *o == op) {
            self.next();
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Tok::Ident(w) if w == word) {
            self.next();
            true
        } else {
            false
        }
    }
    fn expect_op(&mut self, op: &str) -> Result<(), ExprError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(ExprError::new(
                self.at(),
                format!("expected {op:?}, found {}", describe(self.peek())),
            ))
        }
    }
    fn expect_string(&mut self, what: &str) -> Result<String, ExprError> {
        match self.next() {
            Token {
                tok: Tok::Str(s), ..
            } => Ok(s),
            t => Err(ExprError::new(
                t.at,
                format!("expected {what} in quotes, found {}", describe(&t.tok)),
            )),
        }
    }
    fn expect_ident(&mut self, what: &str) -> Result<(String, usize), ExprError> {
        match self.next() {
            Token {
                tok: Tok::Ident(s),
                at,
            } => Ok((s, at)),
            t => Err(ExprError::new(
                t.at,
                format!("expected {what}, found {}", describe(&t.tok)),
            )),
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.eat_word("or") || self.eat_op("||") {
            left = Expr::Binary(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.eat_word("and") || self.eat_op("&&") {
            left = Expr::Binary(BinOp::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    /// Runs `inner` one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(ExprError::new(
                self.at(),
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.eat_word("not") || self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.nested(Self::not)?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("=") => {
                return Err(ExprError::new(
                    self.at(),
                    "use == to compare (a single = only names labels)",
                ))
            }
            _ => return Ok(left),
        };
        self.next();
        let right = self.additive()?;
        if matches!(self.peek(), Tok::Op("<" | "<=" | ">" | ">=" | "==" | "!=")) {
            return Err(ExprError::new(
                self.at(),
                "comparisons do not chain; join them with `and`",
            ));
        }
        Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(left),
            };
            self.next();
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => return Ok(left),
            };
            self.next();
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.nested(Self::unary)?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Number(n, unit) => {
                self.next();
                number(n, &unit).ok_or_else(|| {
                    ExprError::new(at, format!("unknown unit {unit:?}; expected ms, s, m, h, us, %, B, KiB, MiB, GiB, KB, MB, GB or /s"))
                })
            }
            Tok::Op("(") => {
                self.next();
                let inner = self.nested(Self::or)?;
                self.expect_op(")")?;
                Ok(inner)
            }
            Tok::Ident(word) if word == "true" || word == "false" => {
                self.next();
                Ok(Expr::Bool(word == "true"))
            }
            Tok::Ident(_) => Ok(Expr::Fact(self.fact(Scope::default())?)),
            Tok::Str(_) => Err(ExprError::new(at, "a quoted string is only allowed inside metric(…), request(…), phase(…) or status[…]")),
            other => Err(ExprError::new(at, format!("expected a value, found {}", describe(&other)))),
        }
    }

    fn fact(&mut self, mut scope: Scope) -> Result<Fact, ExprError> {
        let (word, at) = self.expect_ident("a metric")?;
        let kind = match word.as_str() {
            "min" => FactKind::Latency(LatencyStat::Min),
            "max" => FactKind::Latency(LatencyStat::Max),
            "mean" | "avg" => FactKind::Latency(LatencyStat::Mean),
            "med" => FactKind::Latency(LatencyStat::Quantile(0.5)),
            "rps" => FactKind::Rps,
            "error_rate" => FactKind::ErrorRate,
            "requests" => FactKind::Requests,
            "errors" => FactKind::Errors,
            "p" if matches!(self.peek(), Tok::Op("(")) => {
                self.next();
                let q = match self.next() {
                    Token {
                        tok: Tok::Number(n, unit),
                        ..
                    } if unit.is_empty() && (0.0..=100.0).contains(&n) => {
                        // A millionth of a percent is as fine as a histogram resolves,
                        // and it makes printing the quantile back exact.
                        (n / 100.0 * 1e8).round() / 1e8
                    }
                    t => {
                        return Err(ExprError::new(
                            t.at,
                            "expected a percentile between 0 and 100, as in p(95)",
                        ))
                    }
                };
                self.expect_op(")")?;
                FactKind::Latency(LatencyStat::Quantile(q))
            }
            w if w.len() >= 3
                && w.starts_with('p')
                && w[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                let digits = &w[1..];
                if digits.len() > 6 {
                    return Err(ExprError::new(
                        at,
                        format!("{w:?}: a percentile name has 2 to 6 digits (p99, p999); write p(N) for others"),
                    ));
                }
                let q = digits.parse::<f64>().unwrap_or(0.0) / 10f64.powi(digits.len() as i32);
                // The same millionth-of-a-percent grid as p(N), so both spellings agree.
                FactKind::Latency(LatencyStat::Quantile((q * 1e8).round() / 1e8))
            }
            "status" => {
                self.expect_op("[")?;
                let t = self.next();
                let sel = match &t.tok {
                    Tok::Number(n, unit)
                        if unit.is_empty() && n.fract() == 0.0 && (100.0..=599.0).contains(n) =>
                    {
                        StatusSel::Code(*n as u16)
                    }
                    Tok::Str(s)
                        if s.len() == 3
                            && s.ends_with("xx")
                            && (b'1'..=b'5').contains(&s.as_bytes()[0]) =>
                    {
                        StatusSel::Class(u16::from(s.as_bytes()[0] - b'0'))
                    }
                    _ => {
                        return Err(ExprError::new(
                            t.at,
                            "expected a status code (100–599) or a class like \"5xx\" in status[…]",
                        ))
                    }
                };
                self.expect_op("]")?;
                FactKind::Status(sel)
            }
            "metric" => {
                self.expect_op("(")?;
                let name = self.expect_string("a metric name")?;
                let mut labels = Vec::new();
                while self.eat_op(",") {
                    let (label, _) = self.expect_ident("a label name")?;
                    self.expect_op("=")?;
                    labels.push((label, self.expect_string("a label value")?));
                }
                self.expect_op(")")?;
                self.expect_op(".")?;
                let (agg, agg_at) = self.expect_ident("delta, rate, max, min, mean or last")?;
                let aggregate = match agg.as_str() {
                    "delta" => Aggregate::Delta,
                    "rate" => Aggregate::Rate,
                    "max" => Aggregate::Max,
                    "min" => Aggregate::Min,
                    "mean" | "avg" => Aggregate::Mean,
                    "last" => Aggregate::Last,
                    _ => return Err(ExprError::new(agg_at, format!("unknown reduction {agg:?}; expected delta, rate, max, min, mean or last"))),
                };
                FactKind::Metric {
                    name,
                    labels,
                    aggregate,
                }
            }
            "process" => {
                self.expect_op(".")?;
                let (fact, fact_at) = self.expect_ident("rss_max, oom_kills or restarts")?;
                FactKind::Process(match fact.as_str() {
                    "rss_max" => ProcessFact::RssMax,
                    "oom_kills" => ProcessFact::OomKills,
                    "restarts" => ProcessFact::Restarts,
                    _ => return Err(ExprError::new(fact_at, format!("unknown process fact {fact:?}; expected rss_max, oom_kills or restarts"))),
                })
            }
            "profile" => {
                use crate::profile::{ProfileKind, ProfileStat};
                self.expect_op(".")?;
                let (name, kind_at) =
                    self.expect_ident("a profile kind: cpu, heap, allocs, goroutine, block or mutex")?;
                // Only the names contracts document (not the endpoint aliases `profile`,
                // `goroutines`), so a clause prints back as written.
                let kind = ProfileKind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        ExprError::new(
                            kind_at,
                            format!("unknown profile kind {name:?}; expected cpu, heap, allocs, goroutine, block or mutex"),
                        )
                    })?;
                self.expect_op(".")?;
                let (stat, stat_at) = self.expect_ident("total or share(\"…\")")?;
                let stat = match stat.as_str() {
                    "total" => ProfileStat::Total,
                    "inuse" if kind == ProfileKind::Heap => ProfileStat::Total,
                    "count" if kind == ProfileKind::Goroutine => ProfileStat::Total,
                    "share" => {
                        self.expect_op("(")?;
                        let pattern = self.expect_string("a function or package name, as in share(\"encoding/json\")")?;
                        if pattern.is_empty() {
                            return Err(ExprError::new(stat_at, "share(\"\") matches every stack; name a function or package"));
                        }
                        self.expect_op(")")?;
                        ProfileStat::Share(pattern)
                    }
                    _ => {
                        let extra = match kind {
                            ProfileKind::Heap => ", inuse",
                            ProfileKind::Goroutine => ", count",
                            _ => "",
                        };
                        return Err(ExprError::new(
                            stat_at,
                            format!("unknown {kind} profile fact {stat:?}; expected total{extra} or share(\"…\")"),
                        ));
                    }
                };
                FactKind::Profile { kind, stat }
            }
            "request" | "phase" => {
                self.expect_op("(")?;
                let name = self.expect_string(&format!("a {word} name"))?;
                self.expect_op(")")?;
                self.expect_op(".")?;
                let slot = if word == "request" {
                    &mut scope.request
                } else {
                    &mut scope.phase
                };
                if slot.is_some() {
                    return Err(ExprError::new(at, format!("{word}(…) given twice")));
                }
                *slot = Some(name);
                return self.fact(scope);
            }
            _ if matches!(self.peek(), Tok::Op(".")) => {
                self.next();
                if scope.phase.is_some() || scope.request.is_some() {
                    return Err(ExprError::new(
                        at,
                        format!("unexpected {word:?} after a scope; {METRIC_HINT}"),
                    ));
                }
                scope.phase = Some(word);
                return self.fact(scope);
            }
            _ if matches!(self.peek(), Tok::Op("-")) => {
                return Err(ExprError::new(
                    at,
                    format!("unknown name {word:?}; a phase name with a dash is written phase(\"{word}-…\").p95"),
                ))
            }
            _ => {
                return Err(ExprError::new(
                    at,
                    format!("unknown name {word:?}; {METRIC_HINT}"),
                ))
            }
        };
        Ok(Fact { scope, kind })
    }
}

/// A literal with its unit, in canonical form.
fn number(n: f64, unit: &str) -> Option<Expr> {
    let (value, dim) = match unit {
        "" => (n, Dim::Number),
        "ms" => (n, Dim::Millis),
        "us" | "µs" => (n / 1000.0, Dim::Millis),
        "s" => (n * 1000.0, Dim::Millis),
        "m" => (n * 60_000.0, Dim::Millis),
        "h" => (n * 3_600_000.0, Dim::Millis),
        "%" => (n / 100.0, Dim::Ratio),
        "B" => (n, Dim::Bytes),
        "KB" => (n * 1e3, Dim::Bytes),
        "MB" => (n * 1e6, Dim::Bytes),
        "GB" => (n * 1e9, Dim::Bytes),
        "KiB" => (n * 1024.0, Dim::Bytes),
        "MiB" => (n * 1048576.0, Dim::Bytes),
        "GiB" => (n * 1073741824.0, Dim::Bytes),
        "/s" => (n, Dim::Number),
        "/m" => (n / 60.0, Dim::Number),
        _ => return None,
    };
    Some(Expr::Number(value, dim))
}
