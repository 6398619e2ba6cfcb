// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for labels: the input is a query string "k=v&k2=v2" (no URL decoding),
 * parsed into a parameter map and through labels_parse; accepted services also go through
 * service_dup and service_to_json. The same pairs, read as "K=V" environment entries, go through
 * labels_from_env. Build (not wired into meson):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *     tests/fuzz/fuzz_labels.c src/util.c src/service.c src/labels.c -lcjson -lpcre2-8
 */
#include "flowproxy/labels.h"

#include <cjson/cJSON.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = xstrndup((const char *)data, size);
	struct params p;
	char **env = NULL;
	size_t n_env = 0;

	params_init(&p);
	for (char *q = in; *q;) {
		char *e = strchr(q, '&');
		size_t n = e ? (size_t)(e - q) : strlen(q);
		char *kv = xstrndup(q, n);
		char *eq = strchr(kv, '=');
		if (eq)
			*eq = '\0';
		params_add(&p, kv, eq ? eq + 1 : "");
		if (eq)
			*eq = '=';
		env = xrealloc(env, (n_env + 2) * sizeof(*env));
		env[n_env++] = kv;
		env[n_env] = NULL;
		q += n;
		if (*q)
			q++;
	}

	struct labels_ctx ctx = {.users = "alice:pw,bob:$6$x$y", .separator = size & 1 ? "," : ";"};
	struct service *s = NULL;
	char *err = NULL;
	int status = 0;
	if (labels_parse(&p, &ctx, &s, &status, &err) == 0) {
		struct service *c = service_dup(s);
		cJSON *j = service_to_json_named(c);
		char *txt = cJSON_PrintUnformatted(j);
		free(txt);
		cJSON_Delete(j);
		service_free(c);
		service_free(s);
	} else if (!err || (status != 400 && status != 409)) {
		__builtin_trap();
	}
	free(err);
	err = NULL;

	struct params *v = NULL;
	size_t nv = 0;
	if (labels_from_env(env, &v, &nv, &err) == 0) {
		for (size_t i = 0; i < nv; i++) {
			if (labels_parse(&v[i], NULL, &s, NULL, &err) == 0)
				service_free(s);
			params_done(&v[i]);
		}
		free(v);
	}
	free(err);

	for (size_t i = 0; i < n_env; i++)
		free(env[i]);
	free(env);
	params_done(&p);
	free(in);
	return 0;
}
