"""A fault-injecting HTTP proxy for the tests (standard library only).

    python tests/fault_proxy.py --upstream http://127.0.0.1:45670 [--rules FILE]

prints `listening PORT` once it accepts connections, then forwards every request to the
upstream (moto_server) unchanged, except those a rule picks. Rules are a JSON list, read from
--rules and replaced at any time with `POST /__faults` (body: the list); `GET /__faults` returns
them with their `hits` (matches seen) and `fired` (faults injected). A rule:

    {"method": "PUT",                  # optional, exact
     "path": ".*partNumber=2",         # optional regex, searched in path?query
     "target": "AWSGlue.BatchUpdatePartition",  # optional regex on X-Amz-Target
     "skip": 0,                        # let the first N matches through
     "times": 2,                       # then fault N matches (-1: every one)
     "action": "slowdown"}             # see ACTIONS; "delay" takes "seconds"

Rules are tried in order; the first whose pattern matches and which has faults left fires.
Actions: slowdown (S3 503 SlowDown), internal (S3 500 InternalError), denied (S3 403
AccessDenied, not retried), throttle (JSON-protocol 400 ThrottlingException, as Glue
answers), service (JSON-protocol 500 InternalServiceException), delay (wait `seconds`, then
forward; the client has usually given up by then, the upstream still applies the request),
drop (read the request, close the connection without an answer, upstream untouched), cut
(forward, then send the answer's headers and half its body and close).
"""

import argparse
import http.client
import http.server
import json
import re
import sys
import threading
import time
import urllib.parse

S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>fault-proxy</RequestId></Error>"
)
ACTIONS = {
    "slowdown": (503, "application/xml", S3_ERROR.format(code="SlowDown", msg="Please reduce your request rate.")),
    "internal": (500, "application/xml", S3_ERROR.format(code="InternalError", msg="We encountered an internal error. Please try again.")),
    "denied": (403, "application/xml", S3_ERROR.format(code="AccessDenied", msg="Access Denied")),
    "throttle": (400, "application/x-amz-json-1.1", json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})),
    "service": (500, "application/x-amz-json-1.1", json.dumps({"__type": "InternalServiceException", "message": "Internal service error"})),
}
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}

lock = threading.Lock()
rules = []


def set_rules(new):
    for r in new:
        r.setdefault("skip", 0)
        r.setdefault("times", 1)
        r["hits"], r["fired"] = 0, 0
        if r.get("action") not in ACTIONS and r.get("action") not in ("delay", "drop", "cut"):
            raise ValueError(f"unknown action {r.get('action')!r}")
    with lock:
        rules[:] = new


def pick(method, target_path, amz_target):
    """The rule that faults this request, if any (counts the match)."""
    with lock:
        for r in rules:
            if r.get("method") and r["method"] != method:
                continue
            if r.get("path") and not re.search(r["path"], target_path):
                continue
            if r.get("target") and not re.search(r["target"], amz_target or ""):
                continue
            if r["times"] >= 0 and r["fired"] >= r["times"]:
                continue
            r["hits"] += 1
            if r["hits"] <= r["skip"]:
                return None
            r["fired"] += 1
            return dict(r)
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, ctype, payload, extra=()):
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def control(self, body):
        if self.command == "POST":
            try:
                set_rules(json.loads(body or b"[]"))
            except (ValueError, TypeError) as e:
                return self.answer(400, "text/plain", str(e))
        with lock:
            state = json.dumps(rules)
        self.answer(200, "application/json", state)

    def forward(self, body):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    def send_upstream(self, resp, data, cut=False):
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        length = resp.getheader("Content-Length")
        self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def handle_any(self):
        body = self.body()
        if self.path.startswith("/__faults"):
            return self.control(body)
        rule = pick(self.command, self.path, self.headers.get("X-Amz-Target"))
        action = rule and rule["action"]
        try:
            if action in ACTIONS:
                status, ctype, payload = ACTIONS[action]
                extra = [("x-amzn-ErrorType", json.loads(payload)["__type"])] if ctype.startswith("application/x-amz-json") else []
                return self.answer(status, ctype, payload, extra)
            if action == "drop":
                self.close_connection = True
                return
            if action == "delay":
                time.sleep(float(rule.get("seconds", 5)))
            resp, data = self.forward(body)
            self.send_upstream(resp, data, cut=action == "cut")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--rules")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    Handler.upstream = urllib.parse.urlsplit(a.upstream)
    if a.rules:
        with open(a.rules) as f:
            set_rules(json.load(f))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
