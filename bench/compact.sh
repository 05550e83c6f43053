#!/usr/bin/env bash
# Compaction benchmark against the peers of shared/bench (one run each, not a median):
#   one day of 1,440 small files (make_small_files.py: 1,440 x 700 rows, written by pyarrow)
#     DuckDB    peer_compact_duckdb.py --threads 1
#     pyarrow   peer_compact_pyarrow.py
#     firelake compact --no-dedupe      (the peers' job: merge, keep every row)
#     firelake compact                  (the curated default: dedupe by user_id)
#     both again with --zstd-level 3    (the peers' level; our default for curated files is 2)
#   a 10x day (14,400 files, 10,080,000 rows): firelake with and without dedupe, and DuckDB,
#   to show our peak RSS stays flat when the day grows.
# Every program runs under /usr/bin/time -v (wall, CPU, peak RSS), input in the page cache.
# On the 1x day DuckDB and our four runs take turns, three rounds, and each figure is the
# program's median try (a run here moves by 0.1-0.3 s with the machine); the rest run once.
# Goal (issue 5): >= 2x DuckDB --threads 1 rows/s at <= 128 MiB peak RSS, with and without dedupe.
# Usage: bash bench/compact.sh [--data DIR] [--skip-10x] [--no-build] [--summary FILE]
# (bench/all.sh: --no-build, it builds once; --summary appends JSON lines for its table.)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=$HOME/firelake-benchdata   # outside the repo: the 10x day is 1.26 GB of Parquet
TEN=1 BUILD=1 SUMMARY=
while [ $# -gt 0 ]; do
    case $1 in
        --data) DATA=$2; shift 2 ;;
        --skip-10x) TEN=0; shift ;;
        --no-build) BUILD=0; shift ;;
        --summary) SUMMARY=$2; shift 2 ;;
        *) echo "usage: bash bench/compact.sh [--data DIR] [--skip-10x] [--no-build] [--summary FILE]" >&2; exit 2 ;;
    esac
done
SHARED=$(cd "${FIRELAKE_SHARED:-$REPO/../shared}" && pwd)
BENCH=$SHARED/bench
[ -f "$BENCH/make_small_files.py" ] || { echo "error: $BENCH/make_small_files.py not found (set FIRELAKE_SHARED)" >&2; exit 1; }
cd "$REPO"

echo "== setup"
source "$REPO/scripts/python-env.sh"   # duckdb + pyarrow for the peers and the data
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time </dev/null
fi
[ "$BUILD" = 0 ] || cargo build --release --locked -p firelake
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake
DAY=2025-06-01

