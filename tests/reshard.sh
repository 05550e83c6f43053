#!/usr/bin/env bash
# Resharding against kinesis-local, run inside its own network namespace (`unshare --net`)
# because kinesis-local listens on all interfaces. A 1-shard stream is split while (or between
# runs where) `firelake consume` reads it; the consumer must drain the parent before reading
# either child and lose nothing. Scenarios (third argument):
#   live            records, then the consumer (trim_horizon); the split and more records
#                   come while it reads.
#   latest-restart  a --start latest run checkpoints the parent and stops; the shard is split
#                   and records go to the children; a second --start latest run must read
#                   the children from their start (they have checkpointed ancestry).
# Prints one JSON line: {"on_stream": N, "in_lake": N, "missing": N, "order_ok": bool, ...}
set -euo pipefail
BIN=$1 WORK=$2 SCENARIO=${3:-live}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${FIRELAKE_PYTHON:-$REPO/.venv/bin/python}
ip link set lo up
PORT=4568
# It reads server.json from its own folder.
(cd "$(dirname "$FIRELAKE_KINESIS_LOCAL")" && KINESIS_MOCK_PLAIN_PORT=$PORT CREATE_STREAM_DURATION=50ms \
    SPLIT_SHARD_DURATION=50ms SHARD_LIMIT=20 LOG_LEVEL=WARN \
    exec node main.js) >"$WORK/kinesis-local.log" 2>&1 &
KL=$!
PIDS=$KL
trap 'kill $PIDS 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:$PORT AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL
"$PY" "$REPO/tests/aws_tool.py" create-stream users 1
STATE=file://$WORK/state
PARENT_ID=shardId-000000000000
produce() { "$BIN" produce --source users --sample-records 1500 --seed "$1" --ticks 1 --to kinesis://users --state "$STATE" >/dev/null; }
# consume LOG [ARGS...]: the consumer in the background (pid in $CONSUMER).
consume() {
    local log=$1
    shift
    RUST_LOG=info "$BIN" consume --from kinesis://users --lake "file://$WORK/lake" \
        --flush-records 400 --read-batch 300 "$@" >"$WORK/consume.out" 2>"$log" &
    CONSUMER=$!
    PIDS="$PIDS $CONSUMER"
}
# Polls (up to 120 s) until the command succeeds; fails the script otherwise.
wait_for() {
    for _ in $(seq 1 1200); do "$@" && return 0; sleep 0.1; done
    echo "gave up waiting for: $*" >&2
    exit 1
}
iterator_open() { grep -q "shard iterator opened.*$PARENT_ID" "$1"; }
# The parent's checkpoint holds the last sequence number written to it.
parent_checkpointed() {
    "$PY" - "$WORK/lake/_checkpoints/firelake/kinesis.users/$PARENT_ID.json" "$PARENT_ID" <<'PYEOF'
import json, os, sys, boto3
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])
it = k.get_shard_iterator(StreamName="users", ShardId=sys.argv[2], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
last = None
while it:
    out = k.get_records(ShardIterator=it, Limit=1000)
    if out["Records"]:
        last = out["Records"][-1]["SequenceNumber"]
    elif out.get("MillisBehindLatest", 0) == 0:
        break
    it = out.get("NextShardIterator")
try:
    at = json.load(open(sys.argv[1])).get("position")
except (OSError, ValueError):
    at = None
sys.exit(0 if last is not None and at == last else 1)
PYEOF
}

case $SCENARIO in
live)
    produce 1
    consume "$WORK/consume.log" --exit-when-idle 6s
    sleep 2
    PARENT=$("$PY" "$REPO/tests/aws_tool.py" split-shard users)
    produce 2
    wait $CONSUMER
    ;;
latest-restart)
    consume "$WORK/consume-1.log" --start latest --flush-interval 1s
    wait_for iterator_open "$WORK/consume-1.log"
    produce 1
    wait_for parent_checkpointed
    kill $CONSUMER
    wait $CONSUMER || true
    PARENT=$("$PY" "$REPO/tests/aws_tool.py" split-shard users)
    produce 2
    consume "$WORK/consume.log" --start latest --exit-when-idle 6s
    wait $CONSUMER
    ;;
*)
    echo "unknown scenario $SCENARIO" >&2
    exit 2
    ;;
esac
"$PY" - "$WORK" "$PARENT" <<'PYEOF'
import glob, json, os, sys, boto3
import pyarrow.parquet as pq
work, parent = sys.argv[1], sys.argv[2]
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])
shards = k.list_shards(StreamName="users")["Shards"]
expected = set()
records = 0
for s in shards:
    it = k.get_shard_iterator(StreamName="users", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        out = k.get_records(ShardIterator=it, Limit=1000)
        for r in out["Records"]:
            records += 1
            try:
                u = json.loads(r["Data"].decode("utf-8"))["login"]["uuid"]
                if isinstance(u, str) and u:
                    expected.add(u)
            except Exception:
                pass
        if not out["Records"] and out.get("MillisBehindLatest", 0) == 0:
            break
        it = out.get("NextShardIterator")
got = set()
for f in glob.glob(f"{work}/lake/users/p_date=*/*.parquet"):
    got.update(pq.read_table(f).column("user_id").to_pylist())
log = open(f"{work}/consume.log").read().splitlines()
def first(pred):
    return next((i for i, l in enumerate(log) if pred(l)), None)
children = [s["ShardId"] for s in shards if s.get("ParentShardId") == parent]
drained = first(lambda l: "shard drained" in l and parent in l)
child_starts = [first(lambda l, c=c: "reading shard" in l and c in l) for c in children]
order_ok = drained is not None and len(children) == 2 and all(c is not None and c > drained for c in child_starts)
print(json.dumps({"records_on_stream": records, "on_stream": len(expected), "in_lake": len(got & expected),
                  "missing": len(expected - got), "extra": len(got - expected), "shards": len(shards),
                  "children": children, "order_ok": order_ok}), flush=True)
os._exit(0)  # no interpreter teardown: pyarrow's thread pool can abort at exit
PYEOF
