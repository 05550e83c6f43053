#!/usr/bin/env python3
"""Test-side helper of tests/schema_evolution.rs: independent readers of what firelake wrote.

  schema_evolution_tool.py read GLOB                     -> JSON rows (DuckDB, union by name), by id
  schema_evolution_tool.py count GLOB COLUMN                -> JSON {rows, non_null} (DuckDB, union by name)
  schema_evolution_tool.py glue-create DB TABLE LOCATION COLUMNS_JSON   (a table as Terraform makes it)
  schema_evolution_tool.py glue-columns DB TABLE         -> JSON [[name, type], ...]
"""
import json
import os
import sys


def glue():
    import boto3

    ep = os.environ.get("AWS_ENDPOINT_URL_GLUE") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("glue", endpoint_url=ep)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "read":
        import duckdb

        rel = duckdb.sql(
            f"SELECT id, n, typeof(n) AS n_type, note FROM read_parquet('{args[0]}', union_by_name = true) ORDER BY id"
        )
        print(json.dumps([dict(zip(rel.columns, r)) for r in rel.fetchall()]))
    elif cmd == "count":
        import duckdb

        col = args[1] if args[1].isidentifier() else sys.exit("bad column")
        files = f"read_parquet('{args[0]}', union_by_name = true)"
        cols = [r[0] for r in duckdb.sql(f"DESCRIBE SELECT * FROM {files}").fetchall()]
        non_null = f"count({col})" if col in cols else "0"
        rows, nn = duckdb.sql(f"SELECT count(*), {non_null} FROM {files}").fetchall()[0]
        print(json.dumps({"rows": rows, "non_null": nn}))
    elif cmd == "glue-create":
        db, table, location, cols = args[0], args[1], args[2], json.loads(args[3])
        g = glue()
        g.create_database(DatabaseInput={"Name": db})
        g.create_table(
            DatabaseName=db,
            TableInput={
                "Name": table,
                "Description": "made by Terraform",
                "TableType": "EXTERNAL_TABLE",
                "PartitionKeys": [{"Name": "p_date", "Type": "string"}],
                "StorageDescriptor": {
                    "Columns": [{"Name": n, "Type": t} for n, t in cols],
                    "Location": location,
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {
                        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                        "Parameters": {"serialization.format": "1"},
                    },
                },
                "Parameters": {"classification": "parquet"},
            },
        )
    elif cmd == "glue-columns":
        t = glue().get_table(DatabaseName=args[0], Name=args[1])["Table"]
        cols = [[c["Name"], c["Type"]] for c in t["StorageDescriptor"]["Columns"]]
        serde = t["StorageDescriptor"].get("SerdeInfo", {}).get("Parameters", {})
        print(json.dumps({"columns": cols, "parameters": t.get("Parameters", {}),
                          "description": t.get("Description"), "serde_parameters": serde}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
