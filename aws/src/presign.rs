//! SigV4 presigning of a GET URL in its query string, the part the MSK IAM and RDS IAM tokens
//! share: the signature, its credential scope and the session token become query parameters.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// Who signs, for which service and region, valid how long from when.
pub struct Signer<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub expires_in: Duration,
    pub now: SystemTime,
}

impl Signer<'_> {
    /// Sign a GET of `url` (whose `host` header is `host`) and append the signature's query
    /// parameters to it. Pure: no I/O. The error is the signer's message.
    pub fn presign_get(&self, url: &mut url::Url, host: &str) -> Result<(), String> {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(self.expires_in);
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            "GET",
            url.as_str(),
            std::iter::once(("host", host)),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut query = url.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        Ok(())
    }
}
