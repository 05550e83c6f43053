//! `kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?property=value&...]`: where a Kafka topic is, for
//! the producer and the stream-consumer alike. The query carries librdkafka properties (TLS or
//! SASL for MSK, `session.timeout.ms`, `compression.type`...), so every client setting is part
//! of the one location string (DESIGN.md decision 9).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaUrl {
    /// `bootstrap.servers`: comma-separated `host:port` pairs.
    pub brokers: String,
    pub topic: String,
    /// librdkafka properties from the query, in order (later ones win).
    pub properties: Vec<(String, String)>,
}

/// Kafka's own limit on topic names.
const MAX_TOPIC_LEN: usize = 249;

impl KafkaUrl {
    pub fn parse(url: &str) -> Result<KafkaUrl, String> {
        let usage = "use kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?property=value&...]";
        // Messages never show the query: it may hold credentials.
        let shown = url.split_once('?').map_or(url, |(u, _)| u);
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| format!("{shown:?}: not a kafka:// URL; {usage}"))?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (brokers, topic) = location
            .split_once('/')
            .ok_or_else(|| format!("{shown:?}: no topic; {usage}"))?;
        if brokers.is_empty() || brokers.split(',').any(|b| !valid_broker(b)) {
            return Err(format!(
                "{shown:?}: brokers must be HOST:PORT, comma-separated; {usage}"
            ));
        }
        let valid_topic = !topic.is_empty()
            && topic.len() <= MAX_TOPIC_LEN
            && topic != "."
            && topic != ".."
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_topic {
            return Err(format!(
                "{shown:?}: topic {topic:?} is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
            ));
        }
        let mut properties = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => properties.push((k.to_string(), v.to_string())),
                _ => return Err(format!("{shown:?}: a query part is not property=value")),
            }
        }
        Ok(KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            properties,
        })
    }

    /// The value the query gives a property, if any (the last one).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Shown without the query: properties may hold credentials.
impl fmt::Display for KafkaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka://{}/{}", self.brokers, self.topic)
    }
}

fn valid_broker(b: &str) -> bool {
    match b.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_brokers_topic_and_properties() {
        let u = KafkaUrl::parse("kafka://127.0.0.1:9092/users").unwrap();
        assert_eq!(u.brokers, "127.0.0.1:9092");
        assert_eq!(u.topic, "users");
        assert!(u.properties.is_empty());
        let u = KafkaUrl::parse(
            "kafka://b-1.example:9094,b-2.example:9094/orders.v1?security.protocol=SSL&session.timeout.ms=6000&session.timeout.ms=7000",
        )
        .unwrap();
        assert_eq!(u.brokers, "b-1.example:9094,b-2.example:9094");
        assert_eq!(u.topic, "orders.v1");
        assert_eq!(u.property("security.protocol"), Some("SSL"));
        assert_eq!(u.property("session.timeout.ms"), Some("7000"));
        assert_eq!(
            u.to_string(),
            "kafka://b-1.example:9094,b-2.example:9094/orders.v1"
        );
    }

    #[test]
    fn rejects_what_is_not_a_topic_location() {
        for bad in [
            "kinesis://users",
            "kafka://",
            "kafka://127.0.0.1:9092",
            "kafka://127.0.0.1:9092/",
            "kafka://127.0.0.1/users",
            "kafka://:9092/users",
            "kafka://127.0.0.1:0/users",
            "kafka://127.0.0.1:9092,/users",
            "kafka://127.0.0.1:9092/us ers",
            "kafka://127.0.0.1:9092/a/b",
            "kafka://127.0.0.1:9092/..",
            "kafka://127.0.0.1:9092/users?novalue",
            "kafka://127.0.0.1:9092/users?=x",
        ] {
            assert!(KafkaUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("kafka://h:1/{}", "t".repeat(250));
        assert!(KafkaUrl::parse(&long).is_err());
        // Errors never repeat the query (it may hold credentials).
        for bad in [
            "kafka://h:1/?sasl.password=s3cret",
            "kafka://h:1/t?sasl.password=s3cret&broken",
        ] {
            let e = KafkaUrl::parse(bad).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
