//! The emulator gate: `cargo test` alone on a machine without the local emulators skips the
//! tests that need them, saying so; under scripts/test.sh or CI a missing emulator fails.

use std::io::Write;

/// What a test needs running beside it (scripts/test.sh starts all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// moto (S3, Glue, Secrets Manager) and kinesalite: tests/emulators.sh.
    Aws,
    /// The tansu Kafka broker: tests/kafka_broker.sh.
    Kafka,
    /// Both of the above.
    AwsAndKafka,
}

impl Needs {
    fn present(self) -> bool {
        let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
        let aws = set("FIRELAKE_EMULATORS") && set("AWS_ENDPOINT_URL");
        let kafka = set("FIRELAKE_KAFKA");
        match self {
            Needs::Aws => aws,
            Needs::Kafka => kafka,
            Needs::AwsAndKafka => aws && kafka,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Needs::Aws => "the AWS emulators (FIRELAKE_EMULATORS, AWS_ENDPOINT_URL)",
            Needs::Kafka => "the Kafka broker (FIRELAKE_KAFKA)",
            Needs::AwsAndKafka => "the AWS emulators and the Kafka broker",
        }
    }
}

/// Whether the calling test should return at once: `if testkit::skip(Needs::Aws) { return; }`.
///
/// True, with a skip message, when `needs` is not running and neither CI,
/// FIRELAKE_REQUIRE_EMULATORS (set by scripts/test.sh) nor FIRELAKE_EMULATORS is set; there a
/// missing emulator panics instead, since a run that skips its integration tests must not
/// pass as green.
pub fn skip(needs: Needs) -> bool {
    if needs.present() {
        return false;
    }
    // FIRELAKE_EMULATORS: tests/emulators.sh ran, so a missing part is a broken environment.
    let required = ["CI", "FIRELAKE_REQUIRE_EMULATORS", "FIRELAKE_EMULATORS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "false"));
    assert!(
        !required,
        "{} not running: run the suite with `bash scripts/test.sh`, which starts them",
        needs.what()
    );
    let test = std::thread::current().name().unwrap_or("test").to_string();
    // Straight to stderr, not eprintln!: the test harness captures the macros' output of a
    // passing test, and a skip must show in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped: needs the local emulators; run bash scripts/test.sh"
    );
    true
}

/// The Kafka broker's bootstrap address (`FIRELAKE_KAFKA`), or None when the test is skipped
/// (see [`skip`]).
pub fn kafka_broker() -> Option<String> {
    if skip(Needs::Kafka) {
        return None;
    }
    std::env::var("FIRELAKE_KAFKA").ok()
}
