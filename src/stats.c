// SPDX-License-Identifier: MIT
/*
 * stats: HAProxy's `show stat` CSV (management.txt §9.1, "show stat"), parsed by header name
 * because only the first 103 columns have documented positions and 2.6.12 appends module
 * columns after a "-" delimiter (reference haproxy-runtime-autoscaling.md §1.2). Used for the
 * counters the request stream does not carry: sessions, queue, status classes, server status.
 * The parser is stats_parse.c; this file is the edge: stats_poll is one `show stat -1 6 -1` on
 * the worker stats socket, a call on the loop.
 */
#include "flowproxy/stats.h"
#include "flowproxy/cli.h"
#include "flowproxy/util.h"

struct stats_poll {
	stats_done_fn cb;
	void *userdata;
	struct cli_call *call;
};

static void on_reply(void *userdata, const struct cli_result *res)
{
	struct stats_poll *p = userdata;
	struct stats_table t = {0};
	_cleanup_free_ char *err = NULL;
	int r = res->r;

	if (r < 0)
		err = xstrdup(res->err);
	else
		r = stats_parse_csv(res->reply, res->len, &t, &err);
	p->cb(p->userdata, r, r < 0 ? NULL : &t, err ? err : "");
	stats_table_done(&t);
	free(p);
}

struct stats_poll *stats_poll(struct loop *l, const char *stats_socket, int timeout_ms,
			      stats_done_fn cb, void *userdata)
{
	struct stats_poll *p = xcalloc(1, sizeof(*p));

	p->cb = cb;
	p->userdata = userdata;
	p->call = cli_call(l, stats_socket, "show stat -1 6 -1", timeout_ms, on_reply, p);
	return p;
}

void stats_poll_cancel(struct stats_poll *p)
{
	if (!p)
		return;
	cli_cancel(p->call);
	free(p);
}
