#!/usr/bin/env bash
# firelake sync against `psql \copy` (CSV) and Python psycopg 3 COPY, on the same curated day,
# in one run: rows/s and peak RSS of each, and the ratios.
#   bash bench/sync.sh [ROWS]        (default 5000000; a release build of firelake only)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${1:-5000000}
PY=${FIRELAKE_PYTHON:-$REPO/.venv/bin/python}
"$PY" -m pip install -q 'psycopg[binary]'   # the seed's driver, for this benchmark only
# FIRELAKE_BIN: another build (e.g. target/debug/firelake for a quick look; not a measurement).
if [ -z "${FIRELAKE_BIN:-}" ]; then
    cargo build --release --locked -p firelake --bin firelake
fi
BIN=${FIRELAKE_BIN:-$REPO/target/release/firelake}
W=$(mktemp -d); trap 'pg_ctl -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
SU=(); [ "$(id -u)" = 0 ] && { chown nobody:nogroup "$W"; SU=(setpriv --reuid=nobody --regid=nogroup --clear-groups); }
mkdir -p "$W/pg" && [ ${#SU[@]} -gt 0 ] && chown nobody:nogroup "$W/pg"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${SU[@]}" initdb -U postgres -A trust -D "$W/pg/data" >/dev/null
"${SU[@]}" pg_ctl -D "$W/pg/data" -w -l "$W/pg/log" -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1" start >/dev/null
URL=postgres://postgres@127.0.0.1:$PORT/postgres
PSQL=(psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)

cd "$W"
echo "== lake: $ROWS records, compacted"
"$BIN" run --records "$ROWS" --seed 7 --bad-rate 0 --shards 4 >/dev/null
"$BIN" compact --all --grace 0s >/dev/null
DAY=$(ls lake/users_curated/_generations | head -1 | cut -d= -f2)
GEN=$(ls -d lake/users_curated/_generations/p_date=$DAY/*/)

measure() { # name, command...: prints "name seconds peak_kib"
    local name=$1; shift
    local t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$W/rss" "$@" >/dev/null
    echo "$name $(echo "$(date +%s.%N) - $t0" | bc) $(cat "$W/rss")"
}
R1=$(measure firelake "$BIN" sync --to "$URL" --date "$DAY")
N=$("${PSQL[@]}" -c "SELECT count(*) FROM users_curated")
"${PSQL[@]}" -c "CREATE TABLE via_psql (LIKE users_curated INCLUDING ALL); CREATE TABLE via_psycopg (LIKE users_curated INCLUDING ALL)"
# The same rows as CSV, made by DuckDB (not timed).
"$PY" - "$GEN" "$DAY" "$W/day.csv" <<'PY'
import sys, duckdb
gen, day, out = sys.argv[1:]
duckdb.sql(f"COPY (SELECT *, DATE '{day}' AS p_date FROM read_parquet('{gen}/*.parquet', hive_partitioning=false)) TO '{out}' (HEADER false)")
PY
R2=$(measure psql "${PSQL[@]}" -c "\\copy via_psql FROM '$W/day.csv' (FORMAT csv)")
cat > "$W/pg.py" <<'PY'
import sys, pyarrow.parquet as pq, psycopg
gen, day, url = sys.argv[1:]
import glob, datetime
d = datetime.date.fromisoformat(day)
with psycopg.connect(url) as conn, conn.cursor() as cur:
    with cur.copy("COPY via_psycopg FROM STDIN") as cp:
        for f in sorted(glob.glob(gen + "/*.parquet")):
            for batch in pq.ParquetFile(f).iter_batches(65536):
                for row in zip(*[c.to_pylist() for c in batch.columns]):
                    cp.write_row(row + (d,))
PY
R3=$(measure psycopg "$PY" "$W/pg.py" "$GEN" "$DAY" "$URL")
echo "day $DAY rows $N"
for r in "$R1" "$R2" "$R3"; do
    set -- $r
    echo "$1: $(echo "$N / $2" | bc) rows/s, peak RSS $(( $3 / 1024 )) MiB, ${2}s"
done
set -- $R1; F=$2; set -- $R2; P=$2; set -- $R3; Y=$2
echo "firelake sync vs psql \\copy: $(echo "scale=2; $P / $F" | bc)x; vs psycopg: $(echo "scale=2; $Y / $F" | bc)x"
