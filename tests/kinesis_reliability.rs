//! Nothing lost on the way in, Kinesis side, through `firelake consume` and real emulators:
//! - after a reshard, `--start latest` reads a child of a checkpointed parent from its first
//!   record (kinesis-local, which emulates SplitShard, in its own network namespace:
//!   tests/reshard.sh);
//! - checkpoints fail closed (kinesalite, local lake): an unreadable checkpoint stops the run
//!   with one line naming it, and a stream deleted and recreated under the same name is never
//!   read from the old stream's checkpoints;
//! - `--redrive sqs://QUEUE` writes the ranges of a Lambda event source mapping's on-failure
//!   records into the lake, once each (kinesalite, moto's SQS).

mod common;
use common::{firelake, last_line, python_tool, require_emulators, root, unique};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// Runs tests/reshard.sh SCENARIO and returns its JSON summary.
fn reshard(scenario: &str) -> Value {
    require_emulators();
    let kl = std::env::var("FIRELAKE_KINESIS_LOCAL")
        .expect("FIRELAKE_KINESIS_LOCAL (kinesis-local's main.js) is set by scripts/test.sh");
    assert!(Path::new(&kl).exists(), "{kl}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "bash"])
        .arg(root().join("tests/reshard.sh"))
        .arg(env!("CARGO_BIN_EXE_firelake"))
        .arg(dir.path())
        .arg(scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "reshard.sh {scenario} failed: {stdout}\n{}\nconsumer logs:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log("consume-1.log"),
        log("consume.log")
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn start_latest_reads_the_children_of_a_checkpointed_parent_from_their_first_record() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    // Run 1 (--start latest) checkpoints the parent and stops; the shard is split and 1500
    // records go to the children; run 2 (--start latest again) must read all of them.
    let v = reshard("latest-restart");
    assert_eq!(v["shards"], 3, "{v}");
    assert!(v["on_stream"].as_u64().unwrap() > 2800, "{v}");
    assert_eq!(v["missing"], 0, "every child record is in the lake: {v}");
    assert_eq!(v["extra"], 0, "{v}");
    assert_eq!(
        v["order_ok"], true,
        "parent drained before its children: {v}"
    );
}

fn tool(args: &[&str]) -> String {
    python_tool("kinesis_tool.py", args)
}

/// Every valid user id on the stream, read independently (boto3, every shard from its start).
fn stream_ids(stream: &str) -> BTreeSet<String> {
    let v: Value = serde_json::from_str(&tool(&["records", stream])).unwrap();
    v["shards"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|recs| recs.as_array().unwrap().iter())
        .filter_map(|r| r["uuid"].as_str().map(str::to_string))
        .collect()
}

/// The user ids of every row in the lake's `users` table (with repeats).
fn lake_ids(lake: &Path) -> Vec<String> {
    firelake_testkit::lake::string_column(&lake.join("users"), "user_id")
}

struct Setup {
    dir: tempfile::TempDir,
    stream: String,
}

impl Setup {
    fn new(name: &str, shards: u32) -> Setup {
        require_emulators();
        let stream = unique(name);
        common::python_tool(
            "aws_tool.py",
            &["create-stream", &stream, &shards.to_string()],
        );
        Setup {
            dir: tempfile::tempdir().unwrap(),
            stream,
        }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn produce(&self, records: u32, seed: u32) {
        let (ok, out, err) = firelake(
            self.dir.path(),
            &[
                "produce",
                "--source",
                "users",
                "--sample-records",
                &records.to_string(),
                "--seed",
                &seed.to_string(),
                "--ticks",
                "1",
                "--to",
                &format!("kinesis://{}", self.stream),
            ],
        );
        assert!(ok, "produce: {out}\n{err}");
    }

    /// `firelake consume` until idle for 2 s: (success, stdout, stderr).
    fn consume(&self, extra: &[&str]) -> (bool, String, String) {
        self.consume_until_idle("2s", extra)
    }

    fn consume_until_idle(&self, idle: &str, extra: &[&str]) -> (bool, String, String) {
        let from = format!("kinesis://{}", self.stream);
        let lake = format!("file://{}", self.lake().display());
        let mut args = vec![
            "consume",
            "--from",
            &from,
            "--lake",
            &lake,
            "--exit-when-idle",
            idle,
            "--flush-interval",
            "1s",
        ];
        args.extend_from_slice(extra);
        firelake(self.dir.path(), &args)
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.lake()
            .join("_checkpoints/firelake")
            .join(format!("kinesis.{}", self.stream))
    }

    fn checkpoint(&self, shard: &str) -> PathBuf {
        self.checkpoint_dir().join(format!("{shard}.json"))
    }
}

fn assert_exact(lake: &[String], expected: &BTreeSet<String>) {
    let distinct: BTreeSet<String> = lake.iter().cloned().collect();
    assert_eq!(distinct.len(), lake.len(), "no record written twice");
    let missing: Vec<_> = expected.difference(&distinct).take(5).collect();
    let extra: Vec<_> = distinct.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "lake != stream: {} rows, {} expected; missing {missing:?}, extra {extra:?}",
        lake.len(),
        expected.len()
    );
}

#[test]
fn an_unreadable_checkpoint_stops_the_run_with_its_name_and_nothing_is_skipped() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new("corrupt", 2);
    t.produce(800, 1);
    let (ok, out, err) = t.consume(&[]);
    assert!(ok, "{out}\n{err}");
    t.produce(800, 2);
    let path = t.checkpoint("shardId-000000000001");
    let good = std::fs::read(&path).unwrap();
    let other = std::fs::read(t.checkpoint("shardId-000000000000")).unwrap();
    // Cut short, as a write interrupted by a crash of a non-atomic store would leave it.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();

    let (ok, out, err) = t.consume(&["--start", "latest"]);
    assert!(!ok, "a corrupt checkpoint must stop the run: {out}\n{err}");
    let line = last_line(&err);
    assert!(
        line.contains(&path.display().to_string()) && line.contains("not a readable checkpoint"),
        "one line naming the object: {line}"
    );
    assert!(
        line.contains("restore") && line.contains("delete"),
        "what to do: {line}"
    );
    assert!(!out.contains("consumed records_in"), "{out}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        &good[..good.len() / 2],
        "left as found"
    );
    assert_eq!(
        std::fs::read(t.checkpoint("shardId-000000000000")).unwrap(),
        other,
        "no checkpoint moved"
    );

    // Restored, the next run (still --start latest) resumes both shards where they were.
    std::fs::write(&path, &good).unwrap();
    let (ok, out, err) = t.consume(&["--start", "latest"]);
    assert!(ok, "{out}\n{err}");
    assert_exact(&lake_ids(&t.lake()), &stream_ids(&t.stream));
}

/// Rewrites a checkpoint as firelake wrote it before incarnations were recorded.
fn strip_incarnation(path: &Path) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(v["stream"]["arn"].is_string(), "bound to its stream: {v}");
    v.as_object_mut().unwrap().remove("stream");
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn a_recreated_stream_is_never_read_from_the_old_streams_checkpoints() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    // The old stream: shard 0 split into 1 and 2, everything read: shard 0 ends at SHARD_END.
    let t = Setup::new("recreated", 1);
    t.produce(500, 1);
    let parent = python_tool("aws_tool.py", &["split-shard", &t.stream]);
    assert_eq!(parent.trim(), "shardId-000000000000");
    t.produce(500, 2);
    // Idle long enough for kinesalite to end the parent (a few empty reads) and the children
    // to be read.
    let (ok, out, err) = t.consume_until_idle("6s", &[]);
    assert!(ok, "{out}\n{err}");
    let old_ids = stream_ids(&t.stream);
    assert_exact(&lake_ids(&t.lake()), &old_ids);
    let shard0 = t.checkpoint("shardId-000000000000");
    assert!(
        std::fs::read_to_string(&shard0)
            .unwrap()
            .contains("SHARD_END")
    );
    // Shard 0's checkpoint as an older firelake wrote it (no incarnation).
    strip_incarnation(&shard0);

    // Deleted and created again under the same name: a new shard 0 with new records.
    let after = now_ms().to_string();
    tool(&["recreate-stream", &t.stream, "1", &after]);
    t.produce(700, 3);
    let new_ids = stream_ids(&t.stream);
    assert!(new_ids.len() > 650, "{}", new_ids.len());

    // Refused by default: reported, one line naming the flag, nothing read.
    let (ok, out, err) = t.consume(&[]);
    assert!(!ok, "old checkpoints must not be applied: {out}\n{err}");
    let line = last_line(&err);
    assert!(
        line.contains("--ignore-stale-checkpoints") && line.contains("3 checkpoint(s)"),
        "{line}"
    );
    assert!(
        err.contains("checkpoint of another stream incarnation"),
        "{err}"
    );
    assert_exact(&lake_ids(&t.lake()), &old_ids);

    // With the flag: set aside (kept), and the new stream is read from its start.
    let (ok, out, err) = t.consume(&["--ignore-stale-checkpoints"]);
    assert!(ok, "{out}\n{err}");
    let all: BTreeSet<String> = old_ids.union(&new_ids).cloned().collect();
    assert_exact(&lake_ids(&t.lake()), &all);
    let kept = t
        .lake()
        .join("_checkpoints/firelake/_stale")
        .join(format!("kinesis.{}", t.stream));
    let kept_files: usize = std::fs::read_dir(&kept)
        .unwrap()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum();
    assert_eq!(
        kept_files,
        3,
        "the old checkpoints are kept under {}",
        kept.display()
    );

    // The checkpoints now belong to the new stream: a later run needs no flag.
    let (ok, out, err) = t.consume(&[]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("records_in=0"), "{out}");
}

