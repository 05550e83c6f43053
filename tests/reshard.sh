#!/usr/bin/env bash
# Resharding under load, run inside its own network namespace (`unshare --net`) because
# kinesis-local listens on all interfaces: a 1-shard stream gets records, the consumer starts,
# the shard is split while it reads, more records go to the children, and the consumer must
# drain the parent before reading either child and lose nothing.
# Prints one JSON line: {"on_stream": N, "in_lake": N, "missing": N, "order_ok": bool, ...}
set -euo pipefail
BIN=$1 WORK=$2
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${FIRELAKE_PYTHON:-$REPO/.venv/bin/python}
ip link set lo up
PORT=4568
# It reads server.json from its own folder.
(cd "$(dirname "$FIRELAKE_KINESIS_LOCAL")" && KINESIS_MOCK_PLAIN_PORT=$PORT CREATE_STREAM_DURATION=50ms \
    SPLIT_SHARD_DURATION=50ms SHARD_LIMIT=20 LOG_LEVEL=WARN \
    exec node main.js) >"$WORK/kinesis-local.log" 2>&1 &
KL=$!
trap 'kill $KL 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:$PORT AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL
"$PY" "$REPO/tests/aws_tool.py" create-stream users 1
STATE=file://$WORK/state
"$BIN" produce --source users --sample-records 1500 --seed 1 --ticks 1 --to kinesis://users --state "$STATE" >/dev/null
RUST_LOG=info "$BIN" consume --from kinesis://users --lake "file://$WORK/lake" --exit-when-idle 6s \
    --flush-records 400 --read-batch 300 >"$WORK/consume.out" 2>"$WORK/consume.log" &
CONSUMER=$!
sleep 2
PARENT=$("$PY" "$REPO/tests/aws_tool.py" split-shard users)
"$BIN" produce --source users --sample-records 1500 --seed 2 --ticks 1 --to kinesis://users --state "$STATE" >/dev/null
wait $CONSUMER
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
