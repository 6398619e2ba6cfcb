/* SPDX-License-Identifier: MIT */
/*
 * top: `flowproxy top`, the stats API's table live in the terminal. It polls
 * GET /v1/flowproxy/stats and /v1/flowproxy/autoscale of a running flowproxy (plain HTTP/1.0)
 * and redraws the tables every interval.
 */
#pragma once

#include "flowproxy/util.h"

struct cJSON;

/* Formats the stats API's JSON as the table (pure). Fails with -EBADMSG on a wrong shape. */
int top_format(const struct cJSON *stats, struct strbuf *out, char **reterr);

/* Formats the autoscale endpoint's JSON as the autoscaler's table (pure). -EBADMSG on a wrong
 * shape. */
int top_format_autoscale(const struct cJSON *autoscale, struct strbuf *out, char **reterr);

/* The subcommand: `flowproxy top [--api URL] [--interval S] [--window S] [--once]`. */
int top_main(int argc, char **argv);
