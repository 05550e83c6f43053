//! AWS SDK errors as one line an operator can act on: the service's error code and message
//! for a service's answer, the chain of causes otherwise (no debug dump), and a plain sentence
//! when no credentials were found.

use std::error::Error;

/// What an operator sees when the default credential chain found nothing.
pub const NO_CREDENTIALS: &str = "no AWS credentials found (checked: environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile in ~/.aws (AWS_PROFILE), web identity token, ECS container credentials, EC2 instance metadata): set one of them";

/// Any error in one line: its causes joined by ": " (a cause already quoted by the one
/// before it is left out), or [`NO_CREDENTIALS`].
pub fn error_line(e: &(dyn Error + 'static)) -> String {
    if no_credentials(e) {
        return NO_CREDENTIALS.into();
    }
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the credential chain found no credentials anywhere in `e`'s causes.
fn no_credentials(e: &(dyn Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) =
            c.downcast_ref::<CredentialsError>()
        {
            return true;
        }
        cause = c.source();
    }
    false
}
