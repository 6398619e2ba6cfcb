/* SPDX-License-Identifier: MIT */
/*
 * stats_parse: HAProxy's `show stat` CSV (backends and servers: `show stat -1 6 -1`) as a
 * table, parsed by header name (reference haproxy-runtime-autoscaling.md §1.2). Pure.
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
