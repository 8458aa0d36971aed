//! Inline SVG charts. Every label passes through [`esc`]: member and integration names come
//! from the workspace, which anyone with a seat can edit.

use std::fmt::Write as _;

use super::{CreditPicture, date};

/// Colors for members, in spend order; the last one is for "everyone else".
const PALETTE: &[&str] = &[
    "#4f46e5", "#0891b2", "#16a34a", "#ca8a04", "#dc2626", "#9333ea", "#db2777",
];
const OTHERS: &str = "#94a3b8";

/// Escapes for HTML text and attribute values alike (quotes included), so one function is
/// safe wherever a label lands.
/// Control characters are dropped too: they are not valid in HTML and a terminal showing the
/// file would obey them.
pub fn esc(s: &str) -> String {
    html_escape::encode_safe(&super::text::sanitize_multiline(s)).into_owned()
}

/// A compact number: 1234 → "1,234", 0.5 → "0.5".
pub(crate) fn num(n: f64) -> String {
    if n.fract().abs() > f64::EPSILON && n.abs() < 100.0 {
        return format!("{n:.1}");
    }
    let whole = n.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

/// Members the chart shows on their own.
pub(crate) const SHOWN: usize = PALETTE.len();

/// The members shown on their own (the rest are summed as "everyone else").
fn series(picture: &CreditPicture) -> Vec<(String, &'static str, Vec<f64>)> {
    let shown = SHOWN;
    let mut out: Vec<(String, &'static str, Vec<f64>)> = picture
        .members
        .iter()
        .take(shown)
        .zip(PALETTE)
        .map(|(m, c)| (m.name.clone(), *c, m.daily.clone()))
        .collect();
    let rest = &picture.members[shown.min(picture.members.len())..];
    if !rest.is_empty() {
        let mut daily = vec![0.0; picture.days.len()];
        for m in rest {
            for (d, v) in daily.iter_mut().zip(&m.daily) {
                *d += v;
            }
        }
        let name = match rest {
            [one] => one.name.clone(),
            _ => format!("{} others", rest.len()),
        };
        out.push((name, OTHERS, daily));
    }
    out
}

/// A "nice" axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

/// Daily credit burn, one stacked column per day, one color per member, with a legend.
pub(crate) fn burn(picture: &CreditPicture) -> String {
    let (w, h) = (1100.0, 320.0);
    let (left, right, top, bottom) = (56.0, 16.0, 16.0, 40.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let series = series(picture);
    let days = picture.days.len().max(1);
    let totals: Vec<f64> = (0..days)
        .map(|d| {
            series
                .iter()
                .map(|s| s.2.get(d).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let ceiling = nice_ceiling(totals.iter().copied().fold(0.0, f64::max));
    let slot = plot_w / days as f64;
    let bar = (slot * 0.8).max(1.0);

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="burn-title" xmlns="http://www.w3.org/2000/svg"><title id="burn-title">Daily credit burn per member</title>"#
    );
    // Grid lines and y labels.
    for i in 0..=4 {
        let v = ceiling * f64::from(i) / 4.0;
        let y = top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{tx}" y="{ty:.1}" class="axis" text-anchor="end">{label}</text>"##,
            x2 = w - right,
            tx = left - 6.0,
            ty = y + 4.0,
            label = num(v)
        );
    }
    for d in 0..days {
        let x = left + slot * d as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        let day = picture.days.get(d).map(|t| date(*t)).unwrap_or_default();
        for (name, color, daily) in &series {
            let v = daily.get(d).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let bh = plot_h * v / ceiling;
            y -= bh;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="{color}"><title>{day}: {name} {v}</title></rect>"#,
                name = esc(name),
                v = num(v)
            );
        }
    }
    // A date under the first, middle and last day.
    // The outer labels align to the plot's edges so they are never clipped.
    for (d, anchor) in [(0, "start"), (days / 2, "middle"), (days - 1, "end")] {
        if let Some(t) = picture.days.get(d) {
            let x = match anchor {
                "start" => left + slot * d as f64,
                "end" => left + slot * (d + 1) as f64,
                _ => left + slot * d as f64 + slot / 2.0,
            };
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{y}" class="axis" text-anchor="{anchor}">{label}</text>"#,
                y = h - bottom + 18.0,
                label = date(*t)
            );
        }
    }
    svg.push_str("</svg>");

    svg.push_str(r#"<ul class="legend">"#);
    for (name, color, daily) in &series {
        let _ = write!(
            svg,
            r#"<li><span class="swatch" style="background:{color}"></span>{name} <b>{total}</b></li>"#,
            name = esc(name),
            total = num(daily.iter().sum())
        );
    }
    svg.push_str("</ul>");
    svg
}

/// Spend by integration type: one horizontal bar each, largest first.
pub(crate) fn integrations(picture: &CreditPicture) -> String {
    let rows = picture.integrations.len().max(1) as f64;
    let (w, row_h, label_w, value_w) = (1100.0, 30.0, 220.0, 90.0);
    let h = rows * row_h + 8.0;
    let max = picture
        .integrations
        .iter()
        .map(|i| i.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let bar_w = w - label_w - value_w;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="int-title" xmlns="http://www.w3.org/2000/svg"><title id="int-title">Credits by integration</title>"#
    );
    for (i, (name, credits)) in picture.integrations.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let len = (bar_w * credits / max).max(1.0);
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ty:.1}" text-anchor="end" class="label">{name}</text><rect x="{label_w}" y="{y:.1}" width="{len:.1}" height="{bh}" rx="3" fill="#0891b2"/><text x="{vx:.1}" y="{ty:.1}" class="label">{value}</text>"##,
            lx = label_w - 10.0,
            ty = y + row_h / 2.0 + 1.0,
            name = esc(name),
            bh = row_h - 10.0,
            vx = label_w + len + 8.0,
            value = num(*credits)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_small_fractions_kept() {
        assert_eq!(num(1234567.0), "1,234,567");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(12.0), "12");
    }

    #[test]
    fn axis_ceilings_are_round() {
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn labels_are_escaped() {
        let doc = super::super::tests::document("x");
        let picture = doc.credits.unwrap();
        let svg = burn(&picture) + &integrations(&picture);
        assert!(svg.contains("Jonas &lt;Berg&gt;"));
        assert!(svg.contains("Hunter &lt;io&gt;"));
        assert!(!svg.contains("<Berg>"));
    }
}
