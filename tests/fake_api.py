#!/usr/bin/env python3
"""A local stand-in for the randomuser.me API, for the AWS-path tests.

Serves pages of records made by ../shared/bench/gen_users.py (--bad-rate corruptions that
an API can return: valid JSON only, since a truncated or non-UTF-8 record cannot travel
inside a JSON response) at GET /api/?results=N&page=P as {"results": [...], "info": {...}}.
Writes to --expect the user_ids a correct pipeline keeps from every page served, and can
fail every K-th request with HTTP 500 to exercise the producer's retries.

--cursor PARAM paginates by opaque cursor instead of page number, as many APIs do: the first
call carries no PARAM, each page names the next cursor at info.next (a random token), the last
page has none, and an unknown cursor (a page number sent as one) is answered HTTP 400.
--poison-at I puts a record over 1 MiB (valid JSON, user_id "poison") at index I: no stream
takes it. --requests FILE logs each call's page or cursor ("-" for none), one per line.

  fake_api.py --port 0 --records 2000 --seed 7 --expect expected.txt [--fail-every 3]
      [--cursor cursor] [--poison-at 10] [--requests requests.txt]
prints "listening PORT" once it serves.
"""
import argparse
import http.server
import json
import os
import secrets
import subprocess
import sys
import tempfile
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bad-rate", type=float, default=0.05)
    ap.add_argument("--expect", required=True, help="file listing the user_ids a pipeline keeps")
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--cursor", help="paginate by opaque cursor in this query parameter")
    ap.add_argument("--poison-at", type=int, help="index of a record over 1 MiB")
    ap.add_argument("--requests", help="file that logs each call's page or cursor")
    ap.add_argument("--bench", default=os.environ.get("FIRELAKE_SHARED", "../shared") + "/bench")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "users.jsonl")
        subprocess.run([sys.executable, os.path.join(a.bench, "gen_users.py"), "--count", str(a.records),
                        "--seed", str(a.seed), "--bad-rate", str(a.bad_rate), "--out", out],
                       check=True, stderr=subprocess.DEVNULL)
        records = []
        for line in open(out, "rb"):
            try:
                records.append(json.loads(line.decode("utf-8")))
            except ValueError:
                continue  # cannot be part of a JSON API response
    if a.poison_at is not None:
        records.insert(a.poison_at, {"login": {"uuid": "poison"}, "pad": "x" * (1100 << 10)})
    keep = set()
    served = {"requests": 0}
    cursors = {}  # opaque token -> offset of the page it starts

    def kept(r):
        login = r.get("login") if isinstance(r, dict) else None
        uuid = login.get("uuid") if isinstance(login, dict) else None
        return uuid if isinstance(uuid, str) and uuid else None

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            served["requests"] += 1
            if a.fail_every and served["requests"] % a.fail_every == 0:
                self.send_response(500)
                self.end_headers()
                return
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            n = int(q.get("results", ["500"])[0])
            asked = q.get(a.cursor or "page", ["-"])[0]
            if a.requests:
                with open(a.requests, "a") as f:
                    f.write(asked + "\n")
            info = {"seed": str(a.seed), "version": "1.4"}
            if a.cursor:
                if asked != "-" and asked not in cursors:
                    self.send_response(400)
                    self.end_headers()
                    return
                start = cursors.get(asked, 0)
                chunk = records[start: start + n]
                if start + n < len(records):
                    token = secrets.token_urlsafe(12)
                    cursors[token] = start + n
                    info["next"] = token
            else:
                page = int(q.get("page", ["1"])[0])
                chunk = records[(page - 1) * n: page * n]
                info["page"] = page
            info["results"] = len(chunk)
            for r in chunk:
                u = kept(r)
                if u and u != "poison":
                    keep.add(u)
            with open(a.expect, "w") as f:
                f.write("\n".join(sorted(keep)) + ("\n" if keep else ""))
            body = json.dumps({"results": chunk, "info": info}, ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("listening", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
