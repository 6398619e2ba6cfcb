// SPDX-License-Identifier: MIT
/* Unit tests for query: Go's url.ParseQuery decoding, and what flowproxy refuses on top. */
#include "flowproxy/query.h"
#include "tap.h"

/* The parsed pairs as "k=v;" for comparison; "ERR <code>" on failure. */
static char *show(const char *q)
{
	struct params p;
	struct strbuf b;
	char *err = NULL;
	int r;

	params_init(&p);
	strbuf_init(&b);
	r = query_parse(q, strlen(q), &p, &err);
	if (r < 0)
		strbuf_printf(&b, "ERR %d", r);
	for (size_t i = 0; i < p.n; i++)
		strbuf_printf(&b, "%s=%s;", p.v[i].key, p.v[i].value);
	params_done(&p);
	free(err);
	return strbuf_steal(&b);
}

static const struct {
	const char *in, *want, *name;
} cases[] = {
	{"", "", "empty"},
	{"a=1", "a=1;", "one pair"},
	{"a=1&b=2", "a=1;b=2;", "two pairs, in order"},
	{"a=1&a=2", "a=1;a=2;", "duplicates kept"},
	{"a", "a=;", "a key without '='"},
	{"a=", "a=;", "an empty value"},
	{"a=b=c", "a=b=c;", "the first '=' splits"},
	{"a=1&&b=2&", "a=1;b=2;", "empty pairs skipped"},
	{"=x&b=2", "b=2;", "an empty key skipped"},
	{"servicePath=%2Fapi%2Fv1", "servicePath=/api/v1;", "percent-escapes"},
	{"k=a+b%20c", "k=a b c;", "'+' and %20 are spaces"},
	{"k=%2b", "k=+;", "an escaped '+' stays"},
	{"k%3Dx=1", "k=x=1;", "an escaped '=' in a key is data"},
	{"k=a%26b", "k=a&b;", "an escaped '&' is data"},
	{"k=a%3Bb", "k=a;b;", "an escaped ';' is data"},
	{"k=%C3%A9", "k=\xc3\xa9;", "UTF-8 bytes"},
	{"k=%0A", "k=\n;", "a control byte passes (the parameter parser names it)"},
	{"k=%zz", "ERR -22", "a bad escape is refused"},
	{"k=%4", "ERR -22", "a truncated escape is refused"},
	{"k=%", "ERR -22", "a lone '%' is refused"},
	{"k=%00", "ERR -22", "an escaped NUL is refused"},
	{"a=1;b=2", "ERR -22", "';' as a separator is refused (Go 1.17)"},
	{"a=1&k=%g0", "ERR -22", "a bad pair refuses the whole query"},
};

int main(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = show(cases[i].in);

		tap_is_str(got, cases[i].want, cases[i].name);
		free(got);
	}

	/* Caps: QUERY_PARAMS_MAX pairs and QUERY_LEN_MAX bytes. */
	{
		struct strbuf b;
		struct params p;
		char *err = NULL;

		strbuf_init(&b);
		for (int i = 0; i < QUERY_PARAMS_MAX; i++)
			strbuf_printf(&b, "%sk%d=v", i ? "&" : "", i);
		params_init(&p);
		tap_is_int(query_parse(b.s, b.len, &p, &err), 0, "QUERY_PARAMS_MAX pairs parse");
		tap_is_int((long long)p.n, QUERY_PARAMS_MAX, "all of them");
		params_done(&p);
		strbuf_puts(&b, "&one=more");
		params_init(&p);
		tap_is_int(query_parse(b.s, b.len, &p, &err), -EMSGSIZE, "one more is refused");
		tap_ok(p.n == 0, "and nothing is kept");
		tap_ok(err && strstr(err, "more than 1024 parameters"), "the message says why");
		params_done(&p);
		strbuf_reset(&b);
		for (size_t i = 0; i <= QUERY_LEN_MAX; i++)
			strbuf_putc(&b, 'x');
		params_init(&p);
		tap_is_int(query_parse(b.s, b.len, &p, &err), -EMSGSIZE, "an over-long query");
		params_done(&p);
		/* Not NUL-terminated: only len bytes are read. */
		params_init(&p);
		tap_is_int(query_parse("a=1&b=2", 3, &p, &err), 0, "len bounds the input");
		tap_ok(p.n == 1 && streq(p.v[0].value, "1"), "only a=1 read");
		params_done(&p);
		strbuf_done(&b);
		free(err);
	}
	return tap_done();
}
