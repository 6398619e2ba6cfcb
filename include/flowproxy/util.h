/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: error messages for people (errmsg_set), a growable string
 * buffer (strbuf), cleanup attributes, and checked allocation. No I/O here.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a)	  (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define _cleanup_(f)	  __attribute__((cleanup(f)))
#define _unused_	  __attribute__((unused))

/* Moves a pointer out of a _cleanup_ variable so that it is not freed at scope exit. */
#define TAKE_PTR(p)                     \
	({                              \
		__typeof__(p) _p = (p); \
		(p) = NULL;             \
		_p;                     \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/*
 * Formats a message for people into *reterr (replacing what was there; the caller frees it) and
 * returns code, so that `return errmsg_set(reterr, -EINVAL, "...", v);` is one line. reterr may be
 * NULL, then only code is returned.
 */
int errmsg_set(char **reterr, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Allocation that aborts on failure: used for small, bounded objects only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* A growable NUL-terminated byte buffer. Embedded: strbuf_init()/strbuf_done(). */
struct strbuf {
	char *s;    /* always NUL-terminated once anything was appended; NULL when empty */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap;
};

void strbuf_init(struct strbuf *b);
void strbuf_done(struct strbuf *b);
void strbuf_reset(struct strbuf *b);
void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
/* Quotes s for an HAProxy argument: "..." with \, " and $ escaped. Appends to out. */
void strbuf_put_quoted(struct strbuf *out, const char *s);
/* Returns the contents (caller frees; "" when empty) and leaves the buffer empty. */
char *strbuf_steal(struct strbuf *b);
/* Returns the contents, "" when empty; borrowed until the next change. */
const char *strbuf_str(const struct strbuf *b);

/* The value of a hexadecimal digit (0-9, a-f, A-F), -1 for any other character. */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* True when s is non-NULL and non-empty. */
static inline bool str_set(const char *s)
{
	return s && *s;
}
static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);

/*
 * Parses a decimal integer in [min, max], the whole string, no sign unless min < 0, no spaces.
 * Returns 0 or -EINVAL / -ERANGE.
 */
int parse_long(const char *s, long min, long max, long *ret);

/* Reads a whole file (at most max bytes, else -EMSGSIZE). Caller frees *ret. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Writes data to path atomically (temporary file in the same directory, fsync, rename). */
int write_file_atomic(const char *path, const char *data, size_t len);
/* The same with the file's mode (0600 for a private key); the temporary is hidden (.name). */
int write_file_atomic_mode(const char *path, const char *data, size_t len, mode_t mode);

/* Monotonic clock in microseconds. */
long long now_usec(void);
