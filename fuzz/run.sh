#!/usr/bin/env bash
# Fuzz the firelake crates with libFuzzer (libfuzzer-sys on the stable toolchain).
#   fuzz/run.sh [SECONDS] [TARGET...]    run each target SECONDS (default 120) on its corpus
#   fuzz/run.sh merge [TARGET...]        minimise each corpus (the fewest inputs that cover as many edges)
#   fuzz/run.sh build                    build the targets only
# Targets: clean firehose source_def csv_rows jsonl_rows locations. New inputs go to
# fuzz/work/<target>/ (not kept), crashes to fuzz/artifacts/<target>/; after a run, `merge`
# folds the new inputs that add coverage into fuzz/corpus/<target>/ (kept in the repository
# and replayed by tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")"
ALL=(clean firehose source_def csv_rows jsonl_rows locations)
export RUSTC_WRAPPER="$PWD/instrument.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}"
cargo build --locked --bins
bin="$CARGO_TARGET_DIR/debug"
mode=${1:-120}
[[ $# -gt 0 ]] && shift
[[ $mode == build ]] && exit 0
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "work/$t" "artifacts/$t"
    if [[ $mode == merge ]]; then
        rm -rf "work/$t.merged" && mkdir "work/$t.merged"
        "$bin/$t" -merge=1 -use_counters=0 -max_len=4096 "work/$t.merged" "corpus/$t" "work/$t"
        rm -rf "corpus/$t" && mv "work/$t.merged" "corpus/$t"
    else
        "$bin/$t" -max_total_time="$mode" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="artifacts/$t/" "work/$t" "corpus/$t"
    fi
done
