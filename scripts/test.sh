#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [extra cargo test args]
# Sets up the Python venv the tests call (FIRELAKE_PYTHON), then builds and
# runs every test of the workspace.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

echo "== python venv"
# Idempotent: pip runs only when the venv is new or the pins changed (stamp = hash).
VENV=$REPO/.venv REQ=$REPO/tests/requirements.txt
STAMP=$VENV/.requirements.sha256
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
WANT=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$WANT" > "$STAMP"
fi
"$VENV/bin/python" -c 'import duckdb, pyarrow; print("duckdb", duckdb.__version__, "pyarrow", pyarrow.__version__)'

export FIRELAKE_PYTHON=$VENV/bin/python
export PATH=$VENV/bin:$PATH              # `cargo lambda` comes from the cargo-lambda wheel
export AWS_EC2_METADATA_DISABLED=true    # no IMDS probing (and its timeouts) by the AWS SDK
FIRELAKE_SHARED=${FIRELAKE_SHARED:-$REPO/../shared}
if [ ! -f "$FIRELAKE_SHARED/bench/gen_users.py" ]; then
    echo "error: $FIRELAKE_SHARED/bench/gen_users.py not found; set FIRELAKE_SHARED to the shared/ folder" >&2
    exit 1
fi
export FIRELAKE_SHARED=$(cd "$FIRELAKE_SHARED" && pwd)
echo "FIRELAKE_SHARED=$FIRELAKE_SHARED"

echo "== cargo build"
cargo build --workspace --locked --all-targets

echo "== cargo test"
cargo test --workspace --locked "$@"

echo "== Firehose Lambda binary under cargo lambda watch"
bash tests/lambda_watch.sh
