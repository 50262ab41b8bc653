//! `${VAR}` and `${VAR:-default}` in contract files, expanded from the environment before
//! the YAML is read, so one contract serves several machines (ports, URLs, tokens).
//! `$${` stands for a literal `${`. Expansion keeps line numbers: values with line
//! breaks are refused.

use crate::error::Diagnostic;

/// Expands `text`; `lookup` reads a variable. Every unset variable without a default is
/// reported, with its position.
pub(crate) fn expand(
    text: &str,
    file: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, Vec<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    for (line_index, whole_line) in text.split_inclusive('\n').enumerate() {
        // Comments are left as written: they may well mention ${VAR} syntax.
        let (line, comment) = whole_line.split_at(comment_start(whole_line));
        let mut rest = line;
        let mut column = 1;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                column += start + 2;
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let at = column + start;
            let Some(end) = rest[start..].find('}') else {
                problems.push(diagnostic(
                    file,
                    line_index + 1,
                    at,
                    "unclosed ${…}; write $${ for a literal ${".into(),
                ));
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &rest[start + 2..start + end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                problems.push(diagnostic(
                    file,
                    line_index + 1,
                    at,
                    format!(
                        "${{{inner}}}: expected an environment variable name (letters, digits, _)"
                    ),
                ));
            } else {
                match lookup(name).or_else(|| default.map(str::to_string)) {
                    Some(value) if value.contains(['\n', '\r']) => problems.push(diagnostic(
                        file,
                        line_index + 1,
                        at,
                        format!("environment variable {name} holds a line break; contracts take one-line values"),
                    )),
                    Some(value) => out.push_str(&value),
                    None => problems.push(diagnostic(
                        file,
                        line_index + 1,
                        at,
                        format!("environment variable {name} is not set (write ${{{name}:-default}} to give a default)"),
                    )),
                }
            }
            column += start + end + 1;
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Where a YAML comment starts on `line` (its length when there is none): a `#` at the
/// start or after a space, outside quotes.
fn comment_start(line: &str) -> usize {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && previous != '\\' => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return i,
            _ => {}
        }
        previous = c;
    }
    line.len()
}

fn diagnostic(file: &str, line: usize, column: usize, message: String) -> Diagnostic {
    Diagnostic {
        file: file.into(),
        line,
        column,
        path: String::new(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("18080".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_defaults_and_escapes() {
        let out = expand(
            "url: http://127.0.0.1:${PORT}/\nx: ${MISSING:-7} $${KEEP} ${EMPTY}|\n",
            "c.yaml",
            env,
        )
        .unwrap();
        assert_eq!(out, "url: http://127.0.0.1:18080/\nx: 7 ${KEEP} |\n");
    }

    #[test]
    fn comments_are_left_alone() {
        let out = expand(
            "# uses ${ANY_*}\nx: \"a # ${PORT}\" # ${NOT}\n",
            "c.yaml",
            env,
        )
        .unwrap();
        assert_eq!(out, "# uses ${ANY_*}\nx: \"a # 18080\" # ${NOT}\n");
    }

    #[test]
    fn every_unset_variable_is_reported_where_it_is() {
        let err = expand(
            "a: 1\nb: ${NOPE}\nc: ${ALSO_NOPE} ${bad-name}\n",
            "c.yaml",
            env,
        )
        .unwrap_err();
        let shown: Vec<String> = err.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("c.yaml:2:4: environment variable NOPE is not set"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("c.yaml:3:4: environment variable ALSO_NOPE"),
            "{shown:?}"
        );
        assert!(shown[2].contains("c.yaml:3:17: ${bad-name}"), "{shown:?}");
        assert!(expand("x: ${OPEN\n", "c.yaml", env).unwrap_err()[0]
            .message
            .contains("unclosed"));
    }

    proptest! {
        #[test]
        fn text_without_variables_is_unchanged(text in "[^$]{0,200}") {
            prop_assert_eq!(expand(&text, "c.yaml", env).unwrap(), text);
        }

        #[test]
        fn never_panics(text in ".{0,80}") {
            let _ = expand(&text, "c.yaml", env);
        }
    }
}
