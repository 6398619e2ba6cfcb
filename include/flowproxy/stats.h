/* SPDX-License-Identifier: MIT */
/*
 * stats: HAProxy's counters from `show stat` CSV (backends and servers only:
 * `show stat -1 6 -1`), parsed by header name (reference haproxy-runtime-autoscaling.md §1.2).
 * Parsing is pure (stats_parse.h); stats_poll asks the worker stats socket, on the loop.
 */
#pragma once

#include "flowproxy/stats_parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Runs `show stat -1 6 -1` on the worker socket, on loop, and parses it. cb gets 0 and the
 * table, which it may take over (metrics_set_stats empties it; what is left is freed after cb),
 * or -errno, NULL and a message. cb runs once, on the loop, unless stats_poll_cancel comes first.
 */
struct loop;
struct stats_poll;
typedef void (*stats_done_fn)(void *userdata, int r, struct stats_table *t, const char *err);
struct stats_poll *stats_poll(struct loop *l, const char *stats_socket, int timeout_ms,
			      stats_done_fn cb, void *userdata);
void stats_poll_cancel(struct stats_poll *p);
