/* SPDX-License-Identifier: MIT */
/*
 * template: a subset of Go's text/template, enough to carry users' Docker Flow Proxy templates
 * over (docs/templates.md lists exactly what is supported). Pure: text and data in, text out.
 *
 * Data is a tree of struct tval (null, bool, int, string, list, map). Maps keep their keys in
 * insertion order; `range` over a map visits keys in sorted order, as Go does.
 *
 * Supported: {{.Field.Sub}}, {{.}}, {{$}}, {{$x := pipeline}}, {{$x = pipeline}}, pipelines with
 * `|`, {{if}}/{{else if}}/{{else}}/{{end}}, {{range $i, $v := x}} ... {{else}} ... {{end}},
 * {{with}}, {{break}}/{{continue}}, Go comment actions, trim markers {{- and -}}, string ("..",
 * `..`), number, true/false/nil literals, and the functions eq ne lt le gt ge and or not len
 * index print printf println, plus join split contains hasPrefix hasSuffix replace lower upper
 * trimSpace (not in Go's builtins: documented as extensions).
 */
#pragma once

#include "flowproxy/util.h"

#include <stdint.h>

enum tval_kind {
	TVAL_NULL = 0,
	TVAL_BOOL,
	TVAL_INT,
	TVAL_STRING,
	TVAL_LIST,
	TVAL_MAP,
};

struct tval;

/* Constructors: the result is owned by the caller (tval_free) or by the container it is added to. */
struct tval *tval_new_null(void);
struct tval *tval_new_bool(bool b);
struct tval *tval_new_int(int64_t i);
struct tval *tval_new_str(const char *s);	     /* copies s; NULL gives "" */
struct tval *tval_new_strn(const char *s, size_t n); /* copies n bytes */
struct tval *tval_new_str_take(char *s);	     /* takes ownership of a malloc'ed s */
struct tval *tval_new_list(void);
struct tval *tval_new_map(void);
void tval_free(struct tval *v);

/* Containers take ownership of v. Setting an existing key replaces (and frees) its value. */
void tval_list_append(struct tval *list, struct tval *v);
void tval_map_set(struct tval *map, const char *key, struct tval *v);
/* Convenience setters on maps. */
void tval_map_set_str(struct tval *map, const char *key, const char *s);
void tval_map_set_bool(struct tval *map, const char *key, bool b);
void tval_map_set_int(struct tval *map, const char *key, int64_t i);

/* Accessors; return NULL / 0 / "" on a kind mismatch. Results borrowed from the tree. */
enum tval_kind tval_kind(const struct tval *v);
const struct tval *tval_map_get(const struct tval *map, const char *key);
size_t tval_len(const struct tval *v); /* list items, map keys, string bytes */
const struct tval *tval_list_at(const struct tval *list, size_t i);
const char *tval_str(const struct tval *v);
bool tval_bool(const struct tval *v);
int64_t tval_int(const struct tval *v);

struct template;

/*
 * Parses text (len bytes, need not be NUL-terminated) into *ret. name is used in messages
 * ("<name>:<line>: ..."). Rejects unknown actions and functions, unbalanced blocks, unterminated
 * actions and strings, undefined variables, nesting deeper than 100. Caller frees *ret with
 * template_free.
 */
int template_parse(const char *name, const char *text, size_t len, struct template **ret,
		   char **reterr);

/*
 * Executes t against data, appending to out. A field missing from a map yields an empty value
 * (prints ""); indexing out of range, calling a function with wrong arguments, or more than
 * 10,000,000 loop iterations in total, fails with -EINVAL and a message naming the template and
 * line. On error out may hold partial output.
 */
int template_execute(const struct template *t, const struct tval *data, struct strbuf *out,
		     char **reterr);

/*
 * template_execute with its caps given: at most max_steps loop iterations (range steps and split
 * items) in total, else -EINVAL; at most max_output bytes of output, and of any one string value,
 * else -EMSGSIZE. template_execute uses 10,000,000 and 64 MiB; fuzzers and tests use less.
 */
int template_execute_limits(const struct template *t, const struct tval *data, struct strbuf *out,
			    uint64_t max_steps, size_t max_output, char **reterr);

void template_free(struct template *t);
