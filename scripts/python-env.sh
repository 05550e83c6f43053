# Sourced by scripts/test.sh and bench/*.sh (REPO defaults to this repository): makes $REPO/.venv with the
# pinned test/bench tools and sets VENV and PY. Idempotent: pip runs only when the venv is new
# or the pins changed (the stamp is the requirements' hash).
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VENV=$REPO/.venv
REQ=$REPO/tests/requirements.txt
STAMP=$VENV/.requirements.sha256
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
WANT=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$WANT" > "$STAMP"
fi
PY=$VENV/bin/python
