#!/usr/bin/env bash
# The Firehose transformation Lambda binary invoked for real: `cargo lambda watch` runs the
# lambda_runtime binary behind a local Lambda runtime API, `cargo lambda invoke` sends it event
# files, and each response must equal what the same handler gives through `firelake transform`.
# Needs: cargo-lambda and FIRELAKE_PYTHON/FIRELAKE_SHARED (scripts/test.sh sets them up).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${FIRELAKE_PYTHON:-$REPO/.venv/bin/python}
BENCH=${FIRELAKE_SHARED:-$REPO/../shared}/bench
PORT=${LAMBDA_TEST_PORT:-9311}
WORK=$(mktemp -d)
WATCH_PID=
cleanup() {
    [ -n "$WATCH_PID" ] && kill -- "-$WATCH_PID" 2>/dev/null || true
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
echo "lambda_watch: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
