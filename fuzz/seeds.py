#!/usr/bin/env python3
"""Seed inputs of the fuzz targets, written into fuzz/corpus/<target>/ (run once when a target
is added; the fuzzers grow the corpus from these and fuzz/run.sh merge keeps it minimal).
The input layouts are those of the check functions (core/src/fuzzing.rs and the others)."""
import base64, json, os, struct, tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ["users", "order_lines", "spacex_launches", "loadtest"]  # BUILTIN_SOURCES order
VALUES = {"string": "Abc", "int32": 7, "int64": 123456789, "float64": 1.5, "bool": True,
          "timestamp_ms": "2025-06-01T12:00:00.000Z"}


def source(name):
    with open(os.path.join(HERE, "..", "sources", name + ".toml"), "rb") as f:
        return tomllib.load(f)


def record(defn, alt=False):
    rec = {}
    for c in defn["columns"]:
        if "pointer" not in c:
            continue
        toks = [t.replace("~1", "/").replace("~0", "~") for t in c["pointer"].split("/")[1:]]
        node = rec
        for t in toks[:-1]:
            node = node.setdefault(t, {})
        v = VALUES[c["type"]]
        if alt:
            v = {"string": " x ", "int32": "8", "int64": "9", "float64": "2e3", "bool": "true",
                 "timestamp_ms": 1748779200000}[c["type"]]
        node[toks[-1]] = v
    for p in defn.get("never_read", []):
        toks = p.split("/")[1:]
        node = rec
        for t in toks[:-1]:
            node = node.setdefault(t, {})
        node[toks[-1]] = "hunter2-secret"
    return json.dumps(rec).encode()


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


ARRIVAL = struct.pack("<q", 1748779200000)
for i, name in enumerate(SOURCES):
    defn = source(name)
    good, alt = record(defn), record(defn, alt=True)
    write("clean", f"{name}-good", bytes([i]) + ARRIVAL + good)
    write("clean", f"{name}-alt", bytes([i]) + ARRIVAL + alt)
    write("clean", f"{name}-far", bytes([i | 0x80]) + struct.pack("<q", -(2**62)) + good)
    b64 = base64.b64encode
    lines = b"\n".join([b"\0" + good, b"\2" + alt, b"\1" + good, b"\0{}", b"\0\xff"])
    write("firehose", f"{name}-lines", bytes([i, 3]) + lines)
    event = {"invocationId": "i", "records": [
        {"recordId": "a", "approximateArrivalTimestamp": 1748779200000, "data": b64(good).decode()},
        {"recordId": "b", "approximateArrivalTimestamp": 1748779200000, "data": "!!",
         "kinesisRecordMetadata": {"approximateArrivalTimestamp": 1}}]}
    write("firehose", f"{name}-event", bytes([i, 255]) + json.dumps(event).encode())
    write("jsonl_rows", name, bytes([i, 8, 40]) + b"\n".join([good, b"", b"  " + alt + b"\r", b"x" * 300]) + b"\n")
    flat = [c for c in defn["columns"] if "pointer" in c and c["pointer"].count("/") == 1]
    if flat:
        header = ",".join(c["pointer"][1:] for c in flat)
        row = ",".join(json.dumps(VALUES[c["type"]]) if c["type"] == "string" else str(VALUES[c["type"]]).lower() for c in flat)
        quoted = ",".join('"a ""q""\nb"' for _ in flat)
        csv = "\r\n".join([header.upper(), row, "", quoted, "1,2", "x" * 300, row])
        write("csv_rows", name, bytes([i, 16, 40]) + csv.encode())
    with open(os.path.join(HERE, "..", "sources", name + ".toml"), "rb") as f:
        write("source_def", name, f.read())
write("source_def", "minimal", b'name="t"\ntable="t"\n[partition]\ncolumn="p_date"\nfrom="at"\n[[columns]]\nname="at"\narrival=true\ntype="timestamp_ms"\n')
for i, url in enumerate(["kafka://b1:9092,b2:9093/orders?sasl.password=s3cret&security.protocol=SASL_SSL",
                         "kafka://user:pw@h:1/t?x=y", "kafka://h:0/t", "kafka://h:1/../t?a",
                         "s3://bucket/prefix/a?q=1#f", "s3://b", "memory://", "https://u:p@api.example/x?api_key=k",
                         "kinesis://stream", "file://./lake", "firehose://d"]):
    write("locations", str(i), url.encode())
