//! The `firelake status --html` page: one self-contained file (inline CSS, SVG and a few lines
//! of JS; nothing fetched). Every number carries `data-*` attributes so a test can read the
//! rendered page back and compare it with `status --json`.

use std::fmt::Write;

use firelake_core::status::{LakeStatus, TableStatus};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart: one bar per (label, value).
fn bars(title: &str, chart: &str, items: &[(String, f64)], color: &str) -> String {
    let max = items.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0);
    let h = 22 * items.len().max(1) + 30;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg data-chart="{chart}" width="560" height="{h}" role="img">"#,
        esc(title)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 22 * i + 6;
        let w = (v / max * 330.0).max(1.0);
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" class="l">{}</text><rect x="170" y="{y}" width="{w:.1}" height="16" fill="{color}" data-label="{}" data-value="{v}"/><text x="{:.1}" y="{}" class="v">{v}</text>"#,
            y + 13,
            esc(label),
            esc(label),
            175.0 + w,
            y + 13
        );
    }
    if items.is_empty() {
        svg.push_str(r#"<text x="0" y="20" class="l">nothing yet</text>"#);
    }
    svg.push_str("</svg></figure>");
    svg
}

fn table_section(t: &TableStatus) -> String {
    let name = esc(&t.table);
    let mut s = format!(
        r#"<section data-table="{name}"><h2>{name}</h2><p class="summary"><b data-metric="rows">{}</b> rows · <b data-metric="raw_files">{}</b> raw files · <b data-metric="rejected">{}</b> rejected · <b data-metric="reprocessed">{}</b> reprocessed · <b data-metric="nulled">{}</b> nulled · <b data-metric="stale_days">{}</b> stale days · newest record <b>{}</b></p>"#,
        t.rows,
        t.raw_files,
        t.rejected,
        t.reprocessed,
        t.nulled,
        t.stale_days,
        esc(t.newest_record.as_deref().unwrap_or("-")),
    );
    let rows: Vec<(String, f64)> = t
        .days
        .iter()
        .map(|d| (d.day.clone(), d.rows as f64))
        .collect();
    s += &bars("Rows per day", "rows", &rows, "#3b82f6");
    let mut reasons = std::collections::BTreeMap::<String, u64>::new();
    for d in &t.days {
        for (k, v) in &d.rejects_by_reason {
            *reasons.entry(k.clone()).or_default() += v;
        }
    }
    let reasons: Vec<(String, f64)> = reasons.into_iter().map(|(k, v)| (k, v as f64)).collect();
    s += &bars("Rejects by reason", "rejects", &reasons, "#ef4444");
    let mut sizes = Vec::new();
    for d in &t.days {
        sizes.push((format!("{} raw", d.day), d.raw_bytes as f64));
        sizes.push((format!("{} curated", d.day), d.curated.bytes as f64));
    }
    s += &bars("File bytes, raw vs curated", "sizes", &sizes, "#10b981");
    let fresh: Vec<(String, f64)> = t
        .days
        .iter()
        .filter_map(|d| Some((d.day.clone(), d.newest_age_seconds? as f64 / 3600.0)))
        .collect();
    s += &bars(
        "Age of the newest record per day (hours)",
        "freshness",
        &fresh,
        "#f59e0b",
    );
    s += "<table><tr><th>day</th><th>rows</th><th>files</th><th>bytes</th><th>small</th><th>rejected</th><th>reprocessed</th><th>nulled</th><th>stale raw files</th><th>curated</th></tr>";
    for d in &t.days {
        let _ = write!(
            s,
            r#"<tr data-day="{}"><td>{}</td><td data-metric="rows">{}</td><td data-metric="raw_files">{}</td><td data-metric="raw_bytes">{}</td><td>{:.0}%</td><td data-metric="rejected">{}</td><td data-metric="reprocessed">{}</td><td data-metric="nulled">{}</td>{}<td data-metric="curated_state"{}>{}</td></tr>"#,
            d.day,
            d.day,
            d.rows,
            d.raw_files,
            d.raw_bytes,
            d.small_share * 100.0,
            d.rejected,
            d.reprocessed,
            d.nulled,
            match d.curated.stale_raw_files {
                Some(n) => format!(r#"<td data-metric="stale_raw_files">{n}</td>"#),
                None => "<td>-</td>".to_string(),
            },
            if d.curated.stale {
                r#" class="stale""#
            } else {
                ""
            },
            esc(&crate::status::curated_text(&d.curated)),
        );
    }
    s += "</table></section>";
    s
}

fn consumers_section(cps: &[firelake_core::status::ConsumerPosition]) -> String {
    let mut s = String::from("<section data-consumers><h2>Consumers</h2>");
    if cps.is_empty() {
        s += "<p>No checkpoints in the lake.</p></section>";
        return s;
    }
    s += "<table><tr><th>consumer</th><th>stream</th><th>shard</th><th>position</th><th>checkpointed</th><th>age (s)</th></tr>";
    for c in cps {
        let _ = write!(
            s,
            r#"<tr data-shard="{}"><td>{}</td><td>{}</td><td>{}</td><td data-metric="position">{}</td><td>{}</td><td data-metric="checkpoint_age_seconds">{}</td></tr>"#,
            esc(&format!("{}/{}/{}", c.consumer, c.stream, c.shard)),
            esc(&c.consumer),
            esc(&c.stream),
            esc(&c.shard),
            esc(c.position.as_deref().unwrap_or("-")),
            esc(&c.checkpointed_at),
            c.checkpoint_age_seconds
        );
    }
    s += "</table></section>";
    s
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#111}h1{font-size:20px}\
section{border-top:1px solid #ddd;margin-top:16px}figure{display:inline-block;vertical-align:top;margin:8px 16px 8px 0}\
figcaption{font-weight:600}text.l,text.v{font-size:12px}table{border-collapse:collapse}\
td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}td.stale{color:#b91c1c;font-weight:600}";

/// Sums the per-day cells in the browser, so the test sees the page's script ran.
const SCRIPT: &str = "for(const s of document.querySelectorAll('section[data-table]')){let n=0;\
for(const c of s.querySelectorAll('tr[data-day] td[data-metric=rows]'))n+=Number(c.textContent);\
const o=document.createElement('p');o.id='js-rows-'+s.dataset.table;o.dataset.jsRows=n;\
o.textContent='rows counted in the page: '+n;s.appendChild(o);}";

pub fn page(status: &LakeStatus) -> String {
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>firelake status</title><style>{STYLE}</style></head><body><h1>firelake status: {}</h1><p>at {}; small files are under {} bytes</p>",
        esc(&status.lake),
        esc(&status.generated_at),
        status.small_file_bytes
    );
    for t in &status.tables {
        s += &table_section(t);
    }
    s += &consumers_section(&status.consumers);
    let _ = write!(s, "<script>{SCRIPT}</script></body></html>");
    s
}
