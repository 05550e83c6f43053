//! The consumer loop over a Kafka topic: a consumer group through rdkafka's stream API (the
//! group spreads partitions over its members and moves them when one leaves or dies),
//! per-partition buffers cleaned as records arrive, Parquet and rejected-record files written
//! create-if-absent under keys made of the topic, partition and offsets, and offsets committed
//! only for what is durable in the lake. When partitions are revoked, their buffers are
//! written and committed before they go (or, when that cannot be done, dropped uncommitted, so
//! the next owner reads them again). A member fenced out of its group (a session timeout, a
//! poll past `max.poll.interval.ms`, a coordinator that moved) has its commits refused: it
//! drops what it held, rejoins and reads again from the group's commits; it does not stop.

pub mod offsets;
pub mod partitions;
pub mod probe;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firelake_core::Cleaner;
use firelake_core::kafka_url::KafkaUrl;
use firelake_core::stream::now_ms;
use futures::{FutureExt, StreamExt, TryStreamExt};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::buffer::Pushed;
use crate::embedded::ConsumerOptions;
use crate::kafka::partitions::{Partitions, TakenFlush};
use crate::metrics::ConsumerMetrics;
use crate::writer::{LakeWriter, WriteError};

/// How long the loop waits for a record before it checks age-based flushes and idleness.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often a busy loop checks the buffers' age.
const AGE_CHECK: Duration = Duration::from_millis(200);
/// Records handled before the loop yields to the runtime's other tasks.
const YIELD_EVERY: u32 = 1024;
/// Partition buffers written at once.
const WRITE_CONCURRENCY: usize = 2;
/// How long the final commit keeps trying (a coordinator may be moving).
const FINAL_COMMIT_DEADLINE: Duration = Duration::from_secs(30);
/// How long an idle consumer still waits for the group to give it partitions (joining, or
/// between a revocation and the next assignment) before `exit_when_idle` may end it.
const MAX_ASSIGNMENT_WAIT_MS: i64 = 60_000;

/// Where a partition without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaStart {
    Earliest,
    Latest,
}

#[derive(Debug, Clone)]
pub struct KafkaOptions {
    pub url: KafkaUrl,
    /// The consumer group (consumers with one group share the partitions).
    pub group: String,
    pub start: KafkaStart,
    pub common: ConsumerOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaConsumeError {
    #[error("writing to the lake failed: {0}")]
    Write(#[from] WriteError),
    #[error("Kafka consumer: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("Kafka consumer: fatal error {code:?}: {reason}")]
    Fatal { code: String, reason: String },
    #[error("Kafka consumer: {0}")]
    Secret(#[from] firelake_aws::secrets::SecretError),
    #[error(transparent)]
    Unreachable(#[from] probe::Unreachable),
}

/// The consumer settings, before the URL's own properties (which win).
pub fn consumer_config(opts: &KafkaOptions) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &opts.url.brokers)
        .set("group.id", &opts.group)
        .set("client.id", "firelake-consumer")
        // Offsets move only after the lake write (below), never on a timer.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match opts.start {
                KafkaStart::Earliest => "earliest",
                KafkaStart::Latest => "latest",
            },
        )
        // Uncommitted transactions never reach the lake.
        .set("isolation.level", "read_committed")
        // A dead member's partitions move to the others after this long.
        .set("session.timeout.ms", "10000")
        // Keep a good amount fetched ahead while a flush writes, and fetch again soon after
        // the local queue drains below its limits (librdkafka waits a whole second by default,
        // which idles a consumer that cleans records slower than they arrive).
        .set("fetch.min.bytes", "65536")
        .set("queued.min.messages", "200000")
        .set("fetch.queue.backoff.ms", "10");
    // The URL's properties, as librdkafka takes them (MSK IAM -> OAUTHBEARER); the ones the
    // guarantees depend on cannot be switched off there (KafkaUrl::parse refuses them).
    for (k, v) in opts.url.client_properties() {
        c.set(k, v);
    }
    c
}

