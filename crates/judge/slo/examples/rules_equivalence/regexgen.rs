//! Label values that a regex matcher matches (one per alternative, as far as they go), and
//! values that match none of a label's patterns. Every value is checked against the
//! anchored regex (`^(?:re)$`, as Prometheus anchors them) before it is used.

use regex_syntax::hir::{Class, Hir, HirKind};

/// The regex as Prometheus applies it to a label value.
pub fn anchored(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| format!("regex {pattern:?} is not supported here: {e}"))
}

/// Does `value` match the pattern (anchored)?
pub fn matches(pattern: &str, value: &str) -> Result<bool, String> {
    Ok(anchored(pattern)?.is_match(value))
}

/// The character a class contributes: a digit, a letter or `_` if the class has one (so
/// `5..` gives `500`), else its first printable character.
fn pick(class: &Class) -> Option<char> {
    let preferred = ['0', 'a', 'x', 'A', '_', '-'];
    match class {
        Class::Unicode(u) => {
            for p in preferred {
                if u.ranges().iter().any(|r| r.start() <= p && p <= r.end()) {
                    return Some(p);
                }
            }
            u.ranges()
                .iter()
                .flat_map(|r| (r.start()..=r.end()).take(64))
                .find(|c| !c.is_control())
        }
        Class::Bytes(b) => {
            for p in preferred {
                let p = p as u8;
                if b.ranges().iter().any(|r| r.start() <= p && p <= r.end()) {
                    return Some(p as char);
                }
            }
            b.ranges()
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .find(|c| c.is_ascii_graphic())
                .map(|c| c as char)
        }
    }
}

/// One string the HIR matches: alternative `choice` (or the last one) at every
/// alternation, `extra` more than the minimum at every repetition.
fn generate(h: &Hir, choice: usize, extra: u32, out: &mut String) -> bool {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => {
                out.push_str(s);
                true
            }
            Err(_) => false,
        },
        HirKind::Class(c) => match pick(c) {
            Some(ch) => {
                out.push(ch);
                true
            }
            None => false,
        },
        HirKind::Repetition(r) => {
            let mut n = r.min.saturating_add(extra);
            if let Some(max) = r.max {
                n = n.min(max);
            }
            (0..n.min(16)).all(|_| generate(&r.sub, choice, extra, out))
        }
        HirKind::Capture(c) => generate(&c.sub, choice, extra, out),
        HirKind::Concat(items) => items.iter().all(|i| generate(i, choice, extra, out)),
        HirKind::Alternation(alts) => {
            let i = choice.min(alts.len() - 1);
            generate(&alts[i], choice, extra, out)
        }
    }
}

/// Up to `k` distinct values the pattern matches, preferring non-empty ones.
pub fn matching(pattern: &str, k: usize) -> Result<Vec<String>, String> {
    let re = anchored(pattern)?;
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| format!("regex {pattern:?}: {e}"))?;
    let mut out: Vec<String> = Vec::new();
    for extra in [0u32, 1] {
        for choice in 0..k.max(1) * 2 {
            let mut s = String::new();
            if generate(&hir, choice, extra, &mut s) && re.is_match(&s) && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    // A non-empty value first: an empty one means "no such label".
    out.sort_by_key(|s| s.is_empty());
    out.truncate(k);
    if out.is_empty() {
        return Err(format!(
            "found no label value that matches the regex {pattern:?}"
        ));
    }
    Ok(out)
}

/// A value that matches none of `patterns` (regexes, anchored) and equals none of `literals`;
/// "200" first for a label named like a status code, "other" first otherwise.
pub fn neutral(
    patterns: &[String],
    literals: &[String],
    code_like: bool,
) -> Result<String, String> {
    let res: Vec<regex::Regex> = patterns
        .iter()
        .map(|p| anchored(p))
        .collect::<Result<_, _>>()?;
    let mut candidates = vec![
        "200",
        "ok",
        "other",
        "x",
        "0",
        "eqcheck_other",
        "eqcheck-other-1",
    ];
    if !code_like {
        candidates.swap(0, 2);
    }
    for c in candidates {
        if !literals.iter().any(|l| l == c) && !res.iter().any(|r| r.is_match(c)) {
            return Ok(c.to_string());
        }
    }
    for i in 0..1000 {
        let c = format!("eqcheck_{i}");
        if !literals.contains(&c) && !res.iter().any(|r| r.is_match(&c)) {
            return Ok(c);
        }
    }
    Err(format!(
        "found no label value that matches none of {patterns:?}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_alternative() {
        assert_eq!(matching("(5..|429)", 3).unwrap(), vec!["500", "429"]);
        assert_eq!(matching("5..", 3).unwrap(), vec!["500"]);
        assert_eq!(matching("GET|POST|PUT", 2).unwrap(), vec!["GET", "POST"]);
        let v = matching(".*", 2).unwrap();
        assert!(!v[0].is_empty());
        assert_eq!(matching("a\\.b", 1).unwrap(), vec!["a.b"]);
    }

    #[test]
    fn neutral_misses_every_pattern() {
        let n = neutral(&["(5..|429)".into(), "2..".into()], &[], true).unwrap();
        assert!(!matches("(5..|429)", &n).unwrap() && !matches("2..", &n).unwrap());
        assert_eq!(neutral(&[], &["200".into()], true).unwrap(), "ok");
    }
}
