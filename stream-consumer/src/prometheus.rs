//! The consumer's counters in the Prometheus text exposition format (version 0.0.4, which
//! OpenMetrics scrapers read too). Names follow the EMF metrics (docs/metrics.md): EMF
//! `RecordsIn` is `firelake_records_in_total` here. Pure: the binary serves it.

use std::fmt::Write;

use firelake_core::SourceDef;

use crate::metrics::ConsumerMetrics;

fn counter(out: &mut String, name: &str, help: &str, table: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{table=\"{table}\"}} {v}"
    );
}

/// The exposition of `m` for the source's table.
pub fn render(m: &ConsumerMetrics, def: &SourceDef) -> String {
    let t = def.table.as_str();
    let g = ConsumerMetrics::get;
    let counters = [
        (
            "firelake_records_in_total",
            "Records read (EMF RecordsIn).",
            &m.records_in,
        ),
        (
            "firelake_records_out_total",
            "Rows written (EMF RecordsOut).",
            &m.rows_out,
        ),
        (
            "firelake_rejected_total",
            "Records rejected (EMF Rejected).",
            &m.rejected,
        ),
        ("firelake_files_total", "Parquet files written.", &m.files),
        (
            "firelake_rejected_files_total",
            "Rejected-record files.",
            &m.rejected_files,
        ),
        (
            "firelake_nulled_files_total",
            "_nulled/ side files.",
            &m.nulled_files,
        ),
        (
            "firelake_bytes_written_total",
            "Bytes written (EMF Bytes).",
            &m.bytes_written,
        ),
        (
            "firelake_flushes_total",
            "Flushes made durable.",
            &m.flushes,
        ),
    ];
    let mut out = String::new();
    let c = &mut out;
    for (name, help, value) in counters {
        counter(c, name, help, t, g(value));
    }
    let nulled = m.nulled.lock().unwrap().by_column(def);
    let name = "firelake_nulled_values_total";
    let _ = writeln!(
        c,
        "# HELP {name} Values a rule nulled, per column and reason (EMF NulledValues).\n# TYPE {name} counter"
    );
    for ((column, reason), n) in nulled {
        let _ = writeln!(
            c,
            "{name}{{table=\"{t}\",column=\"{column}\",reason=\"{reason}\"}} {n}"
        );
    }
    let last = g(&m.last_durable_ms);
    let name = "firelake_last_durable_timestamp_seconds";
    let _ = writeln!(
        c,
        "# HELP {name} When the last flush became durable (0 before the first; freshness).\n# TYPE {name} gauge\n{name}{{table=\"{t}\"}} {:.3}",
        last as f64 / 1000.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::NullReason;

    #[test]
    fn counters_and_nulled_values_by_column_and_reason() {
        let def = SourceDef::resolve("users", None).unwrap();
        let m = ConsumerMetrics::default();
        ConsumerMetrics::add(&m.records_in, 7);
        let age = def.column_index("age").unwrap();
        m.nulled.lock().unwrap().add(age, NullReason::WrongType, 2);
        let text = render(&m, &def);
        assert!(
            text.contains("firelake_records_in_total{table=\"users\"} 7\n"),
            "{text}"
        );
        assert!(text.contains(
            "firelake_nulled_values_total{table=\"users\",column=\"age\",reason=\"wrong_type\"} 2\n"
        ));
        assert!(text.contains("# TYPE firelake_rejected_total counter"));
    }
}
