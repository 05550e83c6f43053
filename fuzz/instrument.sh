#!/usr/bin/env bash
# RUSTC_WRAPPER of the fuzz build (fuzz/run.sh): cargo runs `instrument.sh RUSTC ARGS...`. The
# crates under test get libFuzzer's coverage instrumentation (what cargo-fuzz passes, less the
# nightly-only sanitizer); every other crate compiles as in the project's own build, so it is
# taken from the shared target folder instead of being rebuilt.
rustc=$1
shift
case "${CARGO_PKG_NAME:-}" in
firelake-core | firelake-producer | firelake-firehose-transformer | firelake-fuzz)
    exec "$rustc" "$@" \
        -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares
    ;;
esac
exec "$rustc" "$@"
