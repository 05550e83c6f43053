//! The Kafka consumer against librdkafka's mock cluster (a real Kafka-protocol cluster inside
//! librdkafka, with fault injection): brokers going down, request errors, a lake write that
//! fails, and a rebalance that moves partitions with records still buffered. Each test checks
//! the same invariants from the outside: every record produced is in the lake (a Parquet row or
//! a rejected line) and the group's committed offsets never pass what the lake holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firelake_core::catalog::MemoryCatalog;
use firelake_core::kafka_url::KafkaUrl;
use firelake_core::{Cleaner, Lake, SourceDef, time};
use firelake_stream_consumer::kafka::{KafkaConsumeError, KafkaOptions, KafkaStart, consume_kafka};
use firelake_stream_consumer::{ConsumerMetrics, ConsumerOptions, FlushLimits, LakeWriter};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TOPIC: &str = "users";
const PARTITIONS: i32 = 4;
/// 2025-06-01T12:00:00Z: the Kafka timestamp of the first batch, so p_date is that day.
const DAY1_MS: i64 = 1_748_779_200_000;

/// A mock cluster of three brokers, owned by the producer that feeds it.
struct Cluster {
    producer: FutureProducer,
    bootstrap: String,
}

impl Cluster {
    fn new() -> Cluster {
        // RUST_LOG=info shows the consumer's log (assignments, revocations, retries).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let (producer, bootstrap) = firelake_testkit::kafka_mock::cluster(3, TOPIC, PARTITIONS);
        Cluster {
            producer,
            bootstrap,
        }
    }

    fn mock(&self) -> MockCluster<'_, impl rdkafka::ClientContext> {
        self.producer.client().mock_cluster().unwrap()
    }

    /// Produce records `from..to` (every 13th is not JSON) with Kafka timestamps on `day_ms`.
    async fn produce(&self, from: usize, to: usize, day_ms: i64) {
        let mut pending = Vec::new();
        for i in from..to {
            let (key, data) = record(i);
            let f = self
                .producer
                .send_result(
                    FutureRecord::to(TOPIC)
                        .key(key.as_bytes())
                        .payload(&data)
                        .timestamp(day_ms + i as i64),
                )
                .map_err(|(e, _)| e)
                .unwrap();
            pending.push(f);
        }
        for f in pending {
            f.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
    }

    /// `idle`: how long a consumer hears nothing before it stops. The tests produce first,
    /// so it is the longest gap a loaded machine may leave between fetches (reconnects, error
    /// back-offs), not a speed the test assumes: generous, it only makes the test end later.
    fn options(&self, group: &str, limits: FlushLimits, idle: Duration) -> KafkaOptions {
        KafkaOptions {
            // A session long enough that a busy machine's late heartbeats do not fence the
            // member (fencing is handled, but these tests are about other faults).
            url: KafkaUrl::parse(&format!(
                "kafka://{}/{TOPIC}?session.timeout.ms=6000&heartbeat.interval.ms=300",
                self.bootstrap
            ))
            .unwrap(),
            group: group.to_string(),
            start: KafkaStart::Earliest,
            common: ConsumerOptions {
                limits,
                exit_when_idle: Some(idle),
                ..Default::default()
            },
        }
    }

    /// The group's committed offsets per partition (absent: none committed).
    fn committed(&self, group: &str) -> BTreeMap<i32, i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(TOPIC, p);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        drop(c);
        got
    }

    /// The end offset of each partition.
    fn ends(&self) -> BTreeMap<i32, i64> {
        (0..PARTITIONS)
            .map(|p| {
                let (_, high) = self
                    .producer
                    .client()
                    .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                    .unwrap();
                (p, high)
            })
            .collect()
    }
}

fn record(i: usize) -> (String, Vec<u8>) {
    let id = format!("user-{i:06}");
    let data = if i % 13 == 5 {
        format!("{{\"login\":{{\"uuid\":\"{id}\"").into_bytes()
    } else {
        format!("{{\"login\":{{\"uuid\":\"{id}\"}},\"gender\":\"female\",\"email\":\"{id}@example.com\"}}")
            .into_bytes()
    };
    (id, data)
}

fn expected(n: usize) -> (BTreeSet<String>, usize) {
    let ids = (0..n)
        .filter(|i| i % 13 != 5)
        .map(|i| format!("user-{i:06}"))
        .collect();
    (ids, (0..n).filter(|i| i % 13 == 5).count())
}

fn writer(lake: &Path) -> Arc<LakeWriter> {
    let def = Arc::new(SourceDef::resolve("users", None).unwrap());
    Arc::new(LakeWriter::new(
        Lake::from_url(&format!("file://{}", lake.display())).unwrap(),
        Arc::new(MemoryCatalog::default()),
        def,
        Arc::new(ConsumerMetrics::default()),
    ))
}

