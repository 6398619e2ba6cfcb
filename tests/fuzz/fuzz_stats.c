// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for stats_parse_csv: the input is a `show stat` reply. Invariants: an
 * accepted table has NUL-terminated names within their buffers, and a backend row is exactly a
 * row whose svname is BACKEND.
 */
#include "flowproxy/stats_parse.h"
#include "flowproxy/util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stats_table t = {0};
	char *err = NULL;

	if (stats_parse_csv((const char *)data, size, &t, &err) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			const struct stats_row *r = &t.rows[i];

			if (!memchr(r->proxy, 0, sizeof(r->proxy)) ||
			    !memchr(r->server, 0, sizeof(r->server)) ||
			    !memchr(r->status, 0, sizeof(r->status)) ||
			    !memchr(r->addr, 0, sizeof(r->addr)))
				__builtin_trap();
			if (r->is_backend != (strcmp(r->server, "BACKEND") == 0))
				__builtin_trap();
		}
		stats_table_done(&t);
	} else if (!err) {
		__builtin_trap();
	}
	free(err);
	return 0;
}
