#!/usr/bin/env bash
# Every benchmark figure beside its peer in one run, one table at the end: release binaries
# built once, the reference data generated once (../shared/bench/gen_users.py, kept in DIR),
# then the per-figure scripts, each told not to build again:
#   transform          firelake convert vs DuckDB --threads 1             bench/transform.sh
#   Firehose handler   firelake transform vs the Python Lambda handler    bench/transform.sh
#   compaction         firelake compact vs DuckDB --threads 1 / pyarrow   bench/compact.sh --skip-10x
#   consumer           firelake consume vs a bare GetRecords loop         bench/consumer.sh
#   loadtest           firelake loadtest on the embedded stream (no peer: rate and latency)
# One run of each, not a median; the machine's load average is printed with the table.
# Usage: bash bench/all.sh [--records N] [--data DIR] [--loadtest-rate N] [--loadtest-seconds S]
#                          [--skip-loadtest]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=1000000
DATA=$HOME/firelake-benchdata   # outside the repo (several GB)
LT_RATE=100000 LT_SECS=60 LOADTEST=1
while [ $# -gt 0 ]; do
    case $1 in
        --records) N=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --loadtest-rate) LT_RATE=$2; shift 2 ;;
        --loadtest-seconds) LT_SECS=$2; shift 2 ;;
        --skip-loadtest) LOADTEST=0; shift ;;
        *) echo "usage: bash bench/all.sh [--records N] [--data DIR] [--loadtest-rate N] [--loadtest-seconds S] [--skip-loadtest]" >&2; exit 2 ;;
    esac
done
cd "$REPO"
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
RUN=$DATA/all_run
rm -rf "$RUN" && mkdir -p "$RUN"
SUMMARY=$RUN/summary.jsonl
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== setup (load average $LOAD_START)"
source "$REPO/scripts/python-env.sh"
if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time </dev/null
fi
cargo build --release --locked -p firelake -p firelake-stream-consumer --bins --examples
FIRELAKE=${CARGO_TARGET_DIR:-$REPO/target}/release/firelake

echo "== transform and Firehose handler (bench/transform.sh)"
bash "$REPO/bench/transform.sh" --no-build --records "$N" --data "$DATA" --summary "$SUMMARY"
echo "== compaction (bench/compact.sh --skip-10x)"
bash "$REPO/bench/compact.sh" --no-build --skip-10x --data "$DATA" --summary "$SUMMARY"
echo "== consumer (bench/consumer.sh)"
bash "$REPO/bench/consumer.sh" --no-build --summary "$SUMMARY"

if [ "$LOADTEST" = 1 ]; then
    echo "== loadtest: embedded stream, $LT_RATE records/s for $LT_SECS s, flush interval 1 s"
    /usr/bin/time -v -o "$RUN/loadtest.time" "$FIRELAKE" loadtest --stream embedded \
        --rate "$LT_RATE/s" --duration "${LT_SECS}s" --flush-interval 1s --lake "$RUN/loadtest_lake" \
        --chart "$RUN/loadtest.svg" --report "$RUN/loadtest.json" --quiet > /dev/null
    "$PY" - "$RUN" "$SUMMARY" <<'EOF'
import json, re, sys
run, summary = sys.argv[1], sys.argv[2]
r = json.load(open(run + "/loadtest.json"))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(run + "/loadtest.time").read()).group(1)) / 1024.0
l = r["latency_ms"]
note = "p50 {:,} / p99 {:,} / max {:,} ms (target {:,} ms), reconciled: {}".format(
    l["p50"], l["p99"], l["max"], r["settings"]["target_latency_ms"], "yes" if r["reconciliation"]["ok"] else "NO")
with open(summary, "a") as f:
    f.write(json.dumps({"figure": "loadtest: embedded stream, %s records/s asked for %d s, flush 1 s"
                                  % (format(r["settings"]["rate"], ","), r["settings"]["duration_seconds"]),
                        "unit": "records/s", "ours": r["rates"]["produced_per_s"], "peer": None,
                        "ours_rss_mib": rss, "peer_rss_mib": None, "goal": ">= 100,000/s, p99 < 2,000 ms",
                        "note": note}) + "\n")
EOF
fi

HEADLINE="run started $STARTED; $(nproc) cores; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "== all figures (one run each; $HEADLINE)"
"$PY" - "$SUMMARY" > "$RUN/table.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fmt_rate = lambda v, unit: "-" if v is None else "{:,.0f} {}".format(v, unit)
fmt_rss = lambda v: "-" if v is None else "%.0f MiB" % v
print("| figure | ours | peer | ratio | peak RSS ours / peer | goal |")
print("|---|---|---|---|---|---|")
for r in rows:
    ratio = "-" if r["peer"] in (None, 0) else "**%.2fx**" % (r["ours"] / r["peer"])
    goal = r.get("goal", "")
    if r.get("note"):
        goal = (goal + "; " if goal else "") + r["note"]
    print("| %s | %s | %s | %s | %s / %s | %s |" % (
        r["figure"], fmt_rate(r["ours"], r["unit"]), fmt_rate(r["peer"], r["unit"]), ratio,
        fmt_rss(r["ours_rss_mib"]), fmt_rss(r["peer_rss_mib"]), goal))
EOF
cat "$RUN/table.md"
# The one results file (bench/results.md): the current figure for each goal, never edited by hand.
{
    echo '# bench/results.md: written by `bash bench/all.sh` (do not edit by hand; rerun the script)'
    echo
    echo "One run of each figure ($HEADLINE; $N records)."
    echo "Compare ratios within one run, not seconds across runs: the machine's speed moves with its load."
    echo
    cat "$RUN/table.md"
} > "$REPO/bench/results.md"
echo "wrote bench/results.md"
