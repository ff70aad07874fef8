//! Charts drawn as SVG text on the server (and again, the same, in the browser): readable
//! without JavaScript, sized by the page, coloured by the stylesheet (`.chart .s-…`). Each
//! chart is an image with a label; the page shows the same figures as a table beside it, for
//! screen readers and for anyone who wants the numbers. Every text is escaped.

use std::fmt::Write as _;

/// One stacked part of a column chart: its name (for the legend), its style class, and a value
/// per column.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'static str,
    pub values: Vec<i64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 8.0;

/// The top of an axis that holds `max` and its step: 1, 2 or 5 times a power of ten, at most
/// five steps.
pub fn axis(max: i64) -> (i64, i64) {
    if max <= 0 {
        return (1, 1);
    }
    let mut magnitude = 1i64;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            let steps = (max + step - 1) / step;
            if steps <= 5 {
                return (steps * step, step);
            }
        }
        magnitude *= 10;
    }
}

/// Columns of stacked series, one per label (`labels` and every series' values are as long),
/// with a value axis and at most `ticks` labels along the bottom. `label` names the image.
pub fn columns(label: &str, labels: &[String], series: &[Series<'_>], ticks: usize) -> String {
    let totals: Vec<i64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (top, step) = axis(totals.iter().copied().max().unwrap_or(0));
    let plot_height = HEIGHT - TOP - BOTTOM;
    let plot_width = WIDTH - LEFT;
    let slot = plot_width / labels.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let y = |value: i64| TOP + plot_height * (1.0 - value as f64 / top as f64);
    let mut svg = open(label);
    let mut value = 0;
    while value <= top {
        let at = y(value);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{at:.1}" y2="{at:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{value}</text>"#,
            LEFT - 6.0,
            at + 4.0
        );
        value += step;
    }
    for (i, _) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0);
            if v > 0 {
                let (y_top, y_base) = (y(base + v), y(base));
                let _ = write!(
                    svg,
                    r#"<rect class="{}" x="{x:.1}" y="{y_top:.1}" width="{bar:.1}" height="{:.1}"/>"#,
                    s.class,
                    y_base - y_top
                );
            }
            base += v;
        }
    }
    let every = labels.len().div_ceil(ticks.max(1)).max(1);
    for (i, text) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + slot * i as f64 + slot / 2.0;
        let _ = write!(
            svg,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - 6.0,
            escape(text)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars, one per row (its label, its value), longest for the largest value.
pub fn bars(label: &str, rows: &[(String, i64)]) -> String {
    const ROW: f64 = 28.0;
    const TEXT: f64 = 260.0;
    let height = ROW * rows.len().max(1) as f64;
    let max = rows.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let room = WIDTH - TEXT - 60.0;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" preserveAspectRatio="xMinYMin meet">"#,
        escape(label)
    );
    for (i, (text, value)) in rows.iter().enumerate() {
        let y = ROW * i as f64;
        let width = (room * *value as f64 / max as f64).max(1.0);
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="s-bar" x="{TEXT}" y="{:.1}" width="{width:.1}" height="{:.1}"/><text class="value" x="{:.1}" y="{:.1}">{value}</text>"#,
            TEXT - 8.0,
            y + ROW / 2.0 + 4.0,
            escape(&clip(text, 40)),
            y + 4.0,
            ROW - 8.0,
            TEXT + width + 6.0,
            y + ROW / 2.0 + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn open(label: &str) -> String {
    format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" preserveAspectRatio="xMinYMin meet">"#,
        escape(label)
    )
}

/// A long name shortened to `most` characters, with an ellipsis.
fn clip(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_string();
    }
    let mut short: String = text.chars().take(most - 1).collect();
    short.push('…');
    short
}

/// Text made safe for SVG's text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_a_round_step() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(3), (3, 1));
        assert_eq!(axis(5), (5, 1));
        assert_eq!(axis(6), (6, 2));
        assert_eq!(axis(9), (10, 2));
        assert_eq!(axis(11), (15, 5));
        assert_eq!(axis(26), (30, 10));
        assert_eq!(axis(1234), (1500, 500));
    }

    #[test]
    fn columns_stack_their_series_to_the_total() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let series = [
            Series {
                name: "approved",
                class: "s-approved",
                values: vec![2, 0],
            },
            Series {
                name: "denied",
                class: "s-denied",
                values: vec![2, 1],
            },
        ];
        let svg = columns("Requests", &labels, &series, 10);
        // One rect per non-zero value; the highest column (4) reaches the top of the axis (4).
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains(r#"class="s-approved""#));
        let top_of_plot = format!(r#"y="{TOP:.1}""#);
        assert!(svg.contains(&top_of_plot), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let hostile = r#"<script>"&'"#;
        let svg = bars(hostile, &[(hostile.to_string(), 3)]);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&quot;&amp;&#39;"), "{svg}");
        let svg = columns(hostile, &[hostile.to_string()], &[], 3);
        assert!(!svg.contains("<script>"), "{svg}");
    }

    #[test]
    fn bars_scale_to_the_largest_and_clip_long_names() {
        let rows = vec![("x".repeat(60), 10), ("short".to_string(), 5)];
        let svg = bars("Top", &rows);
        assert!(svg.contains('…'));
        let widths: Vec<f64> = svg
            .split(r#"width=""#)
            .skip(1)
            .map(|w| w.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(widths.len(), 2);
        assert!((widths[0] - 2.0 * widths[1]).abs() < 0.2, "{widths:?}");
    }
}