#[test]
fn checkpoints_without_an_incarnation_are_adopted_by_their_stream() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new("legacy", 2);
    t.produce(600, 1);
    let (ok, out, err) = t.consume(&[]);
    assert!(ok, "{out}\n{err}");
    for f in std::fs::read_dir(t.checkpoint_dir()).unwrap().flatten() {
        strip_incarnation(&f.path());
    }
    t.produce(600, 2);
    let (ok, out, err) = t.consume(&["--start", "latest"]);
    assert!(ok, "{out}\n{err}");
    assert_exact(&lake_ids(&t.lake()), &stream_ids(&t.stream));
}

/// Rejected records kept in the lake's `users` table (one JSON line each).
fn lake_rejects(lake: &Path) -> usize {
    let Ok(days) = std::fs::read_dir(lake.join("users/_rejected")) else {
        return 0;
    };
    days.flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count())
        .sum()
}

/// An on-failure record as a Kinesis event source mapping sends it to its SQS destination
/// after its retries (the shape AWS documents: requestContext, responseContext,
/// KinesisBatchInfo).
fn esm_failure(stream_arn: &str, shard: &str, start: &str, end: &str, batch_size: usize) -> String {
    json!({
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-4b3a-af9c-0c604cde93a5",
            "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:firelake-stream-consumer",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled"
        },
        "version": "1.0",
        "timestamp": "2025-06-01T12:00:09.021Z",
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": start,
            "endSequenceNumber": end,
            "approximateArrivalOfFirstRecord": "2025-06-01T12:00:04.835Z",
            "approximateArrivalOfLastRecord": "2025-06-01T12:00:05.580Z",
            "batchSize": batch_size,
            "streamArn": stream_arn
        }
    })
    .to_string()
}

