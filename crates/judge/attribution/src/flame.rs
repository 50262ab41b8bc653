//! Flame graphs and differential flame graphs, drawn by inferno.

use crate::Error;
use inferno::flamegraph::{self, Options};

/// What a flame graph says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlameOptions {
    /// The title over the graph.
    pub title: String,
    /// What a value counts (`nanoseconds`, `bytes`, `goroutines`), shown on hover.
    pub count_name: String,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "Flame Graph".into(),
            count_name: "samples".into(),
        }
    }
}

fn options(o: &FlameOptions) -> Options<'static> {
    let mut opt = Options::default();
    opt.title = o.title.clone();
    opt.count_name = o.count_name.clone();
    // Colours from a hash of each name, not at random: the same profile draws the same
    // picture, and a function keeps its colour across the graphs of one report.
    opt.hash = true;
    opt.deterministic = true;
    opt
}

/// An SVG with only a title and a note, for a profile with nothing to draw (inferno
/// refuses empty input).
fn empty_svg(o: &FlameOptions) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60" viewBox="0 0 1200 60"><text x="600" y="24" text-anchor="middle" font-family="Verdana" font-size="17">{}</text><text x="600" y="48" text-anchor="middle" font-family="Verdana" font-size="12">no samples</text></svg>"#,
        escape(&o.title)
    )
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn lines(folded: &[(String, i64)]) -> Vec<String> {
    // inferno counts are unsigned: a stack that went negative (a delta) has nothing to draw.
    folded
        .iter()
        .filter(|(stack, v)| *v > 0 && !stack.is_empty())
        .map(|(stack, v)| format!("{stack} {v}"))
        .collect()
}

/// A flame graph of collapsed stacks (as [`crate::fold`] writes them). Stacks whose
/// value is not positive are left out; with none left, a small SVG that says so.
pub fn flame_svg(folded: &[(String, i64)], options_: &FlameOptions) -> Result<String, Error> {
    let lines = lines(folded);
    if lines.is_empty() {
        return Ok(empty_svg(options_));
    }
    let mut out = Vec::new();
    flamegraph::from_lines(
        &mut options(options_),
        lines.iter().map(String::as_str),
        &mut out,
    )
    .map_err(|e| Error::Flame(e.to_string()))?;
    String::from_utf8(out).map_err(|e| Error::Flame(e.to_string()))
}

/// A differential flame graph: the shape of `after`, each frame red where it grew and blue
/// where it shrank against `before`. `before` is scaled to `after`'s total first (inferno's
/// `--normalize`), so a longer or busier second capture does not paint everything red.
pub fn diff_svg(
    before: &[(String, i64)],
    after: &[(String, i64)],
    options_: &FlameOptions,
) -> Result<String, Error> {
    differential(before, after, false, options_)
}

/// The other half of a differential flame graph: the shape of `before`, each frame blue
/// where it shrank and red where it grew by `after` (scaled to `before`'s total). Code that
/// vanished has no width in [`diff_svg`]'s picture, which draws `after`; here it keeps its
/// width, so a removed cache or a path a fix no longer takes is seen too.
pub fn diff_svg_before(
    before: &[(String, i64)],
    after: &[(String, i64)],
    options_: &FlameOptions,
) -> Result<String, Error> {
    // inferno draws its second input and colours by second − first: handed (after,
    // before), a frame that shrank from before to after comes out "grown", so the hues are
    // swapped back.
    differential(after, before, true, options_)
}

