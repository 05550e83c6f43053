#!/usr/bin/env python3
"""boto3 helper of tests/compact_s3.rs, against the emulators of AWS_ENDPOINT_URL.

  compact_s3_tool.py upload DIR BUCKET PREFIX    every *.parquet under DIR to PREFIX/<relative path>
  compact_s3_tool.py put BUCKET KEY TEXT
  compact_s3_tool.py get BUCKET KEY              -> the object's text ("" when absent)
  compact_s3_tool.py curated DATABASE TABLE      -> JSON [{day, location, files, rows, distinct}]:
                                                    what readers of each Glue partition see
"""
import io
import json
import os
import sys

import boto3
import pyarrow.parquet as pq
from botocore.config import Config


def client(name):
    ep = os.environ.get("AWS_ENDPOINT_URL_" + name.upper()) or os.environ.get("AWS_ENDPOINT_URL")
    cfg = Config(s3={"addressing_style": "path"}) if name == "s3" else None
    return boto3.client(name, endpoint_url=ep, config=cfg)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    s3 = client("s3")
    if cmd == "upload":
        root, bucket, prefix = args
        for d, _, names in os.walk(root):
            for n in names:
                if n.endswith(".parquet"):
                    path = os.path.join(d, n)
                    s3.upload_file(path, bucket, f"{prefix}/{os.path.relpath(path, root)}")
    elif cmd == "put":
        bucket, key, text = args
        s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    elif cmd == "get":
        bucket, key = args
        try:
            print(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
        except s3.exceptions.NoSuchKey:
            print("")
    elif cmd == "curated":
        db, table = args
        out, glue = [], client("glue")
        try:
            parts = glue.get_partitions(DatabaseName=db, TableName=table)["Partitions"]
        except (glue.exceptions.EntityNotFoundException):
            parts = []  # no curated table yet
        for p in parts:
            loc = p["StorageDescriptor"]["Location"]
            bucket, _, prefix = loc[len("s3://"):].partition("/")
            files, ids = 0, []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
                for o in page.get("Contents", []):
                    files += 1
                    body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                    ids += pq.read_table(io.BytesIO(body), columns=["user_id"]).column("user_id").to_pylist()
            out.append({"day": p["Values"][0], "location": loc, "files": files,
                        "rows": len(ids), "distinct": len(set(ids))})
        print(json.dumps(out))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
