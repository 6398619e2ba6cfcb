// SPDX-License-Identifier: MIT
/*
 * query: URL query strings into parameter maps (query.h). One pass over the bytes, each pair
 * decoded into a bounded buffer; nothing is added to the result until the whole query parsed.
 */
#include "flowproxy/query.h"
#include "flowproxy/util.h"

/* Decodes q[from..to) into out (cleared first); offsets in messages are q's. */
static int decode(const char *q, size_t from, size_t to, struct strbuf *out, char **reterr)
{
	strbuf_reset(out);
	strbuf_puts(out, "");
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)q[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 1 < to ? hex_digit(q[i + 1]) : -1;
			int lo = i + 2 < to ? hex_digit(q[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return errmsg_set(reterr, -EINVAL,
						  "query: bad percent-escape at byte %zu", i);
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c == ';') {
			return errmsg_set(reterr, -EINVAL,
					  "query: ';' at byte %zu (pairs are separated by '&')", i);
		}
		/* Other control bytes are the parser's to refuse, naming the parameter (labels.c). */
		if (c == 0)
			return errmsg_set(reterr, -EINVAL, "query: a NUL byte at byte %zu", i);
		strbuf_putc(out, (char)c);
	}
	return 0;
}

int query_parse(const char *q, size_t len, struct params *ret, char **reterr)
{
	struct params p;
	struct strbuf key, value;
	size_t start = 0;
	int r = 0;

	if (len > QUERY_LEN_MAX)
		return errmsg_set(reterr, -EMSGSIZE, "query: %zu bytes is over the %u cap", len,
				  QUERY_LEN_MAX);
	params_init(&p);
	strbuf_init(&key);
	strbuf_init(&value);
	while (start <= len && r >= 0) {
		size_t end = start, eq;

		while (end < len && q[end] != '&')
			end++;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		if (end > start) {
			r = decode(q, start, eq, &key, reterr);
			if (r >= 0)
				r = decode(q, eq < end ? eq + 1 : end, end, &value, reterr);
			if (r >= 0 && key.len > 0) {
				if (p.n >= QUERY_PARAMS_MAX)
					r = errmsg_set(reterr, -EMSGSIZE,
						       "query: more than %d parameters",
						       QUERY_PARAMS_MAX);
				else
					params_add(&p, strbuf_str(&key), strbuf_str(&value));
			}
		}
		start = end + 1;
	}
	strbuf_done(&key);
	strbuf_done(&value);
	if (r < 0) {
		params_done(&p);
		return r;
	}
	for (size_t i = 0; i < p.n; i++)
		params_add(ret, p.v[i].key, p.v[i].value);
	params_done(&p);
	return 0;
}
