// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for query_parse: the input is a raw query string. Invariants: an accepted
 * query gives at most QUERY_PARAMS_MAX pairs, no key is empty, no byte of a key or value is
 * NUL, and encoding the pairs again and parsing that gives the same pairs; a refused one leaves
 * nothing behind.
 */
#include "flowproxy/query.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void encode(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			strbuf_putc(b, (char)c);
		else
			strbuf_printf(b, "%%%02X", c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct params p, again;
	struct strbuf b;
	char *err = NULL;

	params_init(&p);
	if (query_parse((const char *)data, size, &p, &err) < 0) {
		if (p.n != 0 || !err)
			__builtin_trap();
		free(err);
		return 0;
	}
	if (p.n > QUERY_PARAMS_MAX)
		__builtin_trap();
	strbuf_init(&b);
	for (size_t i = 0; i < p.n; i++) {
		if (!p.v[i].key[0])
			__builtin_trap();
		if (i)
			strbuf_putc(&b, '&');
		encode(&b, p.v[i].key);
		strbuf_putc(&b, '=');
		encode(&b, p.v[i].value);
	}
	params_init(&again);
	if (query_parse(strbuf_str(&b), b.len, &again, &err) < 0 || again.n != p.n)
		__builtin_trap();
	for (size_t i = 0; i < p.n; i++)
		if (strcmp(p.v[i].key, again.v[i].key) || strcmp(p.v[i].value, again.v[i].value))
			__builtin_trap();
	params_done(&again);
	params_done(&p);
	strbuf_done(&b);
	free(err);
	return 0;
}
