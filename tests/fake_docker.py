#!/usr/bin/env python3
"""fake_docker: a Docker Engine API stand-in for swarm mode, with faults injected on demand.

    tests/fake_docker.py PORT [--unix PATH] [--control-port PORT] [--services N]
                         [--service-port P] [--addr 127.0.0.1/8] [--network NAME]
                         [--replicas R] [--spec FILE] [--api-version 1.43] [--quiet]

Listens on 127.0.0.1:PORT (0 picks a free port; the port is printed as "listening <port>" on
stdout) and, with --unix, on a unix socket too. It answers what flowproxy asks a real engine,
with the JSON shapes of tests/fixtures/docker/*.json (captured from a real dockerd; every object
below is one of those with its identifying fields replaced):

    GET /_ping                       OK
    GET /version                     version.json, ApiVersion --api-version, MinAPIVersion 1.12
    GET /v1.NN/services              the services, `filters` (label, id, name) applied;
                                     ServiceStatus only with status=true, as the engine does
    GET /v1.NN/services/<id|name>    one service, else 404 {"message":"service X not found"}
    GET /v1.NN/tasks                 one running task per replica, `filters` (service,
                                     desired-state, id) applied; its NetworksAttachments has one
                                     network (--network) with the address --addr (ip/prefix)
    GET /v1.NN/events                a chunked stream that stays open; events since `since=`
                                     are replayed, then new ones sent as they happen
    GET /v1.NN/containers/<id>/json  404 {"message":"No such container: <id>"}
    POST /v1.NN/services/<id|name>/update?version=N
                                     the engine's checks, in its order: 400 for a body that is
                                     not a JSON object (or not application/json) and for a
                                     version that is not a number, 404 for an unknown service,
                                     501 for a change of Name or mode, 500 "update out of
                                     sequence" when N is not the service's Version.Index (or a
                                     conflict is injected, see /_fake/conflicts); else the body
                                     becomes the Spec (a replace, as in the engine),
                                     Version.Index moves, the tasks follow the new count (tasks
                                     in slots that remain keep their IDs), an update event with
                                     replicas.old/new is sent and the answer is
                                     {"Warnings":null}. The last body that reached the service
                                     check is kept (GET /_fake/mode shows it as last_update).
    anything else                    404 {"message":"page not found"}

The services are, by default, N (--services, 1) services svc0 … svc<N-1> labelled
com.df.notify=true, com.df.servicePath=/svcK, com.df.port=P (--service-port, 80), with R
replicas (--replicas, 1) running. --spec FILE replaces them with a JSON list whose entries are
either {"name": "web", "labels": {...}, "replicas": 2, "addresses": ["127.0.0.1/8", ...]}
(addresses: one per task, the last one repeated) or whole engine Service objects (with "ID" and
"Spec"; they have no tasks).

Faults. The mode applies to every API call but the control endpoints, and not to /events unless
events=1 is given:

    normal            answer
    stall             read the request, never answer, keep the socket open; when the mode
                      changes, a held request is handled by the new mode (so `normal` answers it)
    slow&delay=MS     answer after MS milliseconds
    drop              send the status line, the headers and half of the body, then close
    garbage           200 with a body that is not JSON
    500               HTTP 500 {"message":"..."}

Control (on PORT, and on --control-port when given; never subject to the mode):

    POST /_fake/mode?m=stall|slow|drop|garbage|500|normal[&delay=MS][&events=0|1][&match=RE]
         match: the mode applies only to paths matching the regular expression RE
    GET  /_fake/mode                 the mode and request counters (JSON)
    POST /_fake/conflicts?n=N        the next N updates (-1: all, 0: none) answer 500 "update
                                     out of sequence" whatever their version, as when another
                                     client keeps updating the service
    POST /_fake/services             body: a --spec list; replaces the services and sends
                                     service create/update/remove events on open streams

    curl -s -XPOST 'http://127.0.0.1:2375/_fake/mode?m=stall'
    curl -s -XPOST 'http://127.0.0.1:2375/_fake/mode?m=slow&delay=5000&match=/tasks'

Each request line is logged to stderr with a timestamp when it arrives, and again with its
status when it is answered, dropped or given up by the client. Python 3.11 standard library only;
one thread per connection. Listens on 127.0.0.1 only. Stops on SIGTERM or SIGINT.
"""
import argparse
import copy
import hashlib
import http.server
import json
import os
import re
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "docker")
MODES = ("normal", "stall", "slow", "drop", "garbage", "500")
BODY_MAX = 1 << 20  # control request bodies
VERSION_RE = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read() if name.endswith(".txt") else json.load(f)


