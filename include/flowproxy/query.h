/* SPDX-License-Identifier: MIT */
/*
 * query: a URL query string (application/x-www-form-urlencoded) into a parameter map, the way
 * Go's url.ParseQuery reads it, which is what Docker Flow Proxy's API and the Swarm Listener
 * speak: pairs split on '&', key and value on the first '=', '+' is a space, %XX an escaped
 * byte. Pure; fuzzed (tests/fuzz/fuzz_query.c).
 *
 * Where Go drops a malformed pair silently, this refuses the whole query with a message (an API
 * caller is told, nothing is half-applied): a bad or truncated escape, a ';' (Go 1.17 refuses
 * it as a separator), an escape that decodes to NUL. Other control bytes pass: the parameter
 * parser refuses them, naming the parameter.
 */
#pragma once

#include "flowproxy/service.h"

#define QUERY_LEN_MAX	 (64u << 10) /* bytes of the raw query */
#define QUERY_PARAMS_MAX 1024	     /* pairs */

/*
 * Parses q (len bytes, not NUL-terminated, without the leading '?') and appends its pairs to
 * *ret in order (initialized by the caller; duplicates kept, params_get sees the first). Empty
 * pairs ("a=1&&b=2") and pairs with an empty key are skipped. Returns 0, or -EINVAL / -EMSGSIZE
 * with a message naming the byte offset; *ret is left empty on failure.
 */
int query_parse(const char *q, size_t len, struct params *ret, char **reterr);
