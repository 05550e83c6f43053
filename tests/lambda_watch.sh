#!/usr/bin/env bash
# The Lambda binaries invoked for real: `cargo lambda watch` runs a lambda_runtime binary
# behind a local Lambda runtime API and `cargo lambda invoke` sends it events.
# - firehose-transformer: each response must equal what the same handler gives through
#   `firelake transform`.
# - compactor (Lambda mode): a scheduled event compacts a lake `firelake run` filled, as the
#   environment configures it; a second event finds nothing to do.
# Needs: cargo-lambda and FIRELAKE_PYTHON/FIRELAKE_SHARED (scripts/test.sh sets them up).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${FIRELAKE_PYTHON:-$REPO/.venv/bin/python}
BENCH=${FIRELAKE_SHARED:-$REPO/../shared}/bench
PORT=${LAMBDA_TEST_PORT:-9311}
WORK=$(mktemp -d)
WATCH_PID= COMPACTOR_PID=
cleanup() {
    [ -n "$WATCH_PID" ] && kill -- "-$WATCH_PID" 2>/dev/null || true
    [ -n "$COMPACTOR_PID" ] && kill -- "-$COMPACTOR_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$PY" "$BENCH/gen_users.py" --count 3000 --seed 5 --bad-rate 0.05 --out "$WORK/users.jsonl" 2>/dev/null
"$PY" "$BENCH/make_firehose_event.py" "$WORK/users.jsonl" "$WORK/events" --source kinesis --max-bytes 1500000 >/dev/null

cd "$REPO"
# Its own process group, so the cleanup stops the watcher and the function it started.
setsid cargo lambda watch --manifest-path firehose-transformer/Cargo.toml --invoke-address 127.0.0.1 --invoke-port "$PORT" --ignore-changes \
    --env-var FIRELAKE_SOURCE=users >"$WORK/watch.log" 2>&1 &
WATCH_PID=$!

passed=0 failed=0
for ev in "$WORK"/events/*.json; do
    # The first invoke waits for the build; retry while the runtime API comes up.
    for attempt in $(seq 1 120); do
        if cargo lambda invoke firehose-transformer --invoke-address 127.0.0.1 --invoke-port "$PORT" \
            --data-file "$ev" --output-format json >"$WORK/lambda.json" 2>"$WORK/invoke.err"; then
            break
        fi
        if [ "$attempt" = 120 ]; then
            echo "cargo lambda invoke never succeeded:"; cat "$WORK/invoke.err" "$WORK/watch.log"; exit 1
        fi
        sleep 2
    done
    target/debug/firelake transform --event "$ev" >"$WORK/cli.json"
    if "$PY" - "$WORK/lambda.json" "$WORK/cli.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
n = len(b["records"])
assert n > 0 and a == b, "Lambda response differs from the handler's"
ok = sum(r["result"] == "Ok" for r in a["records"])
print(f"  {n} records, {ok} Ok, {n - ok} ProcessingFailed: identical")
PYEOF
    then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

# invoke FUNCTION PORT OUT ARGS...: retries while the watcher builds and starts the function.
invoke() {
    local fn=$1 port=$2 out=$3; shift 3
    for attempt in $(seq 1 120); do
        if cargo lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$port" \
            "$@" --output-format json >"$out" 2>"$WORK/invoke.err"; then
            return 0
        fi
        # The function answered with an error (not "not up yet"): no point retrying.
        grep -q -i 'errorMessage\|Unhandled' "$WORK/invoke.err" && break
        sleep 2
    done
    echo "cargo lambda invoke $fn failed:"; cat "$WORK/invoke.err" "$WORK/compactor.log" 2>/dev/null; return 1
}

echo "compactor Lambda mode:"
target/debug/firelake run --lake "$WORK/lake" --records 6000 >/dev/null
COMPACTOR_PORT=$((PORT + 1))
setsid cargo lambda watch --manifest-path compactor/Cargo.toml --invoke-address 127.0.0.1 --invoke-port "$COMPACTOR_PORT" --ignore-changes \
    --env-var FIRELAKE_LAKE="file://$WORK/lake" --env-var FIRELAKE_ALL=true \
    --env-var FIRELAKE_GRACE=0s >"$WORK/compactor.log" 2>&1 &
COMPACTOR_PID=$!
SCHEDULED='{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-01-01T03:00:00Z","region":"us-east-1","resources":[],"detail":{}}'
if invoke compactor "$COMPACTOR_PORT" "$WORK/first.json" --data-ascii "$SCHEDULED" &&
    invoke compactor "$COMPACTOR_PORT" "$WORK/second.json" --data-ascii "$SCHEDULED" &&
    target/debug/firelake catalog --lake "$WORK/lake" --table users_curated --json >"$WORK/catalog.json" &&
    "$PY" - "$WORK/first.json" "$WORK/second.json" "$WORK/catalog.json" <<'PYEOF'
import json, sys
first, second, catalog = (json.load(open(p)) for p in sys.argv[1:4])
done = [d for d in first["days"] if d["outcome"] == "compacted"]
assert done, f"the first event compacted nothing: {first}"
rows = sum(d["rows_out"] for d in done)
assert rows > 0
assert not [d for d in second["days"] if d["outcome"] == "compacted"], f"second event redid work: {second}"
parts = catalog["partitions"]
assert len(parts) == len(done), (parts, done)
print(f"  first event: {len(done)} days, {rows} curated rows; second event: nothing to do; {len(parts)} curated partitions")
PYEOF
then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "lambda_watch: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