struct Ranges {
    arn: String,
    /// Per shard: (sequence number, user id if the record has one).
    shards: serde_json::Map<String, Value>,
}

impl Ranges {
    fn read(stream: &str) -> Ranges {
        let v: Value = serde_json::from_str(&tool(&["records", stream])).unwrap();
        Ranges {
            arn: v["arn"].as_str().unwrap().to_string(),
            shards: v["shards"].as_object().unwrap().clone(),
        }
    }

    fn seq(&self, shard: &str, i: usize) -> String {
        self.shards[shard][i]["seq"].as_str().unwrap().to_string()
    }

    /// The failure record of records `from..=to` of `shard`.
    fn failure(&self, shard: &str, from: usize, to: usize) -> String {
        esm_failure(
            &self.arn,
            shard,
            &self.seq(shard, from),
            &self.seq(shard, to),
            to - from + 1,
        )
    }

    fn ids(&self, shard: &str, from: usize, to: usize) -> Vec<String> {
        self.shards[shard].as_array().unwrap()[from..=to]
            .iter()
            .filter_map(|r| r["uuid"].as_str().map(str::to_string))
            .collect()
    }
}

impl Setup {
    fn send(&self, queue: &str, bodies: &[String]) {
        let file = self.dir.path().join("messages.jsonl");
        std::fs::write(&file, bodies.join("\n")).unwrap();
        tool(&["send", queue, file.to_str().unwrap()]);
    }

    fn redrive(&self, queue: &str) -> (bool, String, String) {
        let from = format!("kinesis://{}", self.stream);
        let lake = format!("file://{}", self.lake().display());
        let q = format!("sqs://{queue}");
        firelake(
            self.dir.path(),
            &["consume", "--from", &from, "--redrive", &q, "--lake", &lake],
        )
    }
}

/// A decimal sequence number minus one (they have up to 129 digits).
fn one_less(seq: &str) -> String {
    let mut digits = seq.as_bytes().to_vec();
    for d in digits.iter_mut().rev() {
        if *d > b'0' {
            *d -= 1;
            break;
        }
        *d = b'9';
    }
    String::from_utf8(digits).unwrap()
}

