#!/usr/bin/env bash
# Every binary that reads Parquet reads every codec even when built on its own (`cargo build
# -p X`, as a Lambda package is): its own dependency tree enables each of the parquet crate's
# codec features, not only the workspace's unified build. cargo tree resolves, builds nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
# The workspace's parquet (the iceberg crate brings its own older one, which only reads and
# writes Iceberg metadata and never a lake file).
spec="parquet@$(sed -nE 's/^parquet = \{ version = "([0-9]+)".*/\1/p' Cargo.toml)"
for crate in firelake-compactor firelake-producer firelake-stream-consumer firelake; do
    tree=$(cargo tree --locked -p "$crate" -e features -i "$spec" 2>&1) || {
        echo "error: cargo tree -p $crate -i $spec failed: ${tree%%$'\n'*}" >&2
        exit 1
    }
    features=$(grep -oE 'parquet feature "[a-z0-9_-]+"' <<<"$tree" | sort -u)
    for codec in snap flate2 lz4 brotli zstd; do
        if ! grep -q "parquet feature \"$codec\"" <<<"$features"; then
            echo "error: $crate built alone has no parquet codec '$codec': add it to its parquet features in Cargo.toml" >&2
            status=1
        fi
    done
done
[ "$status" = 0 ] && echo "parquet codecs: snap flate2 lz4 brotli zstd on every Parquet crate built alone"
exit "$status"
