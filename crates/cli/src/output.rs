//! What the CLI shows while it works and how it writes files.

use anyhow::Context as _;
use ballast_core::format_duration;
use ballast_load::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// A one-line live view on stderr; invisible when stderr is not a terminal.
pub struct LiveProgress {
    bar: Option<ProgressBar>,
}

impl LiveProgress {
    pub fn new(wanted: bool) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:24.cyan/blue} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        LiveProgress { bar }
    }

    pub fn update(&self, p: &Progress) {
        let Some(bar) = &self.bar else { return };
        let (position, length) = match (p.planned, p.planned_requests) {
            (Some(planned), _) => (p.elapsed.as_millis() as u64, planned.as_millis() as u64),
            (None, Some(n)) => (p.requests, n),
            (None, None) => (0, 0),
        };
        bar.set_length(length);
        bar.set_position(position.min(length));
        bar.set_message(format!(
            "{:>6.1}s  {:>7}/s  p99 {:>8}  requests {}  errors {}",
            p.elapsed.as_secs_f64(),
            p.last_second_requests,
            format_duration(p.last_second_p99),
            p.requests,
            p.errors
        ));
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Writes JSON through a temporary file and a rename, so a crash never leaves half a report.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    let tmp = path.with_extension("json.partial");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
