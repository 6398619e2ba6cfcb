// SPDX-License-Identifier: MIT
/*
 * Unit test of telemetry_parse_line: the lines captured from HAProxy 2.6.12 in
 * tests/fixtures/telemetry-lines.txt against their expected fields, every truncation of them,
 * and garbage (wrong token counts, non-numeric timers, over-long names, binary bytes).
 */
#include "flowproxy/telemetry_parse.h"
#include "flowproxy/util.h"
#include "tap.h"

struct want {
	enum telemetry_kind kind;
	const char *backend, *server;
	int status;
	int32_t tw, tc, tr, ta, bc, bq;
	const char *term;
	uint64_t dropped;
};

#define REQ(b, s, st, w, c, r, a, bc, bq, t)                          \
	{                                                             \
		TELEMETRY_REQUEST, b, s, st, w, c, r, a, bc, bq, t, 0 \
	}
#define OTHER                                                             \
	{                                                                 \
		TELEMETRY_OTHER, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, 0 \
	}
#define DROPPED(n)                                                          \
	{                                                                   \
		TELEMETRY_DROPPED, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, n \
	}

/* In the order of the fixture's lines. */
static const struct want fixture_want[] = {
	REQ("be_app", "s1", 200, 0, 0, 20, 20, 0, 0, "----"),
	REQ("be_empty", "<NOSRV>", 503, -1, -1, -1, 0, 0, 0, "SC--"),
	REQ("be_app", "s1", 504, 0, 0, -1, 1000, 0, 0, "sH--"),
	REQ("fe_main", "<NOSRV>", 403, -1, -1, -1, 0, 0, 0, "PR--"),
	REQ("fe_main", "<NOSRV>", 302, -1, -1, -1, 0, 0, 0, "LR--"),
	REQ("be_dead", "d1", 503, 0, -1, -1, 1001, 0, 0, "SC--"),
	REQ("fe_main", "<NOSRV>", 400, -1, -1, -1, 0, 0, 0, "CR--"),
	REQ("fe_main", "<NOSRV>", 400, -1, -1, -1, 201, 0, 0, "CR--"),
	REQ("be_q", "q1", 200, 0, 0, 201, 201, 2, 0, "----"),
	REQ("be_q", "q1", 200, 200, 0, 200, 400, 1, 1, "----"),
	REQ("be_q", "q1", 200, 401, 0, 200, 601, 0, 2, "----"),
	OTHER,
	OTHER,
	OTHER,
	OTHER,
	DROPPED(1),
	DROPPED(67689),
	REQ("b", "s1", -1, 1, 0, -1, 6, 0, 0, "----"),
};

static bool line_matches(const struct telemetry_line *l, const struct want *w)
{
	if (l->kind != w->kind)
		return false;
	if (w->kind == TELEMETRY_DROPPED)
		return l->dropped == w->dropped;
	if (w->kind == TELEMETRY_OTHER)
		return true;
	return streq(l->backend, w->backend) && streq(l->server, w->server) &&
	       l->status == w->status && l->tw == w->tw && l->tc == w->tc && l->tr == w->tr &&
	       l->ta == w->ta && l->backend_conns == w->bc && l->backend_queue == w->bq &&
	       streq(l->term, w->term);
}

static void test_fixture(void)
{
	const char *root = getenv("FLOWPROXY_SOURCE_ROOT");
	char *path = xasprintf("%s/tests/fixtures/telemetry-lines.txt", root ? root : ".");
	char *data = NULL;
	size_t len = 0, n = 0;

	if (!tap_ok(read_file(path, 1 << 20, &data, &len) == 0, "read %s", path)) {
		free(path);
		return;
	}
	for (char *p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
		struct telemetry_line tl;
		int r;

		if (l == 0 || (l >= 2 && p[0] == '#' && p[1] == ' ')) {
			p += l + 1;
			continue;
		}
		r = telemetry_parse_line(p, l, &tl);
		if (n < ARRAY_SIZE(fixture_want)) {
			const struct want *w = &fixture_want[n];

			tap_ok(r == 0 && line_matches(&tl, w), "fixture line %zu: '%.*s'", n + 1,
			       (int)(l > 60 ? 60 : l), p);
			/* Every truncation of a request or marker line is rejected. */
			if (w->kind != TELEMETRY_OTHER) {
				bool all = true;

				for (size_t k = 0; k < l; k++)
					if (telemetry_parse_line(p, k, &tl) != -EBADMSG) {
						all = false;
						tap_diag("prefix of %zu bytes accepted", k);
					}
				tap_ok(all, "fixture line %zu: every truncation rejected", n + 1);
			}
			/* With its '\n' the line is not a line any more. */
			if (w->kind == TELEMETRY_REQUEST)
				tap_is_int(telemetry_parse_line(p, l + 1, &tl), -EBADMSG,
					   "line with its newline rejected");
		}
		n++;
		p += l + 1;
	}
	tap_is_int((long long)n, (long long)ARRAY_SIZE(fixture_want), "fixture line count");
	free(data);
	free(path);
}

