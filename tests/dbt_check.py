"""Independent checks of the transform layer for tests/dbt.rs (run by $FIRELAKE_PYTHON).

  views VIEWS_SQL              -> {"table": {"day": rows}} read through the DuckDB views
  compare CATALOG_JSON DB DAY  -> fails unless users_daily's rows for DAY in DB equal the data
                                  model computed here, in Python, from the curated generation
                                  files the catalog names (not through the views)
  fingerprint DB DAY           -> {"rows": n, "digest": "..."} of users_daily's rows for DAY
  mark DB DAY                  -> changes one users_daily row of DAY, prints its user_id
"""
import hashlib
import json
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

COUNTRY_CODES = {
    "Australia": "AU", "Brazil": "BR", "Canada": "CA", "Switzerland": "CH", "Germany": "DE",
    "Denmark": "DK", "Spain": "ES", "Finland": "FI", "France": "FR", "United Kingdom": "GB",
    "Ireland": "IE", "India": "IN", "Iran": "IR", "Mexico": "MX", "Netherlands": "NL",
    "Norway": "NO", "New Zealand": "NZ", "Serbia": "RS", "Turkey": "TR", "Ukraine": "UA",
    "United States": "US",
}
BANDS = [(18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64")]
COLUMNS = ["user_id", "full_name", "email_domain", "birth_date", "age", "age_band",
           "country_code", "city", "p_date"]


def age_band(age):
    if age is None:
        return "unknown"
    return next((band for limit, band in BANDS if age < limit), "65+")


def expected(catalog_json, day):
    cat = json.loads(Path(catalog_json).read_text())
    part = cat["Tables"]["users_curated"]["Partitions"][day]
    # Locations are relative to the lake (the catalog's folder's parent), or absolute URLs.
    folder = Path(catalog_json).parent.parent / part["Location"].removeprefix("file://")
    latest = {}
    for f in sorted(folder.glob("*.parquet")):
        for r in pq.read_table(f).to_pylist():
            kept = latest.get(r["user_id"])
            if kept is None or r["ingested_at"] > kept["ingested_at"]:
                latest[r["user_id"]] = r
    rows = []
    for r in latest.values():
        email = r["email"] or ""
        rows.append((
            r["user_id"],
            f"{r['first_name'] or ''} {r['last_name'] or ''}".strip(),
            email.split("@")[1] if "@" in email and email.split("@")[1] else None,
            r["date_of_birth"].date().isoformat() if r["date_of_birth"] else None,
            r["age"],
            age_band(r["age"]),
            COUNTRY_CODES.get(r["country"]),
            r["city"],
            day,
        ))
    return sorted(rows, key=repr)


def actual(db, day):
    con = duckdb.connect(db, read_only=True)
    cols = ", ".join("cast(birth_date as varchar)" if c == "birth_date" else c for c in COLUMNS)
    rows = con.sql(f"select {cols} from firelake_transform.users_daily where p_date = ?",
                   params=[day]).fetchall()
    return sorted((tuple(r) for r in rows), key=repr)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "views":
        con = duckdb.connect()
        con.execute(Path(args[0]).read_text())
        out = {}
        for (table,) in con.sql("select table_name from information_schema.tables "
                                "where table_schema = 'firelake' order by 1").fetchall():
            out[table] = dict(con.sql(f"select p_date, count(*) from firelake.{table} "
                                      "group by 1 order by 1").fetchall())
        print(json.dumps(out))
    elif cmd == "compare":
        want, got = expected(args[0], args[2]), actual(args[1], args[2])
        missing, extra = sorted(set(want) - set(got), key=repr), sorted(set(got) - set(want), key=repr)
        if missing or extra or len(want) != len(got):
            sys.exit(f"users_daily {args[2]}: {len(got)} rows, {len(want)} expected; "
                     f"missing {missing[:3]}, unexpected {extra[:3]}")
        print(json.dumps({"rows": len(got)}))
    elif cmd == "fingerprint":
        con = duckdb.connect(args[0], read_only=True)
        rows = sorted(repr(r) for r in con.sql(
            "select * from firelake_transform.users_daily where p_date = ?", params=[args[1]]).fetchall())
        print(json.dumps({"rows": len(rows),
                          "digest": hashlib.sha256("\n".join(rows).encode()).hexdigest()}))
    elif cmd == "mark":
        con = duckdb.connect(args[0])
        [(uid,)] = con.sql("select min(user_id) from firelake_transform.users_daily "
                           "where p_date = ?", params=[args[1]]).fetchall()
        con.execute("update firelake_transform.users_daily set full_name = 'left by the test' "
                    "where p_date = ? and user_id = ?", [args[1], uid])
        con.close()
        print(uid)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
