//! `firelake sync` through the real binary into a real PostgreSQL server that each test starts
//! (initdb + pg_ctl in a temp dir, password auth over TCP, trust on its own unix socket for
//! psql), on lakes made by `firelake run` and `firelake compact`. Values are compared with
//! what DuckDB reads from the lake (tests/sync_check.py), column by column.

mod common;
use common::{kv_field, last_line, python};
use firelake_testkit::free_port;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PASSWORD: &str = "s3cret-firelake";

/// A PostgreSQL server in a temp dir, stopped when dropped.
struct Pg {
    dir: tempfile::TempDir,
    port: u16,
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root: then the server runs as `nobody`.
fn as_server_user(program: &str) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            program,
        ]);
        c
    } else {
        Command::new(program)
    }
}

impl Pg {
    /// `None` (the test is skipped) only when PostgreSQL is not installed and CI is not set.
    fn start() -> Option<Pg> {
        Pg::start_with(|_| String::new())
    }

    /// A server with the extra `-c` options `setup` returns; `setup` gets the server's folder
    /// (owned by the server's user) to put files there first.
    fn start_with(setup: impl FnOnce(&Path) -> String) -> Option<Pg> {
        if Command::new("initdb").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "initdb is not on PATH: install PostgreSQL (.ci/run installs Debian's postgresql)"
            );
            eprintln!("SKIPPED: initdb is not on PATH (install PostgreSQL to run the sync tests)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            let ok = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        let data = dir.path().join("data");
        run_ok(
            as_server_user("initdb")
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--pwfile",
                ])
                .arg(&pwfile)
                .arg("-D")
                .arg(&data),
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {}",
            dir.path().display(),
            setup(dir.path())
        );
        run_ok(
            as_server_user("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-w", "-o", &opts, "-l"])
                .arg(dir.path().join("log"))
                .arg("start"),
        );
        Some(Pg { dir, port })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// psql over the unix socket: its output (unaligned, tuples only).
    fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-h",
            ])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = as_server_user("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn run_ok(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn firelake(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = firelake_with(dir, args, Some(PASSWORD));
    (code == Some(0), out, err)
}

/// `firelake` with FIRELAKE_PG_PASSWORD set to `password` (or unset): (exit code, out, err).
fn firelake_with(
    dir: &Path,
    args: &[&str],
    password: Option<&str>,
) -> (Option<i32>, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_firelake"));
    c.args(args).env_remove("PGPASSWORD").current_dir(dir);
    match password {
        Some(p) => c.env("FIRELAKE_PG_PASSWORD", p),
        None => c.env_remove("FIRELAKE_PG_PASSWORD"),
    };
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn firelake_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = firelake(dir, args);
    assert!(ok, "firelake {args:?} failed:\n{out}{err}");
    out
}

fn sync(dir: &Path, pg: &Pg, extra: &[&str]) -> String {
    let url = pg.url();
    let mut args = vec!["sync", "--to", url.as_str()];
    args.extend_from_slice(extra);
    firelake_ok(dir, &args)
}

/// The local folder of each partition of `table` in the lake's catalog: (day, folder).
fn partitions(lake: &Path, table: &str) -> Vec<(String, PathBuf)> {
    if !table.ends_with("_curated") {
        // A raw table's days are its folders.
        let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(lake.join(table))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let day = e.file_name().to_str()?.strip_prefix("p_date=")?.to_string();
                Some((day, e.path()))
            })
            .collect();
        out.sort();
        return out;
    }
    let cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_catalog/firelake.json")).unwrap())
            .unwrap();
    let mut out: Vec<(String, PathBuf)> = cat["Tables"][table]["Partitions"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            let loc = p["Location"].as_str().unwrap();
            (
                p["Values"][0].as_str().unwrap().to_string(),
                lake.join(loc.strip_prefix("file://").unwrap_or(loc)),
            )
        })
        .collect();
    out.sort();
    out
}

