#!/usr/bin/env python3
"""Memory of flowproxy + HAProxy in a container limited to 20 MB, through a burst of reloads.

flowproxy runs as a swarm service from the image scripts/build-test-image makes
(flowproxy-e2e:<build dir>), with --limit-memory LIMIT (default 20M), SWARM=true, its ports
published in host mode on 127.0.0.1. Then, as a user of the seed tutorial's stack would:
  1. SERVICES (5) labelled services are created one after another, each waited for until it is
     served through the published port;
  2. BURST (300) reconfigure calls, as fast as the API answers them (CONCURRENCY at once), each
     changing one of BURST_SERVICES (5) services routed to the same test service (a new path
     each time, so every batch is a reload): the configuration keeps its size, as when labels
     are updated or a Swarm Listener sends its services again.
Throughout, the container's memory cgroup (v1: memory.stat, memory.max_usage_in_bytes) is read
every 10 ms. Prints the peak of anonymous memory (total_rss) and of all memory (the cgroup's
max usage: anonymous + page cache), hits of the limit (failcnt), OOM kills, whether the
container was restarted, and the HAProxy processes alive at the end of the burst and 5 s
later. Traffic goes only to 127.0.0.1; HAProxy reaches the tasks inside the overlay network.
"""
import concurrent.futures, http.client, json, os, subprocess, sys, threading, time, urllib.parse
from benchlib import free_port, http_get

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
LIMIT = os.environ.get("LIMIT", "20M")
SERVICES = int(os.environ.get("SERVICES", "5"))
BURST = int(os.environ.get("BURST", "300"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "10"))
BURST_SERVICES = int(os.environ.get("BURST_SERVICES", "5"))
TAG = str(os.getpid())


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout.strip()


