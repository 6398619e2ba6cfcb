/* SPDX-License-Identifier: MIT */
/*
 * stats: HAProxy's counters from `show stat` CSV (backends and servers only:
 * `show stat -1 6 -1`), parsed by header name (reference haproxy-runtime-autoscaling.md §1.2).
 * Parsing is pure (stats_parse_csv); stats_poll asks the worker stats socket.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stats_row {
	char proxy[128];  /* pxname */
	char server[128]; /* svname: "BACKEND" for the backend row */
	bool is_backend;
	uint64_t scur, smax, stot, qcur;
	uint64_t hrsp_1xx, hrsp_2xx, hrsp_3xx, hrsp_4xx, hrsp_5xx, hrsp_other;
	uint64_t req_tot, econ, eresp;
	char status[32]; /* UP, DOWN, MAINT, "MAINT (resolution)", "no check", ... */
	char addr[64];	 /* servers: ip:port */
};

struct stats_table {
	struct stats_row *rows;
	size_t n;
};

/*
 * Parses a `show stat` CSV reply (header "# pxname,svname,...", rows ending in ',', an empty
 * line at the end). Columns are found by name; a reply without pxname/svname columns, or with
 * more than 1,000,000 rows, fails with -EBADMSG / -EMSGSIZE. Caller frees with stats_table_done.
 */
int stats_parse_csv(const char *csv, size_t len, struct stats_table *ret, char **reterr);
void stats_table_done(struct stats_table *t);

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
