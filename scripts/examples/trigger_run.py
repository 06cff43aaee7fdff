#!/usr/bin/env python3
"""Trigger a manual Daybreak run over the event bus and follow it to the end.

Publishes a DueEvent (topic ``due``, kind ``manual``) and repeats it until the
broker's ``due.ack`` for our key arrives, then prints every ``run.*`` event of
that run as one line.  Because PUB/SUB may drop events, the run is also polled
with the control op ``run.get`` whenever the bus has been quiet for a while, so
the script always ends (at the latest after --timeout seconds).

Exit status: 0 the run succeeded; 1 it ended failed/missed/skipped/cancelled;
2 bad arguments; 3 the broker refused the run, or --timeout expired;
130 interrupted.

Only needs pyzmq and msgpack (Debian: python3-zmq, python3-msgpack).
"""

import argparse
import datetime
import os
import socket
import sys
import time
import uuid

import msgpack
import zmq

SCHEMA_VERSION = 1
TERMINAL = {"succeeded", "failed", "missed", "skipped", "cancelled"}
DEFAULT_BUS_PUBLISH = "tcp://127.0.0.1:7401"
DEFAULT_BUS_SUBSCRIBE = "tcp://127.0.0.1:7402"
DEFAULT_CONTROL = "tcp://127.0.0.1:7403"
MAX_TEAM = 999_999_999

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def warn(msg):
    print(f"trigger_run: warning: {msg}", file=sys.stderr, flush=True)


def err(msg):
    print(f"trigger_run: error: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- arguments

def team_arg(text):
    try:
        n = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"team must be an integer, got {text!r}")
    if not 1 <= n <= MAX_TEAM:
        raise argparse.ArgumentTypeError(
            f"team must be 1..{MAX_TEAM} (use --general for the general run), got {n}")
    return n


def date_arg(text):
    try:
        datetime.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}")
    if len(text) != 10:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}")
    return text


def key_arg(text):
    if not 1 <= len(text) <= 200:
        raise argparse.ArgumentTypeError("key must be 1-200 characters")
    bad = [c for c in text if not (0x21 <= ord(c) <= 0x7E)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"key must be printable ASCII without spaces; bad character {bad[0]!r}")
    return text


def positive_float(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}")
    if not x > 0 or x != x or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return x


def endpoint_arg(text):
    if "://" not in text:
        raise argparse.ArgumentTypeError(
            f"expected a ZeroMQ endpoint such as tcp://127.0.0.1:7401, got {text!r}")
    return text


def default_key():
    host = "".join(c for c in socket.gethostname() if 0x21 <= ord(c) <= 0x7E) or "host"
    return f"manual-py:{host[:40]}:{os.getpid()}:{time.time_ns()}:{uuid.uuid4().hex[:8]}"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Trigger a manual Daybreak run on the event bus and follow it "
                    "until it finishes.",
        epilog="Exit status: 0 succeeded; 1 failed/missed/skipped/cancelled; "
               "2 bad arguments; 3 refused by the broker or timed out; 130 interrupted. "
               "Endpoint defaults come from DAYBREAK_BUS_PUBLISH, DAYBREAK_BUS_SUBSCRIBE "
               "and DAYBREAK_CONTROL, else the protocol defaults.")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--team", type=team_arg, metavar="N", help="team id (1..999999999)")
    who.add_argument("--general", action="store_true", help="the general run (team 0)")
    p.add_argument("--pdate", type=date_arg, default=None, metavar="YYYY-MM-DD",
                   help="purchase date (default: let the broker choose)")
    p.add_argument("--key", type=key_arg, default=None,
                   help="run key; the same key twice is one run (default: a unique key)")
    p.add_argument("--requested-by", default=None,
                   help="free text kept in the run record (default: user@host)")
    p.add_argument("--bus-publish", type=endpoint_arg,
                   default=os.environ.get("DAYBREAK_BUS_PUBLISH") or DEFAULT_BUS_PUBLISH,
                   help="bus publish endpoint (default: %(default)s)")
    p.add_argument("--bus-subscribe", type=endpoint_arg,
                   default=os.environ.get("DAYBREAK_BUS_SUBSCRIBE") or DEFAULT_BUS_SUBSCRIBE,
                   help="bus subscribe endpoint (default: %(default)s)")
    p.add_argument("--control", type=endpoint_arg,
                   default=os.environ.get("DAYBREAK_CONTROL") or DEFAULT_CONTROL,
                   help="control endpoint (default: %(default)s)")
    p.add_argument("--timeout", type=positive_float, default=120.0, metavar="SECONDS",
                   help="give up after this many seconds (default: %(default)s)")
    p.add_argument("--quiet-poll", type=positive_float, default=3.0, metavar="SECONDS",
                   help="poll the run via the control socket after this long without "
                        "a bus event (default: %(default)s)")
    args = p.parse_args(argv)
    args.team_id = 0 if args.general else args.team
    args.pdate = args.pdate or ""
    if args.key is None:
        args.key = default_key()
    if args.requested_by is None:
        user = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        args.requested_by = f"trigger_run.py {user}@{socket.gethostname()}"
    return args


