#!/usr/bin/env bash
# Installs tansu (the Kafka-protocol broker of the tests, DESIGN.md) into .emulators/tansu
# unless that version is there already. Standalone, so scripts/test.sh can run it in the
# background while the workspace builds (about 11 min on 2 cores); tests/kafka_broker.sh runs
# it too when the binary is missing.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TANSU_VERSION=0.6.0
EMU_DIR=${EMU_DIR:-$REPO/.emulators}
TANSU=$EMU_DIR/tansu/bin/tansu
if [ -x "$TANSU" ] && "$TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    exit 0
fi
mkdir -p "$EMU_DIR"
echo "installing tansu $TANSU_VERSION (cargo install, about 11 min on 2 cores)"
# Its own target folder, removed afterwards: nothing shared with the workspace build.
CARGO_TARGET_DIR="$EMU_DIR/tansu-build" cargo install "tansu@$TANSU_VERSION" --locked \
    --features dynostore --root "$EMU_DIR/tansu" --quiet
rm -rf "$EMU_DIR/tansu-build"
