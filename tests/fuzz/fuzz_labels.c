// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for labels: the input is a query string "k=v&k2=v2" (no URL decoding),
 * parsed into a parameter map and through labels_parse; the same pairs, read as "K=V"
 * environment entries, go through labels_from_env and each service found through labels_parse.
 * Accepted services must keep the invariants of fuzz_check.h (no control byte in any field,
 * names that are words, re-parsing their raw parameters gives the same service); refusals must
 * say why. A broken invariant traps. Built and run by scripts/fuzz.
 */
#include "flowproxy/labels.h"
#include "fuzz_check.h"

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
	char *err = NULL;

	fuzz_parse_checked(&p, &ctx);
	/* A refusal's echo is a half-built service: its JSON and its freeing must hold. */
	struct service *echo = labels_echo(&p, &ctx);
	cJSON *ej = service_to_json(echo);
	FUZZ_CHECK(echo && ej);
	cJSON_Delete(ej);
	service_free(echo);

	struct params *v = NULL;
	size_t nv = 0;
	if (labels_from_env(env, &v, &nv, &err) == 0) {
		for (size_t i = 0; i < nv; i++) {
			fuzz_parse_checked(&v[i], NULL);
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