# make_day NAME FILES: a lake NAME with one raw day of FILES x 700 rows (kept between runs;
# written under a temporary name and renamed, so an interrupted run is not reused).
make_day() {
    local lake=$DATA/$1/lake
    if [ ! -d "$lake/users/p_date=$DAY" ]; then
        rm -rf "$lake/users.tmp"
        "$PY" "$BENCH/make_small_files.py" "$lake/users.tmp" --files "$2" --rows-per-file 700 --date $DAY
        mv "$lake/users.tmp" "$lake/users"
    fi
    cat "$lake/users/p_date=$DAY"/*.parquet > /dev/null   # into the page cache
}

RUN=$DATA/compact_run
rm -rf "$RUN" && mkdir -p "$RUN"

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

# ours LABEL[.tN] LAKE [FLAGS]: firelake compact on a lake without a curated table yet.
ours() {
    local label=$1 lake=$2; shift 2
    rm -rf "$lake/users_curated" "$lake/_catalog"
    run "$label" "$FIRELAKE" compact --lake "$lake" --table users --date $DAY --target-mb 128 "$@"
    # The generation the catalog points at, kept aside for the value checks (the last try's).
    local generation
    generation=$("$FIRELAKE" catalog --lake "$lake" --table users_curated --json \
        | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["partitions"][0]["location"][len("file://"):])')
    rm -rf "$RUN/${label%.t*}.generation"
    mv "$generation" "$RUN/${label%.t*}.generation"
}

# median LABEL N: of the tries LABEL.t1..tN, the one with the median wall time gives LABEL's
# figures (RUN/LABEL.time and .out); RUN/LABEL.tries lists every try's wall time.
median() {
    local label=$1 n=$2 pick
    pick=$("$PY" - "$RUN" "$label" "$n" <<'PYEOF'
import re, sys
run, label, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def wall(t):
    txt = open("%s/%s.t%d.time" % (run, label, t)).read()
    w = 0.0
    for part in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", txt).group(1).split(":"):
        w = w * 60 + float(part)
    return w
walls = sorted((wall(t), t) for t in range(1, n + 1))
print(walls[len(walls) // 2][1], " ".join("%.2f" % w for w, _ in walls))
PYEOF
)
    set -- $pick
    cp "$RUN/$label.t$1.time" "$RUN/$label.time"
    cp "$RUN/$label.t$1.out" "$RUN/$label.out"
    shift
    echo "$*" > "$RUN/$label.tries"
}

echo "== data"
make_day compact_1x 1440
ONE=$DATA/compact_1x/lake
IN1=$ONE/users/p_date=$DAY

echo "== runs: one day of 1,440 files"
rm -rf "$RUN/out_pyarrow"
run pyarrow "$PY" "$BENCH/peer_compact_pyarrow.py" "$IN1" "$RUN/out_pyarrow" --target-mb 128
export TRIES=3
for t in $(seq $TRIES); do
    rm -rf "$RUN/out_duckdb"
    run duckdb_t1.t$t "$PY" "$BENCH/peer_compact_duckdb.py" "$IN1" "$RUN/out_duckdb" --target-mb 128 --threads 1
    ours firelake.t$t "$ONE" --no-dedupe
    ours firelake_dedupe.t$t "$ONE"
    ours firelake_z3.t$t "$ONE" --no-dedupe --zstd-level 3
    ours firelake_dedupe_z3.t$t "$ONE" --zstd-level 3
done
for label in duckdb_t1 firelake firelake_dedupe firelake_z3 firelake_dedupe_z3; do
    median $label $TRIES
done

echo "== values"
# Our files hold the peers' rows (the bench day has no duplicate user_id, so dedupe keeps all).
for pair in "firelake out_pyarrow" "firelake_dedupe out_duckdb"; do
    set -- $pair
    "$PY" "$BENCH/check_parquet.py" "$RUN/$1.generation" --compare "$RUN/$2" --no-checksum > "$RUN/check_$1.out"
    grep -q '^compare: IDENTICAL values' "$RUN/check_$1.out" \
        || { echo "error: $1 differs from $2, see $RUN/check_$1.out" >&2; exit 1; }
    echo "$1 vs $2: IDENTICAL values"
done

if [ "$TEN" = 1 ]; then
    echo "== runs: a 10x day (14,400 files)"
    make_day compact_10x 14400
    TENX=$DATA/compact_10x/lake
    rm -rf "$RUN/out_duckdb_10x"
    run duckdb_t1_10x "$PY" "$BENCH/peer_compact_duckdb.py" "$TENX/users/p_date=$DAY" "$RUN/out_duckdb_10x" --target-mb 128 --threads 1
    ours firelake_10x "$TENX" --no-dedupe
    ours firelake_dedupe_10x "$TENX"
fi

echo "== results"
"$PY" - "$RUN" "$SUMMARY" <<'EOF'
import json, os, re, sys

run, summary_file = sys.argv[1], sys.argv[2]


def kv(label):
    """key=value pairs of the program's last line (peers: rows=..; ours: rows_in=..)."""
    lines = [l for l in open(os.path.join(run, label + ".out")) if "=" in l]
    return dict(x.split("=", 1) for x in lines[-1].split())


def gnu_time(label):
    txt = open(os.path.join(run, label + ".time")).read()
    wall = 0.0
    for part in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", txt).group(1).split(":"):
        wall = wall * 60 + float(part)
    cpu = sum(float(re.search(r"%s time \(seconds\): (\S+)" % k, txt).group(1)) for k in ("User", "System"))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt).group(1)) / 1024.0
    return wall, cpu, rss


labels = [l for l in ("duckdb_t1", "pyarrow", "firelake", "firelake_dedupe", "firelake_z3", "firelake_dedupe_z3",
                      "duckdb_t1_10x", "firelake_10x", "firelake_dedupe_10x")
          if os.path.exists(os.path.join(run, l + ".time"))]
print("1x day: median of %d interleaved rounds; 10x day: one run (%d cores, load average %s)"
      % (int(os.environ.get("TRIES", "3")), os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3])))
print()
hdr = "%-20s %11s %8s %12s %8s %8s %9s %6s %12s"
print(hdr % ("program", "rows", "wall s", "rows/s wall", "own s", "CPU s", "RSS MiB", "files", "bytes out"))
fig = {}
for l in labels:
    s = kv(l)
    wall, cpu, rss = gnu_time(l)
    rows = int(s.get("rows", s.get("rows_out", 0)))
    rows_in = int(s.get("rows", s.get("rows_in", 0)))
    own = float(s["seconds"])
    fig[l] = (rows_in, wall, cpu, rss, own)
    print(hdr % (l, "{:,}".format(rows), "%.2f" % wall, "{:,.0f}".format(rows_in / wall), "%.2f" % own,
                 "%.2f" % cpu, "%.1f" % rss, s.get("files_out", "?"), "{:,}".format(int(s.get("bytes_out", 0)))))
print()
for l in labels:
    tries = os.path.join(run, l + ".tries")
    if os.path.exists(tries):
        print("%-20s tries, wall s: %s (the median is above)" % (l, open(tries).read().strip()))
print()


def ratio(ours, peer):
    (o_rows, o_wall, o_cpu, o_rss, o_own), (p_rows, p_wall, p_cpu, p_rss, p_own) = fig[ours], fig[peer]
    return (o_rows / o_wall) / (p_rows / p_wall), (o_rows / o_own) / (p_rows / p_own), (o_rows / o_cpu) / (p_rows / p_cpu)


NAMES = {"firelake": "firelake compact --no-dedupe", "firelake_dedupe": "firelake compact (dedupe)",
         "firelake_z3": "firelake compact --no-dedupe --zstd-level 3",
         "firelake_dedupe_z3": "firelake compact --zstd-level 3 (dedupe)",
         "duckdb_t1": "DuckDB --threads 1", "pyarrow": "pyarrow"}
for ours in ("firelake", "firelake_dedupe", "firelake_z3", "firelake_dedupe_z3"):
    for peer in ("duckdb_t1", "pyarrow"):
        wall_r, own_r, cpu_r = ratio(ours, peer)
        if summary_file and not (ours.endswith("_z3") and peer == "pyarrow"):
            with open(summary_file, "a") as f:
                f.write(json.dumps({"figure": "compaction (1,440 files): %s vs %s" % (NAMES[ours], NAMES[peer]),
                                    "unit": "rows/s", "ours": fig[ours][0] / fig[ours][1],
                                    "peer": fig[peer][0] / fig[peer][1], "ours_rss_mib": fig[ours][3],
                                    "peer_rss_mib": fig[peer][3], "goal": ">= 2x" if peer == "duckdb_t1" and not ours.endswith("_z3") else ""}) + "\n")
        goal = ""
        if peer == "duckdb_t1" and not ours.endswith("_z3"):
            goal = "   goal >= 2x: %s" % ("met" if wall_r >= 2 else "NOT met")
        print("%-16s vs %-10s rows/s %.2fx (whole process), %.2fx (own timing), per CPU second %.2fx%s"
              % (ours, peer, wall_r, own_r, cpu_r, goal))
for l in ("firelake", "firelake_dedupe"):
    print("%-16s peak RSS %.1f MiB   goal <= 128 MiB: %s" % (l, fig[l][3], "met" if fig[l][3] <= 128 else "NOT met"))
if "firelake_10x" in fig:
    print()
    for one, ten in (("firelake", "firelake_10x"), ("firelake_dedupe", "firelake_dedupe_10x"), ("duckdb_t1", "duckdb_t1_10x")):
        print("%-16s 10x day: peak RSS %.1f MiB vs %.1f MiB for the 1x day (%.2fx), rows/s %s vs %s"
              % (one, fig[ten][3], fig[one][3], fig[ten][3] / fig[one][3],
                 "{:,.0f}".format(fig[ten][0] / fig[ten][1]), "{:,.0f}".format(fig[one][0] / fig[one][1])))
EOF
