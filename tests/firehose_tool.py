#!/usr/bin/env python3
"""Test-side Firehose helper (boto3 against moto_server, named by AWS_ENDPOINT_URL): set up a
Direct PUT delivery stream with an S3 destination, and read back what it delivered with an
independent reader. moto's Firehose writes each PutRecordBatch call's records, concatenated,
to one S3 object as the call comes in.

  firehose_tool.py create BUCKET STREAM PREFIX    bucket (if absent) + DirectPut stream -> ExtendedS3
  firehose_tool.py read BUCKET PREFIX             -> JSON [{key, data_base64}] per object, by key
"""
import base64
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(name):
    ep = os.environ.get("AWS_ENDPOINT_URL_" + name.upper()) or os.environ.get("AWS_ENDPOINT_URL")
    cfg = Config(s3={"addressing_style": "path"}) if name == "s3" else None
    return boto3.client(name, endpoint_url=ep, config=cfg)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "create":
        bucket, stream, prefix = args
        try:
            client("s3").create_bucket(Bucket=bucket)
        except ClientError as e:
            # Tests running side by side share the bucket: the first one made it.
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        client("firehose").create_delivery_stream(
            DeliveryStreamName=stream,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose-delivery",
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": prefix,
            },
        )
    elif cmd == "read":
        bucket, prefix = args
        s3 = client("s3")
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                out.append({"key": o["Key"], "data_base64": base64.b64encode(body).decode()})
        out.sort(key=lambda o: o["key"])
        print(json.dumps(out))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