# ---------------------------------------------------------------- decoding

def decode(raw, what):
    """Unpack one msgpack map; None (with a warning) when malformed."""
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as e:  # ExtraData, FormatError, ValueError, ...
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


def as_str(x):
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return "" if x is None else str(x)


def as_int(x, default=0):
    return x if isinstance(x, int) and not isinstance(x, bool) else default


# ---------------------------------------------------------------- control

class Control:
    """REQ client with a receive timeout; the socket is recreated after a timeout
    (a REQ socket that missed its reply cannot send again)."""

    def __init__(self, ctx, endpoint, timeout_ms=2000):
        self.ctx, self.endpoint, self.timeout_ms = ctx, endpoint, timeout_ms
        self.sock = None

    def _open(self):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        s.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
        s.connect(self.endpoint)
        self.sock = s

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def request(self, op, timeout_ms=None, **fields):
        """Returns the reply map, or None when the broker did not answer in time."""
        if self.sock is None:
            self._open()
        wait_ms = max(50, int(min(self.timeout_ms, timeout_ms or self.timeout_ms)))
        self.sock.setsockopt(zmq.RCVTIMEO, wait_ms)
        req = {"v": SCHEMA_VERSION, "op": op}
        req.update(fields)
        try:
            self.sock.send(msgpack.packb(req, use_bin_type=True))
            frames = self.sock.recv_multipart()
        except zmq.Again:
            warn(f"control {self.endpoint}: no reply to {op!r} within "
                 f"{wait_ms / 1000:g}s")
            self.close()
            return None
        except zmq.ZMQError as e:
            warn(f"control {self.endpoint}: {e}")
            self.close()
            return None
        if len(frames) != 1:
            warn(f"control reply has {len(frames)} frames, expected 1")
            return None
        return decode(frames[0], "control reply")


# ---------------------------------------------------------------- output

def run_line(source, event, run, seq=None, at_ms=None):
    parts = []
    when = at_ms if at_ms else int(time.time() * 1000)
    parts.append(datetime.datetime.fromtimestamp(when / 1000).strftime("%H:%M:%S.%f")[:-3])
    parts.append(f"{source}:{event}")
    if seq is not None:
        parts.append(f"seq={seq}")
    parts.append(f"run={as_str(run.get('run_id'))}")
    parts.append(f"team={as_int(run.get('team'))}")
    parts.append(f"state={as_str(run.get('state'))}")
    parts.append(f"attempt={as_int(run.get('attempt'))}/{as_int(run.get('max_attempts'))}")
    if run.get("runner_id"):
        parts.append(f"runner={as_str(run.get('runner_id'))}")
    if run.get("pdate"):
        parts.append(f"pdate={as_str(run.get('pdate'))}")
    exit_code = as_int(run.get("exit_code"), -1)
    if exit_code != -1:
        parts.append(f"exit_code={exit_code}")
    loans = as_int(run.get("total_loans"), -1)
    if loans != -1:
        parts.append(f"loans={loans}")
    exc = as_int(run.get("exceptions_count"), -1)
    if exc != -1:
        parts.append(f"exceptions={exc}")
    if run.get("cancel_requested") is True:
        parts.append("cancel_requested")
    if run.get("error"):
        parts.append(f"error={as_str(run.get('error'))!r}")
    return " ".join(parts)


# ---------------------------------------------------------------- main

class Follower:
    def __init__(self, args):
        self.args = args
        self.run_id = None
        self.last_state = None
        self.seen_seq = set()
        self.pending = []        # run events for our key seen before the ack
        self.final = None        # terminal RunRecord

    def on_run_event(self, topic, ev):
        run = ev.get("run")
        if not isinstance(run, dict):
            warn(f"dropping {topic}: 'run' is not a map")
            return False
        if self.run_id is None:
            if as_str(run.get("key")) == self.args.key:
                self.pending.append((topic, ev))
            return False
        if as_str(run.get("run_id")) != self.run_id:
            return False
        seq = as_int(ev.get("seq"), None)
        if seq is not None:
            if seq in self.seen_seq:
                return False
            self.seen_seq.add(seq)
        event = as_str(ev.get("event")) or topic[4:]
        print(run_line("run", event, run, seq, as_int(ev.get("at_unix_ms"))), flush=True)
        self.note(run)
        return True

    def note(self, run):
        self.last_state = as_str(run.get("state"))
        if self.last_state in TERMINAL:
            self.final = run

    def acknowledged(self, run_id):
        self.run_id = run_id
        pending, self.pending = self.pending, []
        for topic, ev in pending:
            self.on_run_event(topic, ev)