def swarm_id(key):
    """A 25-character id in the engine's alphabet, the same for the same key in every run."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    x = int.from_bytes(hashlib.sha256(key.encode()).digest(), "big")
    out = ""
    for _ in range(25):
        x, r = divmod(x, 36)
        out += alphabet[r]
    return out


def stamp(t=None):
    """The engine's RFC 3339 timestamp with nanoseconds."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int(t % 1 * 1e9)


def log(msg):
    t = time.time()
    sys.stderr.write("%s.%03d fake_docker: %s\n" % (time.strftime("%H:%M:%S", time.localtime(t)),
                                                    int(t % 1 * 1000), msg))
    sys.stderr.flush()


class Engine:
    """Services, tasks, the event log and the fault mode; every field is guarded by lock."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Condition()
        self.mode = {"m": "normal", "delay": 0, "events": False, "match": None}
        self.generation = 0  # bumped at every mode change: held requests wake up
        self.counts = {"requests": 0, "held": 0, "answered": 0, "client_gone": 0,
                       "updates": 0, "conflicts": 0}
        self.conflicts = 0  # updates still to answer "out of sequence"; -1: all
        self.last_update = None  # the body of the last update received
        self.events = []  # (timeNano, line)
        self.index = 100
        self.svc_tpl = next(s for s in fixture("services.json")
                            if "Replicated" in s["Spec"]["Mode"])
        self.task_tpl = fixture("tasks.json")[0]
        self.version = fixture("version.json")
        self.version["ApiVersion"] = args.api_version
        for c in self.version.get("Components", []):
            if c.get("Name") == "Engine":
                c["Details"]["ApiVersion"] = args.api_version
        if args.spec:
            with open(args.spec) as f:
                spec = json.load(f)
        else:
            spec = [{"name": "svc%d" % k, "replicas": args.replicas, "addresses": [args.addr],
                     "labels": {"com.df.notify": "true", "com.df.servicePath": "/svc%d" % k,
                                "com.df.port": str(args.service_port)}}
                    for k in range(args.services)]
        self.services, self.tasks = [], []
        self.load_spec(spec, emit=False)

    # ---- the swarm's state -----------------------------------------------------------------

    def build(self, spec):
        """Engine objects (services, tasks) for a spec list. Called with lock held."""
        services, tasks = [], []
        for e in spec:
            if "ID" in e and "Spec" in e:
                services.append(copy.deepcopy(e))
                continue
            old = next((s for s in self.services if s["Spec"]["Name"] == e["name"]), None)
            s = copy.deepcopy(self.svc_tpl)
            s.pop("PreviousSpec", None)
            replicas = int(e.get("replicas", 1))
            s["ID"] = old["ID"] if old else swarm_id("service:" + e["name"])
            s["Spec"]["Name"] = e["name"]
            s["Spec"]["Labels"] = dict(e.get("labels", {}))
            s["Spec"]["Mode"] = {"Replicated": {"Replicas": replicas}}
            same = old and old["Spec"] == s["Spec"]
            if not same:
                self.index += 1
            s["Version"] = {"Index": old["Version"]["Index"] if same else self.index}
            s["CreatedAt"] = old["CreatedAt"] if old else stamp()
            s["UpdatedAt"] = old["UpdatedAt"] if same else stamp()
            s["ServiceStatus"] = {"RunningTasks": replicas, "DesiredTasks": replicas,
                                  "CompletedTasks": 0}
            services.append(s)
            addrs = e.get("addresses") or [self.args.addr]
            for slot in range(1, replicas + 1):
                t = copy.deepcopy(self.task_tpl)
                t["ID"] = swarm_id("task:%s:%s:%d" % (e["name"], s["Version"]["Index"], slot))
                t["ServiceID"] = s["ID"]
                t["Version"] = {"Index": s["Version"]["Index"] + slot}
                t["CreatedAt"] = t["UpdatedAt"] = t["Status"]["Timestamp"] = s["UpdatedAt"]
                t["Slot"] = slot
                t["DesiredState"] = "running"
                t["Status"]["State"] = "running"
                t["Status"]["ContainerStatus"]["ContainerID"] = (t["ID"] * 3)[:64]
                att = t["NetworksAttachments"][0]
                att["Network"]["Spec"]["Name"] = self.args.network
                att["Addresses"] = [addrs[min(slot - 1, len(addrs) - 1)]]
                t["NetworksAttachments"] = [att]
                tasks.append(t)
        return services, tasks

    def load_spec(self, spec, emit=True):
        with self.lock:
            before = {s["ID"]: s for s in self.services}
            self.services, self.tasks = self.build(spec)
            if not emit:
                return
            after = {s["ID"]: s for s in self.services}
            for sid, s in after.items():
                if sid not in before:
                    self.emit("service", "create", sid, s["Spec"]["Name"])
                elif before[sid]["Version"] != s["Version"]:
                    self.emit("service", "update", sid, s["Spec"]["Name"])
            for sid, s in before.items():
                if sid not in after:
                    self.emit("service", "remove", sid, s["Spec"]["Name"])

    def emit(self, typ, action, actor, name, attrs=None):
        """Appends an event (events.jsonl's shape) and wakes the streams. Lock held."""
        tn = time.time_ns()
        line = json.dumps({"Type": typ, "Action": action,
                           "Actor": {"ID": actor, "Attributes": dict(attrs or {}, name=name)},
                           "scope": "swarm", "time": tn // 10**9, "timeNano": tn},
                          separators=(",", ":"))
        self.events.append((tn, line))
        del self.events[:-10000]
        self.lock.notify_all()

    def set_mode(self, m, delay, events, match):
        with self.lock:
            self.mode = {"m": m, "delay": delay, "events": events, "match": match}
            self.generation += 1
            self.lock.notify_all()

    def mode_for(self, path):
        """The mode that applies to path now, and the generation it was read at."""
        with self.lock:
            mo = self.mode
            gen = self.generation
            if path.startswith("/events") and not mo["events"]:
                return "normal", 0, gen
            if mo["match"] and not re.search(mo["match"], path):
                return "normal", 0, gen
            return mo["m"], mo["delay"], gen

    def update(self, key, query, body, ctype):
        """POST /services/<key>/update (reference §4.3, §4.8): (status, answer object), with
        the engine's checks in its order (router: body, version; swarmkit: service, name,
        mode, then the version compared as the store writes it)."""
        if ctype and ctype.split(";")[0].strip() != "application/json":
            return 400, {"message": "unsupported Content-Type header (%s): must be "
                         "'application/json'" % ctype}
        try:
            spec = json.loads(body)
            if not isinstance(spec, dict):
                raise ValueError("not an object")
        except ValueError as x:
            return 400, {"message": "invalid JSON: %s" % x}
        raw = query.get("version", [""])[0]
        if not raw.isdigit():
            return 400, {"message": "invalid service version '%s'" % raw}
        with self.lock:
            self.counts["updates"] += 1
            self.last_update = body.decode("utf-8", "replace")
            s = next((x for x in self.services if key in (x["ID"], x["Spec"]["Name"])), None)
            if s is None:
                return 404, {"message": "service %s not found" % key}
            old_mode, mode = s["Spec"].get("Mode") or {}, spec.get("Mode") or {}
            if spec.get("Name") != s["Spec"]["Name"]:
                return 501, {"message": "rpc error: code = Unimplemented desc = renaming "
                             "services is not supported"}
            if set(old_mode) != set(mode):
                return 501, {"message": "rpc error: code = Unimplemented desc = service mode "
                             "change is not allowed"}
            if self.conflicts != 0 or int(raw) != s["Version"]["Index"]:
                if self.conflicts > 0:
                    self.conflicts -= 1
                self.counts["conflicts"] += 1
                return 500, {"message": "rpc error: code = Unknown desc = update out of "
                             "sequence"}
            replicated = "Replicated" in mode
            # An absent or null count is 1 to the engine.
            before = (old_mode.get("Replicated") or {}).get("Replicas")
            after = (mode.get("Replicated") or {}).get("Replicas")
            before = 1 if before is None else before
            after = 1 if after is None else after
            s = copy.deepcopy(s)
            s["PreviousSpec"] = s["Spec"]
            s["Spec"] = spec
            self.index += 1
            s["Version"] = {"Index": self.index}
            s["UpdatedAt"] = stamp()
            if replicated:
                s["ServiceStatus"] = {"RunningTasks": after, "DesiredTasks": after,
                                      "CompletedTasks": 0}
                # Tasks in the slots that remain are kept; new slots get new tasks.
                mine = sorted((t for t in self.tasks if t["ServiceID"] == s["ID"]),
                              key=lambda t: t["Slot"])
                kept = [t for t in mine if t["Slot"] <= after]
                for slot in range(len(kept) + 1, after + 1):
                    t = copy.deepcopy(mine[-1] if mine else self.task_tpl)
                    if not mine:
                        att = t["NetworksAttachments"][0]
                        att["Network"]["Spec"]["Name"] = self.args.network
                        att["Addresses"] = [self.args.addr]
                        t["NetworksAttachments"] = [att]
                    t["ID"] = swarm_id("task:%s:%d:%d" % (s["ID"], self.index, slot))
                    t["ServiceID"] = s["ID"]
                    t["Slot"] = slot
                    t["Version"] = {"Index": self.index}
                    t["CreatedAt"] = t["UpdatedAt"] = t["Status"]["Timestamp"] = s["UpdatedAt"]
                    t["DesiredState"] = "running"
                    t["Status"]["State"] = "running"
                    t["Status"]["ContainerStatus"]["ContainerID"] = (t["ID"] * 3)[:64]
                    kept.append(t)
                self.tasks = [t for t in self.tasks if t["ServiceID"] != s["ID"]] + kept
            self.services = [s if x["ID"] == s["ID"] else x for x in self.services]
            attrs = {}
            if replicated and before != after:
                attrs = {"replicas.old": str(before), "replicas.new": str(after)}
            self.emit("service", "update", s["ID"], spec["Name"], attrs)
            return 200, {"Warnings": None}

    # ---- answers ---------------------------------------------------------------------------

    @staticmethod
    def filters(query):
        """Docker's filters: {"k": ["v", ...]} or the old {"k": {"v": true}}; None if bad."""
        raw = query.get("filters", [""])[0]
        if not raw:
            return {}
        try:
            f = json.loads(raw)
        except ValueError:
            return None
        out = {}
        for k, v in f.items():
            out[k] = list(v.keys()) if isinstance(v, dict) else list(v)
        return out

    def answer(self, path, query, method="GET", body=b"", ctype=None):
        """(status, content type, body bytes) of a normal answer."""
        def js(status, obj):
            return status, "application/json", (json.dumps(obj, separators=(",", ":")) +
                                                "\n").encode()

        m = re.match(r"^/services/([^/]+)/update$", path)
        if m and method == "POST":
            return js(*self.update(urllib.parse.unquote(m.group(1)), query, body, ctype))
        if path == "/_ping":
            return 200, "text/plain; charset=utf-8", b"OK"
        if path == "/version":
            return js(200, self.version)
        f = self.filters(query)
        if f is None:
            return js(400, {"message": "invalid filter"})
        with self.lock:
            services, tasks = self.services, self.tasks
        if path in ("/services", "/services/"):
            out = []
            for s in services:
                labels = s["Spec"].get("Labels") or {}
                if not all(("=" in want and labels.get(want.split("=", 1)[0]) ==
                            want.split("=", 1)[1]) or ("=" not in want and want in labels)
                           for want in f.get("label", [])):
                    continue
                if f.get("id") and not any(s["ID"].startswith(i) for i in f["id"]):
                    continue
                if f.get("name") and not any(n in s["Spec"]["Name"] for n in f["name"]):
                    continue
                s = copy.copy(s)
                if query.get("status", [""])[0] not in ("1", "true"):
                    s.pop("ServiceStatus", None)
                out.append(s)
            return js(200, out)
        m = re.match(r"^/services/([^/]+)$", path)
        if m:
            key = urllib.parse.unquote(m.group(1))
            for s in services:
                if key in (s["ID"], s["Spec"]["Name"]):
                    s = copy.copy(s)
                    s.pop("ServiceStatus", None)
                    return js(200, s)
            return js(404, {"message": "service %s not found" % key})
        if path in ("/tasks", "/tasks/"):
            out = []
            names = {s["ID"]: s["Spec"]["Name"] for s in services}
            for t in tasks:
                if f.get("service") and not any(
                        x in (t["ServiceID"], names.get(t["ServiceID"])) for x in f["service"]):
                    continue
                if f.get("desired-state") and t["DesiredState"] not in f["desired-state"]:
                    continue
                if f.get("id") and not any(t["ID"].startswith(i) for i in f["id"]):
                    continue
                out.append(t)
            return js(200, out)
        m = re.match(r"^/containers/([^/]+)/json$", path)
        if m:
            return js(404, {"message": "No such container: %s" % urllib.parse.unquote(
                m.group(1))})
        return js(404, {"message": "page not found"})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Docker/20.10.24+dfsg1"
    sys_version = "(linux)"
    engine = None  # set by main
    control_only = False

    def setup(self):
        super().setup()
        # Go's net/http (dockerd) sets TCP_NODELAY: without it the body, written after the
        # headers, waits for the client's delayed ACK (40 ms) on a kept-alive connection.
        if isinstance(self.client_address, tuple):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def address_string(self):
        return self.client_address[0] if isinstance(self.client_address, tuple) else "unix"

    def log_message(self, fmt, *a):
        log("%s %s" % (self.address_string(), fmt % a))

    def log_request(self, code="-", size="-"):
        pass  # logged by hand, with the mode

    def std_headers(self, status, ctype, length=None, close=False):
        self.send_response_only(status)
        self.send_header("Api-Version", self.engine.args.api_version)
        self.send_header("Content-Type", ctype)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def client_gone(self):
        """True when the client closed its side (or reset): a held request is abandoned."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def do_GET(self):
        t0 = time.monotonic()
        e = self.engine
        u = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(u.query)
        req = "%s %s" % (self.command, self.path)
        if u.path.startswith("/_fake/"):
            return self.control(u.path, query)
        if self.control_only:
            return self.reply(404, "application/json", b'{"message":"page not found"}\n', req,
                              t0)
        path = u.path
        m = VERSION_RE.match(path)
        if m:
            ver = (int(m.group(1)), int(m.group(2)))
            path = m.group(3)
            mx = tuple(int(x) for x in e.args.api_version.split("."))
            if ver > mx:
                return self.reply(400, "application/json", json.dumps(
                    {"message": "client version %d.%d is too new. Maximum supported API "
                     "version is %s" % (ver + (e.args.api_version,))}).encode() + b"\n", req, t0)
        body = b""
        if self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            if n > BODY_MAX:
                return self.reply(413, "application/json", b'{"message":"body too large"}\n',
                                  req, t0)
            body = self.rfile.read(n) if n else b""
        with e.lock:
            e.counts["requests"] += 1
        mode, delay, gen = e.mode_for(path)
        if not e.args.quiet:
            log("%s -> %s (mode %s)" % (self.address_string(), req, mode))
        while mode == "stall":
            with e.lock:
                e.counts["held"] += 1
            try:
                while True:
                    with e.lock:
                        if e.generation != gen:
                            break
                        e.lock.wait(0.25)
                        if e.generation != gen:
                            break
                    if self.client_gone():
                        with e.lock:
                            e.counts["client_gone"] += 1
                        log("%s <- %s: client gone after %.1f s held" % (
                            self.address_string(), req, time.monotonic() - t0))
                        self.close_connection = True
                        return
            finally:
                with e.lock:
                    e.counts["held"] -= 1
            mode, delay, gen = e.mode_for(path)
        if mode == "slow" and delay > 0:
            time.sleep(delay / 1000.0)
        if path == "/events" or path == "/events/":
            return self.events(query, mode, req, t0)
        if mode == "500":
            return self.reply(500, "application/json",
                              b'{"message":"fake_docker: injected error (mode 500)"}\n', req, t0)
        status, ctype, body = e.answer(path, query, self.command, body,
                                       self.headers.get("Content-Type"))
        if mode == "garbage":
            status, ctype = 200, "application/json"
            body = b"<html><body>fake_docker: garbage, this is not JSON {\"ID\": \x01</body>"
        if mode == "drop":
            self.std_headers(status, ctype, len(body), close=True)
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            log("%s <- %s: %d, dropped after %d of %d bytes" % (
                self.address_string(), req, status, len(body) // 2, len(body)))
            return
        self.reply(status, ctype, body, req, t0)

    def reply(self, status, ctype, body, req, t0):
        self.std_headers(status, ctype, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)
        if self.path.startswith("/_fake/"):
            return
        with self.engine.lock:
            self.engine.counts["answered"] += 1
        if not self.engine.args.quiet:
            log("%s <- %s: %d, %d bytes in %.1f ms" % (self.address_string(), req, status,
                                                       len(body), (time.monotonic() - t0) * 1e3))

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def events(self, query, mode, req, t0):
        """The events stream: replay from since=, then follow until the client goes."""
        e = self.engine
        if mode == "500":
            return self.reply(500, "application/json",
                              b'{"message":"fake_docker: injected error (mode 500)"}\n', req, t0)
        try:
            since_ns = int(float(query.get("since", ["0"])[0]) * 1e9)
        except ValueError:
            since_ns = 0
        self.std_headers(200, "application/json", None)
        self.wfile.flush()
        self.close_connection = True
        if mode == "drop":
            self.wfile.write(b'5\r\n{"Typ')  # half a chunk
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            log("%s <- %s: stream dropped" % (self.address_string(), req))
            return
        if mode == "garbage":
            self.chunk(b"fake_docker: garbage, not an event\n")
        log("%s <- %s: streaming" % (self.address_string(), req))
        with e.lock:
            backlog = [ln for tn, ln in e.events if tn >= since_ns // 10**9 * 10**9]
            sent = len(e.events)
        try:
            for ln in backlog:
                self.chunk(ln.encode() + b"\n")
            while True:
                with e.lock:
                    if len(e.events) <= sent:
                        e.lock.wait(0.5)
                    new = [ln for _, ln in e.events[sent:]]
                    sent = len(e.events)
                for ln in new:
                    self.chunk(ln.encode() + b"\n")
                if self.client_gone():
                    break
        except OSError:
            pass
        log("%s <- %s: stream ended after %.1f s" % (self.address_string(), req,
                                                     time.monotonic() - t0))

    def control(self, path, query):
        e = self.engine
        t0 = time.monotonic()
        req = "%s %s" % (self.command, self.path)
        log("%s -> %s (control)" % (self.address_string(), req))
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_MAX:
            return self.reply(413, "application/json", b'{"message":"body too large"}\n', req,
                              t0)
        body = self.rfile.read(n) if n else b""
        if path == "/_fake/mode" and self.command == "POST":
            m = query.get("m", [""])[0]
            try:
                delay = int(query.get("delay", ["0"])[0])
                match = query.get("match", [None])[0]
                if match:
                    re.compile(match)
            except (ValueError, re.error) as x:
                return self.reply(400, "application/json", json.dumps(
                    {"message": "bad parameter: %s" % x}).encode() + b"\n", req, t0)
            if m not in MODES or delay < 0:
                return self.reply(400, "application/json", json.dumps(
                    {"message": "m must be one of %s; delay >= 0" % "|".join(MODES)}).encode()
                    + b"\n", req, t0)
            events = query.get("events", ["0"])[0] in ("1", "true")
            e.set_mode(m, delay, events, match)
            log("mode %s delay=%d events=%s match=%s" % (m, delay, events, match))
        elif path == "/_fake/services" and self.command == "POST":
            try:
                spec = json.loads(body)
                if not isinstance(spec, list):
                    raise ValueError("want a list")
                e.load_spec(spec)
            except (ValueError, KeyError, TypeError) as x:
                return self.reply(400, "application/json", json.dumps(
                    {"message": "bad spec: %s" % x}).encode() + b"\n", req, t0)
        elif path == "/_fake/conflicts" and self.command == "POST":
            try:
                n = int(query.get("n", [""])[0])
            except ValueError:
                return self.reply(400, "application/json", b'{"message":"n must be a number"}\n',
                                  req, t0)
            with e.lock:
                e.conflicts = max(n, -1)
            log("conflicts %d" % n)
        elif path != "/_fake/mode":
            return self.reply(404, "application/json", b'{"message":"page not found"}\n', req,
                              t0)
        with e.lock:
            out = dict(e.mode, counts=dict(e.counts), services=len(e.services),
                       tasks=len(e.tasks), event_log=len(e.events), conflicts=e.conflicts,
                       last_update=e.last_update)
        self.reply(200, "application/json", json.dumps(out).encode() + b"\n", req, t0)


class TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--unix", help="also listen on this unix socket path")
    ap.add_argument("--control-port", type=int, help="a second port for /_fake/ only")
    ap.add_argument("--services", type=int, default=1)
    ap.add_argument("--service-port", type=int, default=80)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--addr", default="127.0.0.1/8")
    ap.add_argument("--network", default="fp-fixture-net")
    ap.add_argument("--spec")
    ap.add_argument("--api-version", default="1.43")
    ap.add_argument("--quiet", action="store_true", help="log only faults and control calls")
    args = ap.parse_args()

    Handler.engine = Engine(args)
    servers = [TCPServer(("127.0.0.1", args.port), Handler)]
    if args.control_port is not None:
        ctl = type("ControlHandler", (Handler,), {"control_only": True})
        servers.append(TCPServer(("127.0.0.1", args.control_port), ctl))
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass
        servers.append(UnixServer(args.unix, Handler))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("listening %d" % servers[0].server_address[1], flush=True)
    if args.control_port is not None:
        print("control %d" % servers[1].server_address[1], flush=True)
    log("listening on 127.0.0.1:%d%s, %d service(s), API %s" % (
        servers[0].server_address[1], " and " + args.unix if args.unix else "",
        len(Handler.engine.services), args.api_version))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    for s in servers:
        s.server_close()
    if args.unix:
        try:
            os.unlink(args.unix)
        except OSError:
            pass


if __name__ == "__main__":
    main()
