#!/usr/bin/env python3
"""Upgraded (tunnelled) HTTP connections for the integration tests, on loopback only.

    tunnel.py serve PORT          a backend that answers every request with 101 Switching
                                  Protocols and then keeps the connection open, idle; prints
                                  "listening <port>" once bound
    tunnel.py probe PORT PATH MAX sends an Upgrade request to 127.0.0.1:PORT, reads the 101,
                                  then waits up to MAX seconds for the proxy to close the idle
                                  tunnel: prints the seconds it took, or "open"
    tunnel.py idle PORT PATH MAX  the same for a plain keep-alive request: one GET, its answer,
                                  then the wait for the proxy to close the idle connection
"""
import socket
import sys
import threading
import time


def serve(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("listening", port, flush=True)
    held = []

    def handle(c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d:
                c.close()
                return
            buf += d
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
        held.append(c)  # idle until the proxy closes it
        while c.recv(4096):
            pass
        c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def probe(port, path, limit, upgrade=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    extra = "Connection: Upgrade\r\nUpgrade: test\r\n" if upgrade else ""
    s.sendall(("GET %s HTTP/1.1\r\nHost: tunnel.test\r\n%s\r\n" % (path, extra)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            print("closed before the answer")
            return
        buf += d
    if upgrade and not buf.startswith(b"HTTP/1.1 101"):
        print("answer: " + buf.split(b"\r\n", 1)[0].decode("latin-1"))
        return
    if not upgrade:
        time.sleep(0.3)  # the rest of a plain answer's body
        s.setblocking(False)
        try:
            s.recv(65536)
        except BlockingIOError:
            pass
        s.setblocking(True)
    start = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
        print("%.1f" % (time.monotonic() - start))
    except socket.timeout:
        print("open")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        probe(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[1] == "probe")
