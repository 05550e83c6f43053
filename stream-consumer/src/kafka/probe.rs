//! Reaching the brokers before consuming: librdkafka retries an unreachable broker forever
//! (and reports every attempt), so a consumer pointed at a wrong address would log errors and
//! then stop "idle" with nothing read. One metadata request, bounded in time, tells the
//! operator instead.

use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

/// The probe's client: authenticates as the consumer does (MSK IAM tokens), and stays quiet,
/// since its outcome is reported as one error.
struct ProbeContext {
    msk_iam: bool,
}

impl ClientContext for ProbeContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        super::msk_iam_oauth_token(self.msk_iam)
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(?level, fac, message, "librdkafka (connection probe)");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "librdkafka (connection probe)");
    }
}

impl ConsumerContext for ProbeContext {}

/// The brokers could not be reached in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot reach the Kafka brokers {brokers} (topic {topic}) within {timeout:?}: {reason}; check the address, the network and the broker, or wait longer with --connect-timeout"
)]
pub struct Unreachable {
    pub brokers: String,
    pub topic: String,
    pub timeout: Duration,
    pub reason: String,
}

/// Ask the brokers for `topic`'s metadata with the consumer's settings `config`, within
/// `timeout`.
pub async fn reach_brokers(
    config: ClientConfig,
    msk_iam: bool,
    topic: String,
    timeout: Duration,
) -> Result<(), Unreachable> {
    let brokers = config.get("bootstrap.servers").unwrap_or("?").to_string();
    let t = topic.clone();
    let probe = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let client = BaseConsumer::from_config_and_context(&config, ProbeContext { msk_iam })
            .map_err(|e| e.to_string())?;
        let metadata = client
            .fetch_metadata(Some(&t), timeout)
            .map_err(|e| e.to_string())?;
        if metadata.brokers().is_empty() {
            return Err("no broker in the cluster's answer".into());
        }
        Ok(())
    });
    let outcome = match probe.await {
        Ok(r) => r,
        Err(e) => Err(format!("the probe failed: {e}")),
    };
    outcome.map_err(|reason| Unreachable {
        brokers,
        topic,
        timeout,
        reason,
    })
}
