#!/usr/bin/env bash
# Consumer benchmark (issue 3): records/s of `firelake consume` from Kinesis to S3 Parquet
# against a bare GetRecords loop over the same stream (same client, same pacing), as a ratio
# from one run, against the local stand-ins (kinesalite, moto_server) on loopback.
# Usage: bash bench/consumer.sh [--records N] [--shards S] [--no-build] [--summary FILE]
# (bench/all.sh: --no-build, it builds once; --summary appends a JSON line for its table.)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=200000 SHARDS=2 BUILD=1 SUMMARY=
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --shards) SHARDS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --summary) SUMMARY=$2; shift 2 ;;
        *) echo "usage: bash bench/consumer.sh [--records N] [--shards S] [--no-build] [--summary FILE]" >&2; exit 2 ;;
    esac
done
cd "$REPO"
source "$REPO/scripts/python-env.sh"
source "$REPO/tests/emulators.sh"
[ "$BUILD" = 0 ] || cargo build --release --locked -p firelake -p firelake-stream-consumer --bins --examples
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
FIRELAKE=$TARGET/release/firelake
BARE=$TARGET/release/examples/bare_get_records
WORK=$(mktemp -d)
STREAM=bench-$$ BUCKET=bench-$$
"$PY" tests/aws_tool.py create-stream "$STREAM" "$SHARDS"
"$PY" tests/aws_tool.py create-bucket "$BUCKET"
PER_TICK=10000
"$FIRELAKE" produce --source users --sample-records $PER_TICK --ticks $(( (N + PER_TICK - 1) / PER_TICK )) \
    --every 0s --to "kinesis://$STREAM" --state "file://$WORK/state" | tail -1

echo "== bare GetRecords loop (paced like the consumer: 5 calls/s/shard, 10000 records/call)"
BARE_OUT=$(/usr/bin/time -f "peak_rss_kib=%M" -o "$WORK/bare.time" "$BARE" "$STREAM" | tail -1); echo "$BARE_OUT"
echo "== bare GetRecords loop, unpaced"
"$BARE" "$STREAM" --unpaced | tail -1
echo "== firelake consume -> s3:// Parquet + Glue"
CONS_OUT=$(/usr/bin/time -f "peak_rss_kib=%M wall=%e" "$FIRELAKE" consume --from "kinesis://$STREAM" \
    --lake "s3://$BUCKET/raw" --catalog "glue://bench_$$" --exit-when-idle 2s \
    --flush-interval 30s 2>"$WORK/consume.err" | tail -1); echo "$CONS_OUT"; tail -1 "$WORK/consume.err"

"$PY" - "$BARE_OUT $(tail -1 "$WORK/bare.time")" "$CONS_OUT $(tail -1 "$WORK/consume.err")" "$SUMMARY" <<'PYEOF'
import json, sys
kv = lambda s: dict(p.split("=", 1) for p in s.split() if "=" in p)
bare, cons = kv(sys.argv[1]), kv(sys.argv[2])
b = float(bare["records_per_s"])
c = int(cons["records_in"]) / float(cons["active_seconds"])
print(f"\nconsumer {c:,.0f} records/s vs bare GetRecords {b:,.0f} records/s: ratio {c / b:.2f} (goal >= 0.7); one run, this machine")
if sys.argv[3]:
    with open(sys.argv[3], "a") as f:
        f.write(json.dumps({"figure": "consumer: firelake consume (Kinesis -> S3 Parquet + Glue) vs bare GetRecords loop",
                            "unit": "records/s", "ours": c, "peer": b,
                            "ours_rss_mib": int(cons["peak_rss_kib"]) / 1024.0,
                            "peer_rss_mib": int(bare["peak_rss_kib"]) / 1024.0,
                            "goal": ">= 0.7x"}) + "\n")
PYEOF
rm -rf "$WORK"
