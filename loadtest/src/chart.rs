//! The run's chart as a small hand-written SVG (pure): records per second over time (asked,
//! produced, made durable) above the produced -> durable latency of the records produced in
//! each second (p50, p99, max) with the target latency; one shared time axis.

use std::fmt::Write;

use crate::counts::thousands;
use crate::latency::SecondPoint;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 250.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 62.0;
const GAP: f64 = 70.0;

pub struct ChartInput<'a> {
    pub title: &'a str,
    pub subtitle: &'a str,
    pub series: &'a [SecondPoint],
    /// The asked rate in each second (none: not producing).
    pub target_rates: &'a [Option<u32>],
    pub target_latency_ms: u64,
}

/// A round step for an axis from 0 to `max` with about `ticks` ticks (1, 2 or 5 times a power
/// of ten).
fn nice_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    (nice * mag).max(1.0)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Panel {
    top: f64,
    y_max: f64,
    x_max: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * t / self.x_max
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - PANEL * (v / self.y_max).min(1.05)
    }

    fn axes(&self, svg: &mut String, label: &str, unit_step: f64) {
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{}" width="{}" height="{PANEL}" fill="#fafafa" stroke="#999"/>"##,
            self.top,
            WIDTH - LEFT - RIGHT
        );
        let mut v = 0.0;
        while v <= self.y_max + 1e-9 {
            let y = self.y(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                thousands(v as u64)
            );
            v += unit_step;
        }
        let _ = writeln!(
            svg,
            r#"<text x="18" y="{:.1}" font-size="12" transform="rotate(-90 18 {:.1})" text-anchor="middle">{}</text>"#,
            self.top + PANEL / 2.0,
            self.top + PANEL / 2.0,
            escape(label)
        );
        let step = nice_step(self.x_max, 10.0);
        let mut t = 0.0;
        while t <= self.x_max + 1e-9 {
            let x = self.x(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                self.top + PANEL,
                self.top + PANEL + 4.0,
                self.top + PANEL + 16.0,
                t as u64
            );
            t += step;
        }
    }

    /// A line through the points; `None` breaks it.
    fn line(&self, svg: &mut String, points: &[(f64, Option<f64>)], color: &str, dash: &str) {
        let mut seg: Vec<String> = Vec::new();
        let flush = |seg: &mut Vec<String>, svg: &mut String| {
            if seg.len() > 1 {
                let _ = writeln!(
                    svg,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}" points="{}"/>"#,
                    seg.join(" ")
                );
            } else if let Some(p) = seg.first() {
                let (x, y) = p.split_once(',').expect("x,y");
                let _ = writeln!(svg, r#"<circle cx="{x}" cy="{y}" r="2" fill="{color}"/>"#);
            }
            seg.clear();
        };
        for (t, v) in points {
            match v {
                Some(v) => seg.push(format!("{:.1},{:.1}", self.x(*t), self.y(*v))),
                None => flush(&mut seg, svg),
            }
        }
        flush(&mut seg, svg);
    }

    fn legend(&self, svg: &mut String, items: &[(&str, &str, &str)]) {
        let mut x = LEFT + 8.0;
        for (name, color, dash) in items {
            let y = self.top - 8.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
                x + 22.0,
                x + 27.0,
                y + 4.0,
                escape(name)
            );
            x += 40.0 + 7.0 * name.len() as f64;
        }
    }
}

/// The chart as SVG text.
pub fn svg(input: &ChartInput<'_>) -> String {
    let n = input.series.len().max(input.target_rates.len()).max(1);
    let x_max = n as f64;
    let mut svg = String::new();
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="20" font-size="15">{}</text><text x="{LEFT}" y="36" font-size="11" fill="#555">{}</text>"##,
        escape(input.title),
        escape(input.subtitle)
    );

    rates_panel(&mut svg, input, x_max);
    let lat = latency_panel(&mut svg, input, x_max);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">seconds since the start (latency: by the second a record was produced)</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        lat.top + PANEL + 36.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// Rates and latencies are plotted at the middle of their second.
fn mid_second(t: u64) -> f64 {
    t as f64 + 0.5
}

