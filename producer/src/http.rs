//! The HTTP API source: one call per tick to the URL of the source definition's `[fetch]`
//! part, records taken from the response at `records_pointer`, a page number or cursor carried
//! between ticks, an auth header from an env var or Secrets Manager, timeouts, retries with
//! backoff and jitter, and rate limits on calls and records. URLs are logged and reported
//! without their query (it may carry an API key).

use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use firelake_core::redact::shown_location;
use firelake_core::source::{FetchDef, SourceDef};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::retry::{Backoff, RetryPolicy};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("source {0} has no [fetch] section: it cannot be fetched over HTTP")]
    NoFetch(String),
    #[error("invalid source URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("auth: environment variable {0} is not set")]
    MissingSecret(String),
    #[cfg(feature = "secrets")]
    #[error("auth: {0}")]
    Secret(#[from] firelake_aws::secrets::SecretError),
    #[cfg(not(feature = "secrets"))]
    #[error(
        "auth: a Secrets Manager reference, and this firelake is built without the cargo feature `secrets`"
    )]
    SecretsNotBuilt,
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: the response is not JSON: {message}")]
    NotJson { url: String, message: String },
    #[error("GET {url}: no array of records at {pointer:?} in the response")]
    NoRecords { url: String, pointer: String },
    #[error(
        "source {0}: [fetch] cursor_pointer needs page_param, the query parameter that carries the cursor"
    )]
    CursorWithoutParam(String),
}

/// Where the source is: the next page or cursor. Saved between ticks.
///
/// Page numbers (`page_param` alone) start at 1 and move on after each page that held
/// records. Cursors (`cursor_pointer` too): the chain's first call carries none, each later
/// one the cursor the previous response named; a response that names none ends the chain, and
/// the position keeps the cursor that fetched it, so later ticks ask for the chain's last page
/// again and pick up what was appended (records seen again are duplicates the compactor's
/// dedupe removes; at least once, never lost).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The next page number (with cursors: pages fetched, for logs).
    pub page: u64,
    pub cursor: Option<String>,
}

/// One call's records and the position after them (committed once they are published).
pub struct Page {
    pub records: Vec<Bytes>,
    pub next: Position,
}

#[derive(Debug, Clone)]
pub struct HttpSourceOptions {
    /// Overrides the definition's URL (tests, mirrors).
    pub url: Option<String>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub max_calls_per_s: Option<NonZeroU32>,
    pub max_records_per_s: Option<NonZeroU32>,
}

impl Default for HttpSourceOptions {
    fn default() -> Self {
        HttpSourceOptions {
            url: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_calls_per_s: None,
            max_records_per_s: None,
        }
    }
}

pub struct HttpApiSource {
    client: reqwest::Client,
    url: url::Url,
    fetch: FetchDef,
    position: Position,
    auth: Option<(String, String)>,
    calls: Option<DefaultDirectRateLimiter>,
    /// The record limiter and its burst (a quota per second allows a burst of that many).
    records: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
    retry: RetryPolicy,
}

impl HttpApiSource {
    pub async fn new(
        def: &SourceDef,
        opts: HttpSourceOptions,
    ) -> Result<HttpApiSource, FetchError> {
        let fetch = def
            .fetch
            .clone()
            .ok_or_else(|| FetchError::NoFetch(def.name.clone()))?;
        if fetch.cursor_pointer.is_some() && fetch.page_param.is_none() {
            return Err(FetchError::CursorWithoutParam(def.name.clone()));
        }
        let raw_url = opts.url.clone().unwrap_or_else(|| fetch.url.clone());
        let url = url::Url::parse(&raw_url).map_err(|e| FetchError::Url {
            url: shown_location(&raw_url).into_owned(),
            message: e.to_string(),
        })?;
        let auth = match (&fetch.auth_header, &fetch.auth_env) {
            (Some(header), Some(var)) => {
                let value =
                    std::env::var(var).map_err(|_| FetchError::MissingSecret(var.clone()))?;
                Some((header.clone(), resolve_secret(value).await?))
            }
            _ => None,
        };
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .user_agent(concat!("firelake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Http {
                url: shown_location(&raw_url).into_owned(),
                message: e.without_url().to_string(),
            })?;
        Ok(HttpApiSource {
            client,
            url,
            fetch,
            position: Position {
                page: 1,
                cursor: None,
            },
            auth,
            calls: opts
                .max_calls_per_s
                .map(|n| RateLimiter::direct(Quota::per_second(n))),
            records: opts
                .max_records_per_s
                .map(|n| (RateLimiter::direct(Quota::per_second(n)), n)),
            retry: opts.retry,
        })
    }

