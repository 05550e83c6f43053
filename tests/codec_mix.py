"""Rewrite one raw day's Parquet files as a mix of every layout a user's lake can hold.

Usage: codec_mix.py DAY_DIR

The day's rows (its files read in name order, so the dedupe tie order is kept) are split
into one slice per variant and written back, one file per variant, named so that name order
is the old row order; the original files are removed. Variants: every codec pyarrow writes,
INT96 timestamps without the Arrow schema (as Firehose's Hive SerDe writes them), INT64
timestamps in micro- and nanoseconds, plain encoding (no dictionary) and v2 data pages.
Prints the variant names written.
"""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

VARIANTS = [
    ("snappy", dict(compression="snappy")),
    ("gzip", dict(compression="gzip")),
    ("lz4", dict(compression="lz4")),
    ("brotli", dict(compression="brotli")),
    ("zstd", dict(compression="zstd")),
    ("none", dict(compression="none")),
    # Firehose: INT96 timestamps, no ARROW:schema to say their unit or zone.
    ("int96", dict(compression="snappy", use_deprecated_int96_timestamps=True, store_schema=False)),
    ("int96gzip", dict(compression="gzip", use_deprecated_int96_timestamps=True)),
    ("plainv2", dict(compression="snappy", data_page_version="2.0", use_dictionary=False)),
    ("micros", dict(compression="gzip", unit="us")),
    ("nanos", dict(compression="lz4", unit="ns", version="2.6", data_page_version="2.0")),
]


def with_unit(table, unit):
    fields = []
    for f in table.schema:
        if pa.types.is_timestamp(f.type):
            f = f.with_type(pa.timestamp(unit, tz=f.type.tz))
        fields.append(f)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def main():
    day_dir = sys.argv[1]
    names = sorted(n for n in os.listdir(day_dir) if n.endswith(".parquet"))
    table = pa.concat_tables(pq.read_table(os.path.join(day_dir, n)) for n in names)
    step = -(-table.num_rows // len(VARIANTS))
    for i, (name, opts) in enumerate(VARIANTS):
        part = table.slice(i * step, step)
        if part.num_rows == 0:
            continue
        opts = dict(opts)
        unit = opts.pop("unit", None)
        if unit:
            part = with_unit(part, unit)
        pq.write_table(part, os.path.join(day_dir, f"00-{i:02d}-{name}.tmp"), **opts)
        print(name)
    for n in names:
        os.remove(os.path.join(day_dir, n))
    for n in sorted(os.listdir(day_dir)):
        if n.endswith(".tmp"):
            os.rename(os.path.join(day_dir, n), os.path.join(day_dir, n[:-4] + ".parquet"))


if __name__ == "__main__":
    main()
