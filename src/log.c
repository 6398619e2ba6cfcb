// SPDX-License-Identifier: MIT
/* log: levelled one-line messages on stderr. */
#include "flowproxy/log.h"

static enum log_level log_max = LOG_LEVEL_INFO;

void log_set_level(enum log_level l)
{
	log_max = l;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char line[2048];
	va_list ap;

	if (l > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line so that lines from HAProxy's output and ours never interleave. */
	fprintf(stderr, "flowproxy: %s: %s\n", names[l], line);
}
