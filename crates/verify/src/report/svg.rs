//! Small inline-SVG line charts: enough for a report that opens offline, no library.

use std::fmt::Write as _;

/// One line of a chart, drawn in separate segments (one per phase) so that gaps between
/// phases are not bridged by a straight line that never was.
pub(crate) struct Line {
    pub label: String,
    pub color: &'static str,
    pub segments: Vec<Vec<(f64, f64)>>,
    pub dashed: bool,
}

/// A shaded stretch of the x axis (a phase).
pub(crate) struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
    pub fill: &'static str,
    /// A fault window rather than a phase.
    pub fault: bool,
}

const WIDTH: f64 = 920.0;
const HEIGHT: f64 = 230.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 30.0;

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A step of 1, 2 or 5 × 10ⁿ giving about five ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let scaled = raw / magnitude;
    let step = if scaled <= 1.0 {
        1.0
    } else if scaled <= 2.0 {
        2.0
    } else if scaled <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * magnitude
}

fn tick_label(v: f64, unit: &str) -> String {
    let text = if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    format!("{text}{unit}")
}

/// A line chart over `0..=x_max` seconds.
pub(crate) fn chart(title: &str, unit: &str, lines: &[Line], bands: &[Band], x_max: f64) -> String {
    let x_max = x_max.max(1.0);
    let y_data = lines
        .iter()
        .flat_map(|l| l.segments.iter().flatten().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let step = nice_step(y_data * 1.1);
    let y_max = (y_data * 1.1 / step).ceil().max(1.0) * step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + t / x_max * plot_w;
    let y = |v: f64| TOP + plot_h - (v / y_max).clamp(0.0, 1.0) * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{}">"#,
        escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="16" class="title">{}</text>"#,
        escape(title)
    );
    for band in bands {
        let (x0, x1) = (x(band.x0), x(band.x1));
        let width = (x1 - x0).max(0.5);
        if band.fault {
            // A fault window: a translucent red veil over the phases and a solid stripe on top.
            let _ = write!(
                svg,
                r##"<rect x="{x0:.1}" y="{TOP}" width="{width:.1}" height="{plot_h}" fill="#e5484d" fill-opacity="0.10"/><rect x="{x0:.1}" y="{:.1}" width="{width:.1}" height="5" fill="#e5484d"/><text x="{:.1}" y="{:.1}" class="fault">{}</text>"##,
                TOP + plot_h - 5.0,
                x0 + 4.0,
                TOP + plot_h - 9.0,
                escape(&band.label)
            );
        } else {
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{TOP}" width="{width:.1}" height="{plot_h}" fill="{}"/><text x="{:.1}" y="{:.1}" class="band">{}</text>"#,
                band.fill,
                x0 + 4.0,
                TOP + 12.0,
                escape(&band.label)
            );
        }
    }
    let mut v = 0.0;
    while v <= y_max + step * 0.01 {
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            tick_label(v, unit)
        );
        v += step;
    }
    let x_step = nice_step(x_max);
    let mut t = 0.0;
    while t <= x_max + x_step * 0.01 {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}s</text>"#,
            x(t),
            HEIGHT - 10.0,
            tick_label(t, "")
        );
        t += x_step;
    }
    for line in lines {
        for segment in &line.segments {
            let path: Vec<String> = segment
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            if path.is_empty() {
                continue;
            }
            // A lone point still shows, as a dot.
            if path.len() == 1 {
                let (t, v) = segment[0];
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                    x(t),
                    y(v),
                    line.color
                );
                continue;
            }
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"{}/>"#,
                path.join(" "),
                line.color,
                if line.dashed {
                    r#" stroke-dasharray="6 4""#
                } else {
                    ""
                }
            );
        }
    }
    let mut legend_x = WIDTH - RIGHT;
    for line in lines.iter().rev() {
        let width = 22.0 + 7.0 * line.label.chars().count() as f64;
        legend_x -= width;
        let _ = write!(
            svg,
            r#"<line x1="{legend_x:.1}" x2="{:.1}" y1="12" y2="12" stroke="{}" stroke-width="3"{}/><text x="{:.1}" y="16" class="legend">{}</text>"#,
            legend_x + 14.0,
            line.color,
            if line.dashed {
                r#" stroke-dasharray="4 3""#
            } else {
                ""
            },
            legend_x + 18.0,
            escape(&line.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn chart_is_well_formed_and_escaped() {
        let svg = chart(
            "latency <ms>",
            "ms",
            &[Line {
                label: "p99".into(),
                color: "#c00",
                segments: vec![vec![(0.0, 1.0), (1.0, 3.0)]],
                dashed: false,
            }],
            &[Band {
                x0: 0.0,
                x1: 1.0,
                label: "a&b".into(),
                fill: "#eee",
                fault: false,
            }],
            2.0,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("latency &lt;ms&gt;") && svg.contains("a&amp;b"));
        assert!(svg.contains("<polyline"));
    }
}
