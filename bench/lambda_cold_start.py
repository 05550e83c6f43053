#!/usr/bin/env python3
"""Cold start of a Lambda binary: process start to its first response, under a minimal
Lambda runtime API served here (the three calls a lambda_runtime binary makes).

    python3 bench/lambda_cold_start.py BINARY EVENT.json [--runs N] [--env K=V ...]

Prints one JSON line: the median, min and max milliseconds over N fresh processes, and the
response's size. Used for docs/measurements.md; not part of the test suite.
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import threading
import time


class Api(http.server.BaseHTTPRequestHandler):
    event = b"{}"
    served = False
    response = None
    done = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next") or Api.served:
            # One invocation per process: later polls wait until the process is stopped.
            Api.done.wait()
            self.send_response(500)
            self.end_headers()
            return
        Api.served = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:000000000000:function:cold-start")
        self.send_header("Content-Length", str(len(Api.event)))
        self.end_headers()
        self.wfile.write(Api.event)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Api.response = (self.path, body, time.perf_counter())
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        Api.done.set()


def one_run(binary, env):
    Api.served, Api.response = False, None
    Api.done = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not Api.done.wait(60):
        proc.kill()
        raise SystemExit(f"{binary}: no response within 60 s")
    path, body, at = Api.response
    proc.kill()
    proc.wait()
    server.shutdown()
    if not path.endswith("/response"):
        raise SystemExit(f"{binary}: answered {path}: {body[:300]!r}")
    return (at - start) * 1000, len(body)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("event")
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--env", action="append", default=[])
    a = p.parse_args()
    Api.event = open(a.event, "rb").read()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA")}
    env.update(AWS_LAMBDA_FUNCTION_NAME="cold-start", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_LOG_GROUP_NAME="cold-start",
               AWS_LAMBDA_LOG_STREAM_NAME="cold-start", AWS_REGION="us-east-1")
    env.update(kv.split("=", 1) for kv in a.env)
    runs = [one_run(a.binary, env) for _ in range(a.runs)]
    ms = [r[0] for r in runs]
    print(json.dumps({"binary": a.binary, "runs": a.runs, "median_ms": round(statistics.median(ms), 1),
                      "min_ms": round(min(ms), 1), "max_ms": round(max(ms), 1),
                      "response_bytes": runs[0][1]}))


if __name__ == "__main__":
    main()
