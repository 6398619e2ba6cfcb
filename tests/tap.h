/* SPDX-License-Identifier: MIT */
/*
 * tap: a minimal Test Anything Protocol emitter for the unit tests. Plans are declared at the
 * end (tap_done), so tables can grow without counting.
 */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((unused)) static int tap_is_str(const char *got, const char *want, const char *name)
{
	int ok = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);

	tap_ok(ok, "%s", name);
	if (!ok)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	return ok;
}

__attribute__((unused)) static int tap_is_int(long long got, long long want, const char *name)
{
	int ok = got == want;

	tap_ok(ok, "%s", name);
	if (!ok)
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	return ok;
}

/* Prints a diagnostic; every line of it starts with "# ", so TAP readers skip it. */
__attribute__((format(printf, 1, 2), unused)) static void tap_diag(const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (next || *line)
			printf("# %s\n", line);
	}
	free(text);
}

__attribute__((format(printf, 1, 2), unused)) static int tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 0;
}

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