/// The shape of `drawn`, coloured by its change from `base` (scaled to `drawn`'s total).
fn differential(
    base: &[(String, i64)],
    drawn: &[(String, i64)],
    swap_hues: bool,
    options_: &FlameOptions,
) -> Result<String, Error> {
    let base = lines(base).join("\n");
    let drawn = lines(drawn).join("\n");
    if drawn.is_empty() {
        return Ok(empty_svg(options_));
    }
    let mut merged = Vec::new();
    let diff_options = inferno::differential::Options {
        normalize: !base.is_empty(),
        ..Default::default()
    };
    inferno::differential::from_readers(
        diff_options,
        base.as_bytes(),
        drawn.as_bytes(),
        &mut merged,
    )
    .map_err(|e| Error::Flame(e.to_string()))?;
    let merged = String::from_utf8(merged).map_err(|e| Error::Flame(e.to_string()))?;
    let mut opt = options(options_);
    opt.negate_differentials = swap_hues;
    let mut out = Vec::new();
    flamegraph::from_lines(&mut opt, merged.lines(), &mut out)
        .map_err(|e| Error::Flame(e.to_string()))?;
    String::from_utf8(out).map_err(|e| Error::Flame(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill_of(svg: &str, frame: &str) -> (u8, u8, u8) {
        let c = svg
            .split(&format!("<title>{frame}"))
            .nth(1)
            .unwrap_or_else(|| panic!("no frame {frame}"))
            .split("fill=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .to_string();
        let v: Vec<u8> = c.split(',').map(|x| x.trim().parse().unwrap()).collect();
        (v[0], v[1], v[2])
    }

    #[test]
    fn the_before_side_keeps_what_vanished_and_paints_it_blue() {
        let before = stacks(&[("main;vanished", 60), ("main;grew", 40)]);
        let after = stacks(&[("main;grew", 100)]);
        let drawn_after = diff_svg(&before, &after, &FlameOptions::default()).unwrap();
        assert!(!drawn_after.contains("<title>vanished"));
        let svg = diff_svg_before(&before, &after, &FlameOptions::default()).unwrap();
        let (r, _, b) = fill_of(&svg, "vanished");
        assert!(b > r, "vanished is blue");
        let (r, _, b) = fill_of(&svg, "grew");
        assert!(r > b, "grew is red");
        assert!(diff_svg_before(&[], &after, &FlameOptions::default())
            .unwrap()
            .contains("no samples"));
    }

    fn stacks(s: &[(&str, i64)]) -> Vec<(String, i64)> {
        s.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_flame_graph_names_every_frame_and_its_title() {
        let svg = flame_svg(
            &stacks(&[("main.main;main.hot", 90), ("main.main;main.cold", 10)]),
            &FlameOptions {
                title: "cpu <1>".into(),
                count_name: "nanoseconds".into(),
            },
        )
        .unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("main.hot"));
        assert!(svg.contains("main.cold"));
        assert!(svg.contains("cpu &lt;1&gt;"));
        assert!(svg.contains("nanoseconds"));
        // Deterministic: the same input draws the same picture.
        assert_eq!(
            svg,
            flame_svg(
                &stacks(&[("main.main;main.hot", 90), ("main.main;main.cold", 10)]),
                &FlameOptions {
                    title: "cpu <1>".into(),
                    count_name: "nanoseconds".into(),
                },
            )
            .unwrap()
        );
    }

    #[test]
    fn nothing_to_draw_is_an_svg_that_says_so() {
        let svg = flame_svg(&stacks(&[("a", 0), ("b", -3)]), &FlameOptions::default()).unwrap();
        assert!(svg.contains("no samples"));
    }

    #[test]
    fn a_differential_graph_paints_growth_red_and_shrinking_blue() {
        let before = stacks(&[("main;grew", 10), ("main;shrank", 90)]);
        let after = stacks(&[("main;grew", 90), ("main;shrank", 10)]);
        let svg = diff_svg(&before, &after, &FlameOptions::default()).unwrap();
        // inferno writes the delta into each frame's title: "+80.00%" style.
        let grew = svg.split("<title>grew").nth(1).unwrap();
        let shrank = svg.split("<title>shrank").nth(1).unwrap();
        let fill = |s: &str| {
            s.split("fill=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        let (g, b) = (fill(grew), fill(shrank));
        let rgb = |c: &str| -> (u8, u8, u8) {
            let c = c.trim_start_matches("rgb(").trim_end_matches(')');
            let v: Vec<u8> = c.split(',').map(|x| x.trim().parse().unwrap()).collect();
            (v[0], v[1], v[2])
        };
        let (gr, _, gb) = rgb(&g);
        let (br, _, bb) = rgb(&b);
        assert!(gr > gb, "grew is red: {g}");
        assert!(bb > br, "shrank is blue: {b}");
    }
}

/// An `<iframe>` that shows one SVG as a document of its own, sized to the height the SVG
/// declares: inferno's SVGs carry their own script and element ids, which would collide
/// if several shared a page, and their own document keeps zoom and search working. A
/// `data:` URL rather than `srcdoc`, because a browser parses `srcdoc` as HTML, and
/// inferno's layout breaks there.
pub fn svg_frame(title: &str, svg: &str) -> String {
    use base64::Engine as _;
    format!(
        "<iframe title=\"{}\" style=\"width:100%;height:{}px;border:0\" src=\"data:image/svg+xml;base64,{}\"></iframe>",
        escape(title),
        svg_height(svg).clamp(60, 2000) + 8,
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

/// The `height` an SVG declares on its root element (inferno's grows with the deepest
/// stack); 420 when it declares none.
fn svg_height(svg: &str) -> u32 {
    svg.find("<svg")
        .and_then(|start| {
            let end = svg[start..].find('>').map_or(svg.len(), |e| start + e);
            let value = svg[start..end].split(" height=\"").nth(1)?;
            value.split('"').next()?.parse::<f64>().ok()
        })
        .map_or(420, |h| h as u32)
}

#[cfg(test)]
mod frame_tests {
    use super::*;

    #[test]
    fn a_frame_holds_the_svg_whole_and_takes_its_height() {
        let svg = flame_svg(
            &[("main.main;main.<hot>".to_string(), 5)],
            &FlameOptions::default(),
        )
        .unwrap();
        let frame = svg_frame("cpu \"now\"", &svg);
        assert!(
            frame.starts_with("<iframe title=\"cpu &quot;now&quot;\""),
            "{frame}"
        );
        let encoded = frame
            .split("base64,")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), svg);
        let declared = svg_height(&svg);
        assert!(declared > 60 && frame.contains(&format!("height:{}px", declared + 8)));
        assert_eq!(svg_height("<svg width=\"10\">"), 420);
    }
}