/// The target table equals what DuckDB reads from the partitions the catalog names.
fn assert_equal_to_lake(pg: &Pg, lake: &Path, table: &str, scratch: &Path) {
    let columns = pg.psql(&format!(
        "SELECT string_agg(column_name, ',' ORDER BY column_name = 'p_date', ordinal_position) FROM information_schema.columns WHERE table_name = '{table}'"
    ));
    let types = pg.psql(&format!(
        "SELECT string_agg(data_type, ',' ORDER BY column_name = 'p_date', ordinal_position) FROM information_schema.columns WHERE table_name = '{table}'"
    ));
    let select: Vec<String> = columns
        .split(',')
        .zip(types.split(','))
        .map(|(c, t)| match t {
            "timestamp with time zone" => format!("(extract(epoch FROM \"{c}\") * 1000)::bigint"),
            "date" => format!("\"{c}\"::text"),
            _ => format!("\"{c}\""),
        })
        .collect();
    let dump = scratch.join(format!("{table}.csv"));
    let copy = format!(
        "\\copy (SELECT {} FROM \"{table}\") TO '{}' (FORMAT csv, NULL '\\N')",
        select.join(", "),
        dump.display()
    );
    pg.psql(&copy);
    let mut args: Vec<String> = vec![
        common::root()
            .join("tests/sync_check.py")
            .display()
            .to_string(),
        dump.display().to_string(),
        columns.clone(),
    ];
    for (day, folder) in partitions(lake, table) {
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|e| e.path().display().to_string())
            .filter(|p| p.ends_with(".parquet"))
            .collect();
        files.sort();
        args.push(format!("{day}={}", files.join(",")));
    }
    let out = Command::new(python()).args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("OK rows="),
        "{table}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn state(pg: &Pg, table: &str) -> String {
    pg.psql(&format!(
        "SELECT string_agg(day || ' ' || source_version || ' ' || rows || ' ' || synced_at, E'\\n' ORDER BY day) FROM firelake_sync_state WHERE \"table\" = '{table}'"
    ))
}

/// A lake with a curated table: two runs of the same seed (duplicates), compacted.
fn lake_with_curated(dir: &Path, records: &str) {
    firelake_ok(dir, &["run", "--records", records, "--seed", "5"]);
    firelake_ok(dir, &["run", "--records", "1000", "--seed", "5"]);
    firelake_ok(dir, &["compact", "--all", "--grace", "0s"]);
}

/// Another raw day: a copy of the first raw day's files under the day before it (rows that
/// arrived late for that day, as a backfill writes them).
fn add_raw_day(lake: &Path) -> String {
    let (day, folder) = partitions(lake, "users").remove(0);
    let d = firelake_core::time::parse_day(&day).unwrap() - 1;
    let new_day = firelake_core::time::format_day(d);
    let to = lake.join(format!("users/p_date={new_day}"));
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(folder).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    new_day
}

