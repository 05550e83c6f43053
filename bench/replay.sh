#!/usr/bin/env bash
# Replay throughput into the embedded stream (rows/s) and peak RSS, for an order-lines CSV
# and a 10x larger one: the replay reads in bounded chunks and the stream and consumer buffers
# are bounded by the flush limits, so the peak RSS should stay flat while the file grows.
#   bash bench/replay.sh [--rows N] [--data DIR]
# One run of each (no repetition). Kafka figures come when the Kafka publisher lands.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=2000000
DATA=$HOME/firelake-benchdata   # outside the repo: N=2M writes ~60 MB and ~600 MB of CSV
while [ $# -gt 0 ]; do
    case $1 in
        --rows) N=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        *) echo "usage: bash bench/replay.sh [--rows N] [--data DIR]" >&2; exit 2 ;;
    esac
done
cd "$REPO"

echo "== setup"
# GNU time gives the peak RSS ("Maximum resident set size").
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time </dev/null
fi
cargo build --release --locked -p firelake
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake

# gen FILE ROWS: order lines (8 products per order, orders over 30 days), written under a
# temporary name and renamed, so an interrupted run is not reused.
gen() {
    [ -f "$1" ] && return
    awk -v n="$2" 'BEGIN {
        print "order_id,product_id,add_to_cart_order,reordered,ordered_at"
        for (i = 0; i < n; i++) {
            o = int(i / 8) + 1
            # %.0f, not %d: mawk clamps %d at 2^31 - 1 (every time would be 1970-01-25).
            printf "%d,%d,%d,%d,%.0f\n", o, (i % 8) * 1009 + o % 97 + 1, i % 8 + 1, (i % 3 == 0),
                1709251200000 + (o % 30) * 86400000 + (o * 37 % 86400) * 1000
        }
    }' > "$1.tmp"
    mv "$1.tmp" "$1"
}

DATA=$(mkdir -p "$DATA" && cd "$DATA" && pwd)
SMALL=$DATA/order_lines_$N.csv
LARGE=$DATA/order_lines_$((N * 10)).csv
echo "== data ($N and $((N * 10)) rows in $DATA)"
gen "$SMALL" "$N"
gen "$LARGE" $((N * 10))

RUN=$DATA/replay_run
rm -rf "$RUN" && mkdir -p "$RUN"
# replay LABEL FILE: one replay into a fresh lake under `time -v`.
replay() {
    local label=$1 file=$2
    cat "$file" > /dev/null   # start with the input in the page cache
    echo "-- $label: firelake replay $(basename "$file") --source order_lines --to embedded"
    if ! (cd "$RUN" && /usr/bin/time -v -o "$label.time" "$FIRELAKE" replay "$file" \
            --source order_lines --to embedded --lake "lake_$label" \
            --progress-file "$label.progress.json" > "$label.out" 2> "$label.err"); then
        echo "error: $label failed:" >&2
        tail -n 5 "$RUN/$label.out" "$RUN/$label.err" >&2
        exit 1
    fi
    local records seconds rate rss
    records=$(awk '$1 == "records" {print $2}' "$RUN/$label.out")
    seconds=$(awk '$1 == "seconds" {print $2}' "$RUN/$label.out")
    rate=$(awk '$1 == "rate" {print $2}' "$RUN/$label.out")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$RUN/$label.time")
    printf '   %-6s %12s rows %8s s %10s rows/s  peak RSS %5s MiB  (%s MiB of CSV)\n' \
        "$label" "$records" "$seconds" "$rate" "$rss" $(( $(stat -c %s "$file") >> 20 ))
    rm -rf "$RUN/lake_$label"
}

echo "== replay into the embedded stream (stream-consumer writing Parquet in-process)"
replay small "$SMALL"
replay large "$LARGE"
echo "== Kafka: comes when the Kafka publisher lands (kafka:// is not in this build yet)"
