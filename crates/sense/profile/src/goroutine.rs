//! Go's `goroutine?debug=2` text dump (the format of `runtime.Stack(buf, true)` and of a
//! crash's traceback) to [`GoroutineDump`].
//!
//! ```text
//! goroutine 18 [chan receive, 3 minutes, locked to thread]:
//! main.leakedWait(0xc00001a0c0)
//!     /src/main.go:80 +0x25
//! created by main.leakGoroutines in goroutine 1
//!     /src/main.go:90 +0x45
//! ```
//!
//! Each frame's `file:line` starts with a tab. Go before 1.21 writes `created by
//! main.leakGoroutines` without the goroutine; both are read. Notes the runtime prints
//! inside a stack (`...additional frames elided...`) are skipped.

use crate::Error;
use ballast_core::profile::{Goroutine, GoroutineDump, StackFrame};
use std::time::Duration;

/// Reads a whole dump. Errors name the line (1-based) and what was expected there.
pub fn parse_goroutines(text: &str) -> Result<GoroutineDump, Error> {
    let mut goroutines = Vec::new();
    let mut current: Option<Goroutine> = None;
    // A function line waiting for its `file:line`: (line number, function, is `created by`).
    let mut pending: Option<(usize, String, bool)> = None;
    let fail = |line: usize, message: String| Error::Goroutines { line, message };

    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some((at, function, created)) = pending.take() {
            let Some((file, line_no)) = file_line(line) else {
                let what = if created { "created by " } else { "function " };
                return Err(fail(
                    number,
                    format!(
                        "expected a frame's file:line after {what}{} (line {at})",
                        shorten(&function)
                    ),
                ));
            };
            let frame = StackFrame {
                function: if created {
                    function
                } else {
                    function_name(&function).to_string()
                },
                file,
                line: line_no,
            };
            // `pending` is only set inside a goroutine.
            if let Some(g) = current.as_mut() {
                if created {
                    g.created_by = Some(frame);
                } else {
                    g.frames.push(frame);
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            if let Some(g) = current.take() {
                goroutines.push(g);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("goroutine ") {
            if let Some(g) = current.take() {
                goroutines.push(g);
            }
            current = Some(header(rest).map_err(|m| fail(number, m))?);
            continue;
        }
        let Some(g) = current.as_ref() else {
            return Err(fail(
                number,
                format!(
                    "expected a goroutine header like \"goroutine 1 [running]:\", got {:?}",
                    shorten(line)
                ),
            ));
        };
        if line.starts_with(['\t', ' ']) {
            if file_line(line).is_some() {
                return Err(fail(
                    number,
                    format!(
                        "a file:line without a function before it in goroutine {}",
                        g.id
                    ),
                ));
            }
            // A runtime note ("goroutine running on other thread; stack unavailable").
            continue;
        }
        if line.starts_with("...") {
            // "...additional frames elided...", "...N frames elided...".
            continue;
        }
        if let Some(rest) = line.strip_prefix("created by ") {
            // Go 1.21+: "created by main.start in goroutine 1".
            let function = match rest.rfind(" in goroutine ") {
                Some(at) if rest[at + 14..].bytes().all(|b| b.is_ascii_digit()) => &rest[..at],
                _ => rest,
            };
            pending = Some((number, function.trim().to_string(), true));
            continue;
        }
        if !line.ends_with(')') {
            return Err(fail(
                number,
                format!(
                    "expected a call like \"main.worker(...)\" in goroutine {}, got {:?}",
                    g.id,
                    shorten(line)
                ),
            ));
        }
        pending = Some((number, line.to_string(), false));
    }
    if let Some((at, function, _)) = pending {
        return Err(fail(
            text.lines().count() + 1,
            format!(
                "expected a frame's file:line after {} (line {at}), got the end of the dump",
                shorten(&function)
            ),
        ));
    }
    if let Some(g) = current.take() {
        goroutines.push(g);
    }
    Ok(GoroutineDump { goroutines })
}

/// `18 [chan receive, 3 minutes, locked to thread]:` (after "goroutine "). Newer
/// tracebacks may put fields between the id and the bracket (`gp=0x… m=nil`); they are
/// skipped.
fn header(rest: &str) -> Result<Goroutine, String> {
    let expected = || {
        format!(
            "expected a goroutine header like \"goroutine 1 [running]:\", got \"goroutine {}\"",
            shorten(rest)
        )
    };
    let (id, rest) = rest.split_once(' ').ok_or_else(expected)?;
    let id: u64 = id.parse().map_err(|_| expected())?;
    let open = rest.find('[').ok_or_else(expected)?;
    let inner = rest[open + 1..].strip_suffix("]:").ok_or_else(expected)?;
    let mut g = Goroutine {
        id,
        ..Goroutine::default()
    };
    let mut parts = inner.split(", ");
    g.state = parts.next().unwrap_or_default().trim().to_string();
    if g.state.is_empty() {
        return Err(format!("goroutine {id}: the state in [...] is empty"));
    }
    for part in parts {
        let part = part.trim();
        if part == "locked to thread" {
            g.locked_to_thread = true;
        } else if let Some(n) = part
            .strip_suffix(" minutes")
            .or_else(|| part.strip_suffix(" minute"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            g.waiting = Some(Duration::from_secs(n.saturating_mul(60)));
        }
        // Anything else (a future runtime's note) says nothing the model holds.
    }
    Ok(g)
}

/// `\t/src/main.go:80 +0x25` → ("/src/main.go", 80). Paths may hold spaces and colons
/// (`C:/Go/src/...`), so the line number is the last `:digits` followed by the end or a
/// space.
fn file_line(line: &str) -> Option<(String, u32)> {
    if !line.starts_with(['\t', ' ']) {
        return None;
    }
    let text = line.trim();
    let bytes = text.as_bytes();
    let mut best = None;
    for (at, _) in text.match_indices(':') {
        let digits = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = at + 1 + digits;
        if digits > 0 && (end == bytes.len() || bytes[end] == b' ') && at > 0 {
            best = Some((at, end));
        }
    }
    let (at, end) = best?;
    let number = text[at + 1..end].parse().ok()?;
    Some((text[..at].to_string(), number))
}

/// `net/http.(*conn).serve(0xc000…, {0x…})` → `net/http.(*conn).serve`: the arguments are
/// the last balanced parentheses.
fn function_name(call: &str) -> &str {
    let mut depth = 0usize;
    for (at, c) in call.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &call[..at];
                }
            }
            _ => {}
        }
    }
    call
}

