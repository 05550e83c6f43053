#!/usr/bin/env bash
# Iceberg landing against plain Hive-style Parquet (issue 20), in one run on the same records:
#   1. records/s of `firelake run` (sample source -> embedded stream -> consumer -> Parquet)
#      without --iceberg and with --iceberg (default commit batching), the same seed and
#      flush settings, in --pairs P alternating pairs (one run each differs by several percent
#      here, more than the effect); the median of the pairs' ratios iceberg / hive-style is
#      the figure (goal >= 0.9). Then one run with a commit per file (--iceberg-commit-files
#      1, the worst case). Rates are records / wall time (GNU time), so the final commit and
#      the catalog set-up count.
#   2. snapshots and metadata bytes at 1,000 records/s with the default batching: a replay
#      paced at 1000/s (`replay --rate 1000/s --iceberg`, arrival-time partitions, default
#      flush and commit settings) for --seconds S, counted in the table's metadata folder and
#      scaled to an hour.
# The load average is printed at the start and the end.
# Usage: bash bench/iceberg.sh [--records N] [--pairs P] [--seconds S] [--data DIR] [--no-build]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=2000000
PAIRS=3
SECS=300
DATA=$HOME/firelake-benchdata   # outside the repo
BUILD=1
usage="usage: bash bench/iceberg.sh [--records N] [--pairs P] [--seconds S] [--data DIR] [--no-build]"
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --pairs) PAIRS=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
cd "$REPO"

echo "== setup (load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time </dev/null
fi
[ "$BUILD" = 1 ] && cargo build --release --locked -p firelake
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake
"$FIRELAKE" run --help | grep -q -- '--iceberg' || {
    echo "error: $FIRELAKE was built without the iceberg feature; build the default features" >&2
    exit 1
}
RUN=$(mkdir -p "$DATA" && cd "$DATA" && pwd)/iceberg_run
rm -rf "$RUN" && mkdir -p "$RUN"

# run_one LABEL ARGS...: one `firelake run` into a fresh lake under `time -v`; prints a row
# and appends "LABEL RATE" to $RUN/rates.
run_one() {
    local label=$1; shift
    if ! (cd "$RUN" && /usr/bin/time -v -o "$label.time" "$FIRELAKE" run --records "$N" \
            --lake "lake_$label" "$@" > "$label.out" 2> "$label.err"); then
        echo "error: $label failed:" >&2
        tail -n 5 "$RUN/$label.out" "$RUN/$label.err" >&2
        exit 1
    fi
    local records wall rss rate commits
    records=$(awk '$1 == "records" && $2 == "in" {print $3; exit}' "$RUN/$label.out")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
        for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$RUN/$label.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$RUN/$label.time")
    rate=$(awk -v r="$records" -v w="$wall" 'BEGIN {printf "%.0f", r / w}')
    commits=$(sed -n 's/.* in \([0-9]*\) commits to .*/\1/p' "$RUN/$label.out")
    printf '   %-16s %9s records %7.2f s %9s records/s  peak RSS %4s MiB  %s\n' \
        "$label" "$records" "$wall" "$rate" "$rss" "${commits:+$commits Iceberg commits}"
    echo "$label $rate" >> "$RUN/rates"
    rm -rf "$RUN/lake_$label"
}

echo "== 1. firelake run --records $N (seed 42, 2 shards, default flush): $PAIRS pairs, then per-file"
for i in $(seq "$PAIRS"); do
    run_one "hive-style_$i"
    run_one "iceberg_$i" --iceberg
done
run_one iceberg-per-file --iceberg --iceberg-commit-files 1
awk '{r[$1] = $2} END {
    n = 0
    for (k in r) if (k ~ /^iceberg_[0-9]/) { i = substr(k, 9); q[++n] = r[k] / r["hive-style_" i] }
    for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (q[b] < q[a]) { t = q[a]; q[a] = q[b]; q[b] = t }
    line = ""; for (a = 1; a <= n; a++) line = line sprintf(" %.2f", q[a])
    med = n % 2 ? q[(n + 1) / 2] : (q[n / 2] + q[n / 2 + 1]) / 2
    printf "   ratio iceberg / hive-style, median of %d pairs  %.2f  (goal >= 0.9; pairs:%s)\n", n, med, line
    h = 0; for (k in r) if (k ~ /^hive-style_[0-9]/) h += r[k]
    printf "   ratio iceberg-per-file / mean hive-style      %.2f\n", r["iceberg-per-file"] / (h / n)
}' "$RUN/rates"

echo "== 2. replay --rate 1000/s --iceberg for $SECS s (default flush and commit batching)"
# Order lines placed now (the table's partition time is `ordered_at`), so the paced replay
# lands like a live stream: one day, files cut by the flush interval.
ROWS=$((SECS * 1000))
awk -v n="$ROWS" -v now="$(date +%s)000" 'BEGIN {
    print "order_id,product_id,add_to_cart_order,reordered,ordered_at"
    for (i = 0; i < n; i++) {
        o = int(i / 8) + 1
        # %.0f, not %d: mawk clamps %d at 2^31 - 1 (every time would be 1970-01-25).
        printf "%d,%d,%d,%d,%.0f\n", o, (i % 8) * 1009 + o % 97 + 1, i % 8 + 1, (i % 3 == 0),
            now + i
    }
}' > "$RUN/orders.csv"
(cd "$RUN" && "$FIRELAKE" replay orders.csv --source order_lines --to embedded --rate 1000/s \
    --lake lake_paced --iceberg > paced.out 2> paced.err) || {
    echo "error: the paced replay failed:" >&2; tail -n 5 "$RUN/paced.err" >&2; exit 1
}
python3 - "$RUN/lake_paced" "$SECS" <<'EOF'
import glob, json, os, sys
lake, secs = sys.argv[1], float(sys.argv[2])
data = lake + "/order_lines"
files = [f for f in glob.glob(lake + "/_iceberg/**/metadata/*", recursive=True) if os.path.isfile(f)]
jsons = sorted(f for f in files if f.endswith(".metadata.json"))
# The newest metadata file: names start with a zero-padded version number.
current = max(jsons, key=os.path.basename)
snapshots = len(json.load(open(current)).get("snapshots", []))
total = sum(os.path.getsize(f) for f in files)
data_bytes = sum(os.path.getsize(f) for f in glob.glob(data + "/p_date=*/*.parquet"))
per_hour = 3600 / secs
print(f"   {snapshots} snapshots, {len(files)} metadata files, {total:,} metadata bytes "
      f"({sum(os.path.getsize(f) for f in jsons):,} of them metadata JSON; current "
      f"{os.path.getsize(current):,}) for {data_bytes:,} bytes of data in {secs:.0f} s")
print(f"   per hour at 1,000 records/s: {snapshots * per_hour:.0f} snapshots, "
      f"{total * per_hour / 1e6:.1f} MB of metadata written (without snapshot expiry)")
EOF
echo "== load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
