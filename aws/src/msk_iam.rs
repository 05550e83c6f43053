//! MSK IAM authentication: the SASL/OAUTHBEARER token that Amazon MSK accepts for IAM access
//! control, made the way AWS's `aws-msk-iam-sasl-signer` libraries make it: a GET request to
//! `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`, presigned with
//! SigV4 in its query (service `kafka-cluster`, valid 900 s, the session token signed in), a
//! `User-Agent` parameter added, the URL encoded as unpadded base64url. librdkafka asks for a
//! token through its OAUTHBEARER refresh callback (a `kafka://` URL with
//! `sasl.mechanism=AWS_MSK_IAM`); credentials and region come from the standard SDK chain.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::presign::Signer;

/// How long a token is valid (the signer libraries' value).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
const SERVICE: &str = "kafka-cluster";
const USER_AGENT: &str = concat!("firelake/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum MskIamError {
    #[error("MSK IAM: no AWS region (set AWS_REGION)")]
    NoRegion,
    #[error("MSK IAM: no AWS credentials: {0}")]
    Credentials(String),
    #[error("MSK IAM: signing the token failed: {0}")]
    Signing(String),
    #[error(
        "OAUTHBEARER tokens are made for MSK IAM only: use sasl.mechanism=AWS_MSK_IAM (or SCRAM with sasl.username and sasl.password)"
    )]
    NotIam,
}

/// A token and when it expires (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskToken {
    pub token: String,
    pub expires_ms: i64,
    /// The principal librdkafka reports for the token (MSK takes the identity from the
    /// signature).
    pub principal: String,
}

/// What a Kafka client's OAUTHBEARER refresh callback answers: an MSK IAM token when the
/// URL asked for one (`sasl.mechanism=AWS_MSK_IAM`), else an error that says so.
pub fn token_for(msk_iam: bool) -> Result<MskToken, MskIamError> {
    if msk_iam {
        generate_token()
    } else {
        Err(MskIamError::NotIam)
    }
}

/// The token for `region` signed with `credentials` at `now` (pure: no I/O).
pub fn sign_token(
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<MskToken, MskIamError> {
    let host = format!("kafka.{region}.amazonaws.com");
    let endpoint = format!("https://{host}/?Action=kafka-cluster%3AConnect");
    let mut url = url::Url::parse(&endpoint).expect("a valid URL");
    let signer = Signer {
        credentials,
        region,
        service: SERVICE,
        expires_in: TOKEN_LIFETIME,
        now,
    };
    signer
        .presign_get(&mut url, &host)
        .map_err(MskIamError::Signing)?;
    url.query_pairs_mut().append_pair("User-Agent", USER_AGENT);
    let signed_at = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    Ok(MskToken {
        token: URL_SAFE_NO_PAD.encode(url.as_str()),
        expires_ms: (signed_at + TOKEN_LIFETIME.as_secs() as i64) * 1000,
        principal: "firelake".into(),
    })
}

/// A fresh token from the SDK's credential chain and region. Blocking: librdkafka calls its
/// token callback on its own threads (or a consumer's poll, inside an async task), so the
/// credentials are fetched on a thread of their own with a runtime of its own.
pub fn generate_token() -> Result<MskToken, MskIamError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MskIamError::Credentials(e.to_string()))?;
            rt.block_on(async {
                let config = crate::sdk_config().await;
                let region = config.region().ok_or(MskIamError::NoRegion)?.to_string();
                let provider = config
                    .credentials_provider()
                    .ok_or_else(|| MskIamError::Credentials("no credentials provider".into()))?;
                let credentials = provider
                    .provide_credentials()
                    .await
                    .map_err(|e| MskIamError::Credentials(e.to_string()))?;
                sign_token(&credentials, &region, SystemTime::now())
            })
        })
        .join()
        .unwrap_or_else(|_| Err(MskIamError::Credentials("the token thread panicked".into())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoded token -> (URL without query, query pairs sorted).
    fn parts(token: &str) -> (String, Vec<(String, String)>) {
        let url = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
        let url = url::Url::parse(&url).unwrap();
        let mut q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        q.sort();
        (
            format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap(),
                url.path()
            ),
            q,
        )
    }

    /// The reference: AWS's Python signer (aws-msk-iam-sasl-signer-python 1.0.2, on botocore)
    /// with these credentials at 2024-01-01T00:00:00Z (tests/msk_iam_vector.py).
    const VECTOR: &str = include_str!("../../tests/msk_iam_vector.txt");

    #[test]
    fn the_token_matches_aws_signer_library() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example/+=".into()),
            None,
            "test",
        );
        let at = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let ours = sign_token(&creds, "us-east-1", at).unwrap();
        assert_eq!(ours.expires_ms, (1_704_067_200 + 900) * 1000);
        assert!(!ours.token.contains('=') && !ours.token.contains('+'));
        let theirs = VECTOR.trim();
        let (our_url, mut our_q) = parts(&ours.token);
        let (their_url, mut their_q) = parts(theirs);
        assert_eq!(our_url, "https://kafka.us-east-1.amazonaws.com/");
        assert_eq!(our_url, their_url);
        // Each library names itself; everything else, signature included, is the same.
        our_q.retain(|(k, _)| k != "User-Agent");
        their_q.retain(|(k, _)| k != "User-Agent");
        assert_eq!(our_q, their_q);
        assert!(
            our_q
                .iter()
                .any(|(k, v)| k == "X-Amz-Expires" && v == "900")
        );
    }
}