    pub fn position(&self) -> &Position {
        &self.position
    }

    pub fn set_position(&mut self, p: Position) {
        self.position = p;
    }

    /// The URL of the next call.
    pub fn next_url(&self) -> url::Url {
        let mut url = self.url.clone();
        let Some(param) = &self.fetch.page_param else {
            return url;
        };
        let value = match (&self.fetch.cursor_pointer, &self.position.cursor) {
            (None, _) => self.position.page.to_string(),
            (Some(_), Some(cursor)) => cursor.clone(),
            // The first call of a cursor chain names no cursor (never a page number).
            (Some(_), None) => return url,
        };
        url.query_pairs_mut().append_pair(param, &value);
        url
    }

    /// The position after a response that held `records` records (see [`Position`]).
    fn next_position(&self, response: &serde_json::Value, records: usize) -> Position {
        let page = self.position.page + 1;
        match &self.fetch.cursor_pointer {
            Some(ptr) => {
                let named = response.pointer(ptr).and_then(|c| match c {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                Position {
                    page,
                    cursor: named.or_else(|| self.position.cursor.clone()),
                }
            }
            // An empty page is past the end for now: ask for it again.
            None if records == 0 => self.position.clone(),
            None => Position { page, cursor: None },
        }
    }

    /// Fetch the next page (retrying transient failures); the position moves only on `commit`.
    pub async fn fetch(&mut self) -> Result<Page, FetchError> {
        if let Some(l) = &self.calls {
            l.until_ready().await;
        }
        let url = self.next_url();
        // What logs and errors show: no query (an API key may be in it).
        let shown = shown_location(url.as_str()).into_owned();
        let mut backoff = Backoff::new(self.retry);
        let body = loop {
            let mut req = self.client.get(url.clone());
            if let Some((h, v)) = &self.auth {
                req = req.header(h.as_str(), v.as_str());
            }
            let (retryable, message) = match req.send().await {
                Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                    Ok(b) => break b,
                    Err(e) => (true, format!("reading the body: {}", e.without_url())),
                },
                Ok(resp) => {
                    let s = resp.status();
                    (
                        s.as_u16() == 429 || s.is_server_error(),
                        format!("HTTP {s}"),
                    )
                }
                Err(e) => (true, error_chain(&e.without_url())),
            };
            match backoff.next_delay() {
                Some(d) if retryable => {
                    tracing::warn!(url = %shown, %message, "fetch failed; retrying");
                    tokio::time::sleep(d).await;
                }
                _ => {
                    return Err(FetchError::Http {
                        url: shown,
                        message,
                    });
                }
            }
        };
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::NotJson {
                url: shown.clone(),
                message: e.to_string(),
            })?;
        let items = value
            .pointer(&self.fetch.records_pointer)
            .and_then(|v| v.as_array())
            .ok_or_else(|| FetchError::NoRecords {
                url: shown.clone(),
                pointer: self.fetch.records_pointer.clone(),
            })?;
        let records: Vec<Bytes> = items
            .iter()
            .map(|v| Bytes::from(serde_json::to_vec(v).expect("JSON to memory")))
            .collect();
        if let Some((limiter, burst)) = &self.records {
            // A page larger than the per-second quota waits in quota-sized steps.
            let mut left = records.len() as u32;
            while let Some(step) = NonZeroU32::new(left.min(burst.get())) {
                let _ = limiter.until_n_ready(step).await;
                left -= step.get();
            }
        }
        let next = self.next_position(&value, records.len());
        Ok(Page { records, next })
    }

