#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [extra cargo test args]
# Sets up the Python venv the tests call (FIRELAKE_PYTHON), then builds and
# runs every test of the workspace.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

echo "== python venv"
source "$REPO/scripts/python-env.sh"
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

echo "== local AWS emulators"
source "$REPO/tests/emulators.sh"

echo "== cargo build"
cargo build --workspace --locked --all-targets

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast "$@"

echo "== Firehose Lambda binary under cargo lambda watch"
bash tests/lambda_watch.sh
