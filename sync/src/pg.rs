//! The database side: connecting (password from the caller, TLS verified against a CA file),
//! the state table, the target table's columns, and the per-day transaction.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use firelake_core::time;
use tokio_postgres::{Client, Config, NoTls};

use crate::plan::{PgColumn, TargetTable, quote_ident};
use crate::{SyncError, pg_reason};

/// The state table, in the target table's schema.
pub const STATE_TABLE: &str = "firelake_sync_state";

/// Where to connect: a `postgres://user@host:port/db[?sslmode=...]` URL without a password.
#[derive(Debug, Clone)]
pub struct Target {
    config: Config,
    /// `postgres://host:port/db`, for messages.
    pub display: String,
    tls: Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tls {
    Off,
    /// Verify the server's certificate chain against this CA bundle and its name.
    Verify(PathBuf),
}

impl Target {
    /// Parse `url`. `sslmode=verify-full`, `verify-ca` or `require` (all verified as strictly:
    /// chain and host name) needs `ca_file` (or `sslrootcert=` in the URL). A password in the
    /// URL is refused: it would end up in shell history, process lists and logs. The password
    /// (and a user the URL does not name) come after, from [`Target::set_password`].
    pub fn parse(url: &str, ca_file: Option<PathBuf>) -> Result<Target, SyncError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let (mut sslmode, mut ca) = ("disable".to_string(), ca_file);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", v)) => sslmode = v.to_string(),
                Some(("sslrootcert", v)) if ca.is_none() => ca = Some(PathBuf::from(v)),
                _ => kept.push(pair),
            }
        }
        let clean = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let shown = display_of(base);
        let bad = |reason: String| SyncError::Target {
            target: shown.clone(),
            reason,
        };
        let mut config = Config::from_str(&clean).map_err(|e| bad(e.to_string()))?;
        if config.get_password().is_some() {
            return Err(bad("the URL holds a password: leave it out and set FIRELAKE_PG_PASSWORD (or PGPASSWORD, or --password-secret)".into()));
        }
        config.application_name("firelake-sync");
        let tls = tls_mode(&sslmode, ca).map_err(bad)?;
        Ok(Target {
            config,
            display: shown,
            tls,
        })
    }

    /// The password (or IAM token) to log in with.
    pub fn set_password(&mut self, password: &str) {
        self.config.password(password);
    }

    /// The user to log in as when the URL names none (e.g. from RDS's JSON secret).
    pub fn default_user(&mut self, user: &str) {
        if self.config.get_user().is_none() {
            self.config.user(user);
        }
    }

    pub fn user(&self) -> Option<&str> {
        self.config.get_user()
    }

    /// The first TCP host and its port (what an RDS IAM token is signed for).
    pub fn host_port(&self) -> Option<(String, u16)> {
        let host = self.config.get_hosts().iter().find_map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => Some(h.clone()),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => None,
        })?;
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        Some((host, port))
    }

    /// Whether the connection is TLS with the server's certificate verified.
    pub fn verified(&self) -> bool {
        matches!(self.tls, Tls::Verify(_))
    }

    /// Connect, and drive the connection on its own task.
    pub async fn connect(&self) -> Result<Client, SyncError> {
        if self.config.get_user().is_none() {
            return Err(SyncError::Target {
                target: self.display.clone(),
                reason: "the URL names no user (postgres://USER@HOST:PORT/DB)".into(),
            });
        }
        let fail = |reason: String| SyncError::Connect {
            target: self.display.clone(),
            reason,
        };
        match &self.tls {
            Tls::Off => {
                let (client, conn) = self
                    .config
                    .connect(NoTls)
                    .await
                    .map_err(|e| fail(pg_reason(&e)))?;
                tokio::spawn(drive(conn, self.display.clone()));
                Ok(client)
            }
            Tls::Verify(ca) => {
                let tls = rustls_connector(ca).map_err(fail)?;
                let (client, conn) = self
                    .config
                    .connect(tls)
                    .await
                    .map_err(|e| fail(pg_reason(&e)))?;
                tokio::spawn(drive(conn, self.display.clone()));
                Ok(client)
            }
        }
    }
}

