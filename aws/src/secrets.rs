//! Secrets for source and Kafka credentials: a value given directly, or the name of a Secrets
//! Manager secret (`secretsmanager://NAME` or a secret ARN) resolved at start-up.

use firelake_core::kafka_url::KafkaUrl;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secrets Manager GetSecretValue({id}) failed: {message}")]
    Fetch { id: String, message: String },
    #[error("secret {0} has no string value")]
    Empty(String),
}

/// The secret a configuration value stands for.
pub async fn resolve(value: &str) -> Result<String, SecretError> {
    let id = match value.strip_prefix("secretsmanager://") {
        Some(name) => name,
        None if value.starts_with("arn:aws:secretsmanager:") => value,
        None => return Ok(value.to_string()),
    };
    let client = aws_sdk_secretsmanager::Client::new(&crate::sdk_config().await);
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Fetch {
            id: id.to_string(),
            message: crate::errors::error_line(&e),
        })?;
    out.secret_string
        .ok_or_else(|| SecretError::Empty(id.to_string()))
}

/// A Kafka location with its secret properties (`sasl.password`, `ssl.key.password`...)
/// resolved. An MSK SCRAM secret (`AmazonMSK_...`) holds JSON `{"username", "password"}`:
/// `sasl.password` takes its password, and its username when the URL gives none.
pub async fn resolve_kafka(url: &KafkaUrl) -> Result<KafkaUrl, SecretError> {
    let mut resolved = std::collections::HashMap::new();
    let mut username = None;
    for (key, value) in &url.properties {
        if !firelake_core::kafka_url::SECRET_PROPERTIES.contains(&key.as_str()) {
            continue;
        }
        let mut secret = resolve(value).await?;
        if key == "sasl.password"
            && let Some((user, password)) = scram_secret(&secret)
        {
            secret = password;
            username = user;
        }
        resolved.insert(value.clone(), secret);
    }
    let mut out = url.map_secrets(|v| {
        Ok::<_, SecretError>(resolved.get(v).cloned().unwrap_or_else(|| v.to_string()))
    })?;
    if let (Some(user), None) = (username, url.property("sasl.username")) {
        out.properties.push(("sasl.username".into(), user));
    }
    Ok(out)
}

/// `{"username": .., "password": ..}` (the shape MSK's SCRAM secrets have) -> its parts.
fn scram_secret(secret: &str) -> Option<(Option<String>, String)> {
    let v: serde_json::Value = serde_json::from_str(secret).ok()?;
    let password = v.get("password")?.as_str()?.to_string();
    let user = v.get("username").and_then(|u| u.as_str()).map(String::from);
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kafka_secrets_given_directly_stay_as_they_are() {
        let url =
            KafkaUrl::parse("kafka://b:1/t?sasl.username=u&sasl.password=pw&linger.ms=5").unwrap();
        assert_eq!(resolve_kafka(&url).await.unwrap(), url);
    }

    #[test]
    fn msk_scram_secrets_are_json() {
        assert_eq!(
            scram_secret(r#"{"username":"app","password":"pw"}"#),
            Some((Some("app".into()), "pw".into()))
        );
        assert_eq!(
            scram_secret(r#"{"password":"pw"}"#),
            Some((None, "pw".into()))
        );
        assert_eq!(scram_secret("plain-password"), None);
    }
}
