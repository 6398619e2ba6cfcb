// SPDX-License-Identifier: MIT
/*
 * telemetry_parse: one line of HAProxy's request ring (TELEMETRY_LOG_FORMAT, docs/telemetry.md)
 * into a struct telemetry_line. Pure and allocation-free; fuzzed (tests/fuzz/fuzz_telemetry.c).
 */
#include "flowproxy/telemetry_parse.h"
#include "flowproxy/util.h"

#include <stdint.h>

/*
 * Name token ending in ' ': printable ASCII without spaces (HAProxy proxy and server names, or
 * "<NOSRV>"), 1 to cap - 1 bytes. Returns the byte after the space, NULL otherwise.
 */
static const char *scan_name(const char *p, const char *end, char *dst, size_t cap)
{
	const char *s = p;
	size_t n;

	while (p < end && (unsigned char)(*p - 0x21) < 0x5e)
		p++;
	n = (size_t)(p - s);
	if (n == 0 || n >= cap || p == end || *p != ' ')
		return NULL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return p + 1;
}

/*
 * Decimal int32 token ending in ' '; when neg_ok also "-1", HAProxy's "did not happen" for a
 * timer or a status (any other negative is malformed: found by fuzzing, a "-2" passed before).
 * NULL when malformed.
 */
static const char *scan_int(const char *p, const char *end, bool neg_ok, int32_t *ret)
{
	bool neg = false;
	int64_t v = 0;
	const char *s;

	if (neg_ok && p < end && *p == '-') {
		neg = true;
		p++;
	}
	s = p;
	while (p < end && (unsigned char)(*p - '0') < 10) {
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX)
			return NULL;
		p++;
	}
	if (p == s || p == end || *p != ' ' || (neg && v != 1))
		return NULL;
	*ret = (int32_t)(neg ? -v : v);
	return p + 1;
}

/*
 * Lines HAProxy writes to the ring besides requests when `log global` reaches the proxies
 * (src/proxy.c, src/server.c, src/check.c in 2.6): soft-stop, server state and health checks.
 */
static const char *const other_prefixes[] = {
	"Proxy ",   "Server ",	 "backend ",	      "Stopping ",
	"Pausing ", "Resuming ", "Health check for ", "Agent check for ",
};

static bool is_other(const char *line, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(other_prefixes); i++) {
		size_t n = strlen(other_prefixes[i]);

		if (len > n && memcmp(line, other_prefixes[i], n) == 0)
			return true;
	}
	return false;
}

/* "<N> events dropped" or "1 event dropped" (src/sink.c: sink_announce_dropped). */
static int parse_dropped(const char *p, const char *end, uint64_t *ret)
{
	static const char ev1[] = " event dropped", evn[] = " events dropped";
	uint64_t v = 0;
	const char *s = p;
	size_t rest;

	while (p < end && (unsigned char)(*p - '0') < 10) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -EBADMSG;
		v = v * 10 + d;
		p++;
	}
	if (p == s)
		return -EBADMSG;
	rest = (size_t)(end - p);
	if ((rest == sizeof(ev1) - 1 && memcmp(p, ev1, rest) == 0) ||
	    (rest == sizeof(evn) - 1 && memcmp(p, evn, rest) == 0)) {
		*ret = v;
		return 0;
	}
	return -EBADMSG;
}

int telemetry_parse_line(const char *line, size_t len, struct telemetry_line *ret)
{
	const char *p = line, *end = line + len;
	int32_t status;
	size_t n;

	if (!line || !ret)
		return -EBADMSG;
	ret->rest = NULL;
	ret->rest_len = 0;
	if (len > 4 && memcmp(p, "fp1 ", 4) == 0) {
		p += 4;
		if (!(p = scan_name(p, end, ret->backend, sizeof(ret->backend))) ||
		    !(p = scan_name(p, end, ret->server, sizeof(ret->server))) ||
		    !(p = scan_int(p, end, true, &status)) ||
		    !(p = scan_int(p, end, true, &ret->tw)) ||
		    !(p = scan_int(p, end, true, &ret->tc)) ||
		    !(p = scan_int(p, end, true, &ret->tr)) ||
		    !(p = scan_int(p, end, true, &ret->ta)) ||
		    !(p = scan_int(p, end, false, &ret->backend_conns)) ||
		    !(p = scan_int(p, end, false, &ret->backend_queue)))
			return -EBADMSG;
		/* %tsc: four printable characters, then the end of the line or, with DEBUG, a
		 * space and the line DEBUG prints. */
		n = (size_t)(end - p);
		if (n < 4 || n == 5 || (n > 4 && p[4] != ' '))
			return -EBADMSG;
		ret->rest = n > 5 ? p + 5 : NULL;
		ret->rest_len = n > 5 ? n - 5 : 0;
		for (size_t i = 0; i < 4; i++)
			if ((unsigned char)(p[i] - 0x21) >= 0x5e)
				return -EBADMSG;
		memcpy(ret->term, p, 4);
		ret->term[4] = '\0';
		ret->status = status;
		ret->dropped = 0;
		ret->kind = TELEMETRY_REQUEST;
		return 0;
	}
	if (len > 0 && (unsigned char)(*p - '0') < 10) {
		if (parse_dropped(p, end, &ret->dropped) < 0)
			return -EBADMSG;
		ret->kind = TELEMETRY_DROPPED;
		return 0;
	}
	if (is_other(line, len)) {
		ret->kind = TELEMETRY_OTHER;
		return 0;
	}
	return -EBADMSG;
}

/* HAProxy's httplog and tcplog formats (configuration.txt 8.2.3, 8.2.2). */
#define DEBUG_HTTPLOG                                                                          \
	"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc " \
	"%sq/%bq %hr %hs %{+Q}r"
#define DEBUG_TCPLOG "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"

char *telemetry_log_format(bool tcp, bool debug, const char *fmt)
{
	struct strbuf b;

	if (!str_set(fmt))
		fmt = tcp ? DEBUG_TCPLOG : DEBUG_HTTPLOG;
	strbuf_init(&b);
	strbuf_puts(&b, tcp ? TELEMETRY_TCP_LOG_FORMAT : TELEMETRY_LOG_FORMAT);
	if (debug) {
		strbuf_putc(&b, ' ');
		for (const char *p = fmt; *p; p++) {
			if (*p == '"' || *p == '$')
				strbuf_putc(&b, '\\');
			strbuf_putc(&b, *p);
		}
	}
	return strbuf_steal(&b);
}
