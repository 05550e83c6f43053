#!/usr/bin/env python3
"""Test-side AWS helper (boto3 against the local emulators named by AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_KINESIS): set up streams and buckets, and read back what firelake wrote with
an independent reader (pyarrow over the S3 objects, Glue's partitions).

  aws_tool.py create-stream NAME SHARDS
  aws_tool.py split-shard NAME              (splits the first open shard in two)
  aws_tool.py create-bucket NAME
  aws_tool.py read-lake BUCKET PREFIX TABLE     -> JSON {rows, user_ids:[...], files:[...]}
  aws_tool.py partitions DATABASE TABLE         -> JSON [{values, location}]
"""
import io
import json
import os
import sys
import time

import boto3
from botocore.config import Config

S3 = Config(s3={"addressing_style": "path"})


def client(name):
    ep = os.environ.get("AWS_ENDPOINT_URL_" + name.upper()) or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client(name, endpoint_url=ep, config=S3 if name == "s3" else None)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "create-stream":
        k = client("kinesis")
        k.create_stream(StreamName=args[0], ShardCount=int(args[1]))
        for _ in range(100):
            if k.describe_stream_summary(StreamName=args[0])["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                return
            time.sleep(0.1)
        sys.exit("stream never became ACTIVE")
    elif cmd == "split-shard":
        k = client("kinesis")
        shards = k.list_shards(StreamName=args[0])["Shards"]
        s = next(x for x in shards if "EndingSequenceNumber" not in x["SequenceNumberRange"])
        lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
        k.split_shard(StreamName=args[0], ShardToSplit=s["ShardId"], NewStartingHashKey=str((lo + hi) // 2))
        for _ in range(200):
            if k.describe_stream_summary(StreamName=args[0])["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                print(s["ShardId"])
                return
            time.sleep(0.1)
        sys.exit("stream never became ACTIVE after the split")
    elif cmd == "create-bucket":
        client("s3").create_bucket(Bucket=args[0])
    elif cmd == "put-file":
        bucket, key, path = args
        client("s3").upload_file(path, bucket, key)
    elif cmd == "read-lake":
        import pyarrow.parquet as pq
        bucket, prefix, table = args
        s3 = client("s3")
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/{table}/p_date="):
            keys += [o["Key"] for o in page.get("Contents", [])]
        ids, rows = [], 0
        for key in keys:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            t = pq.read_table(io.BytesIO(body))
            rows += t.num_rows
            ids += t.column("user_id").to_pylist()
        print(json.dumps({"rows": rows, "user_ids": ids, "files": keys}))
    elif cmd == "read-partitions":
        # Every row under the locations a Glue table's partitions point at (what Athena reads).
        import pyarrow.parquet as pq
        db, table = args
        s3, g = client("s3"), client("glue")
        parts = g.get_partitions(DatabaseName=db, TableName=table)["Partitions"]
        ids, keys = [], []
        for p in parts:
            bucket, _, prefix = p["StorageDescriptor"]["Location"][len("s3://"):].partition("/")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
                for o in page.get("Contents", []):
                    keys.append(o["Key"])
                    t = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()))
                    ids += t.column("user_id").to_pylist()
        print(json.dumps({"partitions": len(parts), "user_ids": ids, "files": keys}))
    elif cmd == "partitions":
        g = client("glue")
        parts = g.get_partitions(DatabaseName=args[0], TableName=args[1])["Partitions"]
        print(json.dumps([{"values": p["Values"], "location": p["StorageDescriptor"]["Location"]} for p in parts]))
    elif cmd == "put-secret":
        client("secretsmanager").create_secret(Name=args[0], SecretString=args[1])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
    # Leave without interpreter teardown: pyarrow's C++ thread pool can abort the process at
    # exit ("terminate called without an active exception") after the answer was printed.
    sys.stdout.flush()
    os._exit(0)
