//! `kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?property=value&...]`: where a Kafka topic is, for
//! the producer and the stream-consumer alike. The query carries librdkafka properties (TLS or
//! SASL for MSK, `session.timeout.ms`, `compression.type`...), so every client setting is part
//! of the one location string (DESIGN.md decision 9).
//!
//! Secrets never show: the URL is displayed without its query, user info (`user:pass@`) is
//! refused (credentials go in `sasl.username` / `sasl.password`, the password best as a
//! Secrets Manager reference), and properties the design depends on cannot be switched off
//! from the query ([`GUARDED`]).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
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
        if location.contains('@') {
            let shown = crate::redact::shown_location(url);
            return Err(format!(
                "{shown:?}: user info (user:password@) is refused in a kafka:// URL: it would be stored and shown with the location; give sasl.username and sasl.password as properties, the password best as a Secrets Manager reference (secretsmanager://NAME)"
            ));
        }
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
                Some((k, v)) if !k.is_empty() => {
                    check_guarded(k, v).map_err(|why| format!("{shown:?}: {why}"))?;
                    properties.push((k.to_string(), v.to_string()))
                }
                _ => return Err(format!("{shown:?}: a query part is not property=value")),
            }
        }
        Ok(KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            properties,
        })
    }

    /// Whether the URL asks for MSK IAM authentication (`sasl.mechanism=AWS_MSK_IAM`): a
    /// SASL/OAUTHBEARER token signed with the SDK's AWS credentials, made by the client's
    /// token callback.
    pub fn msk_iam(&self) -> bool {
        self.property("sasl.mechanism")
            .is_some_and(|m| m.eq_ignore_ascii_case(MSK_IAM_MECHANISM))
    }

    /// The properties as librdkafka takes them: `sasl.mechanism=AWS_MSK_IAM` becomes
    /// OAUTHBEARER (over SASL_SSL unless the URL names a protocol).
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut out = self.properties.clone();
        if self.msk_iam() {
            for (k, v) in &mut out {
                if k == "sasl.mechanism" {
                    *v = "OAUTHBEARER".into();
                }
            }
            if self.property("security.protocol").is_none() {
                out.push(("security.protocol".into(), "SASL_SSL".into()));
            }
        }
        out
    }

    /// The same location with each secret-bearing property's value replaced by
    /// `resolve(value)` (e.g. a Secrets Manager reference by the secret).
    pub fn map_secrets<E>(
        &self,
        mut resolve: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<KafkaUrl, E> {
        let mut out = self.clone();
        for (k, v) in &mut out.properties {
            if SECRET_PROPERTIES.contains(&k.as_str()) {
                *v = resolve(v)?;
            }
        }
        Ok(out)
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

/// The `sasl.mechanism` value that selects MSK IAM authentication (as AWS's Java client names
/// it); librdkafka gets OAUTHBEARER and firelake's token callback.
pub const MSK_IAM_MECHANISM: &str = "AWS_MSK_IAM";

/// Properties whose values are secrets: they may be given as a Secrets Manager reference
/// (`secretsmanager://NAME` or a secret ARN), resolved when the client is made.
pub const SECRET_PROPERTIES: &[&str] = &[
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "sasl.oauthbearer.client.secret",
];

/// Debug output names the properties but never their values (they may be secrets).
impl fmt::Debug for KafkaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.properties.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaUrl")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("properties", &keys)
            .finish()
    }
}

/// A property the design depends on: the values it may take, and why.
pub struct Guarded {
    pub keys: &'static [&'static str],
    /// Allowed values (ASCII case ignored); empty: the property may not be set at all.
    pub allowed: &'static [&'static str],
    pub why: &'static str,
}

/// Properties a URL may not switch off (librdkafka names and their aliases).
pub const GUARDED: &[Guarded] = &[
    Guarded {
        keys: &["enable.auto.commit", "auto.commit.enable"],
        allowed: &["false"],
        why: "the consumer commits an offset only after the records before it are durable in the lake; an automatic commit on a timer loses what is buffered when the consumer dies",
    },
    Guarded {
        keys: &["enable.auto.offset.store"],
        allowed: &["false"],
        why: "offsets are stored only for records durable in the lake; storing them as records are handed over would let a commit pass records not yet written",
    },
    Guarded {
        keys: &["isolation.level"],
        allowed: &["read_committed"],
        why: "read_uncommitted would land records of aborted transactions in the lake",
    },
    Guarded {
        keys: &["enable.idempotence"],
        allowed: &["true"],
        why: "without idempotence the producer's retries can write a record twice or out of order",
    },
    Guarded {
        keys: &["acks", "request.required.acks"],
        allowed: &["all", "-1"],
        why: "a record the producer calls delivered must be on every in-sync replica, or a broker failover loses it",
    },
    Guarded {
        keys: &["message.timeout.ms", "delivery.timeout.ms"],
        allowed: &[],
        why: "the delivery timeout is the publish deadline (--publish-deadline); what is left at it is dead-lettered, and 0 would wait forever",
    },
    Guarded {
        keys: &["bootstrap.servers", "metadata.broker.list"],
        allowed: &[],
        why: "the brokers are the URL's HOST:PORT list",
    },
    Guarded {
        keys: &["group.id"],
        allowed: &[],
        why: "the consumer group is --group",
    },
    Guarded {
        keys: &["enable.ssl.certificate.verification"],
        allowed: &["true"],
        why: "an unverified broker certificate lets anyone on the path read the records and the SASL credentials; give the broker's CA with ssl.ca.location instead",
    },
    Guarded {
        keys: &["ssl.endpoint.identification.algorithm"],
        allowed: &["https"],
        why: "without host name verification any certificate of the CA passes for the broker; give a certificate for the broker's name instead",
    },
];

