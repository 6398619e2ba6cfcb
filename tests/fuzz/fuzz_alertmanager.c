// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for alertmanager_parse: the input is a webhook body. Invariants: a refused
 * body says why and leaves nothing; an accepted one gives at most one action per service and
 * direction, each with a non-empty service and a direction of up or down.
 */
#include "flowproxy/alertmanager.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alertmanager_request r = {0};
	char *err = NULL;

	if (alertmanager_parse((const char *)data, size, &r, &err) < 0) {
		if (!err || r.n || r.v)
			__builtin_trap();
		free(err);
		return 0;
	}
	for (size_t i = 0; i < r.n; i++) {
		if (!r.v[i].service[0] ||
		    (r.v[i].dir != AUTOSCALE_UP && r.v[i].dir != AUTOSCALE_DOWN))
			__builtin_trap();
		for (size_t j = 0; j < i; j++)
			if (r.v[j].dir == r.v[i].dir && !strcmp(r.v[j].service, r.v[i].service))
				__builtin_trap();
	}
	alertmanager_done(&r);
	return 0;
}