/// What the consume loop and the rebalance callback share.
struct Shared {
    topic: String,
    writer: Arc<LakeWriter>,
    partitions: Mutex<Partitions>,
    runtime: Handle,
    /// Set once the loop has ended: a revocation then (the consumer closing) has nothing to
    /// write, and must not write what a failed loop left behind.
    closing: AtomicBool,
    /// When partitions were last assigned (ms): idleness counts from then at the earliest.
    assigned_ms: AtomicI64,
    /// Since when the consumer waits for an assignment (joining, or revoked and not yet
    /// assigned again); 0 when it holds one. A rebalance is no reason to stop.
    waiting_since_ms: AtomicI64,
}

impl Shared {
    /// Write a partition's buffer; returns the partition and offset that became durable.
    async fn write(&self, taken: TakenFlush) -> Result<(i32, i64), WriteError> {
        let TakenFlush {
            partition,
            flushes,
            last,
        } = taken;
        self.writer.write(flushes).await?;
        self.partitions.lock().unwrap().durable(partition, last);
        Ok((partition, last))
    }

    fn commit_list(&self, due: &[(i32, i64)]) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(due.len());
        for (p, next) in due {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*next))
                .expect("a valid offset");
        }
        tpl
    }

    /// Commit what is durable (of `only`, or of every partition held), and wait for the
    /// coordinator's answer. Commits are synchronous so they land in order: librdkafka retries
    /// a failed asynchronous commit by itself, and an older one landing after a newer one
    /// would move the group's position back.
    fn commit<C: ConsumerContext, K: Consumer<C>>(
        &self,
        consumer: &K,
        only: Option<&[i32]>,
    ) -> KafkaResult<()> {
        let due = self.partitions.lock().unwrap().commits_due(only);
        if due.is_empty() {
            return Ok(());
        }
        let tpl = self.commit_list(&due);
        self.blocking(|| consumer.commit(&tpl, CommitMode::Sync))?;
        drop(tpl);
        let mut ps = self.partitions.lock().unwrap();
        for (p, next) in due {
            ps.committed(p, next);
        }
        Ok(())
    }

    /// Run a blocking call (a synchronous commit, a write from inside librdkafka's callback)
    /// without starving the runtime: a multi-threaded runtime hands this worker's other tasks
    /// to another thread meanwhile.
    fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.can_block() {
            tokio::task::block_in_place(f)
        } else {
            f()
        }
    }

    fn can_block(&self) -> bool {
        self.runtime.runtime_flavor() == RuntimeFlavor::MultiThread
    }
}

/// The rebalance callbacks. librdkafka calls them while the consume loop polls the
/// consumer, so the loop is parked inside that poll and holds no lock.
struct GroupContext {
    shared: Arc<Shared>,
    /// The URL asks for MSK IAM authentication: OAUTHBEARER tokens from the AWS credentials.
    msk_iam: bool,
}

impl ClientContext for GroupContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        msk_iam_oauth_token(self.msk_iam)
    }
}

/// An MSK IAM token as librdkafka's OAUTHBEARER token (for the group's and the probe's client).
fn msk_iam_oauth_token(
    msk_iam: bool,
) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
    let t = firelake_aws::msk_iam::token_for(msk_iam)?;
    Ok(rdkafka::client::OAuthToken {
        token: t.token,
        principal_name: t.principal,
        lifetime_ms: t.expires_ms,
    })
}

impl GroupContext {
    /// Partitions are being taken away: write and commit their buffers first, so the next
    /// owner starts after them. If that is impossible (the assignment is already lost, the
    /// runtime cannot block here, the write fails), drop them uncommitted: the next owner
    /// reads them again.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let s = &self.shared;
        let revoked: Vec<i32> = tpl
            .elements_for_topic(&s.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        let closing = s.closing.load(Ordering::Acquire);
        let lost = consumer.assignment_lost();
        // Writing from inside librdkafka's callback needs a thread that may block.
        if !closing && !lost && s.can_block() {
            let taken: Vec<TakenFlush> = {
                let mut ps = s.partitions.lock().unwrap();
                revoked.iter().filter_map(|p| ps.take(*p)).collect()
            };
            let written = s.blocking(|| {
                s.runtime.block_on(async {
                    for t in taken {
                        s.write(t).await?;
                    }
                    Ok::<(), WriteError>(())
                })
            });
            if let Err(e) = written {
                tracing::warn!(error = %e, "writing revoked partitions failed; dropping them uncommitted");
            }
        }
        if !closing && !lost {
            // Kafka accepts commits from the current generation while a rebalance is being
            // prepared; a coordinator that refuses them (librdkafka's mock does) leaves these
            // records to be read again by the next owner, which writes the same file keys when
            // it cuts its buffers at the same offsets (the compactor removes other copies).
            if let Err(e) = s.commit(consumer, Some(&revoked)) {
                tracing::warn!(error = %e, "commit of revoked partitions refused; their next owner reads the last records again");
            }
        }
        let mut ps = s.partitions.lock().unwrap();
        let dropped: usize = revoked.iter().map(|p| ps.release(*p)).sum();
        drop(ps);
        if !closing {
            s.waiting_since_ms.store(now_ms(), Ordering::Release);
            tracing::info!(topic = %s.topic, partitions = ?revoked, lost, dropped, "partitions revoked");
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.revoke(consumer, tpl),
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.shared.assigned_ms.store(now_ms(), Ordering::Release);
            self.shared.waiting_since_ms.store(0, Ordering::Release);
            let parts: Vec<i32> = tpl
                .elements_for_topic(&self.shared.topic)
                .iter()
                .map(|e| e.partition())
                .collect();
            tracing::info!(topic = %self.shared.topic, partitions = ?parts, "partitions assigned");
        }
    }
}