/// A line as an error message quotes it: at most 80 characters.
fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO119: &str = "goroutine 1 [running]:
main.main()
\t/tmp/planted/main.go:12 +0x1d

goroutine 18 [chan receive, 3 minutes]:
main.leakedWait(0xc00001a0c0)
\t/tmp/planted/main.go:80 +0x25
created by main.leakGoroutines
\t/tmp/planted/main.go:90 +0x45

goroutine 7 [select, locked to thread]:
runtime.gopark(0x0?, 0x0?, 0x0?, 0x0?, 0x0?)
\t/usr/lib/go-1.19/src/runtime/proc.go:363 +0xd6
net/http.(*conn).serve(0xc0000b2000, {0x6f3a10, 0xc00009c000})
\t/usr/lib/go-1.19/src/net/http/server.go:1991 +0x1254
...additional frames elided...

goroutine 9 [IO wait]:
internal/poll.runtime_pollWait(0x7f2c, 0x72)
\t/usr/lib/go-1.19/src/runtime/netpoll.go:305 +0x89
";

    #[test]
    fn reads_states_waits_frames_and_creators_of_go_1_19() {
        let dump = parse_goroutines(GO119).unwrap();
        let ids: Vec<u64> = dump.goroutines.iter().map(|g| g.id).collect();
        assert_eq!(ids, [1, 18, 7, 9]);
        let leaked = &dump.goroutines[1];
        assert_eq!(leaked.state, "chan receive");
        assert_eq!(leaked.waiting, Some(Duration::from_secs(180)));
        assert!(!leaked.locked_to_thread);
        assert_eq!(leaked.frames[0].function, "main.leakedWait");
        assert_eq!(leaked.frames[0].line, 80);
        let creator = leaked.created_by.as_ref().unwrap();
        assert_eq!(creator.function, "main.leakGoroutines");
        assert_eq!(creator.file, "/tmp/planted/main.go");
        let selecting = &dump.goroutines[2];
        assert_eq!(selecting.state, "select");
        assert!(selecting.locked_to_thread);
        assert_eq!(selecting.waiting, None);
        let names: Vec<&str> = selecting
            .frames
            .iter()
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(names, ["runtime.gopark", "net/http.(*conn).serve"]);
        assert_eq!(dump.goroutines[3].state, "IO wait");
    }

    #[test]
    fn reads_newer_creators_and_header_fields() {
        let text = "goroutine 34 gp=0xc000102a80 m=nil [sync.Mutex.Lock, 1 minute]:
sync.(*Mutex).Lock(...)
\t/usr/local/go/src/sync/mutex.go:90
main.contended()
\tC:/Program Files/Go/main.go:101 +0x2a
created by main.main in goroutine 1
\t/src/main.go:140 +0x1f
";
        let dump = parse_goroutines(text).unwrap();
        let g = &dump.goroutines[0];
        assert_eq!(g.id, 34);
        assert_eq!(g.state, "sync.Mutex.Lock");
        assert_eq!(g.waiting, Some(Duration::from_secs(60)));
        assert_eq!(g.frames[0].function, "sync.(*Mutex).Lock");
        assert_eq!(g.frames[0].line, 90);
        assert_eq!(g.frames[1].file, "C:/Program Files/Go/main.go");
        assert_eq!(g.created_by.as_ref().unwrap().function, "main.main");
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let text = "goroutine 1 [running]:\nmain.worker(0x1)\nmain.main()\n";
        let e = parse_goroutines(text).unwrap_err().to_string();
        assert_eq!(
            e,
            "line 3: expected a frame's file:line after function main.worker(0x1) (line 2)"
        );
        let e = parse_goroutines("hello\n").unwrap_err().to_string();
        assert!(e.starts_with("line 1: expected a goroutine header"), "{e}");
        let e = parse_goroutines("goroutine x [running]:\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 1: expected a goroutine header"), "{e}");
        let e = parse_goroutines("goroutine 1 [running]:\n\t/a.go:1\n").unwrap_err();
        assert!(e.to_string().contains("without a function"), "{e}");
        let e = parse_goroutines("goroutine 1 [running]:\nmain.main()").unwrap_err();
        assert!(e.to_string().starts_with("line 3: "), "{e}");
        assert!(parse_goroutines("").unwrap().goroutines.is_empty());
    }
}
