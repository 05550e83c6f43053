//! Issue 21 point 10 through the binary: options from a pipeline file (`firelake.toml`,
//! docs/pipeline-file.md) with flags over env vars over the file, its errors (exit code 2, one
//! line naming the file, line and key), and `firelake validate` on good and bad files,
//! including the complete example of the docs.

mod common;

use std::path::Path;
use std::process::Output;

/// Runs `firelake` in `dir` with `env` and no other FIRELAKE_* setting of this environment.
fn firelake(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    common::firelake_command(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `records in` count of `firelake run`'s summary.
fn records_in(out: &Output) -> u64 {
    assert_eq!(code(out), 0, "{}", stderr(out));
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("records in"))
        .unwrap_or_else(|| panic!("no records line in {text}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn flags_win_over_env_vars_and_env_vars_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("firelake.toml"),
        "lake = \"file://./from-file\"\nrecords = 500\n\n[run]\nrecords = 300\nshards = 1\n",
    )
    .unwrap();
    // The table's value over the top level's, and the file's lake.
    assert_eq!(records_in(&firelake(d, &["run"], &[])), 300);
    assert!(d.join("from-file/users").is_dir());
    // The env var over the file; the flag over both.
    let env = [
        ("FIRELAKE_RECORDS", "200"),
        ("FIRELAKE_LAKE", "file://./from-env"),
    ];
    assert_eq!(records_in(&firelake(d, &["run"], &env)), 200);
    assert!(d.join("from-env/users").is_dir());
    let run = firelake(
        d,
        &["run", "--records", "100", "--lake", "./from-flag"],
        &env,
    );
    assert_eq!(records_in(&run), 100);
    assert!(d.join("from-flag/users").is_dir());
    // A file named by --config (or FIRELAKE_CONFIG) instead of ./firelake.toml.
    std::fs::write(d.join("other.toml"), "[run]\nrecords = 150\nshards = 1\n").unwrap();
    let named = firelake(d, &["--config", "other.toml", "run"], &[]);
    assert_eq!(records_in(&named), 150);
    let by_env = firelake(d, &["run"], &[("FIRELAKE_CONFIG", "other.toml")]);
    assert_eq!(records_in(&by_env), 150);
    // A named file that is not there is an error, not the defaults.
    let missing = firelake(d, &["run", "--config", "missing.toml"], &[]);
    assert_eq!(code(&missing), 2, "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("missing.toml"),
        "{}",
        stderr(&missing)
    );
}

/// `firelake run` with `text` as its pipeline file: exit code 2, nothing run, and the one
/// error line, which must contain every piece of `expected`.
fn rejected(text: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipe.toml"), text).unwrap();
    let out = firelake(dir.path(), &["run", "--config", "pipe.toml"], &[]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{text}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for piece in expected {
        assert!(err.contains(piece), "{text}: {piece:?} not in {err}");
    }
    assert!(!dir.path().join("lake").exists(), "{text}: the run started");
}

#[test]
fn unknown_keys_bad_values_and_type_errors_exit_with_the_usage_code() {
    rejected(
        "lake = \"./lake\"\n\n[run]\nrecods = 5\n",
        &["pipe.toml:4", "[run] recods", "did you mean `records`"],
    );
    rejected(
        "recods = 5\n",
        &["pipe.toml:1", "`recods`", "any command", "`records`"],
    );
    // A key of another command's table is checked too: the file is one unit.
    rejected(
        "[consume]\nflush-record = 10\n",
        &["pipe.toml:2", "`firelake consume`", "`flush-records`"],
    );
    rejected("[runn]\nrecords = 1\n", &["pipe.toml:1", "[runn]", "`run`"]);
    rejected(
        "[run]\nshards = 1\nrecords = \"many\"\n",
        &["pipe.toml:3", "[run] records", "invalid value 'many'"],
    );
    rejected("[run]\nshards = 0\n", &["pipe.toml:2", "[run] shards", "0"]);
    rejected(
        "[run]\nrecords = [1, 2]\n",
        &["pipe.toml:2", "[run] records", "not an array"],
    );
    rejected(
        "[consume]\nemf = \"yes\"\n",
        &["pipe.toml:2", "[consume] emf", "true or false"],
    );
    rejected("[run\nrecords = 1\n", &["pipe.toml:1", "not valid TOML"]);
    // Help still prints whatever the file holds.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("firelake.toml"), "[run\n").unwrap();
    let help = firelake(dir.path(), &["run", "--help"], &[]);
    assert_eq!(code(&help), 0, "{}", stderr(&help));
    assert!(stdout(&help).contains("--config"), "{}", stdout(&help));
}

/// The example of docs/pipeline-file.md ("A complete example").
fn docs_example() -> String {
    let doc = std::fs::read_to_string(common::root().join("docs/pipeline-file.md")).unwrap();
    let after = doc
        .split("## A complete example")
        .nth(1)
        .expect("the section");
    let block = after.split("```toml\n").nth(1).expect("a toml block");
    block.split("```").next().unwrap().to_string()
}

#[test]
fn validate_passes_the_docs_example_and_names_what_is_wrong_in_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("firelake.toml"), docs_example()).unwrap();
    let good = firelake(d, &["validate"], &[]);
    assert_eq!(code(&good), 0, "{}{}", stdout(&good), stderr(&good));
    let text = stdout(&good);
    for checked in [
        "ok    consume: from kafka://localhost:9092/users",
        "ok    run: source users (table users, 24 columns)",
        "ok    compact: lake file://./lake",
        "ok    produce: to kafka://localhost:9092/users",
        " 0 failed",
    ] {
        assert!(text.contains(checked), "{checked:?} not in {text}");
    }
    assert!(!d.join("lake").exists(), "validate ran something");

    // Bad locations, a source that does not load, a table missing a required option.
    std::fs::write(
        d.join("bad.toml"),
        "lake = \"s3:/typo\"\n[run]\nsource = \"nope\"\n[consume]\nflush-records = 10\n\
         [produce]\nto = \"kinesis:/x\"\n",
    )
    .unwrap();
    let bad = firelake(d, &["validate", "--config", "bad.toml"], &[]);
    assert_eq!(code(&bad), 2, "{}{}", stdout(&bad), stderr(&bad));
    let text = stdout(&bad);
    for failed in [
        "FAIL  run: lake s3:/typo",
        "FAIL  run: source nope",
        "FAIL  consume: options: the following required arguments were not provided: --from",
        "FAIL  produce: to kinesis:/x",
    ] {
        assert!(text.contains(failed), "{failed:?} not in {text}");
    }
    assert!(stderr(&bad).contains("bad.toml"), "{}", stderr(&bad));
    // An unknown key stops validate as it stops every command.
    std::fs::write(d.join("typo.toml"), "[compact]\ntarget-mbs = 64\n").unwrap();
    let typo = firelake(d, &["validate", "--config", "typo.toml"], &[]);
    assert_eq!(code(&typo), 2);
    assert!(
        stderr(&typo).contains("did you mean `target-mb`"),
        "{}",
        stderr(&typo)
    );
}

#[test]
fn validate_check_connections_fails_on_a_stream_nobody_answers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Port 1 on loopback: nothing listens, the connection is refused.
    std::fs::write(
        d.join("firelake.toml"),
        "[consume]\nfrom = \"kafka://127.0.0.1:1/users\"\nlake = \"file://./lake\"\n",
    )
    .unwrap();
    let out = firelake(
        d,
        &["validate", "--check-connections", "--connect-timeout", "2s"],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  consume: from kafka://127.0.0.1:1/users reachable"),
        "{text}"
    );
    assert!(
        text.contains("ok    consume: lake file://./lake reachable"),
        "{text}"
    );
    // Without the check, the same file is valid.
    let out = firelake(d, &["validate"], &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

/// The local Kafka broker of the test environment (tests/kafka_broker.sh) answers.
#[test]
fn validate_check_connections_reaches_the_local_broker() {
    let Some(bootstrap) = std::env::var("FIRELAKE_KAFKA").ok() else {
        panic!("FIRELAKE_KAFKA is not set: run with scripts/test.sh (or source testenv.sh)");
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topic = common::unique("validate");
    common::create_topic(&bootstrap, &topic, 1, &[]);
    std::fs::write(
        d.join("firelake.toml"),
        format!("[consume]\nfrom = \"kafka://{bootstrap}/{topic}\"\n"),
    )
    .unwrap();
    let out = firelake(d, &["validate", "--check-connections"], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("reachable"), "{}", stdout(&out));
}