type GroupConsumer = StreamConsumer<GroupContext>;

/// Write every due buffer and commit what became durable (a commit that fails stays due and
/// goes with the next).
/// Write and commit `partitions`; `Ok(true)` when there was something to do.
async fn flush_due(
    shared: &Shared,
    consumer: &GroupConsumer,
    partitions: Vec<i32>,
) -> Result<bool, KafkaConsumeError> {
    if partitions.is_empty() {
        return Ok(false);
    }
    write_partitions(shared, &partitions).await?;
    match shared.commit(consumer, None) {
        Ok(()) => {}
        // librdkafka revokes the lost partitions at the next poll and rejoins.
        Err(e) if fenced(&e) => {
            tracing::warn!(error = %e, "offset commit refused: this member was fenced out of its group; rejoining (what it could not commit is read again)")
        }
        Err(e) => tracing::warn!(error = %e, "offset commit failed; retried with the next"),
    }
    Ok(true)
}

/// Write the buffers of `partitions`, two at a time: Parquet encoding runs on the blocking
/// pool, so one partition is encoded while the next is taken and the last is stored.
async fn write_partitions(shared: &Shared, partitions: &[i32]) -> Result<(), WriteError> {
    let taken: Vec<TakenFlush> = {
        let mut ps = shared.partitions.lock().unwrap();
        partitions.iter().filter_map(|p| ps.take(*p)).collect()
    };
    futures::stream::iter(taken.into_iter().map(|t| shared.write(t)))
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

fn check_fatal(consumer: &GroupConsumer) -> Result<(), KafkaConsumeError> {
    match consumer.client().fatal_error() {
        Some((code, reason)) => Err(KafkaConsumeError::Fatal {
            code: format!("{code:?}"),
            reason,
        }),
        None => Ok(()),
    }
}

/// Whether a commit was refused because this member is no longer in the group's current
/// generation (fenced: a session timeout, a poll past `max.poll.interval.ms`, a coordinator
/// that moved, a rebalance under way). librdkafka rejoins by itself once the consumer is
/// polled again; the partitions it held are revoked as lost (their bookkeeping dropped) and
/// whoever owns them next reads the uncommitted records again.
pub fn fenced(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::UnknownMemberId
                | C::IllegalGeneration
                | C::RebalanceInProgress
                | C::FencedInstanceId
                | C::StaleMemberEpoch
                | C::AssignmentLost
                | C::PollExceeded
        )
    )
}

/// How many times in a row the final commit may find the member fenced (each time it rejoins
/// and reads again) before the run gives up with an error.
const MAX_FENCED_FINAL_COMMITS: u32 = 5;

/// Timing of the reads, for idleness and the closing summary.
struct Reads {
    last_record_ms: i64,
    /// The last record or the end of the last flush: idleness is measured from then, so time
    /// spent writing (a write retried while S3 answers SlowDown) is never taken for idleness.
    busy_until_ms: i64,
    first_record_ms: Option<i64>,
}

