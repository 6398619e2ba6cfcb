#!/usr/bin/env python3
"""Reconfigure latency: flowproxy vs a bare HAProxy master-worker reload, same configs.

For N in (1, 100, 1000) registered services, 50 reconfigure calls each add a new service
(servicePath=/bench-<i>); the time is from the API call to the first request that HAProxy serves
on the new route. Then the same 50 configurations (as flowproxy rendered them) are applied to a
bare HAProxy with the master CLI `reload`, timed the same way. Prints median and p95 of both and
their ratio. Also prints flowproxy's RSS with the N services. Only 127.0.0.1 is used.
"""
import http.client, json, os, signal, socket, statistics, subprocess, sys, tempfile, time
from benchlib import free_port, http_get, master_cmd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
CALLS = int(os.environ.get("CALLS", "50"))
SIZES = [int(x) for x in os.environ.get("SIZES", "1,100,1000").split(",")]


def wait_route(port, path, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            st, _ = http_get(port, path)
            if st == 200:
                return True
        except OSError:
            pass
        time.sleep(0.0005)
    return False


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def run_size(n, backend_port):
    tmp = tempfile.mkdtemp(prefix="fp-bench-")
    pport, aport = free_port(), free_port()
    services = [{"serviceName": "svc%d" % i, "servicePath": "/svc%d" % i, "port": str(backend_port),
                 "outboundHostname": "127.0.0.1"} for i in range(n)]
    with open(os.path.join(tmp, "services.json"), "w") as f:
        json.dump({"services": services}, f)
    env = dict(os.environ, DEFAULT_PORTS=str(pport), BIND_ADDRESS="127.0.0.1", LOG_LEVEL="1")
    fp = subprocess.Popen([os.path.join(BUILD, "flowproxy"), "server", "--ip", "127.0.0.1",
                           "--port", str(aport), "--configs-path", tmp + "/cfg", "--run-dir",
                           tmp + "/run", "--services-file", tmp + "/services.json"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(2000):
        try:
            if http_get(aport, "/v1/docker-flow-proxy/ping")[0] == 200:
                break
        except OSError:
            time.sleep(0.01)
    assert wait_route(pport, "/svc0"), "flowproxy did not route"
    rss = 0
    with open("/proc/%d/status" % fp.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fp_times, configs = [], []
    for i in range(CALLS):
        path = "/bench-%d" % i
        t0 = time.monotonic()
        st, body = http_get(aport, "/v1/docker-flow-proxy/reconfigure?serviceName=bench%d"
                            "&servicePath=%s&port=%d&outboundHostname=127.0.0.1"
                            % (i, path, backend_port), timeout=30)
        assert st == 200, body
        assert wait_route(pport, path)
        fp_times.append((time.monotonic() - t0) * 1000)
        configs.append(http_get(aport, "/v1/docker-flow-proxy/config")[1])
    fp.send_signal(signal.SIGTERM)
    fp.wait()

    # Bare HAProxy: the same configurations, written and reloaded by hand.
    cfgpath = os.path.join(tmp, "bare.cfg")
    with open(cfgpath, "wb") as f:
        f.write(configs[0])
    msock = os.path.join(tmp, "bare-master.sock")
    ha = subprocess.Popen(["haproxy", "-W", "-S", msock, "-f", cfgpath],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_route(pport, "/bench-0")
    bare = []
    for i in range(1, CALLS):
        with open(cfgpath + ".tmp", "wb") as f:
            f.write(configs[i])
        os.rename(cfgpath + ".tmp", cfgpath)
        t0 = time.monotonic()
        master_cmd(msock, "reload")
        if not wait_route(pport, "/bench-%d" % i, 3.0):
            # A `reload` that reached a master still busy with the last one is lost: once more
            # (the time still counts from the first).
            master_cmd(msock, "reload")
            assert wait_route(pport, "/bench-%d" % i)
        bare.append((time.monotonic() - t0) * 1000)
    ha.send_signal(signal.SIGUSR1)
    try:
        ha.wait(timeout=5)
    except subprocess.TimeoutExpired:
        ha.kill()
    subprocess.run(["rm", "-rf", tmp])
    return fp_times, bare, rss


def main():
    ts = subprocess.Popen([os.path.join(BUILD, "tests", "testserver"), "--name", "b", "--port",
                           "0", "--addr", "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    port = int(ts.stdout.readline().split()[1])
    print("reconfigure latency, %d calls per size (ms): API call -> first request on the new route"
          % CALLS)
    print("%-9s %12s %12s %12s %12s %8s %8s %10s" % ("services", "fp median", "fp p95",
                                                     "bare median", "bare p95", "ratio50",
                                                     "ratio95", "fp RSS"))
    try:
        for n in SIZES:
            fp, bare, rss = run_size(n, port)
            fm, fp95 = statistics.median(fp), pct(fp, 95)
            bm, bp95 = statistics.median(bare), pct(bare, 95)
            print("%-9d %12.1f %12.1f %12.1f %12.1f %8.2f %8.2f %8.1fMB" % (
                n, fm, fp95, bm, bp95, fm / bm, fp95 / bp95, rss / 1024.0))
            sys.stdout.flush()
    finally:
        ts.terminate()


if __name__ == "__main__":
    main()
