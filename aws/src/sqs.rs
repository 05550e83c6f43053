//! An SQS queue named by a `sqs://QUEUE_NAME` URL: receive, delete and release messages (the
//! failure records a Lambda event source mapping sends to its on-failure destination).

use aws_sdk_sqs::Client;

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("unsupported queue URL {0:?}: use sqs://QUEUE_NAME")]
    Url(String),
    #[error("SQS {call} on queue {queue}: {message}")]
    Call {
        call: &'static str,
        queue: String,
        message: String,
    },
}

/// One received message.
#[derive(Debug, Clone)]
pub struct SqsMessage {
    pub id: String,
    /// Names this receipt of the message (for delete and visibility changes).
    pub receipt: String,
    pub body: String,
}

pub struct SqsQueue {
    client: Client,
    name: String,
    url: String,
}

impl SqsQueue {
    /// The queue of `sqs://NAME` (its URL looked up with GetQueueUrl).
    pub async fn from_url(url: &str) -> Result<SqsQueue, SqsError> {
        let name = url
            .strip_prefix("sqs://")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| SqsError::Url(url.to_string()))?;
        let client = Client::new(&crate::sdk_config().await);
        let out = client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| call_err("GetQueueUrl", name, e))?;
        let url = out.queue_url().unwrap_or_default().to_string();
        Ok(SqsQueue {
            client,
            name: name.to_string(),
            url,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Up to 10 messages, waiting up to `wait_s` for one (long polling), each hidden from
    /// other receivers for `visibility_s`.
    pub async fn receive(
        &self,
        wait_s: i32,
        visibility_s: i32,
    ) -> Result<Vec<SqsMessage>, SqsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_s)
            .visibility_timeout(visibility_s)
            .send()
            .await
            .map_err(|e| call_err("ReceiveMessage", &self.name, e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| SqsMessage {
                id: m.message_id().unwrap_or_default().to_string(),
                receipt: m.receipt_handle().unwrap_or_default().to_string(),
                body: m.body().unwrap_or_default().to_string(),
            })
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), SqsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| call_err("DeleteMessage", &self.name, e))?;
        Ok(())
    }

    /// Make a received message visible to receivers again after `secs`.
    pub async fn set_visibility(&self, receipt: &str, secs: i32) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| call_err("ChangeMessageVisibility", &self.name, e))?;
        Ok(())
    }
}

fn call_err<E: std::error::Error + 'static>(call: &'static str, queue: &str, e: E) -> SqsError {
    SqsError::Call {
        call,
        queue: queue.to_string(),
        message: crate::errors::error_line(&e),
    }
}