#[test]
fn full_sync_equals_the_lake_then_only_changes_are_synced() {
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    lake_with_curated(dir.path(), "3000");

    let first = sync(dir.path(), &pg, &["--schema", "public"]);
    assert!(kv_field(&first, "days_synced") >= 1, "{first}");
    assert_equal_to_lake(&pg, &lake, "users_curated", dir.path());
    let pk = pg.psql("SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey, a.attnum)) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'users_curated'::regclass AND i.indisprimary");
    assert_eq!(pk, "p_date,user_id");
    assert_eq!(pg.psql("SELECT data_type FROM information_schema.columns WHERE table_name='users_curated' AND column_name='p_date'"), "date");

    // Nothing new: no day synced, the state and every row untouched (same xmin).
    let before = (
        state(&pg, "users_curated"),
        pg.psql("SELECT sum(xmin::text::bigint) FROM users_curated"),
    );
    let again = sync(dir.path(), &pg, &[]);
    assert_eq!(kv_field(&again, "days_synced"), 0, "{again}");
    assert_eq!(kv_field(&again, "rows"), 0, "{again}");
    let after = (
        state(&pg, "users_curated"),
        pg.psql("SELECT sum(xmin::text::bigint) FROM users_curated"),
    );
    assert_eq!(before, after);

    // Late data re-compacts the day (a new generation), and a new day appears: both synced,
    // no duplicate, no loss.
    firelake_ok(dir.path(), &["run", "--records", "700", "--seed", "6"]);
    firelake_ok(dir.path(), &["run", "--records", "300", "--seed", "5"]);
    let new_day = add_raw_day(&lake);
    firelake_ok(dir.path(), &["compact", "--all", "--grace", "0s"]);
    let late = sync(dir.path(), &pg, &[]);
    assert!(kv_field(&late, "days_synced") >= 2, "{late}");
    assert_equal_to_lake(&pg, &lake, "users_curated", dir.path());
    assert!(state(&pg, "users_curated").contains(&new_day));
    let dups = pg.psql("SELECT count(*) - count(DISTINCT (p_date, user_id)) FROM users_curated");
    assert_eq!(dups, "0");

    // The raw table too (every row, no key), then --date of a day already synced: skipped.
    let raw = sync(dir.path(), &pg, &["--table", "users"]);
    assert!(kv_field(&raw, "days_synced") >= 2, "{raw}");
    assert_equal_to_lake(&pg, &lake, "users", dir.path());
    let one = sync(dir.path(), &pg, &["--table", "users", "--date", &new_day]);
    assert_eq!(kv_field(&one, "days_synced"), 0, "{one}");
    let forced = sync(
        dir.path(),
        &pg,
        &["--table", "users", "--date", &new_day, "--force"],
    );
    assert_eq!(kv_field(&forced, "days_synced"), 1, "{forced}");
    assert_equal_to_lake(&pg, &lake, "users", dir.path());
}

#[test]
fn a_sync_killed_in_the_middle_of_a_day_leaves_it_as_before_and_the_rerun_is_exact() {
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Enough rows that the day's COPY takes several chunks.
    lake_with_curated(dir.path(), "30000");
    let url = pg.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["sync", "--to", &url])
        .env("FIRELAKE_PG_PASSWORD", PASSWORD)
        .env("FIRELAKE_SYNC_PAUSE_AT", "copy")
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let paused = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("paused at copy"));
    assert!(paused, "the sync reached its COPY");
    // The server has the COPY's first rows, in a transaction nobody else sees.
    let copying = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'firelake-sync' AND query LIKE 'COPY%'");
    assert_eq!(copying, "1");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        pg.psql("SELECT count(*) FROM users_curated"),
        "0",
        "as before: empty"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM firelake_sync_state"), "0");

    let rerun = sync(dir.path(), &pg, &[]);
    assert!(kv_field(&rerun, "days_synced") >= 1, "{rerun}");
    assert!(kv_field(&rerun, "rows") > 10_000, "{rerun}");
    assert_equal_to_lake(&pg, &lake, "users_curated", dir.path());
}

