#!/usr/bin/env python3
"""Test-side helper for the Kinesis checkpoint and redrive tests (boto3 against the emulators
named by AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL): an independent reader of a stream,
stream recreation, and an SQS queue holding Lambda on-failure records.

  kinesis_tool.py records STREAM          -> JSON {"arn", "shards": {id: [{"seq", "uuid"}]}}
  kinesis_tool.py recreate-stream STREAM SHARDS AFTER_MS
        delete STREAM and create it again, until its creation time is after AFTER_MS
  kinesis_tool.py create-queue NAME       -> the queue URL
  kinesis_tool.py send NAME BODY_FILE     (one message per line of BODY_FILE)
  kinesis_tool.py queue-bodies NAME       -> JSON [body, ...] of every message in the queue
"""
import json
import os
import sys
import time

import boto3


def client(name):
    ep = os.environ.get("AWS_ENDPOINT_URL_" + name.upper()) or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client(name, endpoint_url=ep)


def wait_active(k, stream):
    for _ in range(200):
        s = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if s["StreamStatus"] == "ACTIVE":
            return s
        time.sleep(0.05)
    sys.exit("stream never became ACTIVE")


def wait_gone(k, stream):
    for _ in range(200):
        try:
            k.describe_stream_summary(StreamName=stream)
        except k.exceptions.ResourceNotFoundException:
            return
        time.sleep(0.05)
    sys.exit("stream was never deleted")


def records(stream):
    k = client("kinesis")
    arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    shards = {}
    for s in k.list_shards(StreamName=stream)["Shards"]:
        recs = shards.setdefault(s["ShardId"], [])
        it = k.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            out = k.get_records(ShardIterator=it, Limit=1000)
            for r in out["Records"]:
                try:
                    u = json.loads(r["Data"].decode("utf-8"))["login"]["uuid"]
                    u = u if isinstance(u, str) and u else None
                except Exception:
                    u = None
                recs.append({"seq": r["SequenceNumber"], "uuid": u})
            if not out["Records"] and out.get("MillisBehindLatest", 0) == 0:
                break
            it = out.get("NextShardIterator")
    return {"arn": arn, "shards": shards}


def recreate(stream, shards, after_ms):
    k = client("kinesis")
    while True:
        k.delete_stream(StreamName=stream)
        wait_gone(k, stream)
        k.create_stream(StreamName=stream, ShardCount=shards)
        created = wait_active(k, stream)["StreamCreationTimestamp"].timestamp() * 1000
        if created > after_ms:
            return


def queue_url(name):
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "records":
        print(json.dumps(records(args[0])))
    elif cmd == "recreate-stream":
        recreate(args[0], int(args[1]), int(args[2]))
    elif cmd == "create-queue":
        print(client("sqs").create_queue(QueueName=args[0])["QueueUrl"])
    elif cmd == "send":
        sqs, url = client("sqs"), queue_url(args[0])
        for line in open(args[1], encoding="utf-8"):
            if line.strip():
                sqs.send_message(QueueUrl=url, MessageBody=line.rstrip("\n"))
    elif cmd == "queue-bodies":
        # Every message, visible or not: the queue's counts, then a receive of the visible ones.
        sqs, url = client("sqs"), queue_url(args[0])
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        bodies, seen = [], set()
        for _ in range(20):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      WaitTimeSeconds=0).get("Messages", [])
            new = [m for m in got if m["MessageId"] not in seen]
            if not new:
                break
            for m in new:
                seen.add(m["MessageId"])
                bodies.append(m["Body"])
        print(json.dumps({"visible": int(attrs["ApproximateNumberOfMessages"]),
                          "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
                          "bodies": bodies}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
