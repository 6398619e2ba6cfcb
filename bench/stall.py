#!/usr/bin/env python3
"""A stalled Docker Engine, a big configuration, idle API clients: does flowproxy's loop wait?

flowproxy runs in swarm mode against tests/fake_docker.py (DOCKER_HOST=tcp://127.0.0.1:<port>,
RESYNC_INTERVAL=2, so resyncs keep coming), with its own HAProxy on free loopback ports and a
test backend (build/tests/testserver). The fake engine lists two labelled services, svc0 (/svc0,
the one loaded) and svc1 (/svc1), whose tasks are at 127.0.0.1, the test backend.

SCENARIO=stall (default). Each of ROUNDS rounds has three phases, so that every comparison is a
ratio within one run:
  normal  NORMAL_CALLS reconfigure calls, one after the other, each adding a service; the time
          is API call -> first request HAProxy serves on the new route; flowproxy's
          configuration is kept after each call;
  bare    the same configurations applied to a bare HAProxy (master-worker, its own port) with
          the master CLI `reload`, timed the same way (as bench/reconfigure.py does);
  stall   the fake engine stalls for STALL seconds (reads requests, never answers). Meanwhile:
          a paced load of RATE requests/s through HAProxy to /svc0 (LOAD_THREADS keep-alive
          connections, in a child process), a reconfigure call every 0.5 s adding /benchNNNNN
          (timed as above), and /v1/docker-flow-proxy/ping every 20 ms, each sent once the
          previous one is answered: a loop that waits shows as few, long pings, and "longest
          without an answer" is how long the API did not answer. When the stall ends, the
          requests the engine held are answered. The requests the load generator saw answered are
          compared with the count /v1/flowproxy/stats reports for svc0 (TELEMETRY_WINDOW=3600,
          read before and after): the difference is request lines lost.
After the rounds, 20 reconfigure calls 50 ms apart, under load: HAProxy processes (the master
and its children) during the burst and 5 s after it.

SCENARIO=reload1000: SERVICES (1000) services are registered through the reconfigure API in
batches of BATCH (100) concurrent calls; then each round pings every 20 ms for IDLE_S (5) s
idle, and again while RELOADS (30) reconfigure calls run one after the other.

SCENARIO=idle3000: each round pings from 127.0.0.2 for 3 s and times one reconfigure, then opens
CONNS (3000) TCP connections to the API from 127.0.0.1, each with half a request line, and holds
them (at most 60 s) while /ping every 20 ms for PING_S (10) s and one reconfigure are sent from
127.0.0.2 and timed. RLIMIT_NOFILE is raised for the sockets (flowproxy inherits it).

Settings (environment): SCENARIO, STALL=40, RATE=2000, ROUNDS=5, BUILD=build/ (the build
directory), NORMAL_CALLS=10, LOAD_THREADS=4, RESYNC_INTERVAL=2, SERVICES=1000, BATCH=100,
RELOADS=30, IDLE_S=5, CONNS=3000, PING_S=10, KEEP=1 keeps the temporary directory (logs).

Every client call has a timeout (60 s, or STALL + 30 s when longer); every process started here
is stopped at the end, on failure and on Ctrl-C too. Only 127.0.0.0/8 is used.
"""
import ctypes
import http.client
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import http_get, master_cmd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.environ
SCENARIO = ENV.get("SCENARIO", "stall")
STALL = float(ENV.get("STALL", "40"))
RATE = float(ENV.get("RATE", "2000"))
ROUNDS = int(ENV.get("ROUNDS", "5"))
BUILD = os.path.abspath(ENV.get("BUILD", os.path.join(ROOT, "build")))
NORMAL_CALLS = int(ENV.get("NORMAL_CALLS", "10"))
LOAD_THREADS = int(ENV.get("LOAD_THREADS", "4"))
RESYNC = int(ENV.get("RESYNC_INTERVAL", "2"))
SERVICES = int(ENV.get("SERVICES", "1000"))
BATCH = int(ENV.get("BATCH", "100"))
RELOADS = int(ENV.get("RELOADS", "30"))
IDLE_S = float(ENV.get("IDLE_S", "5"))
CONNS = int(ENV.get("CONNS", "3000"))
PING_S = float(ENV.get("PING_S", "10"))
KEEP = ENV.get("KEEP", "") not in ("", "0")
CALL_TIMEOUT = max(60.0, STALL + 30.0)  # a call queued behind a whole stall still completes
ROUTE_TIMEOUT = 30.0
PING_EVERY = 0.02
SLOW_S = 1.0

# ---- small helpers ---------------------------------------------------------------------------

_ports = set()


def pick_port():
    """A TCP port free on 127.0.0.1, below the ephemeral range (client sockets take those)."""
    while True:
        p = random.randint(10000, 31999)
        if p in _ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        _ports.add(p)
        return p


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def med(v):
    return statistics.median(v) if v else float("nan")


def spread(v, fmt="%.1f"):
    """'median (min–max)' of per-round figures."""
    v = [x for x in v if x == x]
    if not v:
        return "n/a"
    if len(v) == 1:
        return fmt % v[0]
    return (fmt + " (" + fmt + "–" + fmt + ")") % (med(v), min(v), max(v))


def ratio(a, b):
    return a / b if b and a == a and b == b else float("nan")


def wait_route(port, path, deadline_s=ROUTE_TIMEOUT, every=0.002):
    """Polls GET path through HAProxy until it answers 200; the time it did, or None."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if http_get(port, path, timeout=2.0)[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(every)
    return None


def children(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def proc_id(pid):
    """(command name, start time) of pid, None when gone: a pid the kernel reused differs."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    comm = st[st.index("(") + 1:st.rindex(")")]
    return comm, st.rsplit(")", 1)[1].split()[19]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_prctl = None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the child
except (OSError, AttributeError):
    pass


