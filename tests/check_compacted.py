#!/usr/bin/env python3
"""Independent check of a compacted day with pyarrow (used by tests/compact.rs).

  check_compacted.py RAW_PARTITION_DIR CURATED_GENERATION_DIR [--no-dedupe]

The curated files must hold exactly the distinct raw rows: per user_id the row with the
latest ingested_at, ties to the first row in file-name then row order (all rows with
--no-dedupe), every column compared, timestamps as timestamp[ms, UTC], no p_date column.
Prints "OK rows=N" or exits non-zero naming the first difference.
"""
import glob
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

KEY, AT = "user_id", "ingested_at"


def rows(folder):
    out = []
    for f in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        out.extend(pq.ParquetFile(f).read().to_pylist())
    return out


def main():
    raw_dir, curated_dir = sys.argv[1], sys.argv[2]
    dedupe = "--no-dedupe" not in sys.argv[3:]
    raw = rows(raw_dir)
    if dedupe:
        best = {}
        for r in raw:
            if r[KEY] not in best or r[AT] > best[r[KEY]][AT]:
                best[r[KEY]] = r
        want = list(best.values())
    else:
        want = raw
    files = sorted(glob.glob(os.path.join(curated_dir, "*.parquet")))
    if not files:
        sys.exit("no curated files in %s" % curated_dir)
    schema = pq.ParquetFile(files[0]).schema_arrow
    if schema.field(AT).type != pa.timestamp("ms", tz="UTC"):
        sys.exit("ingested_at is %s" % schema.field(AT).type)
    if "p_date" in schema.names:
        sys.exit("p_date is a column of the curated files")
    got = rows(curated_dir)
    key = lambda r: tuple(sorted((k, repr(v)) for k, v in r.items()))  # noqa: E731
    if sorted(map(key, got)) != sorted(map(key, want)):
        missing = [r for r in want if r not in got][:1]
        extra = [r for r in got if r not in want][:1]
        sys.exit("curated rows differ: %d curated, %d expected; missing %r; extra %r"
                 % (len(got), len(want), missing, extra))
    print("OK rows=%d" % len(got))


if __name__ == "__main__":
    main()
