#!/usr/bin/env bash
# Kafka consumer benchmark (issue 4): records/s of `firelake consume` from a Kafka topic to
# Parquet in a local lake, against a bare consume loop with the same client and settings on the
# same topic (stream-consumer/examples/bare_kafka_consume.rs), as a ratio from one run each,
# against tansu on loopback (tests/kafka_broker.sh). Both are timed from their first record to
# their last (the consumer: to its last durable write and commit), so the group join is out.
# Usage: bash bench/kafka_consumer.sh [--records N] [--partitions P] [--mock-records N]
#                                     [--mock-partitions P] [--no-build] [--summary FILE]
# (bench/all.sh: --no-build, it builds once; --summary appends a JSON line per broker.)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=400000 PARTITIONS=4 MOCK_RECORDS=250000 MOCK_PARTITIONS=64 BUILD=1 SUMMARY=
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --partitions) PARTITIONS=$2; shift 2 ;;
        --mock-records) MOCK_RECORDS=$2; shift 2 ;;
        --mock-partitions) MOCK_PARTITIONS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --summary) SUMMARY=$2; shift 2 ;;
        *) echo "usage: bash bench/kafka_consumer.sh [--records N] [--partitions P] [--mock-records N] [--mock-partitions P] [--no-build] [--summary FILE]" >&2; exit 2 ;;
    esac
done
cd "$REPO"
source "$REPO/scripts/python-env.sh"
source "$REPO/tests/kafka_broker.sh"
[ "$BUILD" = 0 ] || cargo build --release --locked -p firelake -p firelake-stream-consumer --bins \
    --example bare_kafka_consume --example mock_kafka_cluster
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
FIRELAKE=$TARGET/release/firelake
BARE=$TARGET/release/examples/bare_kafka_consume
MOCK=$TARGET/release/examples/mock_kafka_cluster
WORK=$(mktemp -d)
PER_TICK=10000

# bench LABEL URL: produce N records to URL, then the bare loop and the consumer, one run each.
bench() {
    local label=$1 url=$2
    echo "== [$label] produce $N sample records to $url ($PARTITIONS partitions)"
    /usr/bin/time -f "wall=%e" "$FIRELAKE" produce --source users --sample-records $PER_TICK \
        --ticks $(( (N + PER_TICK - 1) / PER_TICK )) --every 0s --to "$url" \
        --state "file://$WORK/state" 2>"$WORK/produce.err" | tail -1; tail -1 "$WORK/produce.err"
    echo "== [$label] bare consume loop (same client and settings, counts records only)"
    local bare_out cons_out
    bare_out=$(/usr/bin/time -f "peak_rss_kib=%M" -o "$WORK/bare.time" "$BARE" "$url" | tail -1)
    echo "$bare_out"
    echo "== [$label] firelake consume -> file:// Parquet lake (default flush limits)"
    rm -rf "$WORK/lake"
    /usr/bin/time -f "peak_rss_kib=%M wall=%e" "$FIRELAKE" consume --from "$url" --group "bench-$$" \
        --lake "file://$WORK/lake" --exit-when-idle 2s 2>"$WORK/consume.err" | tail -1
    tail -1 "$WORK/consume.err"
    cons_out=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/consume.err" | grep "consumer finished" | tail -1)
    echo "$cons_out"
    "$PY" - "$label" "$bare_out $(tail -1 "$WORK/bare.time")" \
        "$cons_out $(grep peak_rss_kib "$WORK/consume.err" | tail -1)" "$SUMMARY" <<'PYEOF'
import json, sys
kv = lambda s: dict(p.split("=", 1) for p in s.split() if "=" in p)
label, bare, cons, summary = sys.argv[1], kv(sys.argv[2]), kv(sys.argv[3]), sys.argv[4]
b = float(bare["records_per_s"])
c = int(cons["records"]) / (float(cons["busy_ms"]) / 1000)
print(f"[{label}] consumer {c:,.0f} records/s vs bare consume loop {b:,.0f} records/s: ratio {c / b:.2f} (goal >= 0.7); one run each, this machine\n")
if summary:
    with open(summary, "a") as f:
        f.write(json.dumps({"figure": f"Kafka consumer: firelake consume (topic -> Parquet) vs bare consume loop, broker {label}",
                            "unit": "records/s", "ours": c, "peer": b,
                            "ours_rss_mib": int(cons["peak_rss_kib"]) / 1024.0,
                            "peer_rss_mib": int(bare["peak_rss_kib"]) / 1024.0,
                            "goal": ">= 0.7x"}) + "\n")
PYEOF
}

TOPIC=bench-$$
"$FIRELAKE_TANSU" topic create --broker "tcp://$FIRELAKE_KAFKA" --partitions "$PARTITIONS" "$TOPIC" >/dev/null
bench tansu "kafka://$FIRELAKE_KAFKA/$TOPIC"

# librdkafka's mock cluster in a process of its own: a broker fast enough that the consumer's
# own cost shows (tansu's fetch path is slower than both clients). It keeps about 5 MB per
# partition, so this run spreads MOCK_RECORDS over MOCK_PARTITIONS partitions.
N=$MOCK_RECORDS PARTITIONS=$MOCK_PARTITIONS
"$MOCK" "$TOPIC" "$PARTITIONS" >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
EMU_PIDS="$EMU_PIDS $MOCK_PID"
for _ in $(seq 1 100); do grep -q bootstrap= "$WORK/mock.out" 2>/dev/null && break; sleep 0.1; done
bench mock "kafka://$(sed -n 's/^bootstrap=//p' "$WORK/mock.out")/$TOPIC"
kill "$MOCK_PID" 2>/dev/null || true
rm -rf "$WORK"