def main(argv=None):
    args = parse_args(argv)
    deadline = time.monotonic() + args.timeout
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    control = Control(ctx, args.control)
    try:
        return follow(args, deadline, sub, pub, control)
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    finally:
        control.close()
        sub.close(0)
        pub.close(0)
        ctx.term()


def follow(args, deadline, sub, pub, control):
    # Subscribe before publishing so the ack and early run events are not missed.
    sub.connect(args.bus_subscribe)
    sub.setsockopt(zmq.SUBSCRIBE, b"due.ack")
    sub.setsockopt(zmq.SUBSCRIBE, b"run.")
    pub.connect(args.bus_publish)

    due = {"v": SCHEMA_VERSION, "team": args.team_id, "kind": "manual",
           "key": args.key, "requested_by": args.requested_by}
    if args.pdate:
        due["pdate"] = args.pdate
    due_frame = msgpack.packb(due, use_bin_type=True)
    team_txt = "general" if args.team_id == 0 else f"team {args.team_id}"
    print(f"triggering manual run for {team_txt} key={args.key}"
          + (f" pdate={args.pdate}" if args.pdate else ""), flush=True)

    f = Follower(args)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    next_send = time.monotonic()
    sends = 0
    last_activity = time.monotonic()
    ack_wait_warned = False

    while True:
        now = time.monotonic()
        if now >= deadline:
            if f.run_id is None:
                err(f"no due.ack for key {args.key} after {args.timeout:g}s "
                    f"({sends} publishes); is the broker running on {args.bus_publish}?")
            else:
                # One last look via control before giving up.
                reply = control.request("run.get", timeout_ms=500, run_id=f.run_id)
                if reply and reply.get("ok") is True and isinstance(reply.get("run"), dict):
                    run = reply["run"]
                    print(run_line("poll", "run.get", run), flush=True)
                    f.note(run)
                    if f.final is not None:
                        break
                err(f"timed out after {args.timeout:g}s; run {f.run_id} is still "
                    f"{f.last_state or 'unknown'}")
            return EXIT_ERROR

        # Before the ack: (re)publish the due event every 500 ms.
        if f.run_id is None and now >= next_send:
            pub.send_multipart([b"due", due_frame])
            sends += 1
            next_send = now + 0.5
            if sends == 20 and not ack_wait_warned:
                warn(f"still no due.ack after 10s; is the broker reachable at "
                     f"{args.bus_publish} / {args.bus_subscribe}?")
                ack_wait_warned = True

        wait = min(deadline, next_send if f.run_id is None else now + 0.25) - now
        events = dict(poller.poll(max(0, int(wait * 1000)) + 1))
        if sub in events:
            while True:
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) != 2:
                    warn(f"dropping bus message with {len(frames)} frames (expected 2)")
                    continue
                topic = frames[0].decode("utf-8", "replace")
                msg = decode(frames[1], f"{topic!r} frame")
                if msg is None:
                    continue
                if topic == "due.ack":
                    if as_str(msg.get("key")) != args.key or f.run_id is not None:
                        continue
                    run_id = as_str(msg.get("run_id"))
                    if not run_id:
                        err(f"broker refused the run: {as_str(msg.get('error')) or 'no reason given'}")
                        return EXIT_ERROR
                    dup = msg.get("duplicate") is True
                    print(f"due.ack run={run_id}" + (" duplicate (key already known; following the existing run)" if dup else "")
                          + f" after {sends} publish(es)", flush=True)
                    last_activity = time.monotonic()
                    f.acknowledged(run_id)
                    if dup and f.final is None:
                        # The run may have finished long ago: ask right away.
                        last_activity = 0.0
                elif topic.startswith("run."):
                    if f.on_run_event(topic, msg):
                        last_activity = time.monotonic()
                if f.final is not None:
                    break
        if f.final is not None:
            break

        # Bus quiet for a while: poll the run on the control socket.
        if f.run_id is not None and time.monotonic() - last_activity >= args.quiet_poll:
            last_activity = time.monotonic()
            left_ms = (deadline - time.monotonic()) * 1000
            reply = control.request("run.get", timeout_ms=left_ms, run_id=f.run_id)
            if reply is None:
                continue
            if reply.get("ok") is not True:
                warn(f"run.get {f.run_id}: {as_str(reply.get('error')) or 'ok is false'}")
                continue
            run = reply.get("run")
            if not isinstance(run, dict):
                warn("run.get reply without a 'run' map")
                continue
            state = as_str(run.get("state"))
            if state != f.last_state or state in TERMINAL:
                print(run_line("poll", "run.get", run), flush=True)
            f.note(run)
            if f.final is not None:
                break

    state = as_str(f.final.get("state"))
    print(f"run {f.run_id} finished: {state}", flush=True)
    return EXIT_OK if state == "succeeded" else EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
