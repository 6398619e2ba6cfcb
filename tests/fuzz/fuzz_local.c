// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for local_parse: the input is a services file. Entries that parse also go
 * through labels_parse, as at start-up. Replicated entries are in range, named, their count no
 * longer a parameter, and their expanded arguments keep no {port}. The services accepted must
 * keep the invariants of fuzz_check.h (no control byte in any field, ...), a refused file or
 * entry must say why. A broken invariant traps. Built by meson with -Dfuzz=true (tests/fuzz/meson.build).
 */
#include "flowproxy/labels.h"
#include "flowproxy/local.h"
#include "fuzz_check.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_file f;
	char *err = NULL;
	struct labels_ctx ctx = {",", "hdr_beg(host)", false, "u:p", false};

	if (local_parse((const char *)data, size, &f, &err) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			/* Values are kept as given: only the known parameters are checked, later. */
			for (size_t k = 0; k < f.v[i].params.n; k++)
				FUZZ_CHECK(f.v[i].params.v[k].key && f.v[i].params.v[k].value);
			/* "exec" is a non-empty array of strings. */
			FUZZ_CHECK(!f.v[i].argv || f.v[i].argv[0]);
			/* Copies: of an "exec", in range, named, the count no longer a parameter;
			 * their arguments keep no token once expanded. */
			if (f.v[i].replicated) {
				FUZZ_CHECK(f.v[i].argv && f.v[i].replicas >= 0 &&
					   f.v[i].replicas <= LOCAL_REPLICAS_MAX);
				FUZZ_CHECK(str_set(params_get(&f.v[i].params, "serviceName")));
				FUZZ_CHECK(!params_get(&f.v[i].params, "replicas"));
				char **a = local_argv_expand(f.v[i].argv, 65535);
				size_t k = 0;
				for (; a[k]; k++)
					FUZZ_CHECK(f.v[i].argv[k] &&
						   !strstr(a[k], LOCAL_PORT_TOKEN));
				FUZZ_CHECK(!f.v[i].argv[k]);
				local_argv_free(a);
			}
			fuzz_parse_checked(&f.v[i].params, &ctx);
		}
		local_file_done(&f);
	} else {
		FUZZ_CHECK(err && *err && fuzz_clean(err) && f.n == 0 && f.v == NULL);
	}
	free(err);
	return 0;
}
