"""Helpers shared by the Python benchmarks."""
import http.client
import socket
import time


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_get(port, path, timeout=5.0, source=None):
    """(status, body) of GET http://127.0.0.1:port/path, a new connection each time, from the
    address source when given."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def master_cmd(sock, cmd, timeout=10.0):
    """One command on an HAProxy master CLI; its output (the master re-execs on reload, and
    refuses connections meanwhile: the connect is retried until timeout)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                s.connect(sock)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.002)
        s.sendall(cmd.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
        return out.decode(errors="replace")
    finally:
        s.close()
