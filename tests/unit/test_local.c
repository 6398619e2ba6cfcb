// SPDX-License-Identifier: MIT
/* Unit tests for local: the services file parser. */
#include "flowproxy/local.h"
#include "tap.h"

#include <stdbool.h>

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

	/* Replicated entries: "exec" with "replicas" or {port}. */
	struct {
		const char *json;
		bool replicated;
		long replicas;
		const char *replicas_param; /* what stays among the parameters */
	} rep[] = {
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\",\"{port}\"],\"replicas\":3}]", true, 3,
		 NULL},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":\"2\"}]", true, 2, NULL},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\",\"--l=127.0.0.1:{port}\"]}]", true, 1,
		 NULL},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":0}]", true, 0, NULL},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":1024}]", true, 1024, NULL},
		/* Labels are case-insensitive: any spelling is the count, and leaves the params. */
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"Replicas\":4}]", true, 4, NULL},
		/* Neither: today's meaning, one process at the entry's port. */
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\",\"9000\"]}]", false, 0, NULL},
		/* "replicas" without "exec": DFP's parameter, nothing started. */
		{"[{\"serviceName\":\"r\",\"replicas\":3}]", false, 0, "3"},
		/* {port} outside "exec" means nothing special. */
		{"[{\"serviceName\":\"r\",\"servicePath\":\"/{port}\"}]", false, 0, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rep); i++) {
		int r = local_parse(rep[i].json, strlen(rep[i].json), &f, &err);
		tap_ok(r == 0 && f.n == 1 && f.v[0].replicated == rep[i].replicated &&
			       (!rep[i].replicated || f.v[0].replicas == rep[i].replicas),
		       "%s: %s, %ld", rep[i].json,
		       rep[i].replicated ? "replicated" : "not replicated", rep[i].replicas);
		if (r == 0)
			tap_is_str(params_get(&f.v[0].params, "replicas"), rep[i].replicas_param,
				   "  what stays a parameter");
		local_file_done(&f);
	}

	/* {port} substitution: every occurrence, inside longer arguments too. */
	{
		char *in[] = {"srv",	      "--port", "{port}", "--listen=127.0.0.1:{port}",
			      "{port}{port}", "{por}t", "",	  NULL};
		char **out = local_argv_expand(in, 40123);
		tap_is_str(out[0], "srv", "expand: other arguments unchanged");
		tap_is_str(out[2], "40123", "expand: a whole argument");
		tap_is_str(out[3], "--listen=127.0.0.1:40123", "expand: inside an argument");
		tap_is_str(out[4], "4012340123", "expand: twice in one argument");
		tap_is_str(out[5], "{por}t", "expand: only the exact token");
		tap_is_str(out[6], "", "expand: an empty argument");
		tap_ok(out[7] == NULL, "expand: NULL-terminated");
		local_argv_free(out);
		local_argv_free(NULL);
	}

	struct {
		const char *json;
		const char *msg;
	} bad[] = {
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":1025}]",
		 "entry 0 ('r'): \"replicas\" must be an integer from 0 to 1024, not '1025'"},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":-1}]",
		 "\"replicas\" must be an integer"},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":\"two\"}]", "not 'two'"},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":true}]", "not 'true'"},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":2.5}]",
		 "'replicas' must be an integer"},
		{"[{\"exec\":[\"s\",\"{port}\"]}]",
		 "entry 0: copies of \"exec\" need a serviceName"},
		{"[{\"serviceName\":\"r\",\"exec\":[\"s\"],\"replicas\":1},{\"serviceName\":\"x\"},"
		 "{\"serviceName\":\"r\",\"exec\":[\"s\",\"{port}\"]}]",
		 "entry 2 ('r'): entry 0 runs copies of this service already"},
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
