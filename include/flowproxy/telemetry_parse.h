/* SPDX-License-Identifier: MIT */
/*
 * telemetry_parse: one line of HAProxy's request ring (the log-format the base template
 * declares, TELEMETRY_LOG_FORMAT) as a struct. Pure and allocation-free.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ring name and the log-format the base template must use (docs/telemetry.md). */
#define TELEMETRY_RING	     "flowproxy"
#define TELEMETRY_LOG_FORMAT "fp1 %b %s %ST %Tw %Tc %Tr %Ta %bc %bq %tsc"
/*
 * The same line for a tcp frontend or listen (reqMode tcp/sni, DEFAULT_REQ_MODE=tcp), where
 * HAProxy refuses the HTTP variables: no status and no response time (-1), the session's total
 * time %Tt where %Ta is. One line per connection, written when it closes.
 */
#define TELEMETRY_TCP_LOG_FORMAT "fp1 %b %s -1 %Tw %Tc -1 %Tt %bc %bq %tsc"

enum telemetry_kind {
	TELEMETRY_REQUEST = 0, /* a request line */
	TELEMETRY_DROPPED,     /* "<N> events dropped": N lines lost in HAProxy's ring */
	TELEMETRY_OTHER,       /* a known non-request line (e.g. "Proxy x stopped ...") */
};

struct telemetry_line {
	enum telemetry_kind kind;
	char backend[128];
	char server[128];
	int status;			      /* %ST, -1 when none */
	int32_t tw, tc, tr, ta;		      /* ms, -1 when the phase did not happen */
	int32_t backend_conns, backend_queue; /* %bc, %bq */
	char term[5];			      /* %tsc, e.g. "----", "sH--" */
	uint64_t dropped;		      /* TELEMETRY_DROPPED: N */
	/* With DEBUG, the rest of the line after %tsc and a space (the line DEBUG prints):
	 * borrowed from the parsed line; NULL and 0 without. */
	const char *rest;
	size_t rest_len;
};

/*
 * Parses one line (without its '\n'; len bytes, not NUL-terminated). Returns 0 and fills *ret,
 * or -EBADMSG for anything else (a line of a different format, truncated, over-long names).
 */
int telemetry_parse_line(const char *line, size_t len, struct telemetry_line *ret);

/*
 * The log-format of an HTTP (tcp false) or tcp proxy: the telemetry fields, then with debug a
 * space and the line DEBUG prints: fmt (DEBUG_HTTP_FORMAT / DEBUG_TCP_FORMAT), or HAProxy's
 * httplog / tcplog when fmt is NULL or "". The result goes between double quotes: a '"' or '$'
 * of fmt is escaped, a backslash is kept as the user's own escape (DFP wrote the format
 * unquoted). Caller frees.
 */
char *telemetry_log_format(bool tcp, bool debug, const char *fmt);
