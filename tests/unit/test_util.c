// SPDX-License-Identifier: MIT
/* Unit tests for util: strbuf, parse_long, errmsg_set, atomic writes. */
#include "flowproxy/util.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
	struct strbuf b;
	char *err = NULL;
	long v = 0;

	strbuf_init(&b);
	tap_is_str(strbuf_str(&b), "", "empty strbuf reads as empty string");
	strbuf_puts(&b, "abc");
	strbuf_printf(&b, "-%d-", 42);
	for (int i = 0; i < 100; i++)
		strbuf_printf(&b, "%0300d", i);
	tap_is_int((long long)b.len, 3 + 4 + 100 * 300, "strbuf grows past its first block");
	tap_ok(strncmp(b.s, "abc-42-", 7) == 0, "strbuf keeps appended order");
	char *s = strbuf_steal(&b);
	tap_ok(b.s == NULL && b.len == 0, "steal empties the buffer");
	free(s);

	struct {
		const char *in;
		long min, max;
		int ret;
		long val;
	} cases[] = {
		{"0", 0, 10, 0, 0},
		{"10", 0, 10, 0, 10},
		{"11", 0, 10, -ERANGE, 0},
		{"-1", 0, 10, -EINVAL, 0},
		{"-1", -5, 10, 0, -1},
		{"", 0, 10, -EINVAL, 0},
		{" 1", 0, 10, -EINVAL, 0},
		{"1x", 0, 10, -EINVAL, 0},
		{"99999999999999999999", 0, 10, -ERANGE, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		v = 0;
		int r = parse_long(cases[i].in, cases[i].min, cases[i].max, &v);
		tap_ok(r == cases[i].ret && (r < 0 || v == cases[i].val), "parse_long('%s') = %d",
		       cases[i].in, r);
	}

	tap_is_int(errmsg_set(&err, -EINVAL, "port '%s' is not a number", "x"), -EINVAL,
		   "errmsg_set returns its code");
	tap_is_str(err, "port 'x' is not a number", "errmsg_set formats the message");
	free(err);

	char dir[] = "/tmp/fp-util-XXXXXX";
	tap_ok(mkdtemp(dir) != NULL, "temporary directory");
	char *path = xasprintf("%s/f", dir);
	tap_is_int(write_file_atomic(path, "hello", 5), 0, "atomic write succeeds");
	char *got = NULL;
	size_t len = 0;
	tap_is_int(read_file(path, 100, &got, &len), 0, "read back");
	tap_is_str(got, "hello", "content survives");
	free(got);
	tap_is_int(read_file(path, 3, &got, &len), -EMSGSIZE, "read_file enforces its cap");
	unlink(path);
	rmdir(dir);
	free(path);
	return tap_done();
}
