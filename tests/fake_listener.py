#!/usr/bin/env python3
"""fake_listener: a Docker Flow Swarm Listener stand-in, for LISTENER_ADDRESS start-up.

    tests/fake_listener.py PORT [--addr 127.0.0.1] [--services FILE] [--fail-first N]

Listens on ADDR:PORT and answers what Docker Flow Proxy asks the listener (reference
swarm-listener-monitor-docker-api.md §1.4), with faults on demand:

    GET /v1/docker-flow-swarm-listener/get-services     the JSON array in FILE (read again at
                                                         each request; [] without one); the first
                                                         N requests answer 503 instead
    GET /v1/docker-flow-swarm-listener/notify-services  {"Status":"OK"}, counted
    GET /v1/docker-flow-swarm-listener/ping             {"Status":"OK"}
    GET /_fake/hits                                      {"get": n, "notify": m}: requests seen

Prints "listening <port>" on stdout once it accepts connections.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/v1/docker-flow-swarm-listener/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--services")
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    hits = {"get": 0, "notify": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == PREFIX + "get-services":
                hits["get"] += 1
                if hits["get"] <= args.fail_first:
                    return self.answer(503, {"Status": "NOK", "Message": "not yet"})
                services = []
                if args.services:
                    with open(args.services, encoding="utf-8") as f:
                        services = json.load(f)
                return self.answer(200, services)
            if path == PREFIX + "notify-services":
                hits["notify"] += 1
                return self.answer(200, {"Status": "OK"})
            if path == PREFIX + "ping":
                return self.answer(200, {"Status": "OK"})
            if path == "/_fake/hits":
                return self.answer(200, hits)
            return self.answer(404, {"Status": "NOK", "Message": "no such path"})

        def log_message(self, fmt, *a):
            sys.stderr.write("fake_listener: " + (fmt % a) + "\n")

    srv = ThreadingHTTPServer((args.addr, args.port), Handler)
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