/// Refuse a property value that breaks what the design depends on, saying why.
fn check_guarded(key: &str, value: &str) -> Result<(), String> {
    let Some(g) = GUARDED.iter().find(|g| g.keys.contains(&key)) else {
        return Ok(());
    };
    let value = value.trim();
    if g.allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    // The value is not shown: a mistyped key could be carrying a secret.
    Err(if g.allowed.is_empty() {
        format!("property {key} may not be set in the URL: {}", g.why)
    } else {
        format!(
            "property {key} may only be {}: {}",
            g.allowed.join(" or "),
            g.why
        )
    })
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

    #[test]
    fn user_info_is_refused_without_showing_it() {
        for bad in [
            "kafka://alice:s3cret@b-1:9096/users",
            "kafka://b-1:9096,alice:s3cret@b-2:9096/users?x=1",
            "kafka://alice@b-1:9096/users",
        ] {
            let e = KafkaUrl::parse(bad).unwrap_err();
            assert!(e.contains("user info"), "{e}");
            assert!(e.contains("sasl.password"), "{e}");
            assert!(!e.contains("s3cret") && !e.contains("alice"), "{e}");
        }
    }

    #[test]
    fn properties_the_design_depends_on_cannot_be_switched_off() {
        for (query, says) in [
            ("enable.auto.commit=true", "durable in the lake"),
            ("auto.commit.enable=TRUE", "durable in the lake"),
            (
                "enable.auto.offset.store=true",
                "stored only for records durable",
            ),
            ("isolation.level=read_uncommitted", "aborted transactions"),
            ("enable.idempotence=false", "twice or out of order"),
            ("acks=1", "every in-sync replica"),
            ("request.required.acks=0", "every in-sync replica"),
            ("message.timeout.ms=0", "--publish-deadline"),
            ("delivery.timeout.ms=600000", "--publish-deadline"),
            ("bootstrap.servers=evil:9092", "HOST:PORT list"),
            ("group.id=other", "--group"),
            (
                "enable.ssl.certificate.verification=false",
                "ssl.ca.location",
            ),
            ("ssl.endpoint.identification.algorithm=none", "host name"),
        ] {
            let url = format!("kafka://h:1/t?sasl.password=s3cret&{query}");
            let e = KafkaUrl::parse(&url).unwrap_err();
            let key = query.split('=').next().unwrap();
            assert!(e.contains(&format!("property {key} ")), "{e}");
            assert!(e.contains(says), "{query}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        // The values that keep the guarantees are accepted, in any case.
        let ok = "kafka://h:1/t?enable.auto.commit=false&enable.auto.offset.store=FALSE\
                  &isolation.level=read_committed&enable.idempotence=true&acks=all\
                  &request.required.acks=-1&enable.ssl.certificate.verification=true\
                  &ssl.endpoint.identification.algorithm=https";
        let ok: String = ok.split_whitespace().collect();
        let u = KafkaUrl::parse(&ok).unwrap();
        assert_eq!(u.properties.len(), 8);
    }

    #[test]
    fn msk_iam_becomes_oauthbearer_and_secrets_can_be_resolved() {
        let u = KafkaUrl::parse("kafka://b-1:9098/t?sasl.mechanism=aws_msk_iam").unwrap();
        assert!(u.msk_iam());
        assert_eq!(
            u.client_properties(),
            [
                ("sasl.mechanism".to_string(), "OAUTHBEARER".to_string()),
                ("security.protocol".to_string(), "SASL_SSL".to_string())
            ]
        );
        let u = KafkaUrl::parse(
            "kafka://b-1:9096/t?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512\
             &sasl.username=app&sasl.password=secretsmanager://AmazonMSK_app",
        )
        .unwrap();
        assert!(!u.msk_iam());
        assert_eq!(u.client_properties(), u.properties);
        let resolved = u.map_secrets(|v| Ok::<_, ()>(format!("<{v}>"))).unwrap();
        assert_eq!(
            resolved.property("sasl.password"),
            Some("<secretsmanager://AmazonMSK_app>")
        );
        assert_eq!(resolved.property("sasl.username"), Some("app"));
        // Debug names the properties, never their values.
        let debug = format!("{resolved:?}");
        assert!(
            debug.contains("sasl.password") && !debug.contains("AmazonMSK"),
            "{debug}"
        );
    }
}
