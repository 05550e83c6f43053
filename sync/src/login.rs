//! The login to the target, the same for the CLI and the Lambda: an RDS IAM token, else the
//! environment's password, else a Secrets Manager secret (its user too when the URL names
//! none); none (trust) is allowed.

use crate::SyncError;
use crate::pg::Target;

/// Sets the password (and maybe the user) of `target`.
pub async fn login(
    target: &mut Target,
    iam_auth: bool,
    password_secret: Option<&str>,
) -> Result<(), SyncError> {
    if iam_auth {
        return iam_login(target).await;
    }
    for var in ["FIRELAKE_PG_PASSWORD", "PGPASSWORD"] {
        if let Ok(p) = std::env::var(var) {
            target.set_password(&p);
            return Ok(());
        }
    }
    let Some(secret) = password_secret else {
        return Ok(());
    };
    let value = firelake_aws::secrets::resolve(secret).await?;
    // RDS-managed secrets are JSON {"username", "password"}; other secrets are the password.
    match serde_json::from_str::<serde_json::Value>(&value) {
        Ok(v) if v["password"].is_string() => {
            if let Some(user) = v["username"].as_str() {
                target.default_user(user);
            }
            target.set_password(v["password"].as_str().unwrap_or_default());
        }
        _ => target.set_password(&value),
    }
    Ok(())
}

/// RDS IAM: the token is the password, and RDS takes it over TLS only (verified here, so the
/// token cannot go to whoever answers).
async fn iam_login(target: &mut Target) -> Result<(), SyncError> {
    let refused = |reason: &str| SyncError::Target {
        target: target.display.clone(),
        reason: reason.to_string(),
    };
    if !target.verified() {
        return Err(refused(
            "--iam-auth sends a token RDS takes over TLS only: add sslmode=verify-full and --ca-file (RDS's global-bundle.pem)",
        ));
    }
    let (Some((host, port)), Some(user)) = (target.host_port(), target.user()) else {
        return Err(refused(
            "--iam-auth needs a TCP host and a user in the URL (postgres://USER@HOST:PORT/DB)",
        ));
    };
    let token = firelake_aws::rds_iam::token(&host, port, user).await?;
    target.set_password(&token);
    Ok(())
}
