//! CloudWatch Embedded Metric Format lines for the values the cleaner nulled: one line per
//! (column, reason) with the metric `NulledValues`, dimensions `Table`, `Column`, `Reason`
//! (docs/metrics.md). Pure: the caller prints them.

use crate::SourceDef;
use crate::nulled::NullCounts;

/// The EMF lines for `counts` at `timestamp_ms` (none when nothing was nulled).
pub fn nulled_lines(def: &SourceDef, counts: &NullCounts, timestamp_ms: i64) -> Vec<String> {
    counts
        .by_column(def)
        .into_iter()
        .map(|((column, reason), n)| {
            serde_json::json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": "firelake",
                        "Dimensions": [["Table"], ["Table", "Column", "Reason"]],
                        "Metrics": [{"Name": "NulledValues", "Unit": "Count"}],
                    }],
                },
                "Table": def.table, "Column": column, "Reason": reason, "NulledValues": n,
            })
            .to_string()
        })
        .collect()
}

/// One EMF line of `Count` metrics (e.g. `RecordsIn`, `RecordsOut`, `Rejected`) for the
/// source's table, dimension `Table`.
pub fn table_line(def: &SourceDef, metrics: &[(&str, u64)], timestamp_ms: i64) -> String {
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "firelake",
                "Dimensions": [["Table"]],
                "Metrics": metrics.iter().map(|(name, _)| {
                    serde_json::json!({"Name": name, "Unit": "Count"})
                }).collect::<Vec<_>>(),
            }],
        },
        "Table": def.table,
    });
    for (name, n) in metrics {
        doc[*name] = (*n).into();
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NullReason;

    #[test]
    fn one_line_per_column_and_reason() {
        let def = SourceDef::resolve("users", None).unwrap();
        let mut counts = NullCounts::default();
        assert!(nulled_lines(&def, &counts, 1).is_empty());
        let age = def.column_index("age").unwrap();
        counts.add(age, NullReason::WrongType, 3);
        let lines = nulled_lines(&def, &counts, 7);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (v["Column"].as_str(), v["NulledValues"].as_u64()),
            (Some("age"), Some(3))
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "NulledValues"
        );
    }
}
