// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for telemetry_parse_line: the input is one ring line (without '\n').
 * Invariants: an accepted request line has printable names without spaces, timers of -1 or
 * more, a four-character termination state, and parses to the same values when written out
 * again in TELEMETRY_LOG_FORMAT's order.
 */
#include "flowproxy/telemetry_parse.h"
#include "flowproxy/util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct telemetry_line l, again;
	char buf[512];
	int n;

	if (telemetry_parse_line((const char *)data, size, &l) < 0 || l.kind != TELEMETRY_REQUEST)
		return 0;
	if (!token(l.backend) || !token(l.server) || !token(l.term) || strlen(l.term) != 4)
		__builtin_trap();
	if (l.tw < -1 || l.tc < -1 || l.tr < -1 || l.ta < -1 || l.backend_conns < 0 ||
	    l.backend_queue < 0)
		__builtin_trap();
	n = snprintf(buf, sizeof(buf), "fp1 %s %s %d %d %d %d %d %d %d %s", l.backend, l.server,
		     l.status, l.tw, l.tc, l.tr, l.ta, l.backend_conns, l.backend_queue, l.term);
	if (n < 0 || (size_t)n >= sizeof(buf) || telemetry_parse_line(buf, (size_t)n, &again) < 0 ||
	    again.tr != l.tr || again.ta != l.ta || again.tw != l.tw || again.status != l.status ||
	    strcmp(again.backend, l.backend) != 0)
		__builtin_trap();
	return 0;
}
