"""Helpers shared by the Python benchmarks."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
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


def median_range(v, fmt="%.2f"):
    """'median (min-max)' of the numbers v, each formatted with fmt; 'n/a' when v is empty."""
    if not v:
        return "n/a"
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med, v[0], v[-1])


class LocalFlowproxy:
    """flowproxy in local mode (docs/local-mode.md) on free 127.0.0.1 ports, from a list of
    services-file entries, with its own HAProxy. Its stderr is read line by line; each line is
    kept with the time.monotonic() of its arrival, so that log lines time events (a scale, a copy
    started). Extra environment in env (AUTOSCALE_INTERVAL, ...). stop() ends it (SIGTERM, then
    SIGKILL after 10 s) and removes its directory."""

    def __init__(self, build, services, env=None):
        self.tmp = tempfile.mkdtemp(prefix="fp-bench-")
        self.port, self.api = free_port(), free_port()
        with open(self.tmp + "/services.json", "w") as f:
            json.dump({"services": services}, f)
        e = dict(os.environ, DEFAULT_PORTS=str(self.port), BIND_ADDRESS="127.0.0.1",
                 LOG_LEVEL="2")
        e.update(env or {})
        self.lines = []  # (monotonic time, line)
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [os.path.join(build, "flowproxy"), "server", "--ip", "127.0.0.1", "--port",
             str(self.api), "--configs-path", self.tmp + "/cfg", "--run-dir", self.tmp + "/run",
             "--services-file", self.tmp + "/services.json"],
            env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        end = time.monotonic() + 30
        while True:
            try:
                if http_get(self.api, "/v1/docker-flow-proxy/ping", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("flowproxy did not start")
            time.sleep(0.02)

    def _read(self):
        for raw in self.proc.stderr:
            t = time.monotonic()
            with self.cond:
                self.lines.append((t, raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()

    def wait_line(self, regex, after=0.0, timeout=30.0):
        """(time, match) of the first log line that arrived at or after the monotonic time
        after and matches regex (re.search); (None, None) when none comes within timeout."""
        rx = re.compile(regex)
        end = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    i += 1
                    m = rx.search(line) if t >= after else None
                    if m:
                        return t, m
                left = end - time.monotonic()
                if left <= 0:
                    return None, None
                self.cond.wait(left)

    def grep(self, regex):
        """(time, line) of every log line so far that matches regex."""
        rx = re.compile(regex)
        with self.cond:
            return [(t, l) for t, l in self.lines if rx.search(l)]

    def autoscale(self, service):
        """The service's entry of GET /v1/flowproxy/autoscale (a dict), None when absent."""
        st, body = http_get(self.api, "/v1/flowproxy/autoscale", timeout=5)
        if st != 200:
            return None
        for s in json.loads(body).get("services", []):
            if s.get("service") == service:
                return s
        return None

    def wait_running(self, service, n, timeout=30.0):
        """Waits until the autoscale endpoint shows n copies of service running."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.autoscale(service)
            if s and s.get("replicas", {}).get("running") == n:
                return
            time.sleep(0.1)
        raise RuntimeError("%s: %d copies did not come up" % (service, n))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get("KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


class PacedLoad:
    """An open-loop load: GET requests at `rate` per second to 127.0.0.1:port, each on a new
    connection, from up to `workers` threads, whatever the answers' times (so slow answers do not
    slow the load down). path() gives the next request's path; rate and path may be changed
    while it runs. Each answer is kept as (sent, answered, status, name, path), the times
    monotonic, name the testserver's `name=` (None when absent or failed). Bounded: it stops by itself after
    max_requests requests or max_seconds, whichever comes first."""

    def __init__(self, port, rate, path, workers=64, max_requests=1000000, max_seconds=3600):
        self.port, self.rate, self.path = port, rate, path
        self.workers, self.max_requests, self.max_seconds = workers, max_requests, max_seconds
        self.results = []
        self.lock = threading.Lock()
        self.sent = 0
        self.stopping = threading.Event()
        self.sem = threading.Semaphore(workers)
        self.thread = threading.Thread(target=self._pace, daemon=True)
        self.thread.start()

    def _one(self, path):
        sent = time.monotonic()
        status, name = 0, None
        try:
            st, body = http_get(self.port, path, timeout=10)
            status = st
            if body.startswith(b"name="):
                name = body[5:body.find(b" ")].decode()
        except OSError:
            pass
        with self.lock:
            self.results.append((sent, time.monotonic(), status, name, path))
        self.sem.release()

    def _pace(self):
        start = nxt = time.monotonic()
        while not self.stopping.is_set():
            if self.sent >= self.max_requests or time.monotonic() - start > self.max_seconds:
                break
            # When every worker is busy the request waits here: it is sent late, not dropped,
            # and its "sent" time is the real one.
            self.sem.acquire()
            threading.Thread(target=self._one, args=(self.path(),), daemon=True).start()
            self.sent += 1
            nxt += 1.0 / max(self.rate, 0.1)
            d = nxt - time.monotonic()
            if d > 0:
                self.stopping.wait(d)
            elif d < -1.0:
                nxt = time.monotonic()  # fell behind: do not catch up in a burst

    def stop(self, drain=15.0):
        """Stops sending; waits up to drain seconds for the answers still due."""
        self.stopping.set()
        self.thread.join()
        for _ in range(self.workers):
            if not self.sem.acquire(timeout=drain):
                break

    def snapshot(self):
        with self.lock:
            return list(self.results)