/// The TLS of an `sslmode`: every mode that asks for TLS verifies the certificate (libpq's
/// `require` does too once a root certificate is given; without one it would accept anyone).
fn tls_mode(sslmode: &str, ca: Option<PathBuf>) -> Result<Tls, String> {
    match (sslmode, ca) {
        ("disable", _) => Ok(Tls::Off),
        ("verify-full" | "verify-ca" | "require", Some(ca)) => Ok(Tls::Verify(ca)),
        ("verify-full" | "verify-ca" | "require", None) => Err(format!(
            "sslmode={sslmode} needs the CA bundle the server's certificate is checked against: --ca-file PATH or sslrootcert=PATH (e.g. RDS's global-bundle.pem)"
        )),
        (other, _) => Err(format!(
            "sslmode={other} is not supported: use verify-full with --ca-file (certificate verified) or disable"
        )),
    }
}

async fn drive<C: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(
    conn: C,
    target: String,
) {
    if let Err(e) = conn.await {
        tracing::warn!(target = %target, error = %pg_reason(&e), "connection ended");
    }
}

/// `postgres://host:port/db` of a URL (user and anything after `?` left out).
fn display_of(base: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    format!("{scheme}://{rest}")
}

fn rustls_connector(ca: &PathBuf) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("CA file {}: {e}", ca.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("CA file {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("CA file {} holds no certificate", ca.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A failed statement, as a [`SyncError`].
pub fn failed(target: &str, what: &str) -> impl Fn(tokio_postgres::Error) -> SyncError {
    let (target, what) = (target.to_string(), what.to_string());
    move |e| SyncError::Pg {
        target: target.clone(),
        what: what.clone(),
        reason: pg_reason(&e),
    }
}

/// The schema and the state table, created when absent.
pub async fn ensure_state(client: &Client, target: &str, schema: &str) -> Result<(), SyncError> {
    let sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.{st} (
           \"table\" text NOT NULL, day date NOT NULL, source_version text NOT NULL,
           rows bigint NOT NULL, synced_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (\"table\", day))",
        s = quote_ident(schema),
        st = quote_ident(STATE_TABLE)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(failed(target, "creating the state table"))
}

/// Blocks other syncs of the same target table for this session (a second one waits, then
/// finds the days done). A killed session's lock ends with its connection.
pub async fn lock_table(
    client: &Client,
    target: &str,
    table: &TargetTable,
) -> Result<(), SyncError> {
    client
        .execute(
            "SELECT pg_advisory_lock(hashtextextended($1, 23))",
            &[&table.qualified()],
        )
        .await
        .map_err(failed(target, "taking the table's sync lock"))?;
    Ok(())
}

/// The synced version of each day of `table`.
pub async fn state(
    client: &Client,
    target: &str,
    table: &TargetTable,
) -> Result<BTreeMap<i32, String>, SyncError> {
    let sql = format!(
        "SELECT day::text, source_version FROM {}.{} WHERE \"table\" = $1",
        quote_ident(&table.schema),
        quote_ident(STATE_TABLE)
    );
    let rows = client
        .query(&sql, &[&table.name])
        .await
        .map_err(failed(target, "reading the state table"))?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((time::parse_day(r.get::<_, &str>(0))?, r.get::<_, String>(1))))
        .collect())
}

/// The target table's columns, `None` when it does not exist.
pub async fn existing_columns(
    client: &Client,
    target: &str,
    table: &TargetTable,
) -> Result<Option<Vec<PgColumn>>, SyncError> {
    let rows = client
        .query(
            "SELECT column_name::text, data_type::text, is_nullable = 'YES'
               FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&table.schema, &table.name],
        )
        .await
        .map_err(failed(target, "reading the target table's columns"))?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| PgColumn {
                name: r.get(0),
                pg_type: r.get(1),
                nullable: r.get(2),
            })
            .collect(),
    ))
}

/// Runs the DDL statements in one transaction.
pub async fn apply_ddl(client: &mut Client, target: &str, sql: &[String]) -> Result<(), SyncError> {
    if sql.is_empty() {
        return Ok(());
    }
    let tx = client
        .transaction()
        .await
        .map_err(failed(target, "starting the DDL transaction"))?;
    for s in sql {
        tracing::info!(sql = %s, "target table DDL");
        tx.batch_execute(s).await.map_err(failed(target, s))?;
    }
    tx.commit()
        .await
        .map_err(failed(target, "committing the DDL"))
}
