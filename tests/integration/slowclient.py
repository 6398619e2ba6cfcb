#!/usr/bin/env python3
# Misbehaving HTTP clients for t_api_flood.sh, each bound to a loopback source address so that
# the server sees one client address per role. Every mode prints one line of key=value words.
#
#   hold   --src A --port P --count N [--ready FILE]
#          Opens N connections, sends half a request line on each, and holds them until
#          SIGTERM. FILE gets "open=.. closed=.. failed=..": connections opened, closed by the
#          server once that count has settled, and connects that failed.
#   limit  --src A --port P --count N
#          Opens N connections with half a request each, waits 1 s, then completes the request
#          on those still open and reads the answers: open=.. closed=.. answered=.. first_closed=..
#   again  --src A --port P --count N [--interval S] [--linger]
#          Sends N requests on one kept-alive connection, S seconds apart: answered=.. after=S;
#          with --linger, then stays silent and adds closed=S, when the server closed it
#          (seconds after the last answer; "open" after --max seconds).
#   drip   --src A --port P --head TEXT --drip N [--interval S] [--max S]
#          Sends TEXT (\r\n escapes allowed), then N bytes "a", one per interval, then reads the
#          answer. Prints how it ended: "closed after=S" (the server hung up), "status=CODE
#          after=S", or "open after=S" when --max seconds passed with the connection still open.
import argparse
import errno
import os
import resource
import select
import signal
import socket
import sys
import time

HALF = b"GET /v1/docker-flow-proxy/ping HTTP/1.1\r\nHo"
REST = b"st: x\r\n\r\n"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(src, port, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def is_closed(s):
    """True once the server has closed s (EOF or reset); never blocks."""
    p = select.poll()
    p.register(s, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def send_half(s):
    try:
        s.sendall(HALF)
        return True
    except OSError:
        return False


def cmd_hold(o):
    raise_nofile()
    socks = []
    failed = 0
    for _ in range(o.count):
        try:
            s = connect(o.src, o.port)
        except OSError:
            failed += 1
            continue
        send_half(s)
        socks.append(s)
    # The server closes refused connections as it accepts them: count once that has settled
    # (no change for 0.5 s, 5 s at most), so that a busy machine does not make the count early.
    closed, still, end = -1, 0, time.monotonic() + 5.0
    while still < 5 and time.monotonic() < end:
        time.sleep(0.1)
        n = sum(1 for s in socks if is_closed(s))
        still = still + 1 if n == closed else 0
        closed = n
    line = "open=%d closed=%d failed=%d" % (len(socks), closed, failed)
    if o.ready:
        with open(o.ready + ".tmp", "w") as f:
            f.write(line + "\n")
        os.rename(o.ready + ".tmp", o.ready)
    print(line, flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.1)
    for s in socks:
        s.close()


def cmd_limit(o):
    raise_nofile()
    socks = []
    for _ in range(o.count):
        s = connect(o.src, o.port)
        send_half(s)
        socks.append(s)
    time.sleep(1.0)
    closed = [i for i, s in enumerate(socks) if is_closed(s)]
    answered = 0
    end = time.monotonic() + 5.0  # for all the answers: a server that never answers costs 5 s
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            s.sendall(REST)
            data = b""
            s.settimeout(max(0.01, end - time.monotonic()))
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                answered += 1
        except OSError:
            pass
    print(
        "open=%d closed=%d answered=%d first_closed=%s"
        % (len(socks) - len(closed), len(closed), answered, closed[0] if closed else -1),
        flush=True,
    )


def cmd_again(o):
    t0 = time.monotonic()
    s = connect(o.src, o.port)
    answered = 0
    for i in range(o.count):
        if i:
            time.sleep(o.interval)
        try:
            s.sendall(b"GET /v1/docker-flow-proxy/ping HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(body) < length:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
        except OSError:
            break
        if not head.startswith(b"HTTP/1.1 200"):
            break
        answered += 1
    line = "answered=%d after=%.2f" % (answered, time.monotonic() - t0)
    if o.linger:
        t1 = time.monotonic()
        while not is_closed(s) and time.monotonic() - t1 < o.max:
            time.sleep(0.05)
        line += " closed=" + ("%.2f" % (time.monotonic() - t1) if is_closed(s) else "open")
    print(line, flush=True)


def cmd_drip(o):
    head = o.head.encode().decode("unicode_escape").encode("latin-1")
    t0 = time.monotonic()
    s = connect(o.src, o.port)

    def elapsed():
        return time.monotonic() - t0

    def gone():
        print("closed after=%.2f" % elapsed(), flush=True)

    try:
        s.sendall(head)
        for _ in range(o.drip):
            deadline = time.monotonic() + o.interval
            while time.monotonic() < deadline:
                if is_closed(s):
                    return gone()
                if elapsed() > o.max:
                    return print("open after=%.2f" % elapsed(), flush=True)
                time.sleep(0.05)
            s.sendall(b"a")
        s.settimeout(max(0.1, o.max - elapsed()))
        data = s.recv(4096)
    except socket.timeout:
        return print("open after=%.2f" % elapsed(), flush=True)
    except OSError as e:
        if e.errno in (errno.EPIPE, errno.ECONNRESET):
            return gone()
        raise
    if not data:
        return gone()
    print("status=%s after=%.2f" % (data.split(b" ")[1].decode(), elapsed()), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["hold", "limit", "again", "drip"])
    p.add_argument("--src", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--ready")
    p.add_argument("--head", default="")
    p.add_argument("--drip", type=int, default=0)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--max", type=float, default=30.0)
    p.add_argument("--linger", action="store_true")
    o = p.parse_args()
    {"hold": cmd_hold, "limit": cmd_limit, "again": cmd_again, "drip": cmd_drip}[o.mode](o)


if __name__ == "__main__":
    sys.exit(main())