/// The upper panel: records per second asked, produced and made durable.
fn rates_panel(svg: &mut String, input: &ChartInput<'_>, x_max: f64) {
    // Rates, plotted at the middle of each second.
    let rate_max = input
        .series
        .iter()
        .flat_map(|p| [p.produced, p.durable])
        .chain(input.target_rates.iter().flatten().map(|r| *r as u64))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let step = nice_step(rate_max, 5.0);
    let rates = Panel {
        top: TOP,
        y_max: (rate_max / step).ceil() * step,
        x_max,
    };
    rates.axes(svg, "records / s", step);
    let target: Vec<(f64, Option<f64>)> = input
        .target_rates
        .iter()
        .enumerate()
        .flat_map(|(t, r)| {
            let v = r.map(|r| r as f64);
            [(t as f64, v), (t as f64 + 1.0, v)]
        })
        .collect();
    rates.line(svg, &target, "#777", "6 4");
    let produced: Vec<_> = input
        .series
        .iter()
        .map(|p| (mid_second(p.t), Some(p.produced as f64)))
        .collect();
    rates.line(svg, &produced, "#1f77b4", "none");
    let durable: Vec<_> = input
        .series
        .iter()
        .map(|p| (mid_second(p.t), Some(p.durable as f64)))
        .collect();
    rates.line(svg, &durable, "#ff7f0e", "none");
    rates.legend(
        svg,
        &[
            ("asked", "#777", "6 4"),
            ("produced", "#1f77b4", "none"),
            ("made durable (in flushes)", "#ff7f0e", "none"),
        ],
    );
}

/// The lower panel: latency percentiles by the second records were produced in, and the target.
fn latency_panel(svg: &mut String, input: &ChartInput<'_>, x_max: f64) -> Panel {
    // Latency by the second the records were produced in; seconds with none durable are gaps.
    let lat_max = input
        .series
        .iter()
        .map(|p| p.max_ms)
        .chain([input.target_latency_ms])
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let lstep = nice_step(lat_max, 5.0);
    let lat = Panel {
        top: TOP + PANEL + GAP,
        y_max: (lat_max / lstep).ceil() * lstep,
        x_max,
    };
    lat.axes(svg, "latency ms (produced -> durable)", lstep);
    let pick = |f: fn(&SecondPoint) -> u64| -> Vec<(f64, Option<f64>)> {
        input
            .series
            .iter()
            .map(|p| (mid_second(p.t), (p.max_ms > 0).then(|| f(p) as f64)))
            .collect()
    };
    let ty = lat.y(input.target_latency_ms as f64);
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#d62728" stroke-dasharray="2 3"/>"##,
        WIDTH - RIGHT
    );
    lat.line(svg, &pick(|p| p.max_ms), "#9467bd", "3 2");
    lat.line(svg, &pick(|p| p.p99_ms), "#d62728", "none");
    lat.line(svg, &pick(|p| p.p50_ms), "#2ca02c", "none");
    lat.legend(
        svg,
        &[
            ("p50", "#2ca02c", "none"),
            ("p99", "#d62728", "none"),
            ("max", "#9467bd", "3 2"),
            ("target", "#d62728", "2 3"),
        ],
    );
    lat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100_000.0, 5.0), 20_000.0);
        assert_eq!(nice_step(2600.0, 5.0), 1000.0);
        assert_eq!(nice_step(60.0, 10.0), 10.0);
        assert_eq!(nice_step(3.0, 10.0), 1.0);
    }

    #[test]
    fn draws_both_panels() {
        let series: Vec<SecondPoint> = (0..5)
            .map(|t| SecondPoint {
                t,
                produced: 1000,
                durable: if t % 2 == 1 { 2000 } else { 0 },
                p50_ms: if t < 4 { 900 } else { 0 },
                p99_ms: if t < 4 { 1100 } else { 0 },
                max_ms: if t < 4 { 1200 } else { 0 },
            })
            .collect();
        let svg = svg(&ChartInput {
            title: "a <run> & more",
            subtitle: "p50",
            series: &series,
            target_rates: &[Some(1000); 5],
            target_latency_ms: 2000,
        });
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;run&gt; &amp; more"));
        // asked, produced, durable, and three latency lines.
        assert_eq!(svg.matches("<polyline").count(), 6, "{svg}");
        assert!(svg.contains(">2,000<"), "rate axis labels");
    }
}
