#!/usr/bin/env bash
# checkov over infra/: the run fails on any failed check. Skips are allowed only inline, as
# `checkov:skip=CKV_...:reason` beside the resource (infra/tests checks each has its reason).
# The tool lives in its own venv, .venv/checkov, made on first use (and when the pin changes).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$REPO/.venv/checkov
REQ=$REPO/infra/tests/checkov-requirements.txt
STAMP=$VENV/.requirements.sha256
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
WANT=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$WANT" > "$STAMP"
fi
# --skip-download: no calls to the vendor's platform (offline; nothing to fetch for local checks).
"$VENV/bin/checkov" --directory "$REPO/infra" --framework terraform --skip-download --compact --quiet