def _die_with_parent():
    # PR_SET_PDEATHSIG: if this script is SIGKILLed, its children get SIGTERM. Children are
    # started from the main thread only: the signal follows the thread that forked.
    if _prctl is not None:
        _prctl(1, int(signal.SIGTERM), 0, 0, 0)


def say(*a):
    print(*a, flush=True)


# ---- the processes -----------------------------------------------------------------------------

class Run:
    """The fake engine, the test backend, flowproxy and its HAProxy, a bare HAProxy: their ports,
    temporary directory and clean-up."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="fp-stall-")
        self.procs = []  # (name, Popen), stopped in reverse order
        self.extra_pids = {}  # pid -> proc_id: HAProxy processes seen (started by flowproxy)
        self.fp = None
        self.master = None
        self.bare = None
        self.sockets = []

    def spawn(self, name, argv, env=None, stdout=None):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, env=env, stdout=stdout or log, stderr=log,
                             stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()
        self.procs.append((name, p))
        return p

    def log_path(self, name):
        return os.path.join(self.tmp, name + ".log")

    # -- the three processes of every scenario

    def start(self, extra_env=None):
        self.bport = pick_port()  # test backend
        self.dport = pick_port()  # fake engine
        self.pport = pick_port()  # flowproxy's HAProxy
        self.aport = pick_port()  # flowproxy's API
        ts = self.spawn("backend", [os.path.join(BUILD, "tests", "testserver"), "--name", "b",
                                    "--port", str(self.bport), "--addr", "127.0.0.1"])
        self.spawn("fake_docker", [sys.executable, os.path.join(ROOT, "tests", "fake_docker.py"),
                                   str(self.dport), "--services", "2", "--service-port",
                                   str(self.bport)])
        for port, what in ((self.bport, "test backend"), (self.dport, "fake engine")):
            if not self.wait_listen(port, 10):
                raise RuntimeError("%s did not start (%s)" % (what, self.tmp))
        env = dict(ENV, SWARM="true", DOCKER_HOST="tcp://127.0.0.1:%d" % self.dport,
                   RESYNC_INTERVAL=str(RESYNC), DEFAULT_PORTS=str(self.pport),
                   BIND_ADDRESS="127.0.0.1", FLOWPROXY_SECRETS_DIR=self.tmp + "/secrets")
        for k in ("SWARM_NETWORKS", "SERVICES_FILE", "LISTENER_ADDRESS"):
            env.pop(k, None)
        env.update(extra_env or {})
        self.run_dir = self.tmp + "/run"
        self.fp = self.spawn("flowproxy", [
            os.path.join(BUILD, "flowproxy"), "server", "--ip", "127.0.0.1", "--port",
            str(self.aport), "--configs-path", self.tmp + "/cfg", "--run-dir", self.run_dir],
            env=env)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.fp.poll() is not None:
                break
            try:
                if http_get(self.aport, "/v1/docker-flow-proxy/ping", 2)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("flowproxy's API did not answer in 30 s")
        self.check_fp()
        st = self.status()
        self.master = (st.get("haproxy") or {}).get("masterPid")
        if self.master:
            self.remember(self.master)
        if not wait_route(self.pport, "/svc0", 30, 0.05):
            raise RuntimeError("HAProxy does not route /svc0 (swarm service) after 30 s")

    @staticmethod
    def wait_listen(port, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def check_fp(self):
        if self.fp and self.fp.poll() is not None:
            raise RuntimeError("flowproxy exited with %s; log: %s" % (
                self.fp.returncode, self.tail("flowproxy")))

    def tail(self, name, n=15):
        try:
            with open(self.log_path(name), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- talking to flowproxy and the fake engine

    def api_json(self, path, timeout=CALL_TIMEOUT):
        st, body = http_get(self.aport, path, timeout)
        return json.loads(body) if st == 200 else {}

    def status(self):
        return self.api_json("/v1/flowproxy/status", 10)

    def stats(self, service):
        """(count of service's requests in the whole window, telemetry counters)."""
        j = self.api_json("/v1/flowproxy/stats?window=3600", 30)
        n = sum(b.get("count", 0) for s in j.get("services", []) if s.get("name") == service
                for b in s.get("backends", []))
        return n, j.get("telemetry", {}), j.get("unmatched_lines", 0)

    def fake_mode(self, m, **kw):
        q = "&".join(["m=" + m] + ["%s=%s" % kv for kv in kw.items()])
        c = http.client.HTTPConnection("127.0.0.1", self.dport, timeout=10)
        try:
            c.request("POST", "/_fake/mode?" + q)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError("fake engine refused mode %s" % q)
        finally:
            c.close()

    def reconfigure_path(self, name, path):
        return ("/v1/docker-flow-proxy/reconfigure?serviceName=%s&servicePath=%s&port=%d"
                "&outboundHostname=127.0.0.1" % (name, path, self.bport))

    def timed_reconfigure(self, name, source=None):
        """API call -> first request HAProxy serves on /name: (ms or None, why)."""
        path = "/" + name
        t0 = time.monotonic()
        try:
            st, body = http_get(self.aport, self.reconfigure_path(name, path), CALL_TIMEOUT,
                                source)
        except OSError as e:
            return None, "call failed after %.1f s: %s" % (time.monotonic() - t0, e)
        if st != 200:
            return None, "HTTP %d: %s" % (st, body[:200])
        t1 = wait_route(self.pport, path)
        if t1 is None:
            return None, "route not served %d s after the answer" % ROUTE_TIMEOUT
        return (t1 - t0) * 1000.0, ""

    def config(self):
        return http_get(self.aport, "/v1/docker-flow-proxy/config", CALL_TIMEOUT)[1]

    def haproxy_procs(self):
        """(processes: the master and its children, workers listed by show proc)."""
        if not self.master or not alive(self.master):
            return 0, 0
        kids = children(self.master)
        for k in kids:
            self.remember(k)
        try:
            out = master_cmd(os.path.join(self.run_dir, "master.sock"), "show proc", 5)
        except OSError:
            out = ""
        workers = sum(1 for ln in out.splitlines() if re.match(r"^\d+\s+worker\b", ln))
        return 1 + len(kids), workers

    # -- clean-up

    def remember(self, pid):
        if pid not in self.extra_pids:
            self.extra_pids[pid] = proc_id(pid)

    def ours(self, pid):
        """pid is still the process we saw (not a reused pid) and runs."""
        return self.extra_pids.get(pid) is not None and proc_id(pid) == self.extra_pids[pid] \
            and alive(pid)

    def cleanup(self):
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        self.sockets = []
        if self.bare:
            self.bare.stop()
        if self.fp and self.fp.poll() is None:
            self.fp.send_signal(signal.SIGTERM)
            try:
                self.fp.wait(15)
            except subprocess.TimeoutExpired:
                self.fp.kill()
                self.fp.wait(5)
        # A master or worker left behind (flowproxy killed hard) is stopped by its pid.
        for pid in list(self.extra_pids):
            if self.ours(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        end = time.monotonic() + 5
        while time.monotonic() < end and any(self.ours(p) for p in self.extra_pids):
            time.sleep(0.05)
        for pid in list(self.extra_pids):
            if self.ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for name, p in reversed(self.procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if KEEP:
            say("logs kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_report(self):
        """flowproxy's exit status and what its log says beyond the routine."""
        lines = []
        try:
            with open(self.log_path("flowproxy"), errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            pass
        # An old worker leaving after a reload is HAProxy's routine [WARNING]; not counted.
        bad = [ln for ln in lines if re.search(
            r"flowproxy: (warn|error):|\[(WARNING|ALERT)\]|Sanitizer|runtime error|"
            r"Segmentation|Assertion", ln) and not re.search(
            r"Former worker \(\d+\) exited with code 0 ", ln)]
        kinds = {}
        for ln in bad:
            k = re.sub(r"\d+", "N", ln)[:160]
            kinds[k] = kinds.get(k, 0) + 1
        say("flowproxy log: %d lines, %d warnings/errors%s" % (
            len(lines), len(bad), ":" if bad else ""))
        for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:10]:
            say("  %5d x %s" % (n, k))


class Bare:
    """A bare HAProxy (master-worker) running flowproxy's configurations on its own port."""

    def __init__(self, run):
        self.run = run
        self.dir = os.path.join(run.tmp, "bare")
        os.makedirs(self.dir)
        self.port = pick_port()
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.sock = os.path.join(self.dir, "master.sock")
        self.p = None

    def rewrite(self, cfg):
        cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
        out = cfg.replace(self.run.run_dir, self.dir)
        out = re.sub(r"(bind\s+127\.0\.0\.1:)%d\b" % self.run.pport, r"\g<1>%d" % self.port, out)
        if re.search(r"bind\s+\S*:%d\b" % self.run.pport, out):
            raise RuntimeError("flowproxy's configuration binds %d in a way this script does "
                               "not rewrite" % self.run.pport)
        return out

    def write(self, cfg):
        with open(self.cfg + ".tmp", "w") as f:
            f.write(self.rewrite(cfg))
        os.rename(self.cfg + ".tmp", self.cfg)

    def start(self, cfg):
        self.write(cfg)
        self.p = self.run.spawn("bare-haproxy", ["haproxy", "-W", "-S", self.sock, "-f",
                                                 self.cfg])
        if not Run.wait_listen(self.port, 10):
            raise RuntimeError("bare HAProxy did not start: %s" % self.run.tail("bare-haproxy"))

    def reload(self, cfg, path):
        """Reload with cfg; ms until path is served, or None."""
        self.write(cfg)
        t0 = time.monotonic()
        master_cmd(self.sock, "reload")
        t1 = wait_route(self.port, path, ROUTE_TIMEOUT / 2)
        if t1 is None:
            # A `reload` that reached a master still re-executing is lost: send it once more
            # (the time still counts from the first).
            master_cmd(self.sock, "reload")
            t1 = wait_route(self.port, path, ROUTE_TIMEOUT / 2)
        return None if t1 is None else (t1 - t0) * 1000.0

    def stop(self):
        if not self.p:
            return
        pids = [self.p.pid] + children(self.p.pid)
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        for pid in pids[1:]:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.p = None


# ---- clients -----------------------------------------------------------------------------------

class Pinger(threading.Thread):
    """GET /ping every 20 ms, one at a time (the next waits for the answer), until stop."""

    def __init__(self, run, source=None, until=None):
        super().__init__(daemon=True)
        self.r, self.source, self.until = run, source, until
        self.stop_ev = threading.Event()
        self.samples = []  # (sent, done, ok)
        self.t_start = time.monotonic()

    def run(self):
        nxt = time.monotonic()
        while not self.stop_ev.is_set() and (self.until is None or time.monotonic() < self.until):
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            t0 = time.monotonic()
            try:
                st, _ = http_get(self.r.aport, "/v1/docker-flow-proxy/ping", CALL_TIMEOUT,
                                 self.source)
                ok = st == 200
            except OSError:
                ok = False
            t1 = time.monotonic()
            self.samples.append((t0, t1, ok))
            if not ok:
                time.sleep(0.005)  # a refused connection must not spin
            nxt = max(nxt + PING_EVERY, t1)

    def figures(self):
        lat = [(b - a) * 1000.0 for a, b, ok in self.samples if ok]
        failed = sum(1 for a, b, ok in self.samples if not ok)
        slow = sum(1 for a, b, ok in self.samples if ok and b - a > SLOW_S)
        # The longest time with no answer (from the start, between answers): a prober that
        # waits for each answer sends few pings while the loop is blocked.
        answers = [b for a, b, ok in self.samples if ok]
        gap, prev = 0.0, self.t_start
        for b in answers:
            gap, prev = max(gap, b - prev), b
        return {"n": len(self.samples), "median": med(lat), "p99": pct(lat, 99),
                "max": max(lat) if lat else float("nan"), "failed": failed, "slow": slow,
                "bad": failed + slow, "gap": gap * 1000.0}


def ping_line(f):
    if f["median"] != f["median"]:
        return "n=%d, none answered (failed %d, > 1 s %d)" % (f["n"], f["failed"], f["slow"])
    return ("n=%d median %.1f ms, p99 %.1f ms, max %.1f ms, failed %d, > 1 s %d, longest "
            "without an answer %.1f s" % (f["n"], f["median"], f["p99"], f["max"], f["failed"],
                                         f["slow"], f["gap"] / 1000.0))


class Reconfigurer:
    """A reconfigure call every `every` s (each on its own thread, so a blocked call does not
    delay the next), each adding a service; timed API call -> served."""

    def __init__(self, run, prefix, counter, every=0.5, source=None, bare=None):
        self.run, self.prefix, self.counter, self.every, self.source = (run, prefix, counter,
                                                                         every, source)
        self.threads, self.results, self.lock = [], [], threading.Lock()
        # With bare: after each call, the same configuration is reloaded into the bare HAProxy
        # and timed there too, under the same load at the same moment (one at a time).
        self.bare, self.bare_ms, self.bare_lock = bare, [], threading.Lock()

    def call(self, name):
        ms, why = self.run.timed_reconfigure(name, self.source)
        with self.lock:
            self.results.append((name, ms, why))
        if self.bare and ms is not None:
            with self.bare_lock:
                try:
                    bms = self.bare.reload(self.run.config(), "/" + name)
                except (OSError, RuntimeError):
                    bms = None
            if bms is not None:
                with self.lock:
                    self.bare_ms.append(bms)

    def run_until(self, end):
        nxt = time.monotonic() + self.every / 2
        while nxt < end:
            time.sleep(max(0.0, nxt - time.monotonic()))
            t = threading.Thread(target=self.call, args=(self.prefix + next(self.counter),),
                                 daemon=True)
            t.start()
            self.threads.append(t)
            nxt += self.every

    def join(self):
        end = time.monotonic() + CALL_TIMEOUT + ROUTE_TIMEOUT + 10
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        with self.lock:
            return list(self.results), sum(1 for t in self.threads if t.is_alive())


def counter(start=0):
    n = start
    while True:
        yield "%05d" % n
        n += 1


# ---- the load generator (a child process: its threads do not share the prober's GIL) ---------

def loadgen_main(a):
    """Paced GETs of a["path"] on 127.0.0.1:a["port"]: a["rate"]/s over a["threads"] keep-alive
    connections, from monotonic a["start"] to a["end"]. Writes counts to a["out"] (JSON)."""
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: fp-stall\r\n\r\n"
           % (a["path"], a["port"])).encode()
    n_thr = a["threads"]
    interval = n_thr / a["rate"]
    res = [None] * n_thr

    def worker(i):
        r = {"sent": 0, "answered": 0, "status": {}, "errors": 0, "closed_idle": 0,
             "missed": 0, "connects": 0, "lat": [], "per_s": {}}
        res[i] = r
        sock, buf = None, b""
        nxt = a["start"] + i * interval / n_thr
        while nxt < a["end"]:
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            elif now - nxt > 0.1:  # behind: drop the missed slots, never burst
                k = int((now - nxt) / interval)
                r["missed"] += k
                nxt += k * interval
            nxt += interval
            for attempt in (0, 1):
                fresh = sock is None
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", a["port"]), 10)
                        sock.settimeout(30)
                        r["connects"] += 1
                        buf = b""
                    t0 = time.monotonic()
                    sock.sendall(req)
                    r["sent"] += 1
                    status, close, buf = read_response(sock, buf)
                except ConnectionError as e:
                    if sock:
                        sock.close()
                    sock = None
                    if not fresh and attempt == 0 and isinstance(e, EmptyReply):
                        # HAProxy closed an idle keep-alive connection as the request went
                        # out (reload, keep-alive timeout): nothing was read, try once more.
                        r["sent"] -= 1
                        r["closed_idle"] += 1
                        continue
                    r["errors"] += 1
                    break
                except OSError:
                    if sock:
                        sock.close()
                    sock = None
                    r["errors"] += 1
                    break
                t1 = time.monotonic()
                r["answered"] += 1
                r["status"][str(status)] = r["status"].get(str(status), 0) + 1
                r["lat"].append((t1 - t0) * 1000.0)
                sec = str(int(t1 - a["start"]))
                r["per_s"][sec] = r["per_s"].get(sec, 0) + 1
                if close:
                    sock.close()
                    sock = None
                break
        if sock:
            sock.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n_thr)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    out = {"sent": 0, "answered": 0, "status": {}, "errors": 0, "closed_idle": 0, "missed": 0,
           "connects": 0, "per_s": {}}
    lat = []
    for r in res:
        for k in ("sent", "answered", "errors", "closed_idle", "missed", "connects"):
            out[k] += r[k]
        for k, v in r["status"].items():
            out["status"][k] = out["status"].get(k, 0) + v
        for k, v in r["per_s"].items():
            out["per_s"][k] = out["per_s"].get(k, 0) + v
        lat += r["lat"]
    full = [out["per_s"].get(str(k), 0) for k in range(int(a["end"] - a["start"]))]
    out["min_per_s"] = min(full) if full else 0
    out["lat_median"], out["lat_p99"] = med(lat), pct(lat, 99)
    out["lat_max"] = max(lat) if lat else float("nan")
    with open(a["out"] + ".tmp", "w") as f:
        json.dump(out, f)
    os.rename(a["out"] + ".tmp", a["out"])


class EmptyReply(ConnectionError):
    pass


def read_response(sock, buf):
    """One HTTP/1.1 response: (status, server closes, bytes read past it)."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise EmptyReply() if not buf else ConnectionError("closed mid-response")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip().lower()
    close = hdr.get("connection") == "close"
    if "content-length" in hdr:
        n = int(hdr["content-length"])
        while len(rest) < n:
            d = sock.recv(65536)
            if not d:
                raise ConnectionError("closed mid-body")
            rest += d
        return status, close, rest[n:]
    if hdr.get("transfer-encoding") == "chunked":
        while True:
            while b"\r\n" not in rest:
                d = sock.recv(65536)
                if not d:
                    raise ConnectionError("closed mid-chunk")
                rest += d
            size_s, _, rest = rest.partition(b"\r\n")
            n = int(size_s.split(b";")[0], 16)
            while len(rest) < n + 2:
                d = sock.recv(65536)
                if not d:
                    raise ConnectionError("closed mid-chunk")
                rest += d
            rest = rest[n + 2:]
            if n == 0:
                return status, close, rest
    while True:  # body until close
        d = sock.recv(65536)
        if not d:
            return status, True, b""


class Load:
    def __init__(self, run, path, start, end, rate=RATE):
        self.out = os.path.join(run.tmp, "load-%d.json" % int(time.monotonic() * 1000))
        args = {"port": run.pport, "path": path, "rate": rate, "threads": LOAD_THREADS,
                "start": start, "end": end, "out": self.out}
        self.end = end
        self.p = run.spawn("loadgen", [sys.executable, os.path.abspath(__file__), "--loadgen",
                                       json.dumps(args)])

    def result(self):
        try:
            self.p.wait(max(1.0, self.end - time.monotonic()) + 60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        try:
            with open(self.out) as f:
                return json.load(f)
        except (OSError, ValueError):
            raise RuntimeError("load generator failed (exit %s)" % self.p.returncode)


# ---- scenarios ---------------------------------------------------------------------------------

def wait_api_ok(run, secs=CALL_TIMEOUT):
    """Until /ping answers within 1 s (flowproxy's loop runs again): True, or False after secs."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        run.check_fp()
        try:
            t0 = time.monotonic()
            if http_get(run.aport, "/v1/docker-flow-proxy/ping", 10)[0] == 200 and \
                    time.monotonic() - t0 < SLOW_S:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def settle_count(run, service):
    """flowproxy's count for service once it stopped moving (lines caught up)."""
    for _ in range(3):  # a drop is reported in-band with the next logged request
        try:
            http_get(run.pport, "/svc1", 5)
        except OSError:
            pass
    prev, end = None, time.monotonic() + 30
    while time.monotonic() < end:
        time.sleep(1.0)
        cur = run.stats(service)
        if prev and cur[0] == prev[0] and cur[1].get("lines") == prev[1].get("lines"):
            return cur
        prev = cur
    return prev


def scenario_stall(run):
    run.start({"TELEMETRY_WINDOW": "3600"})
    say("stall scenario: STALL=%g s, RATE=%g req/s, ROUNDS=%d, RESYNC_INTERVAL=%d s, "
        "NORMAL_CALLS=%d, LOAD_THREADS=%d" % (STALL, RATE, ROUNDS, RESYNC, NORMAL_CALLS,
                                             LOAD_THREADS))
    bare = run.bare = Bare(run)
    bare.start(run.config())
    names = counter()
    rows = []
    for rnd in range(1, ROUNDS + 1):
        row = {}
        # normal: flowproxy, one call after the other; its configuration after each call.
        fp_ms, cfgs = [], []
        for _ in range(NORMAL_CALLS):
            name = "norm" + next(names)
            ms, why = run.timed_reconfigure(name)
            if ms is None:
                raise RuntimeError("reconfigure %s (engine answering): %s" % (name, why))
            fp_ms.append(ms)
            cfgs.append((name, run.config()))
        # bare: the same configurations, master CLI reload.
        bare_ms = []
        for name, cfg in cfgs:
            ms = bare.reload(cfg, "/" + name)
            if ms is None:
                raise RuntimeError("bare HAProxy does not serve /%s after reload: %s" % (
                    name, run.tail("bare-haproxy")))
            bare_ms.append(ms)
        # stall
        c0 = run.stats("svc0")
        t_stall = time.monotonic()
        run.fake_mode("stall")
        end = t_stall + STALL
        load = Load(run, "/svc0", t_stall + 0.2, end - 0.2)
        pinger = Pinger(run, until=end)
        pinger.start()
        rec = Reconfigurer(run, "bench", names, bare=bare)
        try:
            rec.run_until(end)
            time.sleep(max(0.0, end - time.monotonic()))
        finally:
            run.fake_mode("normal")
        lr = load.result()
        pinger.join(CALL_TIMEOUT + 5)
        results, stuck = rec.join()
        if not wait_api_ok(run):
            raise RuntimeError("flowproxy's API does not answer within 1 s after the stall")
        c1 = settle_count(run, "svc0")
        run.check_fp()
        st_ms = [ms for _, ms, _ in results if ms is not None]
        fails = [(n, why) for n, ms, why in results if ms is None]
        counted = c1[0] - c0[0]
        row.update(ping=pinger.figures(), load=lr, counted=counted,
                   lost=lr["answered"] - counted,
                   dropped=c1[1].get("dropped", 0) - c0[1].get("dropped", 0),
                   bad_lines=c1[1].get("bad_lines", 0) - c0[1].get("bad_lines", 0),
                   stall_ms=st_ms, stall_fail=len(fails) + stuck, fp_ms=fp_ms, bare_ms=bare_ms,
                   bare_load_ms=list(rec.bare_ms), calls=len(results) + stuck)
        rows.append(row)
        p, L = row["ping"], lr
        say("round %d:" % rnd)
        say("  /ping during the stall: %s" % ping_line(p))
        say("  load: %d answered (%s), %d errors, %d slots missed, slowest second %d; latency "
            "median %.1f ms, p99 %.1f ms, max %.1f ms" % (L["answered"], ", ".join(
                "%s: %d" % kv for kv in sorted(L["status"].items())), L["errors"], L["missed"],
                L["min_per_s"], L["lat_median"], L["lat_p99"], L["lat_max"]))
        say("  flowproxy counted %d for svc0: lost %d; telemetry dropped %d, bad lines %d" % (
            counted, row["lost"], row["dropped"], row["bad_lines"]))
        say("  reconfigure -> served (ms): during the stall median %.1f p95 %.1f (%d calls, %d "
            "failed); normal median %.1f p95 %.1f; bare reload median %.1f p95 %.1f; "
            "stall/bare %.1f; bare reload under the same load median %.1f p95 %.1f (%d); "
            "stall/bare under load %.2f" % (
                med(st_ms), pct(st_ms, 95), row["calls"], row["stall_fail"], med(fp_ms),
                pct(fp_ms, 95), med(bare_ms), pct(bare_ms, 95), ratio(med(st_ms), med(bare_ms)),
                med(row["bare_load_ms"]), pct(row["bare_load_ms"], 95), len(row["bare_load_ms"]),
                ratio(med(st_ms), med(row["bare_load_ms"]))))
        for n, why in fails[:3]:
            say("    %s: %s" % (n, why))

    say("")
    say("summary over %d round(s), median (min–max) of the per-round figures:" % len(rows))
    g = lambda f: [f(r) for r in rows]  # noqa: E731
    say("  /ping during the stall (ms): median %s, p99 %s, max %s; count %s; failed or > 1 s "
        "%s; longest without an answer (s) %s" % (
            spread(g(lambda r: r["ping"]["median"])), spread(g(lambda r: r["ping"]["p99"])),
            spread(g(lambda r: r["ping"]["max"])), spread(g(lambda r: r["ping"]["n"]), "%d"),
            spread(g(lambda r: r["ping"]["bad"]), "%d"),
            spread(g(lambda r: r["ping"]["gap"] / 1000.0))))
    say("  request lines lost (answered - counted by flowproxy): %s of %s answered; telemetry "
        "dropped %s" % (spread(g(lambda r: r["lost"]), "%d"),
                        spread(g(lambda r: r["load"]["answered"]), "%d"),
                        spread(g(lambda r: r["dropped"]), "%d")))
    say("  reconfigure -> served (ms): during the stall median %s, p95 %s; bare HAProxy reload "
        "median %s, p95 %s; flowproxy with the engine answering median %s, p95 %s" % (
            spread(g(lambda r: med(r["stall_ms"]))), spread(g(lambda r: pct(r["stall_ms"], 95))),
            spread(g(lambda r: med(r["bare_ms"]))), spread(g(lambda r: pct(r["bare_ms"], 95))),
            spread(g(lambda r: med(r["fp_ms"]))), spread(g(lambda r: pct(r["fp_ms"], 95)))))
    say("  ratio to the bare reload: stall median %s, p95 %s; engine answering median %s" % (
        spread(g(lambda r: ratio(med(r["stall_ms"]), med(r["bare_ms"]))), "%.2f"),
        spread(g(lambda r: ratio(pct(r["stall_ms"], 95), pct(r["bare_ms"], 95))), "%.2f"),
        spread(g(lambda r: ratio(med(r["fp_ms"]), med(r["bare_ms"]))), "%.2f")))
    say("  during the stall, against a bare reload of the same configuration under the same load "
        "at the same moment: bare median %s, p95 %s; ratio median %s, p95 %s" % (
            spread(g(lambda r: med(r["bare_load_ms"]))),
            spread(g(lambda r: pct(r["bare_load_ms"], 95))),
            spread(g(lambda r: ratio(med(r["stall_ms"]), med(r["bare_load_ms"]))), "%.2f"),
            spread(g(lambda r: ratio(pct(r["stall_ms"], 95), pct(r["bare_load_ms"], 95))),
                   "%.2f")))
    say("  reconfigure calls during the stall that failed: %s" % spread(
        g(lambda r: r["stall_fail"]), "%d"))
    burst(run, names)


def burst(run, names):
    """20 reconfigure calls 50 ms apart under load: HAProxy's processes during and after."""
    reloads0 = (run.status().get("haproxy") or {}).get("reloads", 0)
    before = run.haproxy_procs()
    t = time.monotonic()
    load = Load(run, "/svc0", t + 0.2, t + 10)
    time.sleep(0.5)
    samples, stop = [], threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append(run.haproxy_procs())
            stop.wait(0.1)
    s = threading.Thread(target=sampler, daemon=True)
    s.start()
    rec = Reconfigurer(run, "burst", names, every=0.05)
    rec.run_until(time.monotonic() + 20 * 0.05)
    results, stuck = rec.join()
    at_end = run.haproxy_procs()
    stop.set()
    s.join(10)
    time.sleep(5)
    after = run.haproxy_procs()
    lr = load.result()
    reloads = (run.status().get("haproxy") or {}).get("reloads", 0) - reloads0
    ok = [ms for _, ms, _ in results if ms is not None]
    say("")
    say("burst of %d reconfigure calls 50 ms apart, under load: %d reload(s), calls -> served "
        "median %.1f ms max %.1f ms, %d failed" % (len(results) + stuck, reloads, med(ok),
                                                   max(ok) if ok else float("nan"),
                                                   len(results) + stuck - len(ok)))
    say("  HAProxy processes (master + children; workers in show proc): before %d (%d); during "
        "the burst max %d (%d), at its end %d (%d); 5 s after %d (%d)" % (
            before[0], before[1], max(x[0] for x in samples) if samples else 0,
            max(x[1] for x in samples) if samples else 0, at_end[0], at_end[1], after[0],
            after[1]))
    say("  load meanwhile: %d answered (%s), %d errors" % (lr["answered"], ", ".join(
        "%s: %d" % kv for kv in sorted(lr["status"].items())), lr["errors"]))


def register(run, prefix, n, batch):
    """n services through the reconfigure API, batch concurrent calls at a time."""
    fails, lock = [], threading.Lock()

    def one(name):
        try:
            st, body = http_get(run.aport, run.reconfigure_path(name, "/" + name), 120)
            ok = st == 200
        except OSError as e:
            ok, body = False, str(e).encode()
        if not ok:
            with lock:
                fails.append((name, body[:200]))
    t0 = time.monotonic()
    for b in range(0, n, batch):
        ths = [threading.Thread(target=one, args=(prefix + "%05d" % i,), daemon=True)
               for i in range(b, min(n, b + batch))]
        for t in ths:
            t.start()
        for t in ths:
            t.join(130)
        run.check_fp()
    return time.monotonic() - t0, fails


def scenario_reload1000(run):
    run.start()
    say("reload1000 scenario: SERVICES=%d (batches of %d), ROUNDS=%d, RELOADS=%d per round, "
        "IDLE_S=%g" % (SERVICES, BATCH, ROUNDS, RELOADS, IDLE_S))
    secs, fails = register(run, "r", SERVICES, BATCH)
    reloads = (run.status().get("haproxy") or {}).get("reloads", 0)
    say("registered %d services in %.1f s (%d failed), %d HAProxy reloads" % (
        SERVICES, secs, len(fails), reloads))
    for n, why in fails[:3]:
        say("  %s: %s" % (n, why))
    if wait_route(run.pport, "/r%05d" % (SERVICES - 1), 30, 0.05) is None:
        raise RuntimeError("the last registered service is not routed")
    names = counter()
    rows = []
    for rnd in range(1, ROUNDS + 1):
        idle = Pinger(run, until=time.monotonic() + IDLE_S)
        idle.start()
        idle.join(IDLE_S + CALL_TIMEOUT)
        busy = Pinger(run)
        busy.start()
        ms_list, failed = [], 0
        t0 = time.monotonic()
        for _ in range(RELOADS):
            ms, why = run.timed_reconfigure("rl" + next(names))
            if ms is None:
                failed += 1
                say("  reconfigure failed: %s" % why)
            else:
                ms_list.append(ms)
        busy.stop_ev.set()
        busy.join(CALL_TIMEOUT + 5)
        run.check_fp()
        row = {"idle": idle.figures(), "busy": busy.figures(), "ms": ms_list, "failed": failed,
               "secs": time.monotonic() - t0}
        rows.append(row)
        say("round %d:" % rnd)
        say("  /ping idle:                 %s" % ping_line(row["idle"]))
        say("  /ping during %d reconfigures (%.1f s): %s" % (RELOADS, row["secs"],
                                                            ping_line(row["busy"])))
        say("  reconfigure -> served: median %.1f ms, p95 %.1f ms, %d failed" % (
            med(ms_list), pct(ms_list, 95), failed))
    say("")
    say("summary over %d round(s), median (min–max) of the per-round figures:" % len(rows))
    g = lambda f: [f(r) for r in rows]  # noqa: E731
    for k, what in (("idle", "idle"), ("busy", "during reconfigures")):
        say("  /ping %s (ms): median %s, p99 %s, max %s; count %s; failed or > 1 s %s" % (
            what, spread(g(lambda r: r[k]["median"])), spread(g(lambda r: r[k]["p99"])),
            spread(g(lambda r: r[k]["max"])), spread(g(lambda r: r[k]["n"]), "%d"),
            spread(g(lambda r: r[k]["bad"]), "%d")))
    say("  reconfigure -> served with %d+ services (ms): median %s, p95 %s" % (
        SERVICES, spread(g(lambda r: med(r["ms"]))), spread(g(lambda r: pct(r["ms"], 95)))))


def open_idle(run, n, deadline):
    """n connections to the API from 127.0.0.1, each with half a request line."""
    half = b"GET /v1/docker-flow-proxy/pi"
    socks, failed = [], 0
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind(("127.0.0.1", 0))
            e = s.connect_ex(("127.0.0.1", run.aport))
            if e not in (0, 115):  # EINPROGRESS
                raise OSError(e, os.strerror(e))
        except OSError:
            s.close()
            failed += 1
            continue
        socks.append(s)
        run.sockets.append(s)
    p = select.poll()
    pending = {s.fileno(): s for s in socks}
    for fd in pending:
        p.register(fd, select.POLLOUT)
    sent = 0
    while pending and time.monotonic() < deadline:
        for fd, ev in p.poll(200):
            s = pending.pop(fd, None)
            if s is None:
                continue
            p.unregister(fd)
            if ev & (select.POLLERR | select.POLLHUP) or s.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
                continue
            try:
                s.send(half)
                sent += 1
            except OSError:
                failed += 1
    return socks, sent, failed + len(pending)


def count_closed(socks):
    """How many of socks the server has closed or reset."""
    closed = 0
    p = select.poll()
    for s in socks:
        try:
            p.register(s.fileno(), select.POLLIN)
        except (ValueError, OSError):
            closed += 1
    for fd, ev in p.poll(0):
        if ev & (select.POLLHUP | select.POLLERR):
            closed += 1
            continue
        try:
            if os.read(fd, 4096) == b"":
                closed += 1
            else:
                closed += 1  # an answer to half a request line: an error page, then a close
        except OSError:
            closed += 1
    return closed


def scenario_idle3000(run):
    run.start()
    say("idle3000 scenario: CONNS=%d idle connections from 127.0.0.1 (at most 60 s), /ping "
        "and a reconfigure from 127.0.0.2, ROUNDS=%d, PING_S=%g" % (CONNS, ROUNDS, PING_S))
    names = counter()
    rows = []
    for rnd in range(1, ROUNDS + 1):
        base = Pinger(run, source="127.0.0.2", until=time.monotonic() + 3)
        base.start()
        base.join(CALL_TIMEOUT + 5)
        base_ms, base_why = run.timed_reconfigure("idle" + next(names), "127.0.0.2")
        t_open = time.monotonic()
        hold_end = t_open + 60
        socks, sent, failed = open_idle(run, CONNS, t_open + 30)
        open_s = time.monotonic() - t_open
        pinger = Pinger(run, source="127.0.0.2", until=min(hold_end, time.monotonic() + PING_S))
        pinger.start()
        res = {}

        def one_call():
            time.sleep(1.0)
            t0 = time.monotonic()
            res["ms"], res["why"] = run.timed_reconfigure("idle" + next(names), "127.0.0.2")
            res["done"] = t0 + (res["ms"] or 0) / 1000.0
        call = threading.Thread(target=one_call, daemon=True)
        call.start()
        # Held until the pings and the call are done, 60 s at most.
        while (pinger.is_alive() or call.is_alive()) and time.monotonic() < hold_end:
            time.sleep(0.1)
        t_close = time.monotonic()
        closed = count_closed(socks)
        for s in socks:
            s.close()
        run.sockets = []
        pinger.stop_ev.set()
        pinger.join(CALL_TIMEOUT + 5)
        call.join(CALL_TIMEOUT + ROUTE_TIMEOUT + 5)
        run.check_fp()
        recovered = wait_api_ok(run, 120)
        recover_s = time.monotonic() - t_close if recovered else float("nan")
        late = sum(1 for a, b, ok in pinger.samples if ok and b > t_close)
        ms, why = res.get("ms"), res.get("why", "no answer")
        if ms and res["done"] > t_close:
            why, ms = "answered %.1f s after the idle connections were closed (%.1f s held)" % (
                res["done"] - t_close, t_close - t_open), None
        row = {"base": base.figures(), "base_ms": base_ms, "busy": pinger.figures(), "ms": ms,
               "why": why, "sent": sent, "failed": failed, "closed": closed, "open_s": open_s,
               "late": late, "held": t_close - t_open, "recover": recover_s}
        rows.append(row)
        say("round %d:" % rnd)
        say("  before: /ping %s; reconfigure -> served %s" % (
            ping_line(row["base"]), "%.1f ms" % base_ms if base_ms else "failed: " + base_why))
        say("  %d connections opened with half a request line in %.1f s (%d failed), held %.1f s; "
            "%d closed by flowproxy meanwhile" % (sent, open_s, failed, row["held"], closed))
        say("  meanwhile from 127.0.0.2: /ping %s (%d answered only once the idle connections were "
            "closed); reconfigure -> served %s" % (ping_line(row["busy"]), late,
                                                   "%.1f ms" % ms if ms else "failed: " + why))
        say("  /ping answered within 1 s again %.1f s after the idle connections were closed" %
            recover_s)
    say("")
    say("summary over %d round(s), median (min–max) of the per-round figures:" % len(rows))
    g = lambda f: [f(r) for r in rows]  # noqa: E731
    say("  with %d idle connections: /ping (ms) median %s, p99 %s, max %s; count %s; failed or "
        "> 1 s %s" % (CONNS, spread(g(lambda r: r["busy"]["median"])),
                      spread(g(lambda r: r["busy"]["p99"])), spread(g(lambda r: r["busy"]["max"])),
                      spread(g(lambda r: r["busy"]["n"]), "%d"),
                      spread(g(lambda r: r["busy"]["bad"]), "%d")))
    say("  reconfigure -> served (ms): with the idle connections %s (%d failed); before %s" % (
        spread([r["ms"] for r in rows if r["ms"]]), sum(1 for r in rows if not r["ms"]),
        spread([r["base_ms"] for r in rows if r["base_ms"]])))
    say("  idle connections closed by flowproxy while held: %s of %s; the API answered again %s s "
        "after they were closed" % (spread(g(lambda r: r["closed"]), "%d"),
                                    spread(g(lambda r: r["sent"]), "%d"),
                                    spread(g(lambda r: r["recover"]))))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--loadgen":
        loadgen_main(json.loads(sys.argv[2]))
        return 0
    scenarios = {"stall": scenario_stall, "reload1000": scenario_reload1000,
                 "idle3000": scenario_idle3000}
    if SCENARIO not in scenarios:
        say("SCENARIO must be one of %s" % ", ".join(scenarios))
        return 2
    for exe in (os.path.join(BUILD, "flowproxy"), os.path.join(BUILD, "tests", "testserver")):
        if not os.access(exe, os.X_OK):
            say("%s missing: ninja -C %s" % (exe, BUILD))
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = CONNS + 1000 if SCENARIO == "idle3000" else 4096
    if soft < want:  # children (flowproxy) inherit it, as from a container's default
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard > 0 else want,
                                                    hard))
    sys.setswitchinterval(0.001)  # the prober must not wait on the other threads' GIL turns

    def on_term(sig, frame):
        raise SystemExit(128 + sig)

    def on_alarm(sig, frame):
        raise RuntimeError("time cap of %d s reached" % cap)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    # Every wait is bounded already; this bounds their sum, whatever flowproxy does.
    cap = int({"stall": ROUNDS * (STALL + 3 * CALL_TIMEOUT + 60) + 300,
               "reload1000": 2400 + ROUNDS * (IDLE_S + RELOADS * CALL_TIMEOUT),
               "idle3000": ROUNDS * (6 * CALL_TIMEOUT + 180) + 120}[SCENARIO])
    signal.alarm(cap)
    run = Run()
    rc = 0
    t0 = time.monotonic()
    try:
        scenarios[SCENARIO](run)
    except KeyboardInterrupt:
        say("interrupted")
        rc = 130
    except Exception as e:  # the figures so far are printed; say why it stopped
        say("FAILED: %s" % e)
        rc = 1
    finally:
        signal.alarm(0)
        try:
            run.log_report()
            if run.fp and run.fp.poll() is not None:
                say("flowproxy had exited with %s" % run.fp.returncode)
        finally:
            run.cleanup()
            if run.fp and run.fp.returncode not in (0, None):
                say("flowproxy exited with %s on SIGTERM" % run.fp.returncode)
    say("took %.0f s" % (time.monotonic() - t0))
    return rc


if __name__ == "__main__":
    sys.exit(main())
