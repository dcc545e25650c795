#!/usr/bin/env python3
"""qmp.py - a minimal QMP client for Kemari's shell tests.

usage: qmp.py SOCKET COMMAND [JSON-ARGS]      run one command, print the
                                              "return" value as JSON
       qmp.py SOCKET COMMAND JSON-ARGS --then-event NAME [--timeout S]
              [--match K=V]                   run it, then wait on the same
                                              connection for an event; print
                                              the milliseconds in between
       qmp.py SOCKET --wait-event NAME [--timeout S] [--match K=V]
                                              wait for an event, print it
Exit status: 0 on success, 1 on a QMP error (message on stderr), 2 on
usage or connection errors, 3 on timeout.
"""
import json
import socket
import sys
import time


def readmsg(f):
    line = f.readline()
    if not line:
        print("qmp.py: QEMU closed the connection", file=sys.stderr)
        sys.exit(2)
    return json.loads(line)


def connect(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                print(f"qmp.py: cannot connect to {path}", file=sys.stderr)
                sys.exit(2)
            time.sleep(0.05)
    f = s.makefile("rw")
    readmsg(f)                                   # greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    while "return" not in readmsg(f):
        pass
    return s, f


def parse_wait(opts):
    """--timeout S and --match K=V options: (timeout, {K: V})."""
    timeout, match = 30.0, {}
    while opts:
        if opts[0] == "--timeout":
            timeout = float(opts[1])
        elif opts[0] == "--match":
            k, v = opts[1].split("=", 1)
            match[k] = v
        else:
            print(f"qmp.py: unknown option {opts[0]}", file=sys.stderr)
            sys.exit(2)
        opts = opts[2:]
    return timeout, match


def wait_event(f, name, match, deadline, pending=()):
    """The first event NAME whose data matches, or None at the deadline."""
    queue = list(pending)
    try:
        while time.monotonic() < deadline:
            msg = queue.pop(0) if queue else readmsg(f)
            data = msg.get("data", {})
            if msg.get("event") == name and \
                    all(str(data.get(k)) == v for k, v in match.items()):
                return msg
    except (socket.timeout, TimeoutError):
        pass
    return None


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd, rest = argv[1], argv[2], argv[3:]
    if cmd == "--wait-event":
        timeout, match = parse_wait(rest[1:])
        s, f = connect(path, 5)
        s.settimeout(timeout)
        msg = wait_event(f, rest[0], match, time.monotonic() + timeout)
        if msg:
            print(json.dumps(msg))
            return 0
        print(f"qmp.py: no {rest[0]} event in {timeout} s", file=sys.stderr)
        return 3

    then, timeout, match = None, 30.0, {}
    if "--then-event" in rest:
        i = rest.index("--then-event")
        then = rest[i + 1]
        timeout, match = parse_wait(rest[i + 2:])
        rest = rest[:i]
    req = {"execute": cmd}
    if rest and rest[0] != "{}":
        req["arguments"] = json.loads(rest[0])
    s, f = connect(path, 5)
    s.settimeout(timeout)
    t0 = time.monotonic()
    f.write(json.dumps(req) + "\n")
    f.flush()
    events = []
    try:
        while True:
            msg = readmsg(f)
            if "event" in msg:
                events.append(msg)
            elif "error" in msg:
                print(f"qmp.py: {cmd}: {msg['error']['desc']}",
                      file=sys.stderr)
                return 1
            elif "return" in msg:
                break
    except (socket.timeout, TimeoutError):
        print(f"qmp.py: {cmd}: no reply in {timeout} s", file=sys.stderr)
        return 3
    if not then:
        print(json.dumps(msg["return"]))
        return 0
    if wait_event(f, then, match, t0 + timeout, events):
        print("%.1f" % ((time.monotonic() - t0) * 1000))
        return 0
    print(f"qmp.py: no {then} event in {timeout} s", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
