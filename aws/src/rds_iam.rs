//! RDS IAM database authentication: the token RDS takes as the password, made the way
//! botocore's `generate_db_auth_token` makes it: `https://HOST:PORT/?Action=connect&DBUser=USER`
//! presigned with SigV4 in its query (service `rds-db`, valid 900 s, the session token signed
//! in), then the scheme dropped. Credentials and region come from the standard SDK chain.
//! RDS only takes such a token over TLS (the caller requires it).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;

use crate::presign::Signer;

/// How long a token is valid to open a connection (RDS's and botocore's value).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
const SERVICE: &str = "rds-db";

#[derive(Debug, thiserror::Error)]
pub enum RdsIamError {
    #[error("RDS IAM auth: no AWS region (set AWS_REGION)")]
    NoRegion,
    #[error("RDS IAM auth: no AWS credentials: {0}")]
    Credentials(String),
    #[error("RDS IAM auth: signing the token failed: {0}")]
    Signing(String),
}

/// The token for `user` at `host:port` in `region`, signed with `credentials` at `now` (pure).
pub fn sign_token(
    credentials: &Credentials,
    region: &str,
    host: &str,
    port: u16,
    user: &str,
    now: SystemTime,
) -> Result<String, RdsIamError> {
    let authority = format!("{host}:{port}");
    let mut url = url::Url::parse(&format!("https://{authority}/"))
        .map_err(|e| RdsIamError::Signing(format!("{authority}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("Action", "connect")
        .append_pair("DBUser", user);
    let signer = Signer {
        credentials,
        region,
        service: SERVICE,
        expires_in: TOKEN_LIFETIME,
        now,
    };
    signer
        .presign_get(&mut url, &authority)
        .map_err(RdsIamError::Signing)?;
    let signed = url.as_str();
    Ok(signed
        .strip_prefix("https://")
        .unwrap_or(signed)
        .to_string())
}

/// A fresh token from the SDK's credential chain and region.
pub async fn token(host: &str, port: u16, user: &str) -> Result<String, RdsIamError> {
    let config = crate::sdk_config().await;
    let region = config.region().ok_or(RdsIamError::NoRegion)?.to_string();
    let provider = config
        .credentials_provider()
        .ok_or_else(|| RdsIamError::Credentials("no credentials provider".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| RdsIamError::Credentials(crate::errors::error_line(&e)))?;
    sign_token(&credentials, &region, host, port, user, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// Token -> (host:port/, query pairs sorted).
    fn parts(token: &str) -> (String, Vec<(String, String)>) {
        let url = url::Url::parse(&format!("https://{token}")).unwrap();
        let mut q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        q.sort();
        let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        (format!("{authority}{}", url.path()), q)
    }

    /// The reference: botocore's generate_db_auth_token with these credentials at
    /// 2024-01-01T00:00:00Z (tests/rds_iam_vector.py).
    const VECTOR: &str = include_str!("../../tests/rds_iam_vector.txt");

    #[test]
    fn the_token_matches_botocore() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example/+=".into()),
            None,
            "test",
        );
        let at = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let host = "db.abc123.eu-west-1.rds.amazonaws.com";
        let ours = sign_token(&creds, "eu-west-1", host, 5432, "firelake_sync", at).unwrap();
        assert!(
            ours.starts_with("db.abc123.eu-west-1.rds.amazonaws.com:5432/?"),
            "{ours}"
        );
        let (authority, q) = parts(&ours);
        assert_eq!(authority, format!("{host}:5432/"));
        let (their_authority, their_q) = parts(VECTOR.trim());
        assert_eq!(authority, their_authority);
        // Every parameter, the signature included, is botocore's.
        assert_eq!(q, their_q);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("connect"));
        assert_eq!(get("DBUser"), Some("firelake_sync"));
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(
            get("X-Amz-Credential"),
            Some("AKIDEXAMPLE/20240101/eu-west-1/rds-db/aws4_request")
        );
        // Another user, host or region signs differently.
        let other = sign_token(&creds, "eu-west-1", host, 5433, "firelake_sync", at).unwrap();
        assert_ne!(parts(&other).1, q);
    }
}