fn queue_state(queue: &str) -> Value {
    serde_json::from_str(&tool(&["queue-bodies", queue])).unwrap()
}

#[test]
fn redrive_writes_every_failed_range_once_and_empties_the_queue() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new("redrive", 2);
    t.produce(1200, 5);
    let r = Ranges::read(&t.stream);
    let (s0, s1) = ("shardId-000000000000", "shardId-000000000001");
    for s in [s0, s1] {
        assert!(r.shards[s].as_array().unwrap().len() >= 400, "{s}");
    }
    let queue = unique("failures");
    tool(&["create-queue", &queue]);
    let bodies = [
        r.failure(s0, 5, 204),
        r.failure(s1, 0, 99),
        r.failure(s1, 150, 349),
    ];
    t.send(&queue, &bodies);

    let (ok, out, err) = t.redrive(&queue);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("redrive messages=3 redriven=3 records_in=500 "),
        "{out}"
    );
    let mut expected = r.ids(s0, 5, 204);
    expected.extend(r.ids(s1, 0, 99));
    expected.extend(r.ids(s1, 150, 349));
    let expected: BTreeSet<String> = expected.into_iter().collect();
    let lake = lake_ids(&t.lake());
    assert_exact(&lake, &expected);
    assert_eq!(
        lake.len() + lake_rejects(&t.lake()),
        500,
        "every record of the ranges, once"
    );
    let q = queue_state(&queue);
    assert_eq!(
        (q["visible"].as_u64(), q["in_flight"].as_u64()),
        (Some(0), Some(0)),
        "{q}"
    );

    // The same failure records again (a duplicate delivery): the same keys, nothing new.
    t.send(&queue, &bodies);
    let (ok, out, err) = t.redrive(&queue);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("redriven=3") && out.contains(" files=0 "),
        "{out}"
    );
    assert_eq!(lake_ids(&t.lake()).len(), lake.len());
    assert_eq!(queue_state(&queue)["visible"], 0);
}

#[test]
fn redrive_keeps_trimmed_ranges_and_other_messages_in_the_queue() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new("redrive-kept", 1);
    t.produce(300, 6);
    let r = Ranges::read(&t.stream);
    let s0 = "shardId-000000000000";
    let queue = unique("failures");
    tool(&["create-queue", &queue]);
    let good = r.failure(s0, 0, 49);
    // The stream no longer holds this range's first record.
    let trimmed = esm_failure(&r.arn, s0, &one_less(&r.seq(s0, 0)), &r.seq(s0, 60), 61);
    let expired_shard = esm_failure(
        &r.arn,
        "shardId-000000000009",
        &r.seq(s0, 0),
        &r.seq(s0, 9),
        10,
    );
    let other_stream = r
        .failure(s0, 0, 9)
        .replace(&format!("stream/{}", t.stream), "stream/another-stream");
    // The queue is shared with the other Lambdas' failures: an asynchronous invocation's record.
    let not_kinesis = json!({
        "version": "1.0",
        "timestamp": "2025-06-01T12:00:09.021Z",
        "requestContext": {"requestId": "x", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:firelake-producer", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"source": "aws.events"},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "tick failed"}
    })
    .to_string();
    let kept = [trimmed, expired_shard, other_stream, not_kinesis];
    let mut bodies = vec![good];
    bodies.extend(kept.iter().cloned());
    t.send(&queue, &bodies);

    let (ok, out, err) = t.redrive(&queue);
    assert!(
        !ok,
        "ranges that could not be redriven fail the run: {out}\n{err}"
    );
    assert!(
        out.contains("redriven=1 ")
            && out.contains("kept_not_redriven=2 kept_other_stream=1 kept_not_kinesis=1"),
        "{out}"
    );
    let line = last_line(&err);
    assert!(
        line.contains("2 on-failure record(s)") && line.contains("stay in the queue"),
        "{line}"
    );
    assert!(err.contains("no longer holds sequence number"), "{err}");
    assert!(
        err.contains("shardId-000000000009 is not in the stream any more"),
        "{err}"
    );
    assert_exact(
        &lake_ids(&t.lake()),
        &r.ids(s0, 0, 49).into_iter().collect(),
    );
    let q = queue_state(&queue);
    let left: BTreeSet<&str> = q["bodies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert_eq!(left, kept.iter().map(String::as_str).collect(), "{q}");
}