#[test]
fn an_added_column_arrives_and_bad_targets_are_clear_errors() {
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    lake_with_curated(dir.path(), "2000");
    sync(dir.path(), &pg, &[]);

    // The source gains a nullable column and widens age to int64 (schema evolution): the
    // table gets the column and a bigint age, the days keep their rows.
    let defs = dir.path().join("sources");
    std::fs::create_dir_all(&defs).unwrap();
    let users = std::fs::read_to_string(common::root().join("sources/users.toml")).unwrap();
    let age = "name = \"age\"\npointer = \"/dob/age\"\ntype = \"int32\"";
    assert!(users.contains(age), "users.toml changed: update this test");
    let users = users.replace(age, &age.replace("int32", "int64"));
    std::fs::write(
        defs.join("users.toml"),
        format!("{users}\n[[columns]]\nname = \"nickname\"\npointer = \"/login/nickname\"\ntype = \"string\"\n"),
    )
    .unwrap();
    let url = pg.url();
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "sync",
            "--to",
            &url,
            "--source-dir",
            defs.to_str().unwrap(),
            "--force",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("ALTER TABLE \"public\".\"users_curated\" ADD COLUMN \"nickname\" text"),
        "{err}"
    );
    assert!(
        err.contains("ALTER TABLE \"public\".\"users_curated\" ALTER COLUMN \"age\" TYPE bigint"),
        "{err}"
    );
    assert_eq!(
        pg.psql("SELECT data_type FROM information_schema.columns WHERE table_name = 'users_curated' AND column_name = 'age'"),
        "bigint"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM users_curated WHERE nickname IS NOT NULL"),
        "0"
    );
    assert_equal_to_lake(&pg, &lake, "users_curated", dir.path());

    // Bad password, unreachable server, a password in the URL: one line, non-zero exit.
    let bad = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["sync", "--to", &url])
        .env("FIRELAKE_PG_PASSWORD", "wrong")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let line = last_line(std::str::from_utf8(&bad.stderr).unwrap()).to_string();
    assert!(
        line.starts_with(&format!(
            "firelake: error: cannot connect to postgres://127.0.0.1:{}/postgres:",
            pg.port
        )),
        "{line}"
    );
    assert!(line.contains("password authentication failed"), "{line}");
    let closed = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let (ok, _, err) = firelake(dir.path(), &["sync", "--to", &closed]);
    assert!(!ok);
    let line = last_line(&err);
    assert!(
        line.contains("cannot connect to postgres://127.0.0.1:") && line.contains("check the host"),
        "{line}"
    );
    let with_pw = format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
        pg.port
    );
    let (ok, _, err) = firelake(dir.path(), &["sync", "--to", &with_pw]);
    assert!(!ok);
    assert!(
        last_line(&err).contains("the URL holds a password"),
        "{err}"
    );
    assert!(
        !err.contains(PASSWORD),
        "the password is never printed: {err}"
    );
}

