//! An EventBridge event bus: put events on it (PutEvents, at most 10 entries a call).

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// PutEvents takes at most this many entries a call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("EventBridge PutEvents on bus {bus}: {message}")]
    Put { bus: String, message: String },
    #[error(
        "EventBridge refused {failed} of {sent} events on bus {bus} (first: {first}); check the bus name and the role's events:PutEvents"
    )]
    Refused {
        bus: String,
        failed: i32,
        sent: usize,
        first: String,
    },
}

/// One event to put: where it comes from, its kind, and its JSON detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub source: String,
    pub detail_type: String,
    pub detail: String,
}

pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    /// The bus `name` (a name or an ARN; `default` is the account's default bus).
    pub async fn new(name: &str) -> EventBus {
        EventBus {
            client: Client::new(&crate::sdk_config().await),
            name: name.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Put `events`, in calls of at most 10; any entry EventBridge refused is an error.
    pub async fn put(&self, events: &[Event]) -> Result<(), EventsError> {
        for chunk in events.chunks(MAX_ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.name)
                        .source(&e.source)
                        .detail_type(&e.detail_type)
                        .detail(&e.detail)
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| EventsError::Put {
                    bus: self.name.clone(),
                    message: crate::errors::error_line(&e),
                })?;
            if out.failed_entry_count() > 0 {
                let first = out
                    .entries()
                    .iter()
                    .find_map(|e| e.error_message())
                    .unwrap_or("no message")
                    .to_string();
                return Err(EventsError::Refused {
                    bus: self.name.clone(),
                    failed: out.failed_entry_count(),
                    sent: chunk.len(),
                    first,
                });
            }
        }
        Ok(())
    }
}
