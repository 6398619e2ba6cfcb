// SPDX-License-Identifier: MIT
/* Unit tests for local: the services file parser. */
#include "flowproxy/local.h"
#include "tap.h"

int main(void)
{
	struct local_file f;
	char *err = NULL;
	const char *ok1 = "{\"services\":[{\"serviceName\":\"a\",\"port\":8080,\"httpsOnly\":true,"
			  "\"exec\":[\"/bin/true\",\"x\"]},{\"serviceName\":\"b\"}]}";

	tap_is_int(local_parse(ok1, strlen(ok1), &f, &err), 0, "object form parses");
	tap_is_int((long long)f.n, 2, "two entries");
	tap_is_str(params_get(&f.v[0].params, "port"), "8080", "numbers become strings");
	tap_is_str(params_get(&f.v[0].params, "httpsOnly"), "true", "booleans become strings");
	tap_is_str(f.v[0].argv[1], "x", "exec argv kept");
	tap_ok(f.v[0].argv[2] == NULL, "argv NULL-terminated");
	tap_ok(params_get(&f.v[0].params, "exec") == NULL, "exec is not a parameter");
	tap_ok(f.v[1].argv == NULL, "entry without exec");
	local_file_done(&f);

	const char *ok2 = "[{\"serviceName\":\"a\"}]";
	tap_is_int(local_parse(ok2, strlen(ok2), &f, &err), 0, "array form parses");
	local_file_done(&f);

	/* "exec" twice: the last one counts, as for duplicate JSON keys (ASan: the first freed). */
	const char *twice = "[{\"serviceName\":\"a\",\"exec\":[\"x\"],\"exec\":[\"y\",\"z\"]}]";
	tap_is_int(local_parse(twice, strlen(twice), &f, &err), 0, "exec given twice parses");
	tap_ok(f.n == 1 && f.v[0].argv && streq(f.v[0].argv[0], "y") &&
		       streq(f.v[0].argv[1], "z") && !f.v[0].argv[2],
	       "the last exec counts");
	local_file_done(&f);

	struct {
		const char *json;
		const char *msg;
	} bad[] = {
		{"{", "not valid JSON"},
		{"{\"x\":1}", "expected an array"},
		{"[1]", "entry 0 is not an object"},
		{"[{\"exec\":\"ls\"}]", "\"exec\" must be"},
		{"[{\"exec\":[1]}]", "\"exec\" must be"},
		{"[{\"port\":1.5}]", "must be an integer"},
		/* Beyond long long: refused, not cast (undefined behaviour, found by fuzzing). */
		{"[{\"port\":1e300}]", "must be an integer"},
		{"[{\"port\":-1e19}]", "must be an integer"},
		{"[{\"port\":[1]}]", "must be a string"},
		/* A key is quoted with its control bytes escaped: the message goes to the log. */
		{"[{\"a\\nb\":[1]}]", "entry 0: 'a\\x0ab' must be a string"},
		{"[{\"a\\u0001\":1.5}]", "entry 0: 'a\\x01' must be an integer"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = local_parse(bad[i].json, strlen(bad[i].json), &f, &err);
		tap_ok(r == -EINVAL && err && strstr(err, bad[i].msg), "refused: %s", bad[i].json);
	}
	free(err);
	return tap_done();
}