/// openssl in `dir`: a CA (`<ca>.pem`, `<ca>.key`), self-signed.
fn make_ca(dir: &Path, ca: &str) {
    run_ok(Command::new("openssl").current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={ca}"),
        "-keyout",
        &format!("{ca}.key"),
        "-out",
        &format!("{ca}.pem"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
}

/// A server certificate for the name `localhost` only (`server.pem`, `server.key`), by `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    run_ok(Command::new("openssl").current_dir(dir).args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]));
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run_ok(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        &format!("{ca}.pem"),
        "-CAkey",
        &format!("{ca}.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]));
}

/// A server with ssl=on and a certificate for `localhost` by the CA `ca.pem` (in `certs`).
fn start_tls(certs: &Path) -> Option<Pg> {
    make_ca(certs, "ca");
    make_ca(certs, "other-ca");
    make_server_cert(certs, "ca");
    Pg::start_with(|server_dir| {
        // The server reads its key only when its own user owns it, mode 0600.
        for f in ["server.pem", "server.key"] {
            std::fs::copy(certs.join(f), server_dir.join(f)).unwrap();
        }
        let key = server_dir.join("server.key");
        run_ok(Command::new("chmod").arg("600").arg(&key));
        if running_as_root() {
            run_ok(Command::new("chown").arg("nobody:nogroup").arg(&key));
        }
        format!(
            "-c ssl=on -c ssl_cert_file={0}/server.pem -c ssl_key_file={0}/server.key",
            server_dir.display()
        )
    })
}

#[test]
fn tls_verify_full_syncs_with_the_right_ca_and_refuses_a_wrong_ca_or_host_name() {
    let certs = tempfile::tempdir().unwrap();
    let Some(pg) = start_tls(certs.path()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    lake_with_curated(dir.path(), "1000");
    let url = |host: &str, mode: &str| {
        format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}",
            pg.port
        )
    };
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let summary = firelake_ok(
        dir.path(),
        &[
            "sync",
            "--to",
            &url("localhost", "verify-full"),
            "--ca-file",
            ca,
        ],
    );
    assert_eq!(kv_field(&summary, "days_synced"), 1, "{summary}");
    // libpq's spelling: sslmode=require with sslrootcert= in the URL, verified as strictly.
    let with_rootcert = format!("{}&sslrootcert={ca}", url("localhost", "require"));
    let summary = firelake_ok(dir.path(), &["sync", "--to", &with_rootcert, "--force"]);
    assert_eq!(kv_field(&summary, "days_synced"), 1, "{summary}");
    assert_equal_to_lake(&pg, &dir.path().join("lake"), "users_curated", dir.path());

    let other = certs.path().join("other-ca.pem");
    let cases = [
        (
            url("localhost", "verify-full"),
            other.to_str().unwrap(),
            "UnknownIssuer",
        ),
        (
            url("127.0.0.1", "verify-full"),
            ca,
            "not valid for name \"127.0.0.1\"",
        ),
    ];
    for (to, ca_file, why) in cases {
        let (code, _, err) = firelake_with(
            dir.path(),
            &["sync", "--to", &to, "--ca-file", ca_file, "--force"],
            Some(PASSWORD),
        );
        assert_eq!(code, Some(1), "{err}");
        let line = last_line(&err);
        assert!(
            line.starts_with("firelake: error: cannot connect to postgres://")
                && line.contains(why)
                && line.contains("--ca-file"),
            "{line}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // TLS asked for without a CA to check against, or an unchecked mode: refused up front.
    for (to, says) in [
        (url("localhost", "require"), "needs the CA bundle"),
        (
            url("localhost", "prefer"),
            "sslmode=prefer is not supported",
        ),
    ] {
        let (code, _, err) = firelake_with(dir.path(), &["sync", "--to", &to], Some(PASSWORD));
        assert_eq!(code, Some(1), "{err}");
        assert!(last_line(&err).contains(says), "{err}");
    }
    // An IAM token goes over verified TLS only; over it, the token is the password (this
    // server does not know it: authentication fails, after the TLS handshake).
    let (code, _, err) = firelake_with(
        dir.path(),
        &["sync", "--to", &url("localhost", "disable"), "--iam-auth"],
        None,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(last_line(&err).contains("TLS only"), "{err}");
    let (code, _, err) = firelake_with_aws(
        dir.path(),
        &[
            "sync",
            "--to",
            &url("localhost", "verify-full"),
            "--ca-file",
            ca,
            "--iam-auth",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        last_line(&err).contains("password authentication failed for user \"postgres\""),
        "{err}"
    );
}

/// `firelake` without a password and with example AWS credentials and region.
fn firelake_with_aws(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("FIRELAKE_PG_PASSWORD")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_REGION", "eu-west-1")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_password_comes_from_secrets_manager_plain_or_as_rds_json() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    lake_with_curated(dir.path(), "1000");
    let url = pg.url();
    // A secret that is the password.
    let plain = common::unique("firelake-sync-plain");
    common::python_tool("aws_tool.py", &["put-secret", &plain, PASSWORD]);
    let (code, out, err) = firelake_with(
        dir.path(),
        &[
            "sync",
            "--to",
            &url,
            "--password-secret",
            &format!("secretsmanager://{plain}"),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(kv_field(&out, "days_synced"), 1, "{out}");
    // RDS's JSON secret: its user too, when the URL names none.
    let rds = common::unique("rds-db-firelake");
    let json = format!(r#"{{"username":"postgres","password":"{PASSWORD}"}}"#);
    common::python_tool("aws_tool.py", &["put-secret", &rds, &json]);
    let no_user = format!("postgres://127.0.0.1:{}/postgres", pg.port);
    let (code, out, err) = firelake_with(
        dir.path(),
        &[
            "sync",
            "--to",
            &no_user,
            "--password-secret",
            &format!("secretsmanager://{rds}"),
            "--force",
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(kv_field(&out, "days_synced"), 1, "{out}");
    assert!(!err.contains(PASSWORD) && !out.contains(PASSWORD), "{err}");
    assert_equal_to_lake(&pg, &dir.path().join("lake"), "users_curated", dir.path());
    // A missing secret, and no user at all: one line each.
    let missing = common::unique("firelake-sync-missing");
    let (code, _, err) = firelake_with(
        dir.path(),
        &[
            "sync",
            "--to",
            &url,
            "--password-secret",
            &format!("secretsmanager://{missing}"),
        ],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(
        last_line(&err).contains(&format!("GetSecretValue({missing}) failed")),
        "{err}"
    );
    let (code, _, err) = firelake_with(dir.path(), &["sync", "--to", &no_user], Some(PASSWORD));
    assert_eq!(code, Some(1));
    assert!(last_line(&err).contains("names no user"), "{err}");
}

/// Every day in the target is whole: its row count is the one its state row recorded (no day
/// half copied is ever visible).
fn assert_only_whole_days(pg: &Pg, table: &str) {
    let visible = pg.psql(&format!(
        "SELECT coalesce(string_agg(p_date || '=' || n, ',' ORDER BY p_date), '') FROM (SELECT p_date, count(*) n FROM \"{table}\" GROUP BY 1) x"
    ));
    let recorded = pg.psql(&format!(
        "SELECT coalesce(string_agg(day || '=' || rows, ',' ORDER BY day), '') FROM firelake_sync_state WHERE \"table\" = '{table}'"
    ));
    assert_eq!(visible, recorded, "target days vs recorded days");
}

/// `firelake sync --max-duration 0s` until it says done=true: each run makes one step.
fn sync_in_steps(dir: &Path, pg: &Pg) -> usize {
    for runs in 1..=500 {
        let out = sync(dir, pg, &["--max-duration", "0s"]);
        assert_only_whole_days(pg, "users_curated");
        if out.contains("done=true") {
            return runs;
        }
        assert!(out.contains("done=false"), "{out}");
    }
    panic!("sync --max-duration 0s not done after 500 runs");
}

fn progress(pg: &Pg) -> String {
    pg.psql("SELECT coalesce(string_agg(day || ' ' || source_version || ' ' || file || ' ' || file_rows || ' ' || rows, ',' ORDER BY day), '') FROM firelake_sync_progress")
}

#[test]
fn a_sync_with_a_time_budget_continues_the_day_across_runs_and_equals_a_one_shot_sync() {
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (d, lake) = (dir.path(), dir.path().join("lake"));
    lake_with_curated(d, "30000");

    // No time at all: each run makes one step (a unit of rows into the day's staging table,
    // committed with its position), and the target is untouched.
    let first = sync(d, &pg, &["--max-duration", "0s"]);
    assert!(first.contains("done=false"), "{first}");
    assert_eq!(kv_field(&first, "days_partial"), 1, "{first}");
    assert_eq!(pg.psql("SELECT count(*) FROM users_curated"), "0");
    let after_one = progress(&pg);
    assert!(!after_one.is_empty());
    sync(d, &pg, &["--max-duration", "0s"]);
    let after_two = progress(&pg);
    assert_ne!(after_one, after_two, "the second run went on: {after_two}");

    // kill -9 in the middle of a step: the step is rolled back, the position kept.
    let url = pg.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["sync", "--to", &url, "--max-duration", "0s"])
        .env("FIRELAKE_PG_PASSWORD", PASSWORD)
        .env("FIRELAKE_SYNC_PAUSE_AT", "copy")
        .current_dir(d)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let paused = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("paused at copy"));
    assert!(paused, "the sync reached its COPY");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(progress(&pg), after_two);
    assert_only_whole_days(&pg, "users_curated");

    // Late data re-compacts the day under way (a new version): its staging starts over; then
    // runs until done, each leaving only whole days.
    firelake_ok(d, &["run", "--records", "700", "--seed", "6"]);
    firelake_ok(d, &["run", "--records", "300", "--seed", "5"]);
    firelake_ok(d, &["compact", "--all", "--grace", "0s"]);
    let runs = sync_in_steps(d, &pg);
    assert!(runs >= 3, "several runs: {runs}");
    assert_equal_to_lake(&pg, &lake, "users_curated", d);
    assert_eq!(progress(&pg), "", "no day left staged");
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'firelake_sync_stage%'"),
        "0"
    );

    // The same as a sync in one go.
    sync(d, &pg, &["--schema", "oneshot"]);
    for (a, b) in [("public", "oneshot"), ("oneshot", "public")] {
        let diff = pg.psql(&format!(
            "SELECT count(*) FROM (SELECT * FROM {a}.users_curated EXCEPT ALL SELECT * FROM {b}.users_curated) x"
        ));
        assert_eq!(diff, "0", "{a} minus {b}");
    }
}

/// The part of Lambda's Runtime API a function uses: every `next` hands out `event` with a
/// deadline `deadline_ms` from now; each response or error body goes to the channel.
fn fake_lambda_runtime(
    event: &str,
    deadline_ms: u64,
) -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let event = event.to_string();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().flatten().enumerate() {
            let (tx, event) = (tx.clone(), event.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                let mut id = n * 1000;
                loop {
                    let mut head = String::new();
                    if reader.read_line(&mut head).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let reply = if head.contains("/invocation/next") {
                        id += 1;
                        let deadline = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis() as u64
                            + deadline_ms;
                        format!(
                            "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-{id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:sync\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{event}",
                            event.len()
                        )
                    } else {
                        let kind = if head.contains("/error") {
                            "error"
                        } else {
                            "response"
                        };
                        let _ = tx.send((
                            kind.to_string(),
                            String::from_utf8_lossy(&body).into_owned(),
                        ));
                        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}".to_string()
                    };
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn the_sync_lambda_continues_a_day_across_invocations_until_done() {
    let Some(pg) = Pg::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (d, lake) = (dir.path(), dir.path().join("lake"));
    lake_with_curated(d, "30000");
    let bin = Path::new(env!("CARGO_BIN_EXE_firelake")).with_file_name("sync-lambda");
    assert!(
        bin.exists(),
        "{} missing: cargo build -p firelake-sync",
        bin.display()
    );
    // Invocations with no time left: one step each.
    let (api, responses) = fake_lambda_runtime(r#"{"table":"users_curated"}"#, 0);
    let mut child = Command::new(&bin)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "sync")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "s")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "g")
        .env("FIRELAKE_LAKE", format!("file://{}", lake.display()))
        .env("FIRELAKE_PG_URL", pg.url())
        .env("FIRELAKE_PG_PASSWORD", PASSWORD)
        .env_remove("FIRELAKE_TABLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut invocations = 0;
    let done = loop {
        // A guard against a hung function, not a timing assertion.
        let (kind, body) = responses
            .recv_timeout(std::time::Duration::from_secs(300))
            .expect("a response from the function");
        assert_eq!(kind, "response", "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        invocations += 1;
        assert_only_whole_days(&pg, "users_curated");
        if answer["done"] == true || invocations > 500 {
            break answer;
        }
        assert_eq!(answer["done"], false, "{answer}");
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(done["done"], true, "{done}");
    assert!(invocations >= 3, "several invocations: {invocations}");
    assert_equal_to_lake(&pg, &lake, "users_curated", d);
    assert_eq!(progress(&pg), "");
}
