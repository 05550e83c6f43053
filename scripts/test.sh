#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [extra cargo test args]
# Sets up the Python venv the tests call (FIRELAKE_PYTHON), then builds and
# runs every test of the workspace.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

# Each step's heading says when it started (UTC), so a slow CI run shows where it went.
step() { echo "== $1 ($(date -u +%T))"; }

# First, so a formatting or lint failure fails the run in seconds, not after the build.
step "lint: rustfmt, clippy -D warnings, terraform fmt"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
terraform fmt -check -recursive infra

step "python venv"
source "$REPO/scripts/python-env.sh"
"$VENV/bin/python" -c 'import duckdb, pyarrow; print("duckdb", duckdb.__version__, "pyarrow", pyarrow.__version__)'

export FIRELAKE_PYTHON=$VENV/bin/python
export PATH=$VENV/bin:$PATH              # `cargo lambda` comes from the cargo-lambda wheel
export AWS_EC2_METADATA_DISABLED=true    # no IMDS probing (and its timeouts) by the AWS SDK
export FIRELAKE_REQUIRE_EMULATORS=1      # a missing emulator fails its tests instead of skipping them (testkit/src/gate.rs)
# Debian's postgresql package keeps initdb and pg_ctl off PATH (tests/sync.rs needs them).
if ! command -v initdb >/dev/null; then
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && export PATH=$PATH:$d; done
fi
FIRELAKE_SHARED=${FIRELAKE_SHARED:-$REPO/../shared}
if [ ! -f "$FIRELAKE_SHARED/bench/gen_users.py" ]; then
    echo "error: $FIRELAKE_SHARED/bench/gen_users.py not found; set FIRELAKE_SHARED to the shared/ folder" >&2
    exit 1
fi
export FIRELAKE_SHARED=$(cd "$FIRELAKE_SHARED" && pwd)
echo "FIRELAKE_SHARED=$FIRELAKE_SHARED"

step "local AWS emulators"
source "$REPO/tests/emulators.sh"

# tansu (the Kafka broker) builds from source: in the background, beside the workspace build.
TANSU_LOG=$REPO/.emulators/tansu-install.log
TANSU_INSTALL=
if [ -z "${FIRELAKE_TANSU:-}" ]; then
    bash "$REPO/tests/install_tansu.sh" >"$TANSU_LOG" 2>&1 &
    TANSU_INSTALL=$!
    EMU_PIDS="$EMU_PIDS $TANSU_INSTALL"   # stopped with the emulators if the run ends early
fi

step "parquet codecs of each binary built alone"
bash "$REPO/scripts/check_parquet_codecs.sh"

step "cargo features: what the Firehose Lambda and a minimal firelake link"
bash "$REPO/scripts/check_features.sh"

step "cargo build"
cargo build --workspace --locked --all-targets

df -h . | tail -1 | awk '{print "disk after the build: " $4 " free"}'

step "Kafka broker (tansu)"
if [ -n "$TANSU_INSTALL" ] && ! wait "$TANSU_INSTALL"; then
    echo "error: installing tansu failed:" >&2
    cat "$TANSU_LOG" >&2
    exit 1
fi
source "$REPO/tests/kafka_broker.sh"

step "cargo test"
cargo test --workspace --locked --no-fail-fast "$@"

step "Firehose Lambda binary under cargo lambda watch"
bash tests/lambda_watch.sh

step "infra: asl-validator (the nightly workflow's States Language)"
ASL_VALIDATOR=$(bash infra/tests/install_asl_validator.sh)
export ASL_VALIDATOR

step "infra: Terraform held to the code and the source definitions; the nightly workflow run locally"
FIRELAKE_BIN=$REPO/target/debug/firelake "$PY" -m pytest -q -p no:cacheprovider infra/tests

step "infra: checkov"
bash infra/tests/checkov.sh
