#!/usr/bin/env bash
# Replay throughput into Kafka (rows/s) and peak RSS: the order-lines CSV of bench/replay.sh
# (2M rows by default, generated once into ~/firelake-benchdata) replayed with `firelake
# replay --to kafka://` into a fresh tansu broker on loopback (tests/kafka_broker.sh), each
# batch of 500 confirmed by the broker before the progress file moves. One run.
#   bash bench/replay_kafka.sh [--rows N] [--data DIR] [--partitions P]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=2000000 PARTITIONS=4
DATA=$HOME/firelake-benchdata
while [ $# -gt 0 ]; do
    case $1 in
        --rows) N=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --partitions) PARTITIONS=$2; shift 2 ;;
        *) echo "usage: bash bench/replay_kafka.sh [--rows N] [--data DIR] [--partitions P]" >&2; exit 2 ;;
    esac
done
cd "$REPO"
source "$REPO/scripts/python-env.sh"
source "$REPO/tests/kafka_broker.sh"
cargo build --release --locked -p firelake
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake

DATA=$(mkdir -p "$DATA" && cd "$DATA" && pwd)
CSV=$DATA/order_lines_$N.csv
if [ ! -f "$CSV" ]; then
    # The same rows as bench/replay.sh makes (8 products per order, orders over 30 days).
    awk -v n="$N" 'BEGIN {
        print "order_id,product_id,add_to_cart_order,reordered,ordered_at"
        for (i = 0; i < n; i++) {
            o = int(i / 8) + 1
            # %.0f, not %d: mawk clamps %d at 2^31 - 1 (every time would be 1970-01-25).
            printf "%d,%d,%d,%d,%.0f\n", o, (i % 8) * 1009 + o % 97 + 1, i % 8 + 1, (i % 3 == 0),
                1709251200000 + (o % 30) * 86400000 + (o * 37 % 86400) * 1000
        }
    }' > "$CSV.tmp"
    mv "$CSV.tmp" "$CSV"
fi
cat "$CSV" > /dev/null   # start with the input in the page cache

RUN=$(mktemp -d)
TOPIC=order-lines-$$
"$FIRELAKE_TANSU" topic create --broker "tcp://$FIRELAKE_KAFKA" --partitions "$PARTITIONS" "$TOPIC" >/dev/null
echo "== firelake replay $(basename "$CSV") --source order_lines --to kafka://$FIRELAKE_KAFKA/$TOPIC ($PARTITIONS partitions)"
(cd "$RUN" && /usr/bin/time -v -o replay.time "$FIRELAKE" replay "$CSV" --source order_lines \
    --to "kafka://$FIRELAKE_KAFKA/$TOPIC" --progress-file progress.json > replay.out 2> replay.err) || {
    tail -n 5 "$RUN/replay.out" "$RUN/replay.err" >&2
    exit 1
}
cat "$RUN/replay.out"
awk -F': ' '/Maximum resident set size/ {printf "peak RSS %.0f MiB\n", $2 / 1024}' "$RUN/replay.time"
rm -rf "$RUN"
