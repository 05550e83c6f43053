//! Kafka over TLS through the real binaries (issue 18, MSK): a tansu broker behind a TLS
//! front (tests/tls_proxy.py: tansu 0.6.0 takes --cert and --key but never uses them), with a
//! self-signed certificate for 127.0.0.1. `firelake produce` and `firelake consume` with
//! `security.protocol=SSL&ssl.ca.location=...` move every record; without the CA the broker's
//! certificate is refused and nothing is delivered (dead-lettered); a SASL password given as a
//! Secrets Manager reference is fetched from Secrets Manager (moto) when the client is made.
//!
//! Needs tansu (`FIRELAKE_TANSU`: `WITH_KAFKA=1 source /work/wt/testenv.sh`), the emulators
//! and the `openssl` command.

mod common;
use common::firelake_env;
use firelake_testkit::free_port;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tansu on `broker_port`, advertising the TLS front on `tls_port`.
fn start_broker(tansu: &str, broker_port: u16, tls_port: u16, dir: &Path) -> Proc {
    let log = std::fs::File::create(dir.join("tansu.log")).unwrap();
    let child = Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{broker_port}"),
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{tls_port}"),
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let proc = Proc(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", broker_port)).is_ok() {
            return proc;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("tansu did not start");
}

fn start_tls_front(port: u16, upstream: u16, cert: &Path, key: &Path) -> Proc {
    let mut child = Command::new(common::python())
        .arg(common::root().join("tests/tls_proxy.py"))
        .args([
            &port.to_string(),
            &format!("127.0.0.1:{upstream}"),
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Proc(child)
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key).
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn kv(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[test]
fn produce_and_consume_over_verified_tls() {
    if firelake_testkit::skip(firelake_testkit::Needs::AwsAndKafka) {
        return;
    }
    let tansu = std::env::var("FIRELAKE_TANSU")
        .expect("FIRELAKE_TANSU: tests/kafka_broker.sh exports it with FIRELAKE_KAFKA");
    common::require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let (broker_port, tls_port) = (free_port(), free_port());
    let _broker = start_broker(&tansu, broker_port, tls_port, dir.path());
    let _front = start_tls_front(tls_port, broker_port, &cert, &key);
    let bootstrap = format!("127.0.0.1:{tls_port}");
    let topic = common::unique("tls");
    common::create_topic(
        &bootstrap,
        &topic,
        2,
        &[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", cert.to_str().unwrap()),
        ],
    );
    let tls = format!(
        "kafka://{bootstrap}/{topic}?security.protocol=SSL&ssl.ca.location={}",
        cert.display()
    );
    let state = dir.path().join("state");
    let lake = dir.path().join("lake");
    let (ok, out, err) = firelake_env(
        dir.path(),
        &[],
        &[
            "produce",
            "--to",
            &tls,
            "--sample-records",
            "300",
            "--seed",
            "5",
            "--publish-deadline",
            "20s",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(kv(&out, "records"), 300, "{out}");
    let (ok, out, err) = firelake_env(
        dir.path(),
        &[],
        &[
            "consume",
            "--from",
            &tls,
            "--group",
            "tls-lake",
            "--lake",
            lake.to_str().unwrap(),
            "--exit-when-idle",
            "3s",
            "--flush-interval",
            "1s",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(kv(&out, "records_in"), 300, "{out}");
    assert!(kv(&out, "rows_out") > 250 && kv(&out, "files") > 0, "{out}");

    // Without the CA, the self-signed certificate is refused: nothing is delivered.
    let unverified = format!("kafka://{bootstrap}/{topic}?security.protocol=SSL");
    let (ok, _, err) = firelake_env(
        dir.path(),
        &[],
        &[
            "produce",
            "--to",
            &unverified,
            "--sample-records",
            "5",
            "--publish-deadline",
            "3s",
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert!(!ok, "{err}");
    assert!(err.contains("dead-letter"), "{err}");
    // Turning verification off is refused outright.
    let off = format!("{unverified}&enable.ssl.certificate.verification=false");
    let (ok, _, err) = firelake_env(
        dir.path(),
        &[],
        &["produce", "--to", &off, "--sample-records", "1"],
    );
    assert!(!ok && err.contains("ssl.ca.location"), "{err}");
}

#[test]
fn a_sasl_password_reference_is_read_from_secrets_manager() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    if std::env::var_os("FIRELAKE_EMULATORS").is_none() {
        eprintln!("skipped: no emulators (source /work/wt/testenv.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // No broker needed: the secret is fetched when the client is made, before it connects.
    let url = |secret: &str| {
        format!(
            "kafka://127.0.0.1:{port}/t?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512\
             &sasl.password=secretsmanager://{secret}"
        )
    };
    let missing = common::unique("AmazonMSK_missing");
    let (ok, _, err) = firelake_env(
        dir.path(),
        &[],
        &[
            "produce",
            "--to",
            &url(&missing),
            "--sample-records",
            "1",
            "--publish-deadline",
            "1s",
        ],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("GetSecretValue({missing}) failed")),
        "the reference is looked up: {err}"
    );
    // An MSK SCRAM secret (JSON with username and password): the client is made with it and
    // only the connection fails (nothing listens there).
    let name = common::unique("AmazonMSK_app");
    common::python_tool(
        "aws_tool.py",
        &[
            "put-secret",
            &name,
            r#"{"username":"app","password":"pw-QZXJ"}"#,
        ],
    );
    let (ok, _, err) = firelake_env(
        dir.path(),
        &[],
        &[
            "produce",
            "--to",
            &url(&name),
            "--sample-records",
            "1",
            "--publish-deadline",
            "1s",
            "--state",
            dir.path().join("state").to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("dead-letter"), "{err}");
    assert!(
        !err.contains("GetSecretValue") && !err.contains("QZXJ"),
        "{err}"
    );
}
