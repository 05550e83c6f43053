#!/usr/bin/env bash
# Every binary that reads Parquet reads every codec even when built on its own (`cargo build
# -p X`, as a Lambda package is): its own dependency tree enables each of the parquet crate's
# codec features, not only the workspace's unified build. cargo tree resolves, builds nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
for crate in firelake-compactor firelake-producer firelake-stream-consumer firelake; do
    features=$(cargo tree --locked -p "$crate" -e features -i parquet 2>/dev/null \
        | grep -oE 'parquet feature "[a-z0-9_-]+"' | sort -u)
    for codec in snap flate2 lz4 brotli zstd; do
        if ! grep -q "parquet feature \"$codec\"" <<<"$features"; then
            echo "error: $crate built alone has no parquet codec '$codec': add it to its parquet features in Cargo.toml" >&2
            status=1
        fi
    done
done
[ "$status" = 0 ] && echo "parquet codecs: snap flate2 lz4 brotli zstd on every Parquet crate built alone"
exit "$status"
