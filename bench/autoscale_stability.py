#!/usr/bin/env python3
"""Autoscaler stability: noisy load between the thresholds must cause no scale action.

flowproxy runs in local mode (its own HAProxy, free 127.0.0.1 ports) with one service,
"stable", 3 copies of build/tests/testserver, scaleMin 2, scaleMax 4, and two policies:

  up    alertIf.1=@resp_time_above:0.1,10s,0.9   alertFor.1=5s
  down  alertIf.2=@resp_time_below:0.025,10s,0.9 alertFor.2=5s

with scaleUpCooldown 10s and scaleDownCooldown 15s (those of examples/services.json's demo),
short enough that cooldowns do not hide a flapping autoscaler.

Noise phase, MINUTES (10; also --minutes) long: an open-loop load (a new connection per
request) whose every request asks for a delay drawn uniformly from 30 to 90 ms (`?delay=`),
between the thresholds, at a rate that changes every 3-8 s (25-45 requests/s), with:
  bursts  2-5 s at 2-3 times the rate, same delays (one segment in four);
  blips   0.5 s of 200 ms requests, under the up policy's 10 % of the window: it never holds;
  spikes  1.2 s of 200 ms requests, then 4 s at 3 times the rate: the slow share of the window
          passes 10 % for 1-3 s, then the requests that follow bring it back under, so the up
          policy is pending for less than alertFor and must not fire;
one blip or spike (alternately) every 40-80 s. Every second GET /v1/flowproxy/autoscale gives
each policy's state: the time spent pending (seconds sampled pending), the pending episodes and
the longest holdingFor seen are printed per policy, with the scale actions (log lines
"autoscale: scaled", "could not scale", "would scale"; target 0) and the requests answered.

Control phase, CONTROL (30) s: every request asks for 200 ms at 30 requests/s. One scale up
(3 -> 4) must follow within about alertFor + 1 s of window fill + 1 tick: it proves that the
bench sees an action, so that the 0 above means something.

Settings (environment): MINUTES=10, CONTROL=30, SEED=1 (the noise's random schedule),
BUILD=build-release/ (the build directory), KEEP=1 keeps flowproxy's directory.
Only 127.0.0.1 is used; the load is bounded (at most 150 requests/s, a 10 s timeout each, and
the phases' durations); flowproxy, HAProxy and the copies are stopped at the end.
"""
import argparse
import os
import random
import sys
import threading
import time

from benchlib import LocalFlowproxy, PacedLoad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build-release"))
SERVICE = "stable"
ACTIONS = r"autoscale: (scaled|could not scale|would scale) " + SERVICE


def service_entry():
    return {
        "serviceName": SERVICE, "servicePath": "/" + SERVICE, "port": "8080", "replicas": 3,
        "exec": [os.path.join(BUILD, "tests", "testserver"), "--name", SERVICE + "-{port}",
                 "--port", "{port}"],
        "scaleMin": "2", "scaleMax": "4", "scaleUpCooldown": "10s", "scaleDownCooldown": "15s",
        "alertName.1": "up", "alertIf.1": "@resp_time_above:0.1,10s,0.9", "alertFor.1": "5s",
        "alertName.2": "down", "alertIf.2": "@resp_time_below:0.025,10s,0.9", "alertFor.2": "5s",
    }


