// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for docker_spec_scale (docker_parse.h), the spec of a scaling update made
 * byte for byte from a service object. The first byte picks the count asked (0-127, or up to
 * 128 below DOCKER_REPLICAS_MAX), the rest is the object. Invariants, when it is accepted:
 *   - reading only and making a spec agree, and the count read is within its cap;
 *   - the spec made for the count read is the input's own bytes (a substring of it), unless the
 *     count was absent or null and the engine's 1 was written in;
 *   - between the specs for the count read and the count asked, only the digits differ;
 *   - the spec made, put back in an object, reads again with the count asked.
 * A refusal always comes with a message.
 */
#include "flowproxy/docker_parse.h"
#include "flowproxy/util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static size_t digits(long v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	size_t len = size ? size - 1 : 0, cur_len = 0, out_len = 0, pre = 0, suf = 0;
	char *err = NULL, *cur_spec = NULL, *out = NULL;
	long want, cur = -1, cur2 = -1, again = -1;
	uint64_t ver = 0, ver2 = 0, ver3 = 0;
	struct strbuf wrap;
	int r, r2;

	if (size == 0)
		return 0;
	want = data[0] & 0x80 ? DOCKER_REPLICAS_MAX - (data[0] & 0x7f) : data[0];
	r = docker_spec_scale(body, len, want, &out, &out_len, &cur, &ver, &err);
	r2 = docker_spec_scale(body, len, -1, NULL, NULL, &cur2, &ver2, &err);
	CHECK(r == r2);
	if (r < 0) {
		CHECK(err && err[0] && !out);
		free(err);
		return 0;
	}
	CHECK(cur == cur2 && ver == ver2 && cur >= 0 && cur <= DOCKER_REPLICAS_MAX);
	CHECK(out && strlen(out) == out_len);

	CHECK(docker_spec_scale(body, len, cur, &cur_spec, &cur_len, NULL, NULL, &err) == 0);
	CHECK(memmem(body, len, cur_spec, cur_len) || cur == 1);
	CHECK(out_len + digits(cur) == cur_len + digits(want));
	while (pre < cur_len && pre < out_len && cur_spec[pre] == out[pre])
		pre++;
	while (suf < cur_len - pre && suf < out_len - pre &&
	       cur_spec[cur_len - 1 - suf] == out[out_len - 1 - suf])
		suf++;
	CHECK(pre + suf + digits(cur) >= cur_len && pre + suf + digits(want) >= out_len);

	strbuf_init(&wrap);
	strbuf_puts(&wrap, "{\"Version\":{\"Index\":1},\"Spec\":");
	strbuf_append(&wrap, out, out_len);
	strbuf_puts(&wrap, "}");
	CHECK(docker_spec_scale(wrap.s, wrap.len, -1, NULL, NULL, &again, &ver3, &err) == 0);
	CHECK(again == want && ver3 == 1);
	strbuf_done(&wrap);
	free(cur_spec);
	free(out);
	free(err);
	return 0;
}
