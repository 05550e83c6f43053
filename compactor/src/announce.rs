//! "Partition complete" events: when a day's curated partition is committed, one EventBridge
//! event (source `firelake.compactor`, detail-type `partition complete`, detail: table, day,
//! generation, rows) lets downstream jobs start on that day instead of on a clock. The events
//! are made from the run's report (pure); putting them is behind [`Announcer`], the I/O edge.

use serde::Serialize;

use crate::{CompactReport, DayOutcome};

pub const EVENT_SOURCE: &str = "firelake.compactor";
pub const DETAIL_TYPE: &str = "partition complete";

/// The detail of one "partition complete" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionComplete {
    /// The curated table.
    pub table: String,
    /// `YYYY-MM-DD`
    pub day: String,
    /// The generation now visible (its folder name).
    pub generation: String,
    pub rows: u64,
}

/// One event per day the run committed (days skipped, up to date or busy changed nothing).
pub fn partition_events(report: &CompactReport) -> Vec<PartitionComplete> {
    report
        .days
        .iter()
        .filter_map(|d| match &d.outcome {
            DayOutcome::Compacted { generation, .. } => Some(PartitionComplete {
                table: report.curated_table.clone(),
                day: d.day.clone(),
                generation: generation.clone(),
                rows: d.rows_out,
            }),
            _ => None,
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
#[error("announcing partition complete: {0}")]
pub struct AnnounceError(String);

/// Where "partition complete" events go.
pub trait Announcer {
    fn announce(
        &self,
        events: &[PartitionComplete],
    ) -> impl std::future::Future<Output = Result<(), AnnounceError>> + Send;
}

/// The events on an EventBridge bus.
pub struct EventBridge(pub firelake_aws::events::EventBus);

impl Announcer for EventBridge {
    async fn announce(&self, events: &[PartitionComplete]) -> Result<(), AnnounceError> {
        let events: Vec<firelake_aws::events::Event> = events
            .iter()
            .map(|p| firelake_aws::events::Event {
                source: EVENT_SOURCE.into(),
                detail_type: DETAIL_TYPE.into(),
                detail: serde_json::to_string(p).expect("the detail serializes"),
            })
            .collect();
        self.0
            .put(&events)
            .await
            .map_err(|e| AnnounceError(e.to_string()))
    }
}

/// After a run: announce the days it committed on the bus `bus` (none: announce nothing).
pub async fn announce_report(
    bus: Option<&str>,
    report: &CompactReport,
) -> Result<(), AnnounceError> {
    let Some(bus) = bus else { return Ok(()) };
    let events = partition_events(report);
    if events.is_empty() {
        return Ok(());
    }
    EventBridge(firelake_aws::events::EventBus::new(bus).await)
        .announce(&events)
        .await?;
    tracing::info!(bus, events = events.len(), "partition complete announced");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DayReport;

    fn day(day: &str, outcome: DayOutcome, rows_out: u64) -> DayReport {
        DayReport {
            day: day.into(),
            outcome,
            files_in: 3,
            files_out: 1,
            rows_in: rows_out + 1,
            rows_out,
            duplicates: 1,
            previous_day_duplicates: 0,
            quarantined: Vec::new(),
            bytes_in: 10,
            bytes_out: 5,
            seconds: 0.1,
        }
    }

    #[test]
    fn one_event_per_committed_day() {
        let report = CompactReport {
            raw_table: "users".into(),
            curated_table: "users_curated".into(),
            not_started: Vec::new(),
            days: vec![
                day(
                    "2026-12-05",
                    DayOutcome::Compacted {
                        generation: "g1".into(),
                        location: "file:///l/g1".into(),
                        replaced: None,
                        replaced_deleted: false,
                    },
                    42,
                ),
                day("2026-12-06", DayOutcome::UpToDate, 0),
                day("2026-12-04", DayOutcome::Busy, 0),
            ],
            ..CompactReport::default()
        };
        assert_eq!(
            partition_events(&report),
            vec![PartitionComplete {
                table: "users_curated".into(),
                day: "2026-12-05".into(),
                generation: "g1".into(),
                rows: 42,
            }]
        );
        let json = serde_json::to_value(&partition_events(&report)[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"table": "users_curated", "day": "2026-12-05", "generation": "g1", "rows": 42})
        );
    }
}