class Noise:
    """The noise phase's schedule: the current rate and the next request's path, changed by
    run() from a seeded random schedule until the end time."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.delays = random.Random(seed + 1)  # drawn by the load's thread
        self.slow = False
        self.rate = 30.0
        self.events = {"bursts": 0, "blips": 0, "spikes": 0}

    def path(self):
        d = 200 if self.slow else self.delays.randint(30, 90)
        return "/%s?delay=%d" % (SERVICE, d)

    def run(self, load, end):
        next_event = time.monotonic() + self.rng.uniform(40, 80)
        spike = False
        while time.monotonic() < end:
            base = self.rng.uniform(25, 45)
            if time.monotonic() >= next_event:
                spike = not spike
                self.events["spikes" if spike else "blips"] += 1
                self.rate = load.rate = base
                self.slow = True
                time.sleep(1.2 if spike else 0.5)
                self.slow = False
                if spike:
                    self.rate = load.rate = 3 * base
                    time.sleep(4)
                next_event = time.monotonic() + self.rng.uniform(40, 80)
                continue
            if self.rng.random() < 0.25:
                self.events["bursts"] += 1
                self.rate = load.rate = base * self.rng.uniform(2, 3)
                time.sleep(min(self.rng.uniform(2, 5), max(0, end - time.monotonic())))
            self.rate = load.rate = base
            time.sleep(min(self.rng.uniform(3, 8), max(0, end - time.monotonic())))


class Sampler(threading.Thread):
    """Reads the service's policies every second: per policy the seconds sampled in each state,
    the pending episodes and the longest holdingFor."""

    def __init__(self, fp):
        super().__init__(daemon=True)
        self.fp = fp
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.states = {}   # policy -> {state: samples}
            self.episodes = {}
            self.longest = {}
            self.last = {}
            self.samples = 0

    def run(self):
        while not self.stopping.wait(1.0):
            try:
                s = self.fp.autoscale(SERVICE)
            except OSError:
                continue
            if not s:
                continue
            with self.lock:
                self.samples += 1
                for p in s.get("policies", []):
                    name, st = p.get("name"), p.get("state")
                    c = self.states.setdefault(name, {})
                    c[st] = c.get(st, 0) + 1
                    if st == "pending" and self.last.get(name) != "pending":
                        self.episodes[name] = self.episodes.get(name, 0) + 1
                    self.episodes.setdefault(name, 0)
                    if st in ("pending", "firing"):
                        self.longest[name] = max(self.longest.get(name, 0),
                                                 p.get("holdingFor", 0))
                    self.last[name] = st

    def report(self):
        with self.lock:
            out = []
            for name in sorted(self.states):
                c = self.states[name]
                out.append("  policy %-5s pending %4d s (%d episodes, longest %.1f s), firing "
                           "%d s, ok %d s, no data %d s" % (
                               name, c.get("pending", 0), self.episodes.get(name, 0),
                               self.longest.get(name, 0), c.get("firing", 0), c.get("ok", 0),
                               c.get("no data", 0)))
            return self.samples, out



def answered(load, since=0.0):
    r = [x for x in load.snapshot() if x[0] >= since]
    return len(r), sum(1 for x in r if x[2] != 200)


def main():
    ap = argparse.ArgumentParser(description="autoscaler stability under noisy load")
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("MINUTES", "10")))
    args = ap.parse_args()
    control_s = float(os.environ.get("CONTROL", "30"))
    seed = int(os.environ.get("SEED", "1"))

    fp = LocalFlowproxy(BUILD, [service_entry()])
    load = sampler = None
    try:
        fp.wait_running(SERVICE, 3)
        noise = Noise(seed)
        sampler = Sampler(fp)
        sampler.start()
        noise_s = args.minutes * 60
        load = PacedLoad(fp.port, noise.rate, noise.path, workers=64,
                         max_requests=int(150 * (noise_s + control_s + 60)),
                         max_seconds=noise_s + control_s + 60)
        t_noise = time.monotonic()
        noise.run(load, t_noise + noise_s)
        t_control = time.monotonic()
        n_noise, bad_noise = answered(load)
        actions_noise = [l for t, l in fp.grep(ACTIONS) if t_noise <= t < t_control]
        samples, policies = sampler.report()

        # Control: slow load that must scale up once.
        sampler.reset()
        noise.slow = True
        load.rate = 30
        t_up, m = fp.wait_line(ACTIONS, after=t_control, timeout=control_s)
        left = t_control + control_s - time.monotonic()
        if left > 0:
            time.sleep(left)
        load.stop()
        n_all, bad_all = answered(load)
        actions_control = [l for t, l in fp.grep(ACTIONS) if t >= t_control]
        csamples, cpolicies = sampler.report()
        sampler.stopping.set()

        print("autoscale stability: service %s, 3 copies (scaleMin 2, scaleMax 4), "
              "AUTOSCALE_INTERVAL 1s, seed %d" % (SERVICE, seed))
        print("  up:   @resp_time_above:0.1,10s,0.9 for 5s; down: @resp_time_below:0.025,10s,0.9 "
              "for 5s; cooldowns 10s up, 15s down")
        print("noise: %.1f min of 30-90 ms requests, 25-45 req/s, %d bursts, %d blips, %d spikes"
              % (noise_s / 60, noise.events["bursts"], noise.events["blips"],
                 noise.events["spikes"]))
        print("  requests answered %d (%.1f/s), not 200: %d" % (
            n_noise, n_noise / noise_s, bad_noise))
        print("  scale actions: %d (target 0)" % len(actions_noise))
        for l in actions_noise:
            print("    " + l)
        print("  policy states, sampled every second (%d samples):" % samples)
        for l in policies:
            print("  " + l)
        print("control: %.0f s of 200 ms requests at 30 req/s: %d request(s) answered, "
              "not 200: %d" % (control_s, n_all - n_noise, bad_all - bad_noise))
        print("  scale actions: %d (target 1)%s" % (
            len(actions_control), "" if t_up is None else
            ", the first %.2f s after the slow load began" % (t_up - t_control)))
        for l in actions_control:
            print("    " + l)
        for l in cpolicies:
            print("  " + l)
        ok = not actions_noise and len(actions_control) >= 1
        print("result: %s" % ("stable, and the control scaled" if ok else
                              "FAILED: actions under noise" if actions_noise else
                              "FAILED: the control saw no action (the 0 proves nothing)"))
        sys.stdout.flush()
        return 0 if ok else 1
    finally:
        if sampler:
            sampler.stopping.set()
        if load:
            load.stop(drain=5)
        fp.stop()


if __name__ == "__main__":
    sys.exit(main())