async fn consume(
    lake: &Path,
    opts: KafkaOptions,
) -> (Result<(), KafkaConsumeError>, Arc<ConsumerMetrics>) {
    let w = writer(lake);
    let metrics = w.metrics().clone();
    let cleaner = Arc::new(Cleaner::new(Arc::new(
        SourceDef::resolve("users", None).unwrap(),
    )));
    (consume_kafka(cleaner, w, opts).await, metrics)
}

/// What the lake holds.
#[derive(Default, Debug)]
struct LakeView {
    /// user id -> copies
    ids: BTreeMap<String, usize>,
    /// (partition, offset) of rejected records -> copies
    rejected: BTreeMap<(i32, i64), usize>,
    /// per partition, the offset ranges of the files (data and rejected)
    ranges: BTreeMap<i32, Vec<(i64, i64)>>,
    /// p_date folders of data files
    days: BTreeSet<String>,
    /// ingested_at of every row (the Kafka timestamp)
    ingested: Vec<i64>,
    files: usize,
}

fn read_lake(lake: &Path) -> LakeView {
    let files = firelake_testkit::lake::files_below(&lake.join("users"));
    let mut v = LakeView::default();
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name
            .strip_suffix(".parquet")
            .or_else(|| name.strip_suffix(".jsonl"))
        else {
            continue;
        };
        // kafka.users-PPPPP-FIRST-LAST
        let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
        let (last, first, partition) = (
            parts[0].parse::<i64>().unwrap(),
            parts[1].parse::<i64>().unwrap(),
            parts[2].parse::<i32>().unwrap(),
        );
        assert_eq!(parts[3], format!("kafka.{TOPIC}"), "{name}");
        v.ranges.entry(partition).or_default().push((first, last));
        v.files += 1;
        if name.ends_with(".parquet") {
            v.days.insert(
                f.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
            for (id, at) in firelake_testkit::lake::file_ids_and_times(&f) {
                *v.ids.entry(id).or_default() += 1;
                v.ingested.push(at);
            }
        } else {
            for line in std::fs::read_to_string(&f).unwrap().lines() {
                let j: serde_json::Value = serde_json::from_str(line).unwrap();
                let pos: i64 = j["position"].as_str().unwrap().parse().unwrap();
                assert_eq!(j["origin"], format!("kafka.{TOPIC}"));
                *v.rejected.entry((partition, pos)).or_default() += 1;
            }
        }
    }
    v
}

/// The invariants: every committed offset is covered by files (nothing committed past what
/// is durable), and, when `complete`, the lake holds every record produced.
fn check(cluster: &Cluster, group: &str, lake: &Path, produced: usize, complete: bool) -> LakeView {
    let v = read_lake(lake);
    let committed = cluster.committed(group);
    for (p, next) in &committed {
        // Offsets 0..next must all be in the files of partition p.
        let mut covered = 0i64;
        let mut ranges = v.ranges.get(p).cloned().unwrap_or_default();
        ranges.sort();
        for (first, last) in ranges {
            if first <= covered {
                covered = covered.max(last + 1);
            }
        }
        assert!(
            covered >= *next,
            "partition {p}: committed {next} but the lake holds offsets only below {covered}"
        );
    }
    if complete {
        let (ids, rejected) = expected(produced);
        let got: BTreeSet<String> = v.ids.keys().cloned().collect();
        assert_eq!(got.len(), ids.len(), "distinct rows");
        assert_eq!(got, ids, "every good record is a row");
        assert_eq!(
            v.rejected.len(),
            rejected,
            "every bad record is kept as rejected"
        );
        assert_eq!(
            committed,
            cluster.ends(),
            "the group committed up to the end of every partition"
        );
    }
    v
}

