// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for autoscale_parse and autoscale_step: the input is "key=value" lines (a
 * service's parameters). Invariants: a refused spec says why and is empty; an accepted one has
 * scaleMin <= scaleMax, steps of at least 1, every policy 1..AUTOSCALE_MAX_TERMS terms with
 * windows inside the limits and fractions inside [0, 1]; a rejected policy has a message; and
 * stepping the engine over it never scales outside [scaleMin, scaleMax].
 */
#include "flowproxy/autoscale.h"

#include <math.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int measure(void *userdata, const struct autoscale_query *q, struct autoscale_sample *ret)
{
	const unsigned *seed = userdata;

	ret->count = 100 + (*seed % 7);
	ret->value = (double)((*seed + (unsigned)q->kind * 31 + q->window_ms) % 1000) / 1000.0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct autoscale_limits lim = {300000, 1000};
	struct autoscale_spec s = {0};
	struct params p;
	char *err = NULL;
	size_t i = 0;

	if (size > 65536)
		return 0;
	params_init(&p);
	while (i < size) {
		size_t j = i;
		while (j < size && data[j] != '\n')
			j++;
		char *line = xstrndup((const char *)data + i, j - i);
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			params_add(&p, line, eq + 1);
		}
		free(line);
		i = j + 1;
	}
	if (autoscale_parse(&p, &lim, &s, &err) < 0) {
		if (!err || s.n_policies || s.policies)
			__builtin_trap();
		free(err);
		params_done(&p);
		return 0;
	}
	if (s.min < 1 || s.min > s.max || s.up_by < 1 || s.down_by < 1)
		__builtin_trap();
	for (size_t k = 0; k < s.rejected.n; k++)
		if (!s.rejected.v[k][0])
			__builtin_trap();
	for (size_t k = 0; k < s.n_policies; k++) {
		const struct autoscale_policy *pol = &s.policies[k];
		if (pol->n_terms < 1 || pol->n_terms > AUTOSCALE_MAX_TERMS)
			__builtin_trap();
		for (size_t t = 0; t < pol->n_terms; t++) {
			const struct autoscale_term *term = &pol->terms[t];
			if (term->window_ms < lim.slice_ms || term->window_ms > lim.max_window_ms ||
			    !(term->fraction >= 0 && term->fraction <= 1) ||
			    !(term->threshold_s >= 0 && term->threshold_s <= 3600))
				__builtin_trap();
		}
	}
	struct autoscale_state st;
	autoscale_state_init(&st);
	unsigned seed = (unsigned)size;
	long wanted = s.min;
	for (uint64_t now = 1000; now < 400000; now += 1000) {
		struct autoscale_decision d[4];
		struct autoscale_input in = {wanted, wanted, now, 10, measure, &seed};
		seed = seed * 1103515245u + 12345u;
		size_t n = autoscale_step(&s, &st, &in, d, 4);
		for (size_t k = 0; k < n; k++) {
			if (d[k].action == AUTOSCALE_ACT_UP || d[k].action == AUTOSCALE_ACT_DOWN) {
				if (d[k].to < s.min || d[k].to > s.max || d[k].to == d[k].from)
					__builtin_trap();
				autoscale_scaled(&st, &d[k], now, false);
				wanted = d[k].to;
			}
		}
	}
	autoscale_state_done(&st);
	autoscale_spec_done(&s);
	params_done(&p);
	return 0;
}
