#!/usr/bin/env bash
# Consumer benchmark (issue 3): records/s of `firelake consume` from Kinesis to S3 Parquet
# against a bare GetRecords loop over the same stream (same client, same pacing), as a ratio
# from one run, against the local stand-ins (kinesalite, moto_server) on loopback.
# Usage: bash bench/consumer.sh [--records N] [--shards S]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=200000 SHARDS=2
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --shards) SHARDS=$2; shift 2 ;;
        *) echo "usage: bash bench/consumer.sh [--records N] [--shards S]" >&2; exit 2 ;;
    esac
done
cd "$REPO"
source "$REPO/scripts/python-env.sh"
source "$REPO/tests/emulators.sh"
cargo build --release --locked -p firelake -p firelake-stream-consumer --bins --examples
FIRELAKE=$REPO/target/release/firelake
BARE=$REPO/target/release/examples/bare_get_records
WORK=$(mktemp -d)
STREAM=bench-$$ BUCKET=bench-$$
"$PY" tests/aws_tool.py create-stream "$STREAM" "$SHARDS"
"$PY" tests/aws_tool.py create-bucket "$BUCKET"
PER_TICK=10000
"$FIRELAKE" produce --source users --sample-records $PER_TICK --ticks $(( (N + PER_TICK - 1) / PER_TICK )) \
    --every 0s --to "kinesis://$STREAM" --state "file://$WORK/state" | tail -1

echo "== bare GetRecords loop (paced like the consumer: 5 calls/s/shard, 10000 records/call)"
BARE_OUT=$("$BARE" "$STREAM" | tail -1); echo "$BARE_OUT"
echo "== bare GetRecords loop, unpaced"
"$BARE" "$STREAM" --unpaced | tail -1
echo "== firelake consume -> s3:// Parquet + Glue"
CONS_OUT=$(/usr/bin/time -f "peak_rss_kib=%M wall=%e" "$FIRELAKE" consume --from "kinesis://$STREAM" \
    --lake "s3://$BUCKET/raw" --catalog "glue://bench_$$" --exit-when-idle 2s \
    --flush-interval 30s 2>"$WORK/consume.err" | tail -1); echo "$CONS_OUT"; tail -1 "$WORK/consume.err"

"$PY" - "$BARE_OUT" "$CONS_OUT" <<'PYEOF'
import sys
kv = lambda s: dict(p.split("=", 1) for p in s.split() if "=" in p)
bare, cons = kv(sys.argv[1]), kv(sys.argv[2])
b = float(bare["records_per_s"])
c = int(cons["records_in"]) / float(cons["active_seconds"])
print(f"\nconsumer {c:,.0f} records/s vs bare GetRecords {b:,.0f} records/s: ratio {c / b:.2f} (goal >= 0.7); one run, this machine")
PYEOF
rm -rf "$WORK"