fn limits(records: usize) -> FlushLimits {
    FlushLimits {
        max_records: records,
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_brokers_going_down_and_loses_nothing() {
    let cluster = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    cluster.produce(0, 3000, DAY1_MS).await;
    let opts = cluster.options("down", limits(250), Duration::from_secs(10));
    let lake = dir.path().to_path_buf();
    let consumer = tokio::spawn(async move { consume(&lake, opts).await });
    // More records while it runs; two of the three brokers (partition leaders, perhaps the
    // group coordinator) go down for 2 s in the middle.
    for chunk in 0..10 {
        if chunk == 3 {
            cluster.mock().broker_down(1).unwrap();
            cluster.mock().broker_down(2).unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            cluster.mock().broker_up(1).unwrap();
            cluster.mock().broker_up(2).unwrap();
        }
        cluster
            .produce(3000 + chunk * 300, 3300 + chunk * 300, DAY1_MS)
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (result, metrics) = consumer.await.unwrap();
    result.expect("the consumer recovers by itself");
    assert!(ConsumerMetrics::get(&metrics.records_in) >= 6000);
    let v = check(&cluster, "down", dir.path(), 6000, true);
    assert_eq!(v.days, BTreeSet::from(["p_date=2025-06-01".to_string()]));
    assert!(
        v.ingested
            .iter()
            .all(|t| time::day_of_ms(*t) == time::day_of_ms(DAY1_MS)),
        "ingested_at is the Kafka timestamp"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rides_out_fetch_and_commit_errors() {
    let cluster = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    cluster.produce(0, 4000, DAY1_MS).await;
    {
        let mock = cluster.mock();
        use RDKafkaRespErr::*;
        mock.request_errors(
            RDKafkaApiKey::Fetch,
            &[
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            ],
        );
        mock.request_errors(
            RDKafkaApiKey::OffsetCommit,
            &[
                RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                // Fenced: the member rejoins and reads its uncommitted records again.
                RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
                RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
            ],
        );
    }
    let (result, _) = consume(
        dir.path(),
        cluster.options("errors", limits(300), Duration::from_secs(10)),
    )
    .await;
    result.expect("request errors are retried");
    check(&cluster, "errors", dir.path(), 4000, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lake_write_commits_nothing_past_the_lake() {
    let cluster = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    // Day 1's records, then day 2's, whose folder cannot be created: a file stands in its way.
    cluster.produce(0, 2000, DAY1_MS).await;
    cluster
        .produce(2000, 4000, DAY1_MS + time::MS_PER_DAY)
        .await;
    let blocker = dir.path().join("users/p_date=2025-06-02");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"in the way").unwrap();
    let (result, _) = consume(
        dir.path(),
        cluster.options("fail", limits(200), Duration::from_secs(8)),
    )
    .await;
    assert!(
        matches!(result, Err(KafkaConsumeError::Write(_))),
        "the write error ends the consumer: {result:?}"
    );
    let v = check(&cluster, "fail", dir.path(), 4000, false);
    let committed = cluster.committed("fail");
    assert!(!committed.is_empty(), "day 1 was durable and committed");
    assert!(
        committed.values().sum::<i64>() < 4000,
        "nothing of day 2 is committed: {committed:?}"
    );
    assert!(!v.days.contains("p_date=2025-06-02"));

    // The way cleared, the group carries on from its commits and the lake is complete.
    std::fs::remove_file(&blocker).unwrap();
    let (result, _) = consume(
        dir.path(),
        cluster.options("fail", limits(200), Duration::from_secs(8)),
    )
    .await;
    result.unwrap();
    let v = check(&cluster, "fail", dir.path(), 4000, true);
    assert!(v.days.contains("p_date=2025-06-02"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_partitions_are_written_before_they_go() {
    let cluster = Cluster::new();
    let dir = tempfile::tempdir().unwrap();
    cluster.produce(0, 2000, DAY1_MS).await;
    // The first member buffers everything (no flush limit is reached)...
    let lake = dir.path().to_path_buf();
    // Both stay until the last records are in (the second must not stop before they come).
    let first_opts = cluster.options("rebalance", limits(1_000_000), Duration::from_secs(20));
    let first = tokio::spawn(async move { consume(&lake, first_opts).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(read_lake(dir.path()).files, 0, "nothing flushed by limits");
    // ...until a second member joins: the rebalance revokes the first one's partitions, and
    // it writes their buffers before it lets them go.
    let lake = dir.path().to_path_buf();
    let second_opts = cluster.options("rebalance", limits(1_000_000), Duration::from_secs(15));
    let second = tokio::spawn(async move { consume(&lake, second_opts).await });
    let started = Instant::now();
    loop {
        let v = read_lake(dir.path());
        if v.ranges.len() == PARTITIONS as usize {
            // One file per partition per kind, holding everything read so far.
            assert_eq!(v.ids.len(), expected(2000).0.len());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the revocation wrote {:?}",
            v.ranges
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.produce(2000, 3000, DAY1_MS).await;
    let (r1, m1) = first.await.unwrap();
    let (r2, m2) = second.await.unwrap();
    r1.unwrap();
    r2.unwrap();
    check(&cluster, "rebalance", dir.path(), 3000, true);
    assert!(
        ConsumerMetrics::get(&m1.records_in) > 2000,
        "the first member kept a share"
    );
    assert!(
        ConsumerMetrics::get(&m2.records_in) > 0,
        "the second member had a share"
    );
}
