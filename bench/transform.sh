#!/usr/bin/env bash
# Speed benchmark of the cleaner against the peers of shared/bench:
#   firelake convert    vs peer_duckdb.py --threads 1   (JSONL file -> Parquet)
#   firelake transform  vs peer_lambda_python.py        (Firehose events, time inside the handler)
# Usage: bash bench/transform.sh [--records N] [--data DIR] [--no-build] [--summary FILE]
# One run of each (no repetition); data is generated once and kept in DIR. bench/all.sh runs
# it with --no-build (it builds once) and --summary (JSON lines for its table).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=1000000
DATA=$HOME/firelake-benchdata   # outside the repo: 1M records = 1.08 GB JSONL + 1.5 GB events
BUILD=1 SUMMARY=
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --summary) SUMMARY=$2; shift 2 ;;
        *) echo "usage: bash bench/transform.sh [--records N] [--data DIR] [--no-build] [--summary FILE]" >&2; exit 2 ;;
    esac
done
SHARED=$(cd "${FIRELAKE_SHARED:-$REPO/../shared}" && pwd)
BENCH=$SHARED/bench
[ -f "$BENCH/gen_users.py" ] || { echo "error: $BENCH/gen_users.py not found (set FIRELAKE_SHARED)" >&2; exit 1; }
cd "$REPO"

echo "== setup"
source "$REPO/scripts/python-env.sh"   # the peers need duckdb + pyarrow
# GNU time gives the peak RSS ("Maximum resident set size").
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time </dev/null
fi
[ "$BUILD" = 0 ] || cargo build --release --locked -p firelake
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake

echo "== data ($N records in $DATA)"
mkdir -p "$DATA"
IN=$DATA/users_$N.jsonl MANIFEST=$DATA/users_$N.manifest.json EVENTS=$DATA/events_$N
# Written under a temporary name and renamed, so an interrupted run is not reused.
if [ ! -f "$IN" ] || [ ! -f "$MANIFEST" ]; then
    python3 "$BENCH/gen_users.py" --count "$N" --seed 42 --bad-rate 0.01 \
        --out "$IN.tmp" --manifest "$MANIFEST"
    mv "$IN.tmp" "$IN"
fi
if [ ! -d "$EVENTS" ]; then
    rm -rf "$EVENTS.tmp"
    python3 "$BENCH/make_firehose_event.py" "$IN" "$EVENTS.tmp"   # direct PUT source
    mv "$EVENTS.tmp" "$EVENTS"
fi
RUN=$DATA/run_$N
rm -rf "$RUN" && mkdir -p "$RUN"
cat "$IN" "$EVENTS"/* > /dev/null   # every program starts with its input in the page cache

# run LABEL CMD...: one run under `time -v`; stdout -> RUN/LABEL.out, time -> RUN/LABEL.time
run() {
    local label=$1; shift
    echo "-- $label: $*"
    if ! /usr/bin/time -v -o "$RUN/$label.time" "$@" > "$RUN/$label.out" 2> "$RUN/$label.err"; then
        echo "error: $label failed; last lines of stdout and stderr:" >&2
        tail -n 5 "$RUN/$label.out" "$RUN/$label.err" >&2
        exit 1
    fi
    tail -n 1 "$RUN/$label.out"
}

echo "== runs"
AT=2025-06-01T12:00:00.000Z
run duckdb "$PY" "$BENCH/peer_duckdb.py" "$IN" "$RUN/out_duckdb.parquet" --threads 1 --ingested-at $AT
run convert "$FIRELAKE" convert "$IN" "$RUN/out_firelake.parquet" --source users --ingested-at $AT
run lambda "$PY" "$BENCH/peer_lambda_python.py" "$EVENTS"
run transform "$FIRELAKE" transform --event "$EVENTS" --summary

echo "== values: firelake convert vs DuckDB"
"$PY" "$BENCH/check_parquet.py" "$RUN/out_firelake.parquet" --compare "$RUN/out_duckdb.parquet" > "$RUN/check.out"
grep -E '^(compare:|type differs|column .* differ|rows:)' "$RUN/check.out" || true
grep -q '^compare: IDENTICAL values' "$RUN/check.out" || { echo "error: values differ, see $RUN/check.out" >&2; exit 1; }

echo "== results"
"$PY" "$REPO/bench/report.py" "$RUN" "$MANIFEST" ${SUMMARY:+--summary "$SUMMARY"}
