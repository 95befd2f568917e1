#!/usr/bin/python3
"""tests/integration/fake_http.py - a stand-in HTTP service for the
collector's tests (test_metrics.sh): serves the files of DIR, where a
request for /a/b/?x=1 is answered with the file DIR/a_b (slashes as
underscores, the query ignored) as JSON or text, 404 otherwise. A POST
(a webhook receiver) appends its body as one line to DIR/posts.jsonl and
answers 200, or 503 while a file DIR/fail exists. With --frozen it accepts connections and never
answers (a hung service). Prints "port=N" once it listens.

Usage: fake_http.py [--frozen] [--port N] DIR
"""
import argparse
import http.server
import os
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frozen", action="store_true")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("dir")
    args = ap.parse_args()
    root = os.path.abspath(args.dir)

    if args.frozen:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", args.port))
        s.listen(64)  # the kernel completes handshakes; nobody reads
        print("port=%d" % s.getsockname()[1], flush=True)
        while True:
            time.sleep(3600)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.split("?")[0].strip("/").replace("/", "_")
            path = os.path.join(root, name)
            if not name or name.startswith(".") or not os.path.isfile(path):
                self.send_error(404)
                return
            body = open(path, "rb").read()
            self.send_response(200)
            kind = "application/json" if body[:1] in (b"{", b"[") else "text/plain; version=0.0.4"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if os.path.exists(os.path.join(root, "fail")):
                self.send_error(503)
                return
            with open(os.path.join(root, "posts.jsonl"), "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.allow_reuse_address = True
    print("port=%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
