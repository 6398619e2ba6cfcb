// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for template: parses the input as a template and, when it parses, executes it
 * against a small fixed data tree with tight caps (100,000 loop iterations, 1 MiB of output) so
 * that each input stays fast. Build, for example:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_template.c \
 *         src/template.c src/util.c -o fuzz_template
 */
#include "flowproxy/template.h"
#include "flowproxy/util.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tval *fuzz_data(void)
{
	struct tval *d = tval_new_map(), *l = tval_new_list(), *m = tval_new_map(), *s;

	tval_map_set_str(d, "Name", "web");
	tval_map_set_int(d, "Port", 8080);
	tval_map_set_int(d, "Zero", 0);
	tval_map_set_str(d, "Empty", "");
	tval_map_set_bool(d, "True", true);
	tval_map_set(d, "Nil", tval_new_null());
	tval_map_set_str(d, "CSV", "a,b,,c");
	for (int i = 0; i < 3; i++) {
		s = tval_new_map();
		tval_map_set_str(s, "Name", i ? "s2" : "s1");
		tval_map_set_str(s, "Address", "10.0.0.1");
		tval_map_set_int(s, "Port", 80 + i);
		tval_list_append(l, s);
	}
	tval_map_set(d, "Servers", l);
	for (int i = 0; i < 12; i++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", i);
		tval_map_set_int(m, key, i);
	}
	tval_map_set(d, "Map", m);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tval *tree;
	struct template *t = NULL;
	char *err = NULL;
	struct strbuf out;

	if (size > 65536)
		return 0;
	if (!tree)
		tree = fuzz_data();
	if (template_parse("fuzz", (const char *)data, size, &t, &err) == 0) {
		strbuf_init(&out);
		if (template_execute_limits(t, tree, &out, 100000, 1 << 20, &err) < 0 && !err)
			abort(); /* every failure carries a message */
		strbuf_done(&out);
		template_free(t);
	} else if (!err) {
		abort();
	}
	free(err);
	return 0;
}
