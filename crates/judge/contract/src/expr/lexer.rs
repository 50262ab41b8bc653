//! Tokens of the clause language.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A number with its unit suffix (may be empty): `200ms`, `5%`, `512MiB`, `500/s`.
    Number(f64, String),
    Ident(String),
    Str(String),
    Op(&'static str),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset in the expression.
    pub at: usize,
}

const OPS: [&str; 18] = [
    "<=", ">=", "==", "!=", "&&", "||", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ".", ",",
];

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number: f64 = text[start..i].parse().map_err(|_| {
                ExprError::new(start, format!("invalid number {:?}", &text[start..i]))
            })?;
            let unit_start = i;
            if text[i..].starts_with('%') {
                i += 1;
            } else if text[i..].starts_with("µs") {
                i += "µs".len();
            } else if text[i..].starts_with("/s") || text[i..].starts_with("/m") {
                let after = bytes.get(i + 2);
                if !after.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                    i += 2;
                }
            } else {
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Number(number, text[unit_start..i].to_string()),
                at: start,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            // No '-' in names: `p95-1ms` is a subtraction. Phase names with a dash are
            // written phase("db-down").p95.
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[start..i].to_string()),
                at: start,
            });
            continue;
        }
        if c == b'"' || c == b'\'' {
            i += 1;
            let mut value = String::new();
            loop {
                match bytes.get(i) {
                    None => return Err(ExprError::new(start, "unterminated string")),
                    Some(&q) if q == c => break,
                    Some(b'\\') if bytes.get(i + 1).is_some() => {
                        let ch = text[i + 1..].chars().next().unwrap_or('\\');
                        value.push(ch);
                        i += 1 + ch.len_utf8();
                    }
                    Some(_) => {
                        let ch = text[i..].chars().next().unwrap_or('?');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            i += 1;
            out.push(Token {
                tok: Tok::Str(value),
                at: start,
            });
            continue;
        }
        if c == b'=' && bytes.get(i + 1) != Some(&b'=') {
            // A single '=' only names labels inside metric(...).
            out.push(Token {
                tok: Tok::Op("="),
                at: start,
            });
            i += 1;
            continue;
        }
        if c == b'!' && bytes.get(i + 1) != Some(&b'=') {
            out.push(Token {
                tok: Tok::Op("!"),
                at: start,
            });
            i += 1;
            continue;
        }
        match OPS.iter().find(|op| text[i..].starts_with(**op)) {
            Some(op) => {
                out.push(Token {
                    tok: Tok::Op(op),
                    at: start,
                });
                i += op.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(ExprError::new(
                    start,
                    format!("unexpected character {ch:?}"),
                ));
            }
        }
    }
    out.push(Token {
        tok: Tok::End,
        at: text.len(),
    });
    Ok(out)
}
