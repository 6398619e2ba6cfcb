#!/usr/bin/env python3
# Helpers for t_autoscale.sh, on 127.0.0.1 only, every one bounded in rate, count and time.
#
#   load     --port P --path PATH --rate R --seconds S --out FILE
#            Sends R requests a second (at most 50) to http://127.0.0.1:P/PATH for at most S
#            seconds (at most 120), each from its own thread (at most 64 in flight), and appends
#            one line per answer to FILE: "<ms since the epoch, sent> <status> <name=...>" (the
#            test server's first word; "-" when there was none). SIGTERM stops it at once.
#   receiver --port P --out FILE
#            An HTTP server that appends one JSON line {"method", "path", "body"} per request to
#            FILE and answers 200 "ok" (bodies over 64 KiB are cut). Prints "listening" once
#            bound.
import argparse
import http.client
import http.server
import json
import signal
import sys
import threading
import time

RATE_MAX = 50
SECONDS_MAX = 120
IN_FLIGHT_MAX = 64
BODY_MAX = 64 * 1024


def load(a):
    rate = min(max(a.rate, 1), RATE_MAX)
    seconds = min(max(a.seconds, 0), SECONDS_MAX)
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(IN_FLIGHT_MAX)
    out = open(a.out, "a", buffering=1)

    def one(sent):
        status, name = 0, "-"
        try:
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
            c.request("GET", a.path, headers={"Connection": "close"})
            r = c.getresponse()
            status = r.status
            first = r.read(512).decode("utf-8", "replace").split(" ", 1)[0]
            if first.startswith("name="):
                name = first[5:]
            c.close()
        except OSError:
            pass
        finally:
            slots.release()
        with lock:
            out.write("%d %d %s\n" % (sent, status, name))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if not slots.acquire(timeout=1):
            continue  # the server is stuck: skip a request rather than pile them up
        t = threading.Thread(target=one, args=(int(time.time() * 1000),), daemon=True)
        t.start()
        i += 1


class Receiver(http.server.BaseHTTPRequestHandler):
    def record(self):
        n = min(int(self.headers.get("Content-Length") or 0), BODY_MAX)
        body = self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""
        line = json.dumps({"method": self.command, "path": self.path, "body": body})
        with self.server.lock:
            with open(self.server.out, "a") as f:
                f.write(line + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = record
    do_GET = record

    def log_message(self, *args):
        pass


def receiver(a):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Receiver)
    srv.out = a.out
    srv.lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening", flush=True)
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["load", "receiver"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.mode == "load":
        load(a)
    else:
        receiver(a)


if __name__ == "__main__":
    main()
