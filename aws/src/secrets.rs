//! Secrets for source credentials: a value given directly, or the name of a Secrets Manager
//! secret (`secretsmanager://NAME` or a secret ARN) resolved at start-up.

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
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.secret_string
        .ok_or_else(|| SecretError::Empty(id.to_string()))
}