    /// The page's records are on the stream: move on.
    pub fn commit(&mut self, page: &Page) {
        self.position = page.next.clone();
    }
}

/// A request error with its causes (reqwest's own text is only "error sending request"),
/// the URL already taken out.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A credential given as a Secrets Manager reference is fetched; a plain value is used as is.
#[cfg(feature = "secrets")]
async fn resolve_secret(value: String) -> Result<String, FetchError> {
    Ok(firelake_aws::secrets::resolve(&value).await?)
}

/// Built without Secrets Manager: a reference is refused, a plain value used as is.
#[cfg(not(feature = "secrets"))]
async fn resolve_secret(value: String) -> Result<String, FetchError> {
    if value.starts_with("secretsmanager://") || value.starts_with("arn:aws:secretsmanager:") {
        return Err(FetchError::SecretsNotBuilt);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_show_the_url_without_its_query() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let def = SourceDef::resolve("users", None).unwrap();
        let opts = HttpSourceOptions {
            url: Some(format!("http://127.0.0.1:{port}/api/?api_key=QZXJ")),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
                deadline: Duration::from_millis(50),
            },
            ..Default::default()
        };
        let mut src = HttpApiSource::new(&def, opts).await.unwrap();
        let e = src.fetch().await.err().unwrap().to_string();
        assert!(
            e.contains(&format!("GET http://127.0.0.1:{port}/api/:")),
            "{e}"
        );
        assert!(!e.contains("QZXJ") && !e.contains("page="), "{e}");
        assert!(e.contains("onnect"), "the cause is told: {e}");
    }

    use serde_json::json;

    /// The users source fetched with `fetch` as its [fetch] section's last lines.
    async fn source(fetch: &str) -> HttpApiSource {
        let text = include_str!("../../sources/users.toml")
            .replace("page_param = \"page\"\n", &format!("{fetch}\n"));
        let def = SourceDef::parse(&text, "users.toml").unwrap();
        HttpApiSource::new(&def, HttpSourceOptions::default())
            .await
            .unwrap()
    }

    fn query(src: &HttpApiSource) -> Option<String> {
        src.next_url()
            .query_pairs()
            .find(|(k, _)| k == "cursor" || k == "page")
            .map(|(_, v)| v.into_owned())
    }

    #[tokio::test]
    async fn a_cursor_chain_starts_without_a_cursor_follows_each_and_keeps_its_last() {
        let mut src = source("page_param = \"cursor\"\ncursor_pointer = \"/info/next\"").await;
        assert_eq!(query(&src), None, "the first call names no cursor");
        let next = src.next_position(&json!({"info": {"next": "opaque+1/="}}), 500);
        src.set_position(next);
        assert_eq!(query(&src).as_deref(), Some("opaque+1/="));
        // The last page names no cursor (or null, or ""): the one that fetched it stays.
        for end in [
            json!({"info": {}}),
            json!({"info": {"next": null}}),
            json!({"info": {"next": ""}}),
        ] {
            assert_eq!(
                src.next_position(&end, 20).cursor.as_deref(),
                Some("opaque+1/=")
            );
        }
        let n = src.next_position(&json!({"info": {"next": 42}}), 1);
        assert_eq!(n.cursor.as_deref(), Some("42"));
    }

    #[tokio::test]
    async fn page_numbers_move_on_after_pages_with_records_only() {
        let src = source("page_param = \"page\"").await;
        assert_eq!(query(&src).as_deref(), Some("1"));
        assert_eq!(src.next_position(&json!({}), 500).page, 2);
        assert_eq!(src.next_position(&json!({}), 0).page, 1);
    }

    #[tokio::test]
    async fn a_cursor_needs_a_parameter_to_travel_in() {
        let text = include_str!("../../sources/users.toml")
            .replace("page_param = \"page\"\n", "cursor_pointer = \"/next\"\n");
        let def = SourceDef::parse(&text, "users.toml").unwrap();
        let err = HttpApiSource::new(&def, HttpSourceOptions::default())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("page_param"), "{err}");
    }
}
