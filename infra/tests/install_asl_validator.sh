#!/usr/bin/env bash
# Installs asl-validator (Amazon States Language validation, from the npm registry) under
# $ASL_VALIDATOR_PREFIX (default .emulators/asl-validator) unless it is there; prints the path
# of its executable. Needs Node 18+ and npm; fails loudly without them.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=4.0.0
PREFIX=${ASL_VALIDATOR_PREFIX:-$REPO/.emulators/asl-validator}
EXE=$PREFIX/node_modules/.bin/asl-validator
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "error: node and npm are needed to install asl-validator (infra/tests/test_workflow.py); install Node 18 or later" >&2
    exit 1
fi
if [ ! -x "$EXE" ] || ! grep -q "\"version\": \"$VERSION\"" "$PREFIX/node_modules/asl-validator/package.json" 2>/dev/null; then
    mkdir -p "$PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$PREFIX" "asl-validator@$VERSION" >&2
fi
echo "$EXE"
