#!/usr/bin/env python3
"""A small HTTP receiver for notifier tests: records every POST as a JSON
line and answers as told (success, 500 forever, 429 with Retry-After for
the first N requests, or a failure while a file exists). Standard library
only."""
import argparse
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--status", type=int, default=200, help="answer for failing requests")
parser.add_argument("--fail-first", type=int, default=0, help="fail this many requests (-1: all)")
parser.add_argument("--retry-after", default="", help="Retry-After value sent with failures")
parser.add_argument("--fail-while", default="",
                    help="fail every request while this file exists (then answer 200)")
args = parser.parse_args()

lock = threading.Lock()
count = 0
log = open(args.log, "a", buffering=1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the
        # client's delayed ACK add 40 ms to every answer.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count += 1
            failing = args.fail_first < 0 or count <= args.fail_first
            if args.fail_while:
                failing = os.path.exists(args.fail_while)
            status = args.status if failing else 200
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            log.write(json.dumps({"t": time.time(), "n": count, "path": self.path, "status": status,
                                  "event_id": self.headers.get("X-Daybreak-Event-Id", ""),
                                  "json": parsed}) + "\n")
        reply = b"ok" if status == 200 else b"nope"
        self.send_response(status)
        if failing and args.retry_after:
            self.send_header("Retry-After", args.retry_after)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *unused):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, args.port_file)
server.serve_forever()
