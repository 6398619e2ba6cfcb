// SPDX-License-Identifier: MIT
/*
 * Unit test of stats_parse_csv: a `show stat -1 6 -1` reply captured from HAProxy 2.6.12
 * (tests/fixtures/show-stat.csv, 129 columns) read by column name, reordered and quoted
 * columns, and garbage (no header, malformed counters, over-long names, the row cap).
 */
#include "flowproxy/stats_parse.h"
#include "flowproxy/util.h"
#include "tap.h"

static const struct stats_row *find(const struct stats_table *t, const char *px, const char *sv)
{
	for (size_t i = 0; i < t->n; i++)
		if (streq(t->rows[i].proxy, px) && streq(t->rows[i].server, sv))
			return &t->rows[i];
	return NULL;
}

static void test_fixture(void)
{
	const char *root = getenv("FLOWPROXY_SOURCE_ROOT");
	char *path = xasprintf("%s/tests/fixtures/show-stat.csv", root ? root : ".");
	struct stats_table t = {0};
	const struct stats_row *r;
	char *data = NULL, *err = NULL;
	size_t len = 0;
	int ret;

	if (!tap_ok(read_file(path, 1 << 20, &data, &len) == 0, "read %s", path))
		goto out;
	ret = stats_parse_csv(data, len, &t, &err);
	if (!tap_is_int(ret, 0, "fixture parses"))
		tap_diag("%s", err);
	tap_is_int((long long)t.n, 14, "14 rows (backends and servers)");

	r = find(&t, "be_app", "s1");
	tap_ok(r && !r->is_backend && r->stot == 3 && r->smax == 1 && r->scur == 0 &&
		       r->hrsp_2xx == 3 && r->req_tot == 3 && streq(r->status, "no check") &&
		       streq(r->addr, "127.0.0.1:44659"),
	       "be_app/s1");
	r = find(&t, "be_app", "BACKEND");
	tap_ok(r && r->is_backend && r->stot == 3 && r->hrsp_2xx == 3 && streq(r->status, "UP") &&
		       !r->addr[0],
	       "be_app/BACKEND");
	r = find(&t, "be_empty", "BACKEND");
	tap_ok(r && r->is_backend && r->hrsp_5xx == 1 && r->econ == 1 && r->req_tot == 1,
	       "be_empty: one 503, one connection error");
	r = find(&t, "be_dead", "d1");
	tap_ok(r && streq(r->status, "DOWN"), "be_dead/d1 DOWN");
	r = find(&t, "be_maint", "m1");
	tap_ok(r && streq(r->status, "MAINT"), "be_maint/m1 MAINT");
	r = find(&t, "be_maint", "m2");
	tap_ok(r && streq(r->status, "UP 1/3"), "be_maint/m2 'UP 1/3' (status with a space)");
	r = find(&t, "svc.with-dots_1", "web.3");
	tap_ok(r && streq(r->addr, "127.0.0.1:9") && r->qcur == 0, "names with dots");
	{
		size_t backends = 0;

		for (size_t i = 0; i < t.n; i++)
			backends += t.rows[i].is_backend;
		tap_is_int((long long)backends, 6, "6 BACKEND rows");
	}
out:
	stats_table_done(&t);
	stats_table_done(&t);
	free(data);
	free(err);
	free(path);
}

static const struct {
	const char *csv;
	int want;
	const char *name;
} cases[] = {
	{"", -EBADMSG, "empty"},
	{"\n", -EBADMSG, "empty line"},
	{"Unknown command. Please enter one of the following commands only :\n", -EBADMSG,
	 "CLI error instead of CSV"},
	{"# pxname,svname,scur,", -EBADMSG, "header without newline"},
	{"# svname,scur,\nb,s,1,\n", -EBADMSG, "no pxname column"},
	{"# pxname,scur,\nb,1,\n", -EBADMSG, "no svname column"},
	{"# pxname,svname,scur,\nbe,s1,x,\n\n", -EBADMSG, "non-numeric counter"},
	{"# pxname,svname,scur,\nbe,s1,-1,\n\n", -EBADMSG, "negative counter"},
	{"# pxname,svname,scur,\nbe,s1,99999999999999999999999,\n\n", -EBADMSG,
	 "counter over uint64"},
	{"# pxname,svname,status,\nbe,s1,\"UP,\n\n", -EBADMSG, "unterminated quote"},
	{"# pxname,svname,status,\nbe,s1,\"UP\"x,\n\n", -EBADMSG, "junk after a quote"},
	{"# pxname,svname,scur,\n,s1,1,\n\n", -EBADMSG, "empty pxname"},
	{"# pxname,svname,status,\nbe,s1,0123456789012345678901234567890123456789,\n\n", -EBADMSG,
	 "status over its field"},
	{"# pxname,svname,scur,\n\n", 0, "header only"},
	{"# pxname,svname,scur,\nbe,s1,\n", 0, "empty counter is 0"},
	{"# pxname,svname,scur,\nbe,s1", 0, "short row, no newline"},
};

