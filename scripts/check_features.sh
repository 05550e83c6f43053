#!/usr/bin/env bash
# Each binary links what it uses (Cargo features, docs/architecture.md): the Firehose
# transformation Lambda built alone has no Parquet, Arrow or object store; `firelake` built
# with --no-default-features (what `firelake run` needs) has neither librdkafka nor an AWS SDK;
# and the full builds do have them, so the checks below can see a crate at all. cargo tree
# resolves the graphs; it builds nothing. Last, every target of the workspace (tests and
# examples too) must compile without the default features.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# tree ARGS...: the crate names of a normal (non-dev, non-build) dependency graph.
tree() {
    cargo tree --locked -e normal --prefix none --format '{p}' "$@" | cut -d' ' -f1 | sort -u
}

# refuse WHAT PATTERN ARGS...: fail when a crate matching PATTERN is in the graph.
refuse() {
    local what=$1 pattern=$2
    shift 2
    local found
    found=$(tree "$@" | grep -E "$pattern" | tr '\n' ' ' || true)
    if [ -n "$found" ]; then
        echo "error: $what links $found- gate them behind a cargo feature (docs/architecture.md, \"Cargo features\")" >&2
        status=1
    fi
}

# expect WHAT PATTERN ARGS...: fail when no crate matches (the pattern would prove nothing).
expect() {
    local what=$1 pattern=$2
    shift 2
    local graph
    graph=$(tree "$@")
    # Not `tree | grep -q`: grep stops at the first match, and under pipefail the tree's
    # SIGPIPE would then fail the check.
    if ! grep -qE "$pattern" <<<"$graph"; then
        echo "error: $what has no crate matching $pattern: update scripts/check_features.sh" >&2
        status=1
    fi
}

LAKE='^(parquet|arrow|arrow-[a-z-]+|object_store)$'
SERVICES='^(rdkafka|rdkafka-sys|aws-config|aws-sdk-[a-z]+)$'

refuse "the Firehose Lambda (firelake-firehose-transformer)" "$LAKE|$SERVICES" -p firelake-firehose-transformer
refuse "firelake --no-default-features" "$SERVICES" -p firelake --no-default-features
expect "firelake (default features)" '^rdkafka$' -p firelake
expect "firelake (default features)" '^aws-sdk-kinesis$' -p firelake
expect "firelake-compactor" '^parquet$' -p firelake-compactor
# The iceberg crate's second arrow/parquet stack (docs/iceberg.md) is in the CLI only.
for crate in firelake-stream-consumer firelake-compactor firelake-producer; do
    refuse "$crate" '^(iceberg|iceberg-catalog-sql|sqlx)$' -p "$crate"
done
refuse "firelake --no-default-features" '^iceberg$' -p firelake --no-default-features
expect "firelake (default features)" '^iceberg$' -p firelake

# The compactor's crash hook (FIRELAKE_COMPACT_PAUSE_AT) is for test builds only.
for crate in firelake firelake-compactor; do
    normal=$(cargo tree --locked -e normal,features -p "$crate" -i firelake-compactor)
    if grep -q '"crash-hook"' <<<"$normal"; then
        echo "error: $crate's normal build has the test-only crash-hook feature of firelake-compactor" >&2
        status=1
    fi
done
with_dev=$(cargo tree --locked -e features -p firelake -i firelake-compactor)
if ! grep -q '"crash-hook"' <<<"$with_dev"; then
    echo "error: firelake's test build lacks firelake-compactor's crash-hook: tests/compact.rs needs it" >&2
    status=1
fi

# A test or example that needs a feature says so with `required-features` in its Cargo.toml,
# so this check skips it instead of failing to compile it. A check, not a build: after
# scripts/test.sh's clippy, which has checked the dependencies with the default features, it
# re-checks the workspace's own crates only (~30 s; the dependencies' feature sets are the same).
if ! cargo check --workspace --no-default-features --all-targets --locked --quiet; then
    echo "error: a target does not compile with --no-default-features: gate it with required-features (root Cargo.toml, [[test]]) or #[cfg(feature = ...)]" >&2
    status=1
fi

[ "$status" = 0 ] && echo "features: the Firehose Lambda links no Parquet/Arrow/object_store, firelake --no-default-features no librdkafka/AWS SDK, no crash hook outside tests, every target compiles with --no-default-features"
exit "$status"
