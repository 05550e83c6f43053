"""Reads a firelake Iceberg landing table with pyiceberg (independent of firelake) from the
local SQL catalog inside the lake, and the same lake's Hive-style folders with pyarrow, and
prints what tests/iceberg.rs compares, as JSON.

usage: iceberg_check.py LAKE [TABLE] [DATABASE]

With ICEBERG_CHECK_S3=s3://BUCKET/PREFIX and ICEBERG_CHECK_GLUE=DATABASE (the AWS emulators'
AWS_ENDPOINT_URL), the table is loaded from the Glue Data Catalog instead, and the S3 lake is
first copied into LAKE (with boto3) to be read as folders.
"""

import json
import os
import sys
from collections import Counter
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog


def glue_catalog(s3_lake, lake):
    """The Glue catalog on the emulators, after copying the S3 lake's objects into `lake`."""
    import boto3
    from pyiceberg.catalog.glue import GlueCatalog

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    bucket, _, prefix = s3_lake.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            to = os.path.join(lake, os.path.relpath(o["Key"], prefix))
            os.makedirs(os.path.dirname(to), exist_ok=True)
            s3.download_file(bucket, o["Key"], to)
    props = {"glue.endpoint": endpoint, "glue.region": region, "s3.endpoint": endpoint, "s3.region": region}
    for key, env in [("access-key-id", "AWS_ACCESS_KEY_ID"), ("secret-access-key", "AWS_SECRET_ACCESS_KEY")]:
        if env in os.environ:
            props[f"glue.{key}"] = props[f"s3.{key}"] = os.environ[env]
    return GlueCatalog("glue", **props)


def main():
    lake = os.path.abspath(sys.argv[1])
    table_name = sys.argv[2] if len(sys.argv) > 2 else "users"
    database = sys.argv[3] if len(sys.argv) > 3 else "firelake"
    # Data file paths as the table names them, for comparing with the lake's local files.
    s3_lake = os.environ.get("ICEBERG_CHECK_S3")
    if s3_lake:
        database = os.environ["ICEBERG_CHECK_GLUE"]
        catalog = glue_catalog(s3_lake, lake)
        table_prefix = s3_lake.rstrip("/") + "/"
    else:
        catalog = SqlCatalog(
            database,
            uri=f"sqlite:///{lake}/_catalog/iceberg.sqlite",
            warehouse=f"file://{lake}/_iceberg",
        )
        table_prefix = "file://" + lake + "/"
    table = catalog.load_table(f"{database}.{table_name}")
    ice = table.scan().to_arrow()

    # The folders' files as one table: files written before a schema change lack its new
    # columns (null) or hold a narrower type (widened), as Iceberg readers see them.
    lake_files = sorted(
        os.path.join(r, n)
        for r, _, ns in os.walk(os.path.join(lake, table_name))
        if "/_" not in r
        for n in ns
        if n.endswith(".parquet")
    )
    schemas = []
    for f in lake_files:
        try:
            schemas.append((f, pq.read_schema(f)))
        except pa.ArrowInvalid:
            pass  # not (yet) a Parquet file: not read, as the committer leaves it out
    # The data files themselves, not folder discovery: a kill -9 between writing a file and
    # linking it into place leaves object_store's staging copy (`NAME.parquet#1`), a complete
    # Parquet file that is not one of the lake's data files (the compactor sweeps it).
    readable = [f for f, _ in schemas]
    hive = (
        ds.dataset(
            readable,
            partitioning=ds.partitioning(flavor="hive"),
            partition_base_dir=os.path.join(lake, table_name),
            schema=pa.unify_schemas([s for _, s in schemas], promote_options="permissive"),
        ).to_table()
        if readable
        else ice.schema.empty_table()
    )
    hive = hive.select(ice.column_names).cast(ice.schema)
    keys = [(c, "ascending") for c in ice.column_names]
    same_rows = ice.sort_by(keys).equals(hive.sort_by(keys))

    # Each data file's partition (days since 1970-01-01) against its p_date= folder.
    files = table.inspect.files().to_pylist()
    paths = [f["file_path"] for f in files]
    epoch = date(1970, 1, 1)
    partition_ok = all(
        f"p_date={epoch + timedelta(days=day_value(f['partition']))}/" in f["file_path"]
        for f in files
    )
    spec = table.spec()
    ts_column = table.schema().find_field(spec.fields[0].source_id).name
    stamps = pc.cast(ice[ts_column], pa.timestamp("us", tz="UTC")).to_pylist()
    days_of_rows = Counter(str(t.date()) for t in stamps if t is not None)
    snapshots = table.metadata.snapshots
    metadata_dir = os.path.join(lake, "_iceberg", table_name, "metadata")
    print(
        json.dumps(
            {
                "rows": ice.num_rows,
                "hive_rows": hive.num_rows,
                "same_rows": same_rows,
                "columns": ice.column_names,
                "files": len(paths),
                "distinct_files": len(set(paths)),
                "lake_files": len(lake_files),
                "committed_are_lake_files": sorted(
                    os.path.join(lake, p.removeprefix(table_prefix)) for p in paths
                )
                == lake_files,
                "partition_spec": [f"{f.transform}({ts_column})" for f in spec.fields],
                "partition_ok": partition_ok,
                "days": dict(sorted(days_of_rows.items())),
                "snapshots": len(snapshots),
                "schema": [
                    {"id": f.field_id, "name": f.name, "type": str(f.field_type)}
                    for f in table.schema().fields
                ],
                "schema_id": table.schema().schema_id,
                "name_mapping": json.loads(table.properties.get("schema.name-mapping.default", "[]")),
                "non_null": {c: ice.num_rows - ice[c].null_count for c in ice.column_names},
                "metadata_location": table.metadata_location,
                "positions": [s.summary.additional_properties.get("firelake.positions", "") for s in snapshots],
                "snapshot_ids": sorted(s.snapshot_id for s in snapshots),
                "metadata_files": sorted(os.listdir(metadata_dir)),
                "missing": missing_files(table),
                "snapshot_rows": {
                    str(s.snapshot_id): sum(
                        t.file.record_count for t in table.scan(snapshot_id=s.snapshot_id).plan_files()
                    )
                    for s in snapshots
                },
            }
        )
    )


def missing_files(table):
    """The files a reader of any of the table's snapshots opens that do not exist: the current
    metadata, each snapshot's manifest list, the manifests it lists and their data files."""
    missing = set()

    def gone(location):
        if table.io.new_input(location).exists():
            return False
        missing.add(location)
        return True

    gone(table.metadata_location)
    for s in table.metadata.snapshots:
        if gone(s.manifest_list):
            continue
        for m in s.manifests(table.io):
            if not gone(m.manifest_path):
                for e in m.fetch_manifest_entry(table.io):
                    gone(e.data_file.file_path)
    return sorted(missing)


def day_value(partition):
    value = next(iter(partition.values()))
    return value.toordinal() - date(1970, 1, 1).toordinal() if isinstance(value, date) else value


if __name__ == "__main__":
    main()