def wait(pred, seconds, step=0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


class Sampler(threading.Thread):
    """Reads the container's memory cgroup every 10 ms and keeps the peaks."""

    def __init__(self, fp_service):
        super().__init__(daemon=True)
        self.fp_service = fp_service
        self.stop = False
        self.peak_rss = 0
        self.peak_total = 0
        self.failcnt = 0
        self.oom_kills = 0
        self.cgroup = None
        self.cids = set()

    def find(self):
        cid = sh("docker", "ps", "-q", "--no-trunc", "--filter",
                 "label=com.docker.swarm.service.name=" + self.fp_service, check=False)
        cid = cid.splitlines()[0] if cid else ""
        if cid:
            self.cids.add(cid)
            path = "/sys/fs/cgroup/memory/docker/" + cid
            if os.path.isdir(path):
                self.cgroup = path

    def run(self):
        while not self.stop:
            if not self.cgroup or not os.path.isdir(self.cgroup):
                self.find()
            try:
                with open(self.cgroup + "/memory.stat") as f:
                    for line in f:
                        k, v = line.split()
                        if k == "total_rss":
                            self.peak_rss = max(self.peak_rss, int(v))
                # Kept across containers: an OOM-killed one takes its cgroup with it.
                self.peak_total = max(self.peak_total,
                                      int(self.read("memory.max_usage_in_bytes") or 0))
                self.failcnt = max(self.failcnt, int(self.read("memory.failcnt") or 0))
                oc = self.read("memory.oom_control")
                if "oom_kill " in oc:
                    self.oom_kills = max(self.oom_kills,
                                         int(oc.split("oom_kill ")[-1].split()[0]))
            except (OSError, TypeError, ValueError):
                pass
            time.sleep(0.01)

    def read(self, name):
        try:
            with open(self.cgroup + "/" + name) as f:
                return f.read()
        except (OSError, TypeError):
            return ""


def haproxy_procs(sampler):
    """HAProxy processes in the container: (count, their pids)."""
    if not sampler.cgroup:
        return 0, []
    procs = sampler.read("cgroup.procs").split()
    names = []
    for p in procs:
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() == "haproxy":
                    names.append(p)
        except OSError:
            pass
    return len(names), names


def main():
    image = "flowproxy-e2e:" + os.path.basename(BUILD)
    subprocess.run([os.path.join(ROOT, "scripts/build-test-image"), BUILD], check=True,
                   stdout=subprocess.DEVNULL)
    net, fp, web = "fp-mem-net-" + TAG, "fp-mem-proxy-" + TAG, "fp-mem-web-" + TAG
    svcs = ["fp-mem-s%d-%s" % (i, TAG) for i in range(SERVICES)]
    pport, aport = free_port(), free_port()
    sampler = Sampler(fp)
    try:
        sh("docker", "network", "create", "-d", "overlay", net)
        sh("docker", "service", "create", "-d", "--name", web, "--network", net,
           "flowproxy-testserver:local")
        sh("docker", "service", "create", "-d", "--name", fp, "--network", net,
           "--limit-memory", LIMIT, "--restart-condition", "any",
           "--mount", "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock",
           "--publish", "mode=host,target=80,published=%d" % pport,
           "--publish", "mode=host,target=8080,published=%d" % aport,
           "-e", "SWARM=true", image)
        sampler.start()
        if not wait(lambda: http_get(aport, "/v1/docker-flow-proxy/successfulinitreload")[0]
                    == 200, 120):
            sys.exit("flowproxy did not start")
        print("flowproxy in a container limited to %s; %d services one after another, then %d "
              "reconfigures (%d at once)" % (LIMIT, SERVICES, BURST, CONCURRENCY))
        t0 = time.monotonic()
        for i, name in enumerate(svcs):
            sh("docker", "service", "create", "-d", "--name", name, "--network", net,
               "--label", "com.df.notify=true", "--label", "com.df.servicePath=/s%d" % i,
               "--label", "com.df.port=80", "flowproxy-testserver:local")
            ok = wait(lambda: http_get(pport, "/s%d" % i)[0] == 200, 90)
            print("  service %d routed: %s (%.1f s)" % (i + 1, ok, time.monotonic() - t0))
        phase1_rss = sampler.peak_rss
        phase1_total = sampler.peak_total

        def reconfigure(k):
            q = urllib.parse.urlencode({"serviceName": "burst%d" % (k % BURST_SERVICES),
                                        "servicePath": "/b%d,/v%d" % (k % BURST_SERVICES, k),
                                        "port": "80", "outboundHostname": "tasks." + web})
            try:
                return http_get(aport, "/v1/docker-flow-proxy/reconfigure?" + q, 60)[0]
            except OSError:
                return 0

        t1 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as ex:
            codes = list(ex.map(reconfigure, range(BURST)))
        dt = time.monotonic() - t1
        n_end, _ = haproxy_procs(sampler)
        time.sleep(5)
        n_later, _ = haproxy_procs(sampler)
        status = {"haproxy": {"reloads": -1}}
        if wait(lambda: http_get(aport, "/v1/docker-flow-proxy/successfulinitreload")[0] == 200,
                60):
            status = json.loads(http_get(aport, "/v1/flowproxy/status")[1])

        def served_ok(k):
            try:
                return http_get(pport, "/b%d" % k)[0] == 200
            except OSError:
                return False
        served = sum(1 for k in range(min(BURST, BURST_SERVICES)) if served_ok(k))
        sampler.stop = True
        sampler.join()
        stat = dict(l.split() for l in sampler.read("memory.stat").splitlines())
        print("  burst: %d of %d answered 200 in %.1f s, %d reloads; routes served: %d/%d"
              % (codes.count(200), BURST, dt, status["haproxy"]["reloads"], served,
                 min(BURST, BURST_SERVICES)))
        print("peak anonymous memory (total_rss): %.1f MB after the services, %.1f MB in all"
              % (phase1_rss / 1e6, sampler.peak_rss / 1e6))
        print("peak memory (max_usage_in_bytes, anon + cache): %.1f MB after the services, "
              "%.1f MB in all" % (phase1_total / 1e6, sampler.peak_total / 1e6))
        print("limit %s: reached %d times (failcnt: the kernel reclaimed page cache then); OOM "
              "kills: %d; containers used: %d (1: never restarted)"
              % (LIMIT, sampler.failcnt, sampler.oom_kills, len(sampler.cids)))
        print("HAProxy processes: %d at the end of the burst, %d five seconds later "
              "(master + worker = 2)" % (n_end, n_later))
        print("now: anon %.1f MB, cache %.1f MB" % (int(stat.get("total_rss", 0)) / 1e6,
                                                     int(stat.get("total_cache", 0)) / 1e6))
    finally:
        sampler.stop = True
        subprocess.run(["docker", "service", "rm", fp, web] + svcs, capture_output=True)
        for _ in range(100):
            if subprocess.run(["docker", "network", "rm", net], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)


if __name__ == "__main__":
    main()
