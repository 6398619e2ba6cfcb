#!/usr/bin/env python3
"""Swarm mode end to end, on the local one-node swarm, flowproxy in its container.

flowproxy runs as a swarm service (image flowproxy-e2e:<build dir>, built FROM scratch by
scripts/build-test-image) on an overlay network, ports published in host mode; requests go only
to those ports on 127.0.0.1. Prints:

1. From `docker service create` to the first request served on the new service's path: median
   over SERVICES (10) services, split at the task's "running" timestamp (Docker's clock).
2. From a scale-up (1 -> 2) to the new task receiving traffic: median over ROUNDS (10) scalings,
   from the command and from the new task running; a client sends requests back to back and
   notes when the first answer names the new task's container.
3. HAProxy reloads (the status API's counter) caused by the 2 * ROUNDS scale operations.
"""
import http.client, json, os, socket, statistics, subprocess, sys, time
from benchlib import free_port
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
SERVICES = int(os.environ.get("SERVICES", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "10"))
PID = os.getpid()
NET, FP = f"fp-bench-net-{PID}", f"fp-bench-proxy-{PID}"


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


class Client:
    """Keep-alive requests to 127.0.0.1:port; reconnects after any error."""

    def __init__(self, port):
        self.port, self.c = port, None

    def get(self, path):
        """(status, name in the answer or None); status 0 on a connection error."""
        try:
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.c.request("GET", path)
            r = self.c.getresponse()
            body = r.read().decode(errors="replace")
            if r.getheader("connection", "").lower() == "close":
                self.c.close()
                self.c = None
            name = body.split(" ", 1)[0][5:] if body.startswith("name=") else None
            return r.status, name
        except (OSError, http.client.HTTPException):
            if self.c:
                self.c.close()
            self.c = None
            return 0, None


def task_running_times(service):
    """{container id (12 chars): unix time it reached running} for running tasks."""
    out = {}
    ids = sh("docker", "service", "ps", "-q", "--filter", "desired-state=running", service)
    for tid in ids.split():
        t = json.loads(sh("docker", "inspect", tid))[0]
        st = t.get("Status", {})
        cid = st.get("ContainerStatus", {}).get("ContainerID", "")
        if st.get("State") == "running" and cid:
            ts = st["Timestamp"]
            # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
            base, frac = ts.rstrip("Z").split(".") if "." in ts else (ts.rstrip("Z"), "0")
            dt = datetime.fromisoformat(base).replace(tzinfo=timezone.utc)
            out[cid[:12]] = dt.timestamp() + float("0." + frac)
    return out


def status(aport):
    c = http.client.HTTPConnection("127.0.0.1", aport, timeout=5)
    c.request("GET", "/v1/flowproxy/status")
    return json.loads(c.getresponse().read())


def wait(cond, seconds, step=0.05):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def med(v):
    return statistics.median(v) if v else float("nan")


def main():
    sh(os.path.join(ROOT, "scripts", "start-docker"))
    sh(os.path.join(ROOT, "scripts", "build-test-image"), BUILD)
    image = "flowproxy-e2e:" + os.path.basename(os.path.realpath(BUILD))
    pport, aport = free_port(), free_port()
    services = []
    sh("docker", "network", "create", "-d", "overlay", NET)
    try:
        sh("docker", "service", "create", "-d", "--name", FP, "--network", NET,
           "--mount", "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock",
           "--publish", f"mode=host,target=80,published={pport}",
           "--publish", f"mode=host,target=8080,published={aport}",
           "-e", "SWARM=true", "-e", f"SWARM_NETWORKS={NET}", "-e", "LOG_LEVEL=1", image)
        if not wait(lambda: Client(aport).get("/v1/docker-flow-proxy/ping")[0] == 200, 90):
            sys.exit("flowproxy did not start")
        cl = Client(pport)

        # 1. create -> first routed request.
        total, after_running = [], []
        for i in range(SERVICES):
            name = f"fp-bench-{PID}-{i}"
            path = f"/b{i}"
            t0 = time.time()
            sh("docker", "service", "create", "-d", "--name", name, "--network", NET,
               "--label", "com.df.notify=true", "--label", f"com.df.servicePath={path}",
               "--label", "com.df.port=80", "flowproxy-testserver:local")
            services.append(name)
            while time.time() - t0 < 60 and cl.get(path)[0] != 200:
                time.sleep(0.002)
            t1 = time.time()
            running = task_running_times(name)
            total.append((t1 - t0) * 1000)
            if running:
                after_running.append((t1 - max(running.values())) * 1000)
        print(f"service create -> first routed request (ms, {SERVICES} services): "
              f"median {med(total):.0f}, min {min(total):.0f}, max {max(total):.0f}")
        print(f"  of which task running -> first routed request: median "
              f"{med(after_running):.0f}, min {min(after_running):.0f}, "
              f"max {max(after_running):.0f}")

        # 2. scale-up -> the new task receives traffic; 3. reloads.
        svc, path = services[0], "/b0"
        r0 = status(aport)["haproxy"]["reloads"]
        from_cmd, from_running = [], []
        for _ in range(ROUNDS):
            old = set(task_running_times(svc))
            t0 = time.time()
            sh("docker", "service", "scale", "-d", f"{svc}=2")
            seen = None
            while time.time() - t0 < 60:
                st, n = cl.get(path)
                if st == 200 and n and n not in old:
                    seen = time.time()
                    break
            if seen is None:
                sys.exit("the new task got no traffic within 60 s")
            running = task_running_times(svc)
            new = [t for c, t in running.items() if c not in old]
            from_cmd.append((seen - t0) * 1000)
            if new:
                from_running.append((seen - new[0]) * 1000)
            sh("docker", "service", "scale", "-d", f"{svc}=1")
            wait(lambda: len(task_running_times(svc)) == 1, 60, 0.2)
            # Wait until HAProxy sends nothing to the removed task any more.
            left = set(task_running_times(svc))
            wait(lambda: all(cl.get(path)[1] in left for _ in range(4)), 30)
        r1 = status(aport)["haproxy"]["reloads"]
        print(f"scale-up 1 -> 2, the new task receiving traffic (ms, {ROUNDS} scalings): "
              f"median {med(from_running):.0f} after the task is running "
              f"(min {min(from_running):.0f}, max {max(from_running):.0f}); "
              f"median {med(from_cmd):.0f} after the scale command")
        print(f"HAProxy reloads caused by {2 * ROUNDS} scale operations: {r1 - r0}")
    finally:
        sh("docker", "service", "rm", FP, *services, check=False)
        for _ in range(100):
            if subprocess.run(["docker", "network", "rm", NET], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)


if __name__ == "__main__":
    main()
