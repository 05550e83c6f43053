"""Compares a PostgreSQL table (a CSV dump, NULL as \\N, timestamps as epoch ms) with what DuckDB
reads from the lake's Parquet files, column by column.

usage: sync_check.py DUMP.csv COLUMNS DAY=FILE[,FILE...] ...
COLUMNS: the comma-separated column names of the dump, the partition column last.
Prints "OK rows=N" or the first difference, and exits 1 on a difference.
"""
import csv
import sys

import duckdb


def lake_rows(columns, days):
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    out = []
    for spec in days:
        day, files = spec.split("=", 1)
        files = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files.split(",")) + "]"
        desc = con.execute(f"SELECT * FROM read_parquet({files}, union_by_name=true) LIMIT 0").description
        have = {d[0]: d[1] for d in desc}
        exprs = []
        for c in columns[:-1]:
            if c not in have:
                exprs.append("NULL")
            elif "TIMESTAMP" in str(have[c]).upper():
                exprs.append(f'epoch_ms("{c}")')
            else:
                exprs.append(f'"{c}"')
        sql = f"SELECT {', '.join(exprs)}, '{day}' FROM read_parquet({files}, union_by_name=true)"
        out.extend(tuple(r) for r in con.execute(sql).fetchall())
    return out


def typed(value, like):
    """The dump's text as the Python type DuckDB gave that column."""
    if value == "\\N":
        return None
    if isinstance(like, bool):
        return value == "t"
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def main():
    dump, columns, days = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
    lake = lake_rows(columns, days)
    with open(dump, newline="") as f:
        pg_text = [tuple(r) for r in csv.reader(f)]
    samples = [next((r[i] for r in lake if r[i] is not None), "") for i in range(len(columns))]
    pg = [tuple(typed(v, samples[i]) for i, v in enumerate(r)) for r in pg_text]
    key = lambda r: tuple((v is None, repr(v)) for v in r)  # noqa: E731
    lake.sort(key=key)
    pg.sort(key=key)
    if len(lake) != len(pg):
        print(f"rows differ: lake {len(lake)}, postgres {len(pg)}")
        sys.exit(1)
    for i, c in enumerate(columns):
        a = [r[i] for r in lake]
        b = [r[i] for r in pg]
        if a != b:
            n = next(j for j in range(len(a)) if a[j] != b[j])
            print(f"column {c} differs at row {n}: lake {a[n]!r}, postgres {b[n]!r}")
            sys.exit(1)
    print(f"OK rows={len(lake)}")


main()
