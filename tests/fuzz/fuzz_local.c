// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for local_parse: the input is a services file. Entries that parse also go
 * through labels_parse, as at start-up. Built by meson with -Dfuzz=true (tests/fuzz/meson.build).
 */
#include "flowproxy/labels.h"
#include "flowproxy/local.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_file f;
	char *err = NULL;
	struct labels_ctx ctx = {",", "hdr_beg(host)", false, "u:p", false};

	if (local_parse((const char *)data, size, &f, &err) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			struct service *s = NULL;
			if (labels_parse(&f.v[i].params, &ctx, &s, NULL, &err) == 0)
				service_free(s);
		}
		local_file_done(&f);
	}
	free(err);
	return 0;
}