static const struct {
	const char *line;
	int want;
	const char *name;
} garbage[] = {
	{"", -EBADMSG, "empty"},
	{" ", -EBADMSG, "one space"},
	{"fp1", -EBADMSG, "prefix only"},
	{"fp1 ", -EBADMSG, "prefix and space"},
	{"fp2 be s1 200 0 0 1 1 0 0 ----", -EBADMSG, "other format version"},
	{"fp1 be s1 200 0 0 1 1 0 ----", -EBADMSG, "one token missing"},
	{"fp1 be s1 200 0 0 1 1 0 0 ----x", -EBADMSG, "a suffix glued to the termination state"},
	{"fp1 be s1 200 0 0 1 1 0 0 ---- ", -EBADMSG, "trailing space"},
	{"fp1 be  s1 200 0 0 1 1 0 0 ----", -EBADMSG, "double space"},
	{"fp1 be s1 200 0 0 x 1 0 0 ----", -EBADMSG, "non-numeric Tr"},
	{"fp1 be s1 200 0 0 1x 1 0 0 ----", -EBADMSG, "Tr with a suffix"},
	{"fp1 be s1 200 0 0 - 1 0 0 ----", -EBADMSG, "lone minus"},
	{"fp1 be s1 200 0 0 --1 1 0 0 ----", -EBADMSG, "double minus"},
	{"fp1 be s1 200 0 0 +1 1 0 0 ----", -EBADMSG, "plus sign"},
	{"fp1 be s1 200 0 0 1.5 1 0 0 ----", -EBADMSG, "fraction"},
	{"fp1 be s1 200 0 0 2147483648 1 0 0 ----", -EBADMSG, "Tr over int32"},
	{"fp1 be s1 200 0 0 99999999999999999999 1 0 0 ----", -EBADMSG, "Tr over int64"},
	{"fp1 be s1 200 0 0 1 1 -1 0 ----", -EBADMSG, "negative %bc"},
	{"fp1 fe <NOSRV> 503 -1 -1 -2 0 0 0 SC--", -EBADMSG, "a timer of -2 (only -1 means none)"},
	{"fp1 be s1 -7 0 0 1 1 0 0 ----", -EBADMSG, "a status of -7"},
	{"fp1 be s1 200 -10 0 1 1 0 0 ----", -EBADMSG, "a queue time of -10"},
	{"fp1 be s1 200 0 0 1 1 0 0 ---", -EBADMSG, "3-char termination state"},
	{"fp1 be s1 200 0 0 1 1 0 0 -----", -EBADMSG, "5-char termination state"},
	{"fp1 be s1 200 0 0 1 1 0 0 --\t-", -EBADMSG, "tab in the termination state"},
	{"fp1 be s1 200 0 0 1 1 0 0 ----\r", -EBADMSG, "CR at the end"},
	{"fp1 b\xc3\xa9 s1 200 0 0 1 1 0 0 ----", -EBADMSG, "non-ASCII backend name"},
	{"fp1 be s\x01 200 0 0 1 1 0 0 ----", -EBADMSG, "control byte in the server name"},
	{"0 event", -EBADMSG, "truncated marker"},
	{"events dropped", -EBADMSG, "marker without a count"},
	{"12 events dropped.", -EBADMSG, "marker with a suffix"},
	{"12 events  dropped", -EBADMSG, "marker with a double space"},
	{"-3 events dropped", -EBADMSG, "negative marker"},
	{"99999999999999999999999 events dropped", -EBADMSG, "marker over uint64"},
	{"Connect from 127.0.0.1:1234 to 127.0.0.1:80 (fe/HTTP)", -EBADMSG, "unknown line"},
	{"<134>Nov 25 08:34:30 haproxy[1]: fp1 be s1 200 0 0 1 1 0 0 ----", -EBADMSG,
	 "ring format local instead of raw"},
	{"Proxy ", -EBADMSG, "bare 'Proxy '"},
};

