//! The HTTP API source: one call per tick to the URL of the source definition's `[fetch]`
//! part, records taken from the response at `records_pointer`, a page number or cursor carried
//! between ticks, an auth header from an env var or Secrets Manager, timeouts, retries with
//! backoff and jitter, and rate limits on calls and records.

use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
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
    #[error("auth: {0}")]
    Secret(#[from] firelake_aws::secrets::SecretError),
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: the response is not JSON: {message}")]
    NotJson { url: String, message: String },
    #[error("GET {url}: no array of records at {pointer:?} in the response")]
    NoRecords { url: String, pointer: String },
}

/// Where the source is: the next page or cursor. Saved between ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
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
        let raw_url = opts.url.clone().unwrap_or_else(|| fetch.url.clone());
        let url = url::Url::parse(&raw_url).map_err(|e| FetchError::Url {
            url: raw_url.clone(),
            message: e.to_string(),
        })?;
        let auth = match (&fetch.auth_header, &fetch.auth_env) {
            (Some(header), Some(var)) => {
                let value =
                    std::env::var(var).map_err(|_| FetchError::MissingSecret(var.clone()))?;
                Some((
                    header.clone(),
                    firelake_aws::secrets::resolve(&value).await?,
                ))
            }
            _ => None,
        };
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .user_agent(concat!("firelake/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Http {
                url: raw_url.clone(),
                message: e.to_string(),
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
        if let Some(param) = &self.fetch.page_param {
            let value = match &self.position.cursor {
                Some(c) => c.clone(),
                None => self.position.page.to_string(),
            };
            url.query_pairs_mut().append_pair(param, &value);
        }
        url
    }

    /// Fetch the next page (retrying transient failures); the position moves only on `commit`.
    pub async fn fetch(&mut self) -> Result<Page, FetchError> {
        if let Some(l) = &self.calls {
            l.until_ready().await;
        }
        let url = self.next_url();
        let mut backoff = Backoff::new(self.retry);
        let body = loop {
            let mut req = self.client.get(url.clone());
            if let Some((h, v)) = &self.auth {
                req = req.header(h.as_str(), v.as_str());
            }
            let (retryable, message) = match req.send().await {
                Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                    Ok(b) => break b,
                    Err(e) => (true, format!("reading the body: {e}")),
                },
                Ok(resp) => {
                    let s = resp.status();
                    (
                        s.as_u16() == 429 || s.is_server_error(),
                        format!("HTTP {s}"),
                    )
                }
                Err(e) => (true, e.to_string()),
            };
            match backoff.next_delay() {
                Some(d) if retryable => {
                    tracing::warn!(%url, %message, "fetch failed; retrying");
                    tokio::time::sleep(d).await;
                }
                _ => {
                    return Err(FetchError::Http {
                        url: url.to_string(),
                        message,
                    });
                }
            }
        };
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| FetchError::NotJson {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let items = value
            .pointer(&self.fetch.records_pointer)
            .and_then(|v| v.as_array())
            .ok_or_else(|| FetchError::NoRecords {
                url: url.to_string(),
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
        let next = match &self.fetch.cursor_pointer {
            Some(ptr) => Position {
                page: self.position.page + 1,
                cursor: value.pointer(ptr).and_then(|c| match c {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
            },
            None => Position {
                page: self.position.page + 1,
                cursor: None,
            },
        };
        Ok(Page { records, next })
    }

    /// The page's records are on the stream: move on.
    pub fn commit(&mut self, page: &Page) {
        self.position = page.next.clone();
    }
}
