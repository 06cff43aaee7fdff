#!/usr/bin/env python3
"""Print Daybreak alert events (and optionally run events) as JSON lines.

Subscribes to ``alert.`` (and ``run.`` with --runs) on the event bus and prints
one JSON object per event: {"topic": ..., "payload": {...}}.  bin values are
decoded to str (UTF-8, invalid bytes replaced).

PUB/SUB can drop events (e.g. right after connecting); use the control op
``events.since`` if you need a gap-free stream.

Exit status: 0 after --count events or on Ctrl-C; 1 when --timeout expired
first; 2 bad arguments.  Only needs pyzmq and msgpack.
"""

import argparse
import json
import os
import signal
import sys
import time

import msgpack
import zmq

SCHEMA_VERSION = 1
DEFAULT_BUS_SUBSCRIBE = "tcp://127.0.0.1:7402"
MAX_TEAM = 999_999_999


def warn(msg):
    print(f"subscribe_alerts: warning: {msg}", file=sys.stderr, flush=True)


def team_arg(text):
    try:
        n = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"team must be an integer, got {text!r}")
    if not 0 <= n <= MAX_TEAM:
        raise argparse.ArgumentTypeError(f"team must be 0..{MAX_TEAM} (0 = general), got {n}")
    return n


def positive_int(text):
    try:
        n = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def positive_float(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return x


def endpoint_arg(text):
    if "://" not in text:
        raise argparse.ArgumentTypeError(
            f"expected a ZeroMQ endpoint such as tcp://127.0.0.1:7402, got {text!r}")
    return text


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Print Daybreak alert events (and optionally run events) as JSON lines.",
        epilog="Exit status: 0 after --count events or on Ctrl-C; 1 on --timeout; "
               "2 bad arguments. The endpoint default comes from DAYBREAK_BUS_SUBSCRIBE.")
    p.add_argument("--runs", action="store_true", help="also print run.* events")
    p.add_argument("--team", type=team_arg, metavar="N",
                   help="only events for this team (0 = general run)")
    p.add_argument("--count", type=positive_int, metavar="N",
                   help="exit after printing N events")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS",
                   help="exit with status 1 if --count events have not arrived by then "
                        "(default: wait forever)")
    p.add_argument("--bus-subscribe", type=endpoint_arg,
                   default=os.environ.get("DAYBREAK_BUS_SUBSCRIBE") or DEFAULT_BUS_SUBSCRIBE,
                   help="bus subscribe endpoint (default: %(default)s)")
    return p.parse_args(argv)


def jsonable(x):
    """msgpack-decoded value -> JSON-safe value (bytes to str, non-str keys to str)."""
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, dict):
        return {(k if isinstance(k, str) else jsonable(k) if isinstance(k, bytes) else str(k)):
                jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    if isinstance(x, msgpack.ExtType):
        return {"ext_code": x.code, "data": x.data.hex()}
    return x


def decode(raw, what):
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as e:
        warn(f"dropping malformed {what}: {type(e).__name__}: {str(e) or 'invalid msgpack'}")
        return None
    if not isinstance(obj, dict):
        warn(f"dropping {what}: not a map ({type(obj).__name__})")
        return None
    v = obj.get("v")
    if not isinstance(v, int) or isinstance(v, bool):
        warn(f"dropping {what}: missing or non-integer 'v'")
        return None
    if v > SCHEMA_VERSION:
        warn(f"dropping {what}: schema version {v} is newer than {SCHEMA_VERSION}")
        return None
    return obj


def event_team(topic, payload):
    if topic.startswith("run."):
        run = payload.get("run")
        return run.get("team") if isinstance(run, dict) else None
    return payload.get("team")


def main(argv=None):
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both end the loop cleanly.
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    deadline = time.monotonic() + args.timeout if args.timeout else None
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(args.bus_subscribe)
    sub.setsockopt(zmq.SUBSCRIBE, b"alert.")
    if args.runs:
        sub.setsockopt(zmq.SUBSCRIBE, b"run.")
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    printed = 0
    rc = 0
    try:
        while not stop["flag"]:
            if deadline is not None and time.monotonic() >= deadline:
                warn(f"timed out after {args.timeout:g}s with {printed} event(s)")
                rc = 1
                break
            try:
                ready = dict(poller.poll(200))
            except zmq.ZMQError as e:
                if stop["flag"]:
                    break
                raise
            if sub not in ready:
                continue
            frames = sub.recv_multipart()
            if len(frames) != 2:
                warn(f"dropping bus message with {len(frames)} frames (expected 2)")
                continue
            topic = frames[0].decode("utf-8", "replace")
            payload = decode(frames[1], f"{topic!r} frame")
            if payload is None:
                continue
            if args.team is not None:
                team = event_team(topic, payload)
                if not isinstance(team, int) or isinstance(team, bool) or team != args.team:
                    continue
            line = json.dumps({"topic": topic, "payload": jsonable(payload)},
                              ensure_ascii=False, sort_keys=True)
            try:
                print(line, flush=True)
            except BrokenPipeError:
                # Reader went away (e.g. piped into head): stop quietly.
                try:
                    sys.stdout = open(os.devnull, "w")
                except OSError:
                    pass
                break
            printed += 1
            if args.count is not None and printed >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(0)
        ctx.term()
    return rc


if __name__ == "__main__":
    sys.exit(main())