static void test_garbage(void)
{
	struct telemetry_line l;
	char big[600], name[200];
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(garbage); i++)
		tap_is_int(telemetry_parse_line(garbage[i].line, strlen(garbage[i].line), &l),
			   garbage[i].want, garbage[i].name);

	/* DEBUG: the line to print follows the termination state and a space. */
	{
		static const char dbg[] =
			"fp1 be s1 200 0 0 1 1 0 0 ---- 127.0.0.1:4242 \"GET / HTTP/1.1\"";

		tap_is_int(telemetry_parse_line(dbg, sizeof(dbg) - 1, &l), 0,
			   "a DEBUG line parses");
		tap_ok(l.rest && l.rest_len == 31 &&
			       memcmp(l.rest, "127.0.0.1:4242 \"GET / HTTP/1.1\"", 31) == 0,
		       "its rest is the printed part");
		tap_ok(streq(l.term, "----") && l.status == 200, "and the fields before it count");
		tap_is_int(telemetry_parse_line(dbg, 30, &l), 0, "the same line without DEBUG");
		tap_ok(!l.rest && l.rest_len == 0, "has no rest");
	}
	/* Binary bytes, NUL included, in the middle of an otherwise valid line. */
	{
		static const char bin[] = "fp1 be s1 200 0 0 1\0 1 0 0 ----";

		tap_is_int(telemetry_parse_line(bin, sizeof(bin) - 1, &l), -EBADMSG,
			   "NUL inside a timer");
	}
	{
		static const char bin[] = "fp1 b\0e s1 200 0 0 1 1 0 0 ----";

		tap_is_int(telemetry_parse_line(bin, sizeof(bin) - 1, &l), -EBADMSG,
			   "NUL inside a name");
	}
	{
		unsigned char rnd[256];
		unsigned seed = 12345;
		int ok = 1;

		for (int round = 0; round < 2000; round++) {
			size_t n = 1 + (size_t)(round % 255);

			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				rnd[i] = (unsigned char)(seed >> 16);
			}
			r = telemetry_parse_line((const char *)rnd, n, &l);
			ok &= r == -EBADMSG || r == 0;
		}
		tap_ok(ok, "random bytes: no crash, 0 or -EBADMSG");
	}

	/* Names: 127 bytes fit the 128-byte fields, 128 do not. */
	memset(name, 'a', sizeof(name));
	snprintf(big, sizeof(big), "fp1 %.127s %.127s 200 0 0 1 2 3 4 ----", name, name);
	r = telemetry_parse_line(big, strlen(big), &l);
	tap_ok(r == 0 && strlen(l.backend) == 127 && strlen(l.server) == 127 && l.ta == 2 &&
		       l.backend_conns == 3 && l.backend_queue == 4,
	       "127-byte names accepted");
	snprintf(big, sizeof(big), "fp1 %.128s s1 200 0 0 1 2 3 4 ----", name);
	tap_is_int(telemetry_parse_line(big, strlen(big), &l), -EBADMSG, "128-byte backend name");
	snprintf(big, sizeof(big), "fp1 be %.128s 200 0 0 1 2 3 4 ----", name);
	tap_is_int(telemetry_parse_line(big, strlen(big), &l), -EBADMSG, "128-byte server name");

	/* Extremes that are valid. */
	snprintf(big, sizeof(big), "fp1 be s1 -1 -1 -1 -1 -1 0 0 ----");
	r = telemetry_parse_line(big, strlen(big), &l);
	tap_ok(r == 0 && l.status == -1 && l.tw == -1 && l.ta == -1, "status -1 (no response)");
	snprintf(big, sizeof(big), "fp1 be s1 200 0 0 2147483647 2147483647 0 0 ----");
	r = telemetry_parse_line(big, strlen(big), &l);
	tap_ok(r == 0 && l.tr == 2147483647, "Tr at int32 max");
	snprintf(big, sizeof(big), "18446744073709551615 events dropped");
	r = telemetry_parse_line(big, strlen(big), &l);
	tap_ok(r == 0 && l.kind == TELEMETRY_DROPPED && l.dropped == UINT64_MAX,
	       "marker at uint64 max");
	tap_ok(telemetry_parse_line("2 event dropped", 15, &l) == 0 && l.dropped == 2,
	       "'2 event dropped' accepted (the count decides, not the plural)");
	tap_ok(telemetry_parse_line("Server be/s1 is UP, reason: Layer4 check passed", 47, &l) ==
			       0 &&
		       l.kind == TELEMETRY_OTHER,
	       "server state line is OTHER");
	tap_ok(telemetry_parse_line("Stopping backend be in 0 ms.", 28, &l) == 0 &&
		       l.kind == TELEMETRY_OTHER,
	       "'Stopping ...' is OTHER");
	/* The length is authoritative: bytes after len are not read. */
	tap_ok(telemetry_parse_line("fp1 be s1 200 0 0 1 1 0 0 ----GARBAGE", 30, &l) == 0 &&
		       streq(l.term, "----"),
	       "bytes after len ignored");
}

int main(void)
{
	test_fixture();
	test_garbage();
	return tap_done();
}