static void test_cases(void)
{
	struct stats_table t = {0};
	char *err = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = stats_parse_csv(cases[i].csv, strlen(cases[i].csv), &t, &err);

		tap_is_int(r, cases[i].want, cases[i].name);
		if (r < 0)
			tap_ok(err && *err && t.rows == NULL && t.n == 0,
			       "%s: message '%s', nothing returned", cases[i].name, err ? err : "");
		stats_table_done(&t);
	}

	/* Columns found by name, whatever their order; unknown columns skipped; quotes. */
	{
		static const char csv[] = "# pxname,zzz,status,svname,hrsp_5xx,addr,scur,\n"
					  "be,\"a,b\",\"MAINT (resolution)\",s1,7,[::1]:80,3,\n"
					  "be,,\"say \"\"hi\"\"\",BACKEND,9,,4,\n"
					  "\n";
		const struct stats_row *r;

		tap_is_int(stats_parse_csv(csv, strlen(csv), &t, &err), 0, "reordered columns");
		r = find(&t, "be", "s1");
		tap_ok(r && r->hrsp_5xx == 7 && r->scur == 3 &&
			       streq(r->status, "MAINT (resolution)") &&
			       streq(r->addr, "[::1]:80") && !r->is_backend,
		       "reordered: server row");
		r = find(&t, "be", "BACKEND");
		tap_ok(r && r->is_backend && r->hrsp_5xx == 9 && streq(r->status, "say \"hi\""),
		       "reordered: backend row, doubled quotes");
		stats_table_done(&t);
	}

	/* Names: 127 bytes fit, 128 do not. */
	{
		char name[129], *csv;

		memset(name, 'n', 128);
		name[128] = '\0';
		csv = xasprintf("# pxname,svname,\n%.127s,s,\n", name);
		tap_ok(stats_parse_csv(csv, strlen(csv), &t, &err) == 0 && t.n == 1 &&
			       strlen(t.rows[0].proxy) == 127,
		       "127-byte proxy name");
		stats_table_done(&t);
		free(csv);
		csv = xasprintf("# pxname,svname,\n%s,s,\n", name);
		tap_is_int(stats_parse_csv(csv, strlen(csv), &t, &err), -EBADMSG,
			   "128-byte proxy name");
		free(csv);
	}

	/* Binary bytes in a counter. */
	{
		static const char csv[] = "# pxname,svname,scur,\nbe,s1,1\0002,\n";

		tap_is_int(stats_parse_csv(csv, sizeof(csv) - 1, &t, &err), -EBADMSG,
			   "NUL in a counter");
	}

	/*
	 * The row cap: rows are counted before anything is allocated, so 1,000,001 rows fail
	 * cheaply (a successful 1,000,000-row parse would need about 460 MB; 100,000 are checked).
	 */
	{
		struct strbuf b;

		strbuf_init(&b);
		strbuf_puts(&b, "# pxname,svname,\n");
		for (size_t i = 0; i < 100000; i++)
			strbuf_append(&b, "b,s,\n", 5);
		tap_ok(stats_parse_csv(b.s, b.len, &t, &err) == 0 && t.n == 100000, "100,000 rows");
		stats_table_done(&t);
		for (size_t i = 100000; i < 1000000; i++)
			strbuf_append(&b, "b,s,\n", 5);
		strbuf_append(&b, "b,s,\n\n", 6);
		tap_is_int(stats_parse_csv(b.s, b.len, &t, &err), -EMSGSIZE, "1,000,001 rows");
		strbuf_done(&b);
	}
	free(err);
}

int main(void)
{
	test_fixture();
	test_cases();
	return tap_done();
}