/// Read until idle (or forever), flushing on the limits; then write everything buffered and
/// commit it. A member fenced out of its group at that last commit rejoins and reads again.
async fn run_loop(
    shared: &Shared,
    consumer: &GroupConsumer,
    opts: &KafkaOptions,
) -> Result<(), KafkaConsumeError> {
    let mut reads = Reads {
        last_record_ms: now_ms(),
        busy_until_ms: now_ms(),
        first_record_ms: None,
    };
    let mut fenced_in_a_row = 0;
    loop {
        read_until_idle(shared, consumer, opts, &mut reads).await?;
        match finish(shared, consumer, &reads).await {
            Err(KafkaConsumeError::Client(e))
                if fenced(&e) && fenced_in_a_row < MAX_FENCED_FINAL_COMMITS =>
            {
                fenced_in_a_row += 1;
                tracing::warn!(error = %e, "final commit refused: this member was fenced out of its group; rejoining (what it could not commit is read again)");
                // Idleness counts afresh: the rejoin and the reads after it come first.
                reads.last_record_ms = now_ms();
                reads.busy_until_ms = reads.last_record_ms;
            }
            other => return other,
        }
    }
}

/// Read until idle (or forever), flushing on the limits.
async fn read_until_idle(
    shared: &Shared,
    consumer: &GroupConsumer,
    opts: &KafkaOptions,
    reads: &mut Reads,
) -> Result<(), KafkaConsumeError> {
    let metrics = shared.writer.metrics().clone();
    let mut stream = consumer.stream();
    let mut last_age_check = Instant::now();
    let mut since_yield = 0u32;
    loop {
        // A record that is already there is taken without arming a timer.
        let next = match stream.next().now_or_never() {
            Some(item) => Ok(item),
            None => tokio::time::timeout(IDLE_POLL, stream.next()).await,
        };
        let polled_empty = next.is_err();
        let mut full = None;
        match next {
            Err(_) => {}
            Ok(None) => unreachable!("rdkafka message streams never end"),
            Ok(Some(Err(e))) => {
                // Broker and transport errors are reported here while librdkafka recovers
                // by itself (reconnects, new leaders, rejoins); only a fatal error ends the loop.
                tracing::warn!(error = %e, "Kafka consumer error");
                check_fatal(consumer)?;
            }
            Ok(Some(Ok(m))) => {
                full = take_message(shared, &m, reads, &metrics);
                // Not held across the yield below: it borrows the consumer.
                drop(m);
                since_yield += 1;
                if since_yield >= YIELD_EVERY {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
            }
        }
        if let Some(p) = full
            && flush_due(shared, consumer, vec![p]).await?
        {
            reads.busy_until_ms = now_ms();
        }
        if last_age_check.elapsed() >= AGE_CHECK {
            last_age_check = Instant::now();
            let due = shared.partitions.lock().unwrap().due();
            if flush_due(shared, consumer, due).await? {
                reads.busy_until_ms = now_ms();
            }
        } else {
            continue;
        }
        let now = now_ms();
        let quiet_ms = (now
            - reads
                .busy_until_ms
                .max(shared.assigned_ms.load(Ordering::Acquire)))
        .max(0);
        if opts.common.stop.load(Ordering::Acquire) {
            tracing::info!("asked to stop: flushing, committing and stopping");
            return Ok(());
        }
        let waiting_since = shared.waiting_since_ms.load(Ordering::Acquire);
        let awaiting_partitions = waiting_since > 0 && now - waiting_since < MAX_ASSIGNMENT_WAIT_MS;
        // Only after a poll that found nothing (one more poll after a flush, at the least).
        if let Some(idle) = opts.common.exit_when_idle
            && polled_empty
            && quiet_ms >= idle.as_millis() as i64
            && !awaiting_partitions
        {
            tracing::info!(
                idle_ms = quiet_ms,
                "no records for a while: flushing and stopping"
            );
            return Ok(());
        }
    }
}

/// Buffer one message for its partition and count it; `Some(partition)` when that
/// partition's buffer is full.
fn take_message(
    shared: &Shared,
    m: &impl Message,
    reads: &mut Reads,
    metrics: &ConsumerMetrics,
) -> Option<i32> {
    reads.last_record_ms = now_ms();
    reads.busy_until_ms = reads.last_record_ms;
    reads.first_record_ms.get_or_insert(reads.last_record_ms);
    let arrival = m.timestamp().to_millis().unwrap_or(reads.last_record_ms);
    let data = m.payload().unwrap_or_default();
    let partition = m.partition();
    let out = shared
        .partitions
        .lock()
        .unwrap()
        .push(partition, m.offset(), arrival, data);
    if out.dropped > 0 {
        tracing::info!(
            partition,
            dropped = out.dropped,
            "partition read again from an earlier offset; its buffer starts over"
        );
    }
    ConsumerMetrics::add(&metrics.records_in, 1);
    match out.pushed {
        Pushed::Row => ConsumerMetrics::add(&metrics.rows_out, 1),
        Pushed::Rejected => ConsumerMetrics::add(&metrics.rejected, 1),
    }
    out.full.then_some(partition)
}

/// Make everything buffered durable, then commit its offsets and wait for the confirmation.
async fn finish(
    shared: &Shared,
    consumer: &GroupConsumer,
    reads: &Reads,
) -> Result<(), KafkaConsumeError> {
    let metrics = shared.writer.metrics();
    let buffered = shared.partitions.lock().unwrap().buffered();
    if !buffered.is_empty() {
        // The wait before this last write is not work: throughput figures leave it out.
        let waited = (now_ms() - reads.busy_until_ms).max(0) as u64;
        ConsumerMetrics::add(&metrics.idle_wait_ms, waited);
    }
    let final_flush = Instant::now();
    write_partitions(shared, &buffered).await?;
    let started = Instant::now();
    loop {
        match shared.commit(consumer, None) {
            Ok(()) => {
                // Time at work: the first record to the last, plus the final write and commit
                // (not the wait for more records before stopping).
                let reading_ms = reads
                    .first_record_ms
                    .map_or(0, |f| (reads.last_record_ms - f).max(0));
                let final_ms = final_flush.elapsed().as_millis() as i64;
                tracing::info!(
                    records = ConsumerMetrics::get(&metrics.records_in),
                    busy_ms = reading_ms + final_ms,
                    reading_ms,
                    final_ms,
                    "consumer finished"
                );
                return Ok(());
            }
            // Retrying cannot help a fenced member: only polling (a rejoin) can.
            Err(e) if fenced(&e) => return Err(e.into()),
            Err(e) if started.elapsed() < FINAL_COMMIT_DEADLINE => {
                tracing::warn!(error = %e, "final offset commit failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Consume `opts.url`'s topic into the lake as a member of `opts.group`, until idle for
/// `exit_when_idle` (or forever).
pub async fn consume_kafka(
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    opts: KafkaOptions,
) -> Result<(), KafkaConsumeError> {
    // Secret properties given as Secrets Manager references are resolved for the client only.
    let opts = KafkaOptions {
        url: firelake_aws::secrets::resolve_kafka(&opts.url).await?,
        ..opts
    };
    let topic = opts.url.topic.clone();
    let timeout = opts.common.connect_timeout;
    probe::reach_brokers(
        consumer_config(&opts),
        opts.url.msk_iam(),
        topic.clone(),
        timeout,
    )
    .await?;
    let shared = Arc::new(Shared {
        partitions: Mutex::new(Partitions::new(
            cleaner,
            &format!("kafka.{topic}"),
            opts.common.limits,
        )),
        topic,
        writer,
        runtime: Handle::current(),
        closing: AtomicBool::new(false),
        assigned_ms: AtomicI64::new(now_ms()),
        waiting_since_ms: AtomicI64::new(now_ms()),
    });
    let consumer: GroupConsumer = StreamConsumer::from_config_and_context(
        &consumer_config(&opts),
        GroupContext {
            shared: shared.clone(),
            msk_iam: opts.url.msk_iam(),
        },
    )?;
    consumer.subscribe(&[&shared.topic])?;
    tracing::info!(target = %opts.url, group = %opts.group, "consuming");
    let result = run_loop(&shared, &consumer, &opts).await;
    // After a failure, what is buffered goes unwritten and uncommitted (read again by the
    // next owner); after success nothing is left.
    shared.closing.store(true, Ordering::Release);
    let dropped = shared.partitions.lock().unwrap().release_all();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "buffered records dropped uncommitted; they are read again"
        );
    }
    // Leaving the group waits for the coordinator: off the async threads.
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .expect("dropping the consumer does not panic");
    result
}
