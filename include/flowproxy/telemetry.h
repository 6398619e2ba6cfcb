/* SPDX-License-Identifier: MIT */
/*
 * telemetry: HAProxy's per-request lines. The base template declares a ring and a log line per
 * request (TELEMETRY_LOG_FORMAT); telemetry follows it through the worker's stats socket
 * (`show events <ring> -w`), parses each line and hands it to a callback. Parsing is pure
 * (telemetry_parse.h); the follower is an edge (reference haproxy-runtime-autoscaling.md §1.5:
 * the stream is pinned to the worker it connected to, so after every reload it connects to the
 * new worker, reads it from its first event, and finishes the old worker's stream after a grace).
 */
#pragma once

#include "flowproxy/telemetry_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct telemetry;

/*
 * Called for each parsed line (request or dropped marker). line borrowed for the call. The
 * callback may call telemetry_on_reload and telemetry_get_stats, not telemetry_free.
 */
typedef void (*telemetry_line_fn)(void *userdata, const struct telemetry_line *line);

struct telemetry_stats {
	uint64_t lines;	      /* request lines parsed */
	uint64_t bad_lines;   /* lines that did not parse, or over 4096 bytes */
	uint64_t dropped;     /* lines HAProxy reported lost ("N events dropped") */
	uint64_t connects;    /* streams opened */
	uint64_t disconnects; /* streams that ended unexpectedly (then reconnected) */
	uint64_t reloads;     /* worker changes followed (reloads and master restarts) */
	bool connected;
	/* Added with the follower: */
	uint64_t other_lines;	  /* TELEMETRY_OTHER lines ("Proxy x stopped", "Server ...") */
	uint64_t reloads_noticed; /* reloads seen from "Proxy x stopped" lines, not announced */
	int worker_pid;		  /* the worker followed now, 0 when not connected */
	unsigned old_streams;	  /* previous workers' streams still draining */
};

/*
 * Follows ring on the worker stats socket stats_socket, its sockets and timer on loop. cb is
 * called from the loop. master_socket (may be NULL) is HAProxy's master CLI, through which an
 * old worker is asked whether it still carries connections, so that its stream is closed (and
 * the worker let go) as soon as it has none. Caller frees with telemetry_free (before the
 * loop). Connects lazily: call telemetry_connect once HAProxy runs.
 */
struct loop;
int telemetry_new(struct loop *loop, const char *stats_socket, const char *master_socket,
		  const char *ring, telemetry_line_fn cb, void *userdata, struct telemetry **ret);
void telemetry_free(struct telemetry *t);

/*
 * Opens the stream (with -n: the first connection skips history). Retries by itself on failure
 * (backoff 50 ms doubling to 2 s), so it returns 0 even when HAProxy is not up yet; -EINVAL
 * without t. Each connection first asks `show info` for the worker's pid: a stream that ends is
 * resumed from the start of the ring when the worker changed (restart) and with -n when it is
 * the same worker (2.6's `stats timeout` closed it), see docs/telemetry.md.
 */
int telemetry_connect(struct telemetry *t);

/*
 * After a successful reload to worker (its pid, 0 if unknown): connects to the new worker from
 * the start of its ring (no -n, so nothing is lost), and keeps reading the old stream until the
 * old worker carries no connection (then 20 ms more), at most grace_ms, then closes it so that
 * the old worker can exit. An attempt that reaches the old worker (it may accept on the stats
 * socket for a moment after the reload) tries again.
 */
void telemetry_on_reload(struct telemetry *t, uint32_t grace_ms, pid_t worker);

/*
 * "Proxy x stopped" lines on the followed stream (a reload nobody announced) act like
 * telemetry_on_reload with a 10 s grace; a later telemetry_on_reload sets the caller's grace.
 */
void telemetry_get_stats(const struct telemetry *t, struct telemetry_stats *ret);
/*
 * Old workers' streams whose worker may still carry connections (not yet seen idle): each
 * keeps its worker alive until it is closed. One seen idle closes within milliseconds.
 */
unsigned telemetry_old_busy(const struct telemetry *t);
/* Asks those old workers again now rather than at their next probe (answers come on the loop). */
void telemetry_probe_old(struct telemetry *t);
