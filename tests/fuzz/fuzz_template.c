// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for template: parses the input as a template and, when it parses, executes it
 * against a small fixed data tree with tight caps (100,000 loop iterations, 1 MiB of output) so
 * that each input stays fast. Invariants (a broken one traps): every failure carries a message;
 * parsing and executing are deterministic (the same template run twice, and a second parse of
 * the same input run, give the same result, output and message byte for byte); a successful
 * execution stays within the output cap. Built and run by scripts/fuzz.
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

#define FUZZ_STEPS  100000
#define FUZZ_OUTPUT (1 << 20)

static struct tval *tree;

/* Runs t again: the result, output and message must be those of the first run. */
static void same_run(const struct template *t, int x, const struct strbuf *out, const char *xerr)
{
	struct strbuf o;
	char *e = NULL;
	int r;

	strbuf_init(&o);
	r = template_execute_limits(t, tree, &o, FUZZ_STEPS, FUZZ_OUTPUT, &e);
	if (r != x || o.len != out->len || memcmp(strbuf_str(&o), strbuf_str(out), o.len) != 0 ||
	    (e == NULL) != (xerr == NULL) || (e && strcmp(e, xerr) != 0))
		__builtin_trap();
	strbuf_done(&o);
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template *t = NULL, *t2 = NULL;
	char *err = NULL, *err2 = NULL;
	int r1, r2;

	if (size > 65536)
		return 0;
	if (!tree)
		tree = fuzz_data();
	r1 = template_parse("fuzz", (const char *)data, size, &t, &err);
	r2 = template_parse("fuzz", (const char *)data, size, &t2, &err2);
	/* Parsing is deterministic, and a refusal says why. */
	if ((r1 == 0) != (r2 == 0) || (r1 < 0 && (!err || !err2 || strcmp(err, err2) != 0)))
		__builtin_trap();
	if (r1 == 0) {
		struct strbuf out;
		char *xerr = NULL;
		int x;

		strbuf_init(&out);
		x = template_execute_limits(t, tree, &out, FUZZ_STEPS, FUZZ_OUTPUT, &xerr);
		if (x < 0 && !xerr)
			__builtin_trap(); /* every failure carries a message */
		if (x >= 0 && out.len > FUZZ_OUTPUT)
			__builtin_trap();   /* a successful execution stays within the output cap */
		same_run(t, x, &out, xerr); /* no state left behind by a run */
		same_run(t2, x, &out, xerr); /* the second parse runs the same */
		strbuf_done(&out);
		free(xerr);
	}
	template_free(t);
	template_free(t2);
	free(err);
	free(err2);
	return 0;
}
