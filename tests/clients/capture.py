#!/usr/bin/env python3
"""A logging server for capturing what a released client sends (docs/CLIENTS.md).

    python3 tests/clients/capture.py PORT LOG

Every request is appended to LOG as one JSON line: method, path, headers and
the top-level keys of a JSON body (a zstd body is decompressed first with the
`zstd` command). A POST is answered 500 and anything else 404, so a client
gives up after its first request (set its retries to 0). Loopback only.
"""
import http.server
import json
import subprocess
import sys

LOG = sys.argv[2]


class Capture(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, entry):
        entry.update(method=self.command, path=self.path, headers=dict(self.headers))
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def do_GET(self):
        self.record({})
        self.send_response(404)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            if self.headers.get("content-encoding") == "zstd":
                body = subprocess.run(["zstd", "-dc"], input=body, capture_output=True).stdout
            keys = list(json.loads(body).keys())
        except (ValueError, AttributeError) as e:
            keys = str(e)
        self.record({"body_keys": keys})
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error":{"message":"captured"}}')


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Capture).serve_forever()
