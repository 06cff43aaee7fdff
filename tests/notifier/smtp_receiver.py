#!/usr/bin/python3
"""A real SMTP server for notifier tests (Debian's python3-aiosmtpd): every
message it accepts is appended to --log as a JSON line. With --cert/--key it
offers STARTTLS and refuses mail without it."""
import argparse
import json
import os
import socket
import ssl
import threading
import time

from aiosmtpd.controller import Controller

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--cert", default="")
parser.add_argument("--key", default="")
args = parser.parse_args()

lock = threading.Lock()
log = open(args.log, "a", buffering=1)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            log.write(json.dumps({"t": time.time(), "from": envelope.mail_from,
                                  "to": envelope.rcpt_tos,
                                  "tls": session.ssl is not None,
                                  "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 OK"


probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
kwargs = {}
if args.cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    kwargs = {"tls_context": context, "require_starttls": True}
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(port))
os.rename(tmp, args.port_file)
threading.Event().wait()
