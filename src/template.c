// SPDX-License-Identifier: MIT
/*
 * template: a subset of Go's text/template (docs/templates.md), so that users' Docker Flow Proxy
 * templates carry over. template_parse() turns the text into a tree once; template_execute()
 * walks that tree against a struct tval data tree as often as needed. Pure: no I/O, no logging.
 *
 * The lexer and parser follow Go's text/template/parse (same tokens, same trim-marker rules, same
 * scoping of variables), but resolve what Go resolves at run time already at parse time:
 * functions, variables (to numbered slots) and the arity of every call. Execution allocates only
 * for values that functions create (printf, join, split, ...); such temporaries are reference
 * counted, so that a variable or a `with`/`range` can keep one alive, and are freed as soon as
 * nothing refers to them. Everything the parser builds lives in one arena freed by template_free.
 *
 * Caps (curl's rule: every outside input is bounded): nesting 100, else-if chains 1000, 256
 * operands per command, 10,000,000 loop iterations per execution, 64 MiB of output and of any
 * one string value; printf widths and precisions above 1,000,000 are refused like Go's fmt does.
 */
#include "flowproxy/template.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>

#define TEMPLATE_MAX_DEPTH  100
#define TEMPLATE_MAX_CHAIN  1000
#define TEMPLATE_MAX_ARGS   256
#define TEMPLATE_MAX_STEPS  10000000ULL
#define TEMPLATE_MAX_OUTPUT ((size_t)64 << 20)
#define FMT_MAX_WIDTH	    1000000
#define MAP_INDEX_MIN	    8
#define WALK_BREAK	    1
#define WALK_CONTINUE	    2

/* ---------------------------------------------------------------------------------------------
 * Data tree
 */

struct tval_entry {
	char *key; /* sso for short keys, else malloc'ed */
	struct tval *val;
	uint32_t hash, klen;
	char sso[16]; /* short keys live next to their hash: one cache line per lookup */
};

struct tval {
	enum tval_kind kind;
	uint32_t refs; /* counted only for temporaries created while executing */
	union {
		bool b;
		int64_t i;
		struct {
			char *s;
			size_t len;
		} str;
		struct {
			struct tval **items;
			size_t n, cap;
		} list;
		struct {
			struct tval_entry *e; /* insertion order */
			size_t n, cap;
			/* Big maps: open addressing over e, entry index + 1, 0 = free. */
			uint32_t *idx;
			size_t nidx;
		} map;
	} u;
};

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static struct tval *tval_alloc(enum tval_kind kind)
{
	struct tval *v = xcalloc(1, sizeof(*v));

	v->kind = kind;
	return v;
}

struct tval *tval_new_null(void)
{
	return tval_alloc(TVAL_NULL);
}

struct tval *tval_new_bool(bool b)
{
	struct tval *v = tval_alloc(TVAL_BOOL);

	v->u.b = b;
	return v;
}

struct tval *tval_new_int(int64_t i)
{
	struct tval *v = tval_alloc(TVAL_INT);

	v->u.i = i;
	return v;
}

struct tval *tval_new_strn(const char *s, size_t n)
{
	struct tval *v = tval_alloc(TVAL_STRING);

	v->u.str.s = xmalloc(n + 1);
	if (n)
		memcpy(v->u.str.s, s, n);
	v->u.str.s[n] = '\0';
	v->u.str.len = n;
	return v;
}

struct tval *tval_new_str(const char *s)
{
	if (!s)
		s = "";
	return tval_new_strn(s, strlen(s));
}

struct tval *tval_new_str_take(char *s)
{
	struct tval *v;

	if (!s)
		return tval_new_str("");
	v = tval_alloc(TVAL_STRING);
	v->u.str.s = s;
	v->u.str.len = strlen(s);
	return v;
}

struct tval *tval_new_list(void)
{
	return tval_alloc(TVAL_LIST);
}

struct tval *tval_new_map(void)
{
	return tval_alloc(TVAL_MAP);
}

void tval_free(struct tval *v)
{
	if (!v)
		return;
	switch (v->kind) {
	case TVAL_STRING:
		free(v->u.str.s);
		break;
	case TVAL_LIST:
		for (size_t i = 0; i < v->u.list.n; i++)
			tval_free(v->u.list.items[i]);
		free(v->u.list.items);
		break;
	case TVAL_MAP:
		for (size_t i = 0; i < v->u.map.n; i++) {
			if (v->u.map.e[i].key != v->u.map.e[i].sso)
				free(v->u.map.e[i].key);
			tval_free(v->u.map.e[i].val);
		}
		free(v->u.map.e);
		free(v->u.map.idx);
		break;
	default:
		break;
	}
	free(v);
}

void tval_list_append(struct tval *list, struct tval *v)
{
	if (!v)
		return;
	if (!list || list->kind != TVAL_LIST) {
		tval_free(v);
		return;
	}
	if (list->u.list.n == list->u.list.cap) {
		list->u.list.cap = list->u.list.cap ? 2 * list->u.list.cap : 4;
		list->u.list.items = xrealloc(list->u.list.items,
					      list->u.list.cap * sizeof(*list->u.list.items));
	}
	list->u.list.items[list->u.list.n++] = v;
}

static void map_index_insert(struct tval *m, size_t ei)
{
	size_t mask = m->u.map.nidx - 1;

	for (size_t h = m->u.map.e[ei].hash & mask;; h = (h + 1) & mask) {
		if (!m->u.map.idx[h]) {
			m->u.map.idx[h] = (uint32_t)(ei + 1);
			return;
		}
	}
}

static void map_reindex(struct tval *m)
{
	size_t n = 16;

	while (n < 2 * m->u.map.n)
		n *= 2;
	free(m->u.map.idx);
	m->u.map.idx = xcalloc(n, sizeof(*m->u.map.idx));
	m->u.map.nidx = n;
	for (size_t i = 0; i < m->u.map.n; i++)
		map_index_insert(m, i);
}

/* Keys are short and their hashes already matched: a plain loop beats a call to memcmp. */
static inline bool key_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Returns the entry for key in map m, or NULL. */
static const struct tval_entry *map_find(const struct tval *m, const char *key, size_t klen,
					 uint32_t hash)
{
	const struct tval_entry *e = m->u.map.e;

	if (m->u.map.idx) {
		size_t mask = m->u.map.nidx - 1;

		for (size_t h = hash & mask; m->u.map.idx[h]; h = (h + 1) & mask) {
			const struct tval_entry *x = &e[m->u.map.idx[h] - 1];

			if (x->hash == hash && x->klen == klen && key_eq(x->key, key, klen))
				return x;
		}
		return NULL;
	}
	for (size_t i = 0; i < m->u.map.n; i++)
		if (e[i].hash == hash && e[i].klen == klen && key_eq(e[i].key, key, klen))
			return &e[i];
	return NULL;
}

void tval_map_set(struct tval *map, const char *key, struct tval *v)
{
	size_t klen;
	uint32_t hash;
	struct tval_entry *e;

	if (!v)
		v = tval_new_null();
	if (!map || map->kind != TVAL_MAP || !key) {
		tval_free(v);
		return;
	}
	klen = strlen(key);
	hash = hash_bytes(key, klen);
	e = (struct tval_entry *)map_find(map, key, klen, hash);
	if (e) {
		tval_free(e->val);
		e->val = v;
		return;
	}
	if (klen > UINT32_MAX) {
		tval_free(v);
		return;
	}
	if (map->u.map.n == map->u.map.cap) {
		struct tval_entry *old = map->u.map.e;

		map->u.map.cap = map->u.map.cap ? 2 * map->u.map.cap : 8;
		map->u.map.e = xrealloc(map->u.map.e, map->u.map.cap * sizeof(*map->u.map.e));
		/* Short keys moved with their entries. */
		for (size_t i = 0; old && i < map->u.map.n; i++)
			if (map->u.map.e[i].klen < sizeof(map->u.map.e[i].sso))
				map->u.map.e[i].key = map->u.map.e[i].sso;
	}
	e = &map->u.map.e[map->u.map.n++];
	if (klen < sizeof(e->sso)) {
		memcpy(e->sso, key, klen + 1);
		e->key = e->sso;
	} else {
		e->key = xstrndup(key, klen);
	}
	e->klen = (uint32_t)klen;
	e->hash = hash;
	e->val = v;
	if (map->u.map.n > MAP_INDEX_MIN) {
		if (!map->u.map.idx || 2 * map->u.map.n > map->u.map.nidx)
			map_reindex(map);
		else
			map_index_insert(map, map->u.map.n - 1);
	}
}

void tval_map_set_str(struct tval *map, const char *key, const char *s)
{
	tval_map_set(map, key, tval_new_str(s));
}

void tval_map_set_bool(struct tval *map, const char *key, bool b)
{
	tval_map_set(map, key, tval_new_bool(b));
}

void tval_map_set_int(struct tval *map, const char *key, int64_t i)
{
	tval_map_set(map, key, tval_new_int(i));
}

enum tval_kind tval_kind(const struct tval *v)
{
	return v ? v->kind : TVAL_NULL;
}

const struct tval *tval_map_get(const struct tval *map, const char *key)
{
	size_t klen;

	if (!map || map->kind != TVAL_MAP || !key)
		return NULL;
	klen = strlen(key);
	const struct tval_entry *e = map_find(map, key, klen, hash_bytes(key, klen));
	return e ? e->val : NULL;
}

size_t tval_len(const struct tval *v)
{
	if (!v)
		return 0;
	switch (v->kind) {
	case TVAL_STRING:
		return v->u.str.len;
	case TVAL_LIST:
		return v->u.list.n;
	case TVAL_MAP:
		return v->u.map.n;
	default:
		return 0;
	}
}

const struct tval *tval_list_at(const struct tval *list, size_t i)
{
	if (!list || list->kind != TVAL_LIST || i >= list->u.list.n)
		return NULL;
	return list->u.list.items[i];
}

const char *tval_str(const struct tval *v)
{
	return v && v->kind == TVAL_STRING ? v->u.str.s : "";
}

bool tval_bool(const struct tval *v)
{
	return v && v->kind == TVAL_BOOL ? v->u.b : false;
}

int64_t tval_int(const struct tval *v)
{
	return v && v->kind == TVAL_INT ? v->u.i : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct tval_entry *x = *(const struct tval_entry *const *)a;
	const struct tval_entry *y = *(const struct tval_entry *const *)b;
	int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);

	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* The entries of map m sorted by key, as Go's range and fmt visit them. In buf when they fit
 * (nbuf entries), else in a new array the caller frees. */
static const struct tval_entry **map_sorted(const struct tval *m, const struct tval_entry **buf,
					    size_t nbuf)
{
	size_t n = m->u.map.n;
	const struct tval_entry **v = n <= nbuf ? buf : xmalloc(n * sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = &m->u.map.e[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	return v;
}

/* ---------------------------------------------------------------------------------------------
 * Parsed form
 */

struct exec;
struct val;
struct cmd;

typedef int (*template_func_fn)(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
				struct val *ret);

struct func {
	const char *name;
	int min, max; /* max < 0: variadic */
	template_func_fn fn;
	int lazy; /* and (1), or (2): arguments are evaluated only as far as needed */
};

struct field {
	const char *name;
	uint32_t len, hash;
};

enum arg_kind {
	ARG_DOT = 0,
	ARG_NIL,
	ARG_BOOL,
	ARG_INT,
	ARG_STR,
	ARG_FIELD, /* .a.b: fields of dot */
	ARG_VAR,   /* $x.a.b */
	ARG_FUNC,  /* a function name: the command's function, or a call without arguments */
	ARG_PIPE,  /* (pipeline).a.b */
};

struct pipe;

struct arg {
	enum arg_kind kind;
	union {
		bool b;
		int64_t i;
		struct {
			const char *s;
			size_t n;
		} str;
		int slot;
		const struct func *fn;
		const struct pipe *pipe;
	} u;
	const struct field *fields;
	size_t nfields;
};

struct cmd {
	const struct arg *args;
	size_t nargs;
	const char *src; /* the command's text, for messages */
	size_t srclen;
	int line;
};

struct pipe {
	const struct cmd *cmds;
	size_t ncmds;
	int decl[2]; /* variable slots declared or assigned */
	int ndecl;
	const char *src;
	size_t srclen;
	int line;
};

enum node_kind {
	NODE_TEXT = 0,
	NODE_ACTION,
	NODE_IF,
	NODE_RANGE,
	NODE_WITH,
	NODE_BREAK,
	NODE_CONTINUE,
};

struct node {
	enum node_kind kind;
	int line;
	struct node *next;
	const char *text; /* NODE_TEXT */
	size_t len;
	const struct pipe *pipe;
	struct node *list, *elselist;
};

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct template
{
	char *name;
	char *src; /* a copy of the text: text nodes, names and plain strings point into it */
	size_t len;
	struct node *root;
	int nslots;
	struct arena_block *arena;
};

/* Zeroed memory that lives as long as t. */
static void *arena_alloc(struct template *t, size_t n)
{
	struct arena_block *b = t->arena;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 16384 ? n : 16384;

		b = xcalloc(1, sizeof(*b) + cap);
		b->cap = cap;
		b->next = t->arena;
		t->arena = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static void *arena_dup(struct template *t, const void *p, size_t n)
{
	void *q = arena_alloc(t, n);

	if (n)
		memcpy(q, p, n);
	return q;
}

void template_free(struct template *t)
{
	if (!t)
		return;
	while (t->arena) {
		struct arena_block *b = t->arena;

		t->arena = b->next;
		free(b);
	}
	free(t->name);
	free(t->src);
	free(t);
}

#define VEC_GROW(arr, n, cap)                                            \
	do {                                                             \
		if ((n) == (cap)) {                                      \
			(cap) = (cap) ? 2 * (cap) : 4;                   \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr))); \
		}                                                        \
	} while (0)

/* ---------------------------------------------------------------------------------------------
 * UTF-8 helpers
 */

/* Decodes the sequence at s (n > 0 bytes): returns its length and sets *cp; an invalid or
 * truncated sequence is one byte long and sets *ok to false. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, bool *ok)
{
	uint32_t c = s[0], min;
	size_t len;

	*ok = true;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		goto bad;
	}
	if (n < len)
		goto bad;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return len;
bad:
	*ok = false;
	*cp = 0xfffd;
	return 1;
}

static size_t utf8_encode(char *buf, uint32_t c)
{
	if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	if (c < 0x80) {
		buf[0] = (char)c;
		return 1;
	} else if (c < 0x800) {
		buf[0] = (char)(0xc0 | (c >> 6));
		buf[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	} else if (c < 0x10000) {
		buf[0] = (char)(0xe0 | (c >> 12));
		buf[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (c >> 18));
	buf[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Runes in s, an invalid byte counting as one, like Go's utf8.RuneCountInString. */
static size_t utf8_count(const char *s, size_t n)
{
	size_t count = 0;
	uint32_t cp;
	bool ok;

	for (size_t i = 0; i < n; count++)
		i += utf8_decode((const unsigned char *)s + i, n - i, &cp, &ok);
	return count;
}

/* Bytes taken by the first max runes of s. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t i = 0;
	uint32_t cp;
	bool ok;

	for (size_t count = 0; i < n && count < max; count++)
		i += utf8_decode((const unsigned char *)s + i, n - i, &cp, &ok);
	return i;
}

/* ---------------------------------------------------------------------------------------------
 * Lexer: Go's text/template/parse/lex.go, lexing one token on demand at the parser's position.
 */

enum tok_type {
	TOK_EOF = 0,
	TOK_RDELIM,
	TOK_SPACE,
	TOK_FIELD,
	TOK_VAR,
	TOK_DOT,
	TOK_IDENT,
	TOK_BOOL,
	TOK_NIL,
	TOK_NUMBER,
	TOK_CHAR,
	TOK_STRING,
	TOK_RAWSTRING,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_PIPE,
	TOK_DECLARE,
	TOK_ASSIGN,
	TOK_COMMA,
	TOK_IF,
	TOK_ELSE,
	TOK_END,
	TOK_RANGE,
	TOK_WITH,
	TOK_BREAK,
	TOK_CONTINUE,
	TOK_DEFINE,
	TOK_TEMPLATE,
	TOK_BLOCK,
};

static const struct {
	const char *word;
	enum tok_type type;
} keywords[] = {
	{"block", TOK_BLOCK},	    {"break", TOK_BREAK},
	{"continue", TOK_CONTINUE}, {"define", TOK_DEFINE},
	{"else", TOK_ELSE},	    {"end", TOK_END},
	{"false", TOK_BOOL},	    {"if", TOK_IF},
	{"nil", TOK_NIL},	    {"range", TOK_RANGE},
	{"template", TOK_TEMPLATE}, {"true", TOK_BOOL},
	{"with", TOK_WITH},
};

struct tok {
	enum tok_type type;
	size_t pos, len;
	int line;
	bool trim; /* TOK_RDELIM: " -}}" */
};

struct pvar {
	const char *name;
	size_t len;
};

struct parser {
	struct template *t;
	const char *name;
	const char *src;
	size_t len, pos;
	int line, action_line;
	struct pvar *vars; /* variables in scope, innermost last; the index is the slot */
	size_t nvars, capvars;
	int depth, range_depth, chain;
	char **reterr;
};

struct mark {
	size_t pos;
	int line;
};

static int perr(struct parser *p, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int perr(struct parser *p, int line, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return errmsg_set(p->reterr, -EINVAL, "%s:%d: %s", p->name, line, buf);
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(int c)
{
	/* Go accepts Unicode letters and digits; any non-ASCII byte stands in for them. */
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c >= 0x80;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Length of a right delimiter at pos ("}}" 2, " -}}" 4), or 0. */
static size_t at_rdelim(const struct parser *p, size_t pos, bool *trim)
{
	const char *s = p->src;

	if (pos + 1 < p->len && s[pos] == '}' && s[pos + 1] == '}') {
		*trim = false;
		return 2;
	}
	if (pos + 3 < p->len && is_space((unsigned char)s[pos]) && s[pos + 1] == '-' &&
	    s[pos + 2] == '}' && s[pos + 3] == '}') {
		*trim = true;
		return 4;
	}
	return 0;
}

static bool at_terminator(const struct parser *p, size_t pos)
{
	int c;

	if (pos >= p->len)
		return true;
	c = (unsigned char)p->src[pos];
	if (is_space(c) || c == '.' || c == ',' || c == '|' || c == ':' || c == ')' || c == '(')
		return true;
	return pos + 1 < p->len && c == '}' && p->src[pos + 1] == '}';
}

static bool lex_accept(const struct parser *p, size_t *e, const char *valid)
{
	if (*e < p->len && p->src[*e] && strchr(valid, p->src[*e])) {
		(*e)++;
		return true;
	}
	return false;
}

static void accept_run(const struct parser *p, size_t *e, const char *valid)
{
	while (lex_accept(p, e, valid))
		;
}

/* Go's scanNumber: the end of a number starting at pos, or 0 when it is malformed. */
static size_t lex_number(const struct parser *p, size_t pos)
{
	const char *digits = "0123456789_";
	size_t e = pos;

	lex_accept(p, &e, "+-");
	if (lex_accept(p, &e, "0")) {
		if (lex_accept(p, &e, "xX"))
			digits = "0123456789abcdefABCDEF_";
		else if (lex_accept(p, &e, "oO"))
			digits = "01234567_";
		else if (lex_accept(p, &e, "bB"))
			digits = "01_";
	}
	accept_run(p, &e, digits);
	if (lex_accept(p, &e, "."))
		accept_run(p, &e, digits);
	if (strlen(digits) == 11 && lex_accept(p, &e, "eE")) {
		lex_accept(p, &e, "+-");
		accept_run(p, &e, "0123456789_");
	}
	if (strlen(digits) == 23 && lex_accept(p, &e, "pP")) {
		lex_accept(p, &e, "+-");
		accept_run(p, &e, "0123456789_");
	}
	lex_accept(p, &e, "i");
	if (e < p->len && is_alnum((unsigned char)p->src[e]))
		return 0;
	return e;
}

/* Describes a token for messages, like Go's item.String(). */
static const char *tok_desc(const struct parser *p, const struct tok *t, char *buf, size_t n)
{
	if (t->type == TOK_EOF)
		return "EOF";
	if (t->type >= TOK_IF || t->type == TOK_NIL || t->type == TOK_BOOL) {
		snprintf(buf, n, "<%.*s>", (int)t->len, p->src + t->pos);
		return buf;
	}
	if (t->len > 10)
		snprintf(buf, n, "\"%.10s\"...", p->src + t->pos);
	else
		snprintf(buf, n, "\"%.*s\"", (int)t->len, p->src + t->pos);
	return buf;
}

/* Lexes the token at the parser's position without consuming it. */
static int lex(struct parser *p, struct tok *t)
{
	const char *s = p->src;
	size_t pos = p->pos, n = p->len, e, k;
	bool trim;
	int c;

	*t = (struct tok){.pos = pos, .line = p->line};
	if ((k = at_rdelim(p, pos, &trim)) > 0) {
		t->type = TOK_RDELIM;
		t->len = k;
		t->trim = trim;
		return 0;
	}
	if (pos >= n)
		return perr(p, p->action_line, "unclosed action");
	c = (unsigned char)s[pos];
	e = pos + 1;
	if (is_space(c)) {
		while (e < n && is_space((unsigned char)s[e]))
			e++;
		if (at_rdelim(p, e - 1, &trim) == 4)
			e--; /* the last space belongs to " -}}" */
		t->type = TOK_SPACE;
	} else if (c == '=') {
		t->type = TOK_ASSIGN;
	} else if (c == ':') {
		if (e >= n || s[e] != '=')
			return perr(p, p->line, "expected :=");
		e++;
		t->type = TOK_DECLARE;
	} else if (c == '|') {
		t->type = TOK_PIPE;
	} else if (c == '(') {
		t->type = TOK_LPAREN;
	} else if (c == ')') {
		t->type = TOK_RPAREN;
	} else if (c == ',') {
		t->type = TOK_COMMA;
	} else if (c == '"' || c == '\'') {
		for (;; e++) {
			if (e >= n || s[e] == '\n')
				return perr(p, p->line,
					    c == '"' ? "unterminated quoted string"
						     : "unterminated character constant");
			if (s[e] == '\\') {
				e++;
				if (e >= n || s[e] == '\n')
					return perr(p, p->line,
						    c == '"' ? "unterminated quoted string"
							     : "unterminated character constant");
				continue;
			}
			if (s[e] == c)
				break;
		}
		e++;
		t->type = c == '"' ? TOK_STRING : TOK_CHAR;
	} else if (c == '`') {
		const char *q = memchr(s + e, '`', n - e);

		if (!q)
			return perr(p, p->line, "unterminated raw quoted string");
		e = (size_t)(q - s) + 1;
		t->type = TOK_RAWSTRING;
	} else if (c == '$' || (c == '.' && !(e < n && is_digit((unsigned char)s[e])))) {
		if (c == '.' && at_terminator(p, e)) {
			t->type = TOK_DOT;
		} else {
			while (e < n && is_alnum((unsigned char)s[e]))
				e++;
			if (!at_terminator(p, e))
				return perr(p, p->line, "bad character '%c' after %.*s", s[e],
					    (int)(e - pos), s + pos);
			t->type = c == '$' ? TOK_VAR : TOK_FIELD;
		}
	} else if (c == '.' || c == '+' || c == '-' || is_digit(c)) {
		e = lex_number(p, pos);
		if (!e) {
			size_t x = pos + 1;

			while (x < n && is_alnum((unsigned char)s[x]))
				x++;
			return perr(p, p->line, "bad number syntax: \"%.*s\"", (int)(x - pos),
				    s + pos);
		}
		t->type = TOK_NUMBER;
	} else if (is_alnum(c)) {
		while (e < n && is_alnum((unsigned char)s[e]))
			e++;
		if (!at_terminator(p, e))
			return perr(p, p->line, "bad character '%c' after %.*s", s[e],
				    (int)(e - pos), s + pos);
		t->type = TOK_IDENT;
		for (size_t i = 0; i < ARRAY_SIZE(keywords); i++) {
			if (strlen(keywords[i].word) == e - pos &&
			    memcmp(keywords[i].word, s + pos, e - pos) == 0) {
				t->type = keywords[i].type;
				break;
			}
		}
	} else if (c >= 0x20 && c < 0x7f) {
		return perr(p, p->line, "unrecognized character in action: '%c'", c);
	} else {
		return perr(p, p->line, "unrecognized character in action: \\x%02x", c);
	}
	t->len = e - pos;
	return 0;
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->len && is_space((unsigned char)p->src[p->pos])) {
		if (p->src[p->pos] == '\n')
			p->line++;
		p->pos++;
	}
}

static void tok_consume(struct parser *p, const struct tok *t)
{
	for (size_t i = t->pos; i < t->pos + t->len; i++)
		if (p->src[i] == '\n')
			p->line++;
	p->pos = t->pos + t->len;
	if (t->type == TOK_RDELIM && t->trim)
		skip_space(p);
}

static void tok_unconsume(struct parser *p, const struct tok *t)
{
	p->pos = t->pos;
	p->line = t->line;
}

static int tok_next(struct parser *p, struct tok *t)
{
	int r = lex(p, t);

	if (r < 0)
		return r;
	tok_consume(p, t);
	return 0;
}

static int tok_next_nonspace(struct parser *p, struct tok *t)
{
	int r;

	do
		r = tok_next(p, t);
	while (r == 0 && t->type == TOK_SPACE);
	return r;
}

/* Consumes spaces, then lexes the next token without consuming it. */
static int tok_peek_nonspace(struct parser *p, struct tok *t)
{
	int r = lex(p, t);

	if (r == 0 && t->type == TOK_SPACE) {
		tok_consume(p, t);
		r = lex(p, t);
	}
	return r;
}

static struct mark mark_get(const struct parser *p)
{
	return (struct mark){p->pos, p->line};
}

static void mark_restore(struct parser *p, struct mark m)
{
	p->pos = m.pos;
	p->line = m.line;
}

/* ---------------------------------------------------------------------------------------------
 * Literals
 */

/* Go's strconv.UnquoteChar after a backslash at s[*i - 1]: sets *val, and *byte for \x and octal
 * escapes (a byte, not a rune). Returns 0 or -1. */
static int unescape(const char *s, size_t n, size_t *i, char quote, uint32_t *val, bool *byte)
{
	int c, d, len = 0;
	uint32_t v = 0;

	if (*i >= n)
		return -1;
	c = (unsigned char)s[(*i)++];
	*byte = false;
	switch (c) {
	case 'a':
		*val = 7;
		return 0;
	case 'b':
		*val = 8;
		return 0;
	case 'f':
		*val = 12;
		return 0;
	case 'n':
		*val = 10;
		return 0;
	case 'r':
		*val = 13;
		return 0;
	case 't':
		*val = 9;
		return 0;
	case 'v':
		*val = 11;
		return 0;
	case '\\':
		*val = '\\';
		return 0;
	case '\'':
	case '"':
		if (c != quote)
			return -1;
		*val = (uint32_t)c;
		return 0;
	case 'x':
		len = 2;
		break;
	case 'u':
		len = 4;
		break;
	case 'U':
		len = 8;
		break;
	default:
		if (c < '0' || c > '7')
			return -1;
		v = (uint32_t)(c - '0');
		for (int k = 0; k < 2; k++) {
			if (*i >= n || s[*i] < '0' || s[*i] > '7')
				return -1;
			v = v * 8 + (uint32_t)(s[(*i)++] - '0');
		}
		if (v > 255)
			return -1;
		*val = v;
		*byte = true;
		return 0;
	}
	for (int k = 0; k < len; k++) {
		if (*i >= n || (d = hex_digit((unsigned char)s[*i])) < 0)
			return -1;
		v = v * 16 + (uint32_t)d;
		(*i)++;
	}
	if (c == 'x') {
		*byte = true;
	} else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		return -1;
	}
	*val = v;
	return 0;
}

/* The value of a "quoted" or `raw` string token; points into the source when it can. */
static int parse_string(struct parser *p, const struct tok *t, const char **ret, size_t *ret_n)
{
	const char *s = p->src + t->pos + 1;
	size_t n = t->len - 2, o = 0;
	char *buf;

	if (t->type == TOK_RAWSTRING) {
		/* Go's strconv.Unquote drops carriage returns from raw strings. */
		if (!memchr(s, '\r', n)) {
			*ret = s;
			*ret_n = n;
			return 0;
		}
		buf = arena_alloc(p->t, n + 1);
		for (size_t i = 0; i < n; i++)
			if (s[i] != '\r')
				buf[o++] = s[i];
		*ret = buf;
		*ret_n = o;
		return 0;
	}
	if (!memchr(s, '\\', n)) {
		*ret = s;
		*ret_n = n;
		return 0;
	}
	buf = arena_alloc(p->t, n + 1);
	for (size_t i = 0; i < n;) {
		uint32_t v;
		bool byte;

		if (s[i] != '\\') {
			buf[o++] = s[i++];
			continue;
		}
		i++;
		if (unescape(s, n, &i, '"', &v, &byte) < 0)
			return perr(p, t->line, "invalid escape in string %.*s", (int)t->len,
				    p->src + t->pos);
		if (byte)
			buf[o++] = (char)v;
		else
			o += utf8_encode(buf + o, v); /* \u and \U: at most 4 bytes from 6 or 10 */
	}
	*ret = buf;
	*ret_n = o;
	return 0;
}

static int parse_char(struct parser *p, const struct tok *t, int64_t *ret)
{
	const char *s = p->src + t->pos + 1;
	size_t n = t->len - 2, i = 0;
	uint32_t v;
	bool ok = true, byte;

	if (n == 0)
		ok = false;
	else if (s[0] == '\\') {
		i = 1;
		ok = unescape(s, n, &i, '\'', &v, &byte) == 0;
	} else {
		i = utf8_decode((const unsigned char *)s, n, &v, &ok);
	}
	if (!ok || i != n)
		return perr(p, t->line, "malformed character constant: %.*s", (int)t->len,
			    p->src + t->pos);
	*ret = v;
	return 0;
}

/* Go's strconv.ParseInt(s, 0, 64): decimal, 0x, 0o, 0b, leading-0 octal, '_' between digits. */
static int parse_number(struct parser *p, const struct tok *t, int64_t *ret)
{
	const char *s = p->src + t->pos, *e = s + t->len;
	bool neg = false, any = false, under = false;
	unsigned base = 10;
	uint64_t v = 0, limit;

	if (s < e && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	if (e - s >= 2 && s[0] == '0' && strchr("xXoObB", s[1])) {
		base = strchr("xX", s[1]) ? 16 : strchr("oO", s[1]) ? 8 : 2;
		s += 2;
		under = true; /* "0x_1" is valid */
	} else if (e - s >= 2 && s[0] == '0') {
		base = 8;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; s < e; s++) {
		int d = hex_digit((unsigned char)*s);

		if (*s == '_') {
			if (!under)
				goto bad;
			under = false;
			continue;
		}
		if (d < 0 || (unsigned)d >= base) {
			if (strchr(".eEpPi", *s))
				return perr(p, t->line,
					    "floating-point numbers are not supported: %.*s",
					    (int)t->len, p->src + t->pos);
			goto bad;
		}
		if (v > (limit - (uint64_t)d) / base)
			return perr(p, t->line, "integer out of range: %.*s", (int)t->len,
				    p->src + t->pos);
		v = v * base + (uint64_t)d;
		any = true;
		under = true;
	}
	if (!any || (!under && t->len > 0 && p->src[t->pos + t->len - 1] == '_'))
		goto bad;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
bad:
	return perr(p, t->line, "bad number syntax: \"%.*s\"", (int)t->len, p->src + t->pos);
}

/* ---------------------------------------------------------------------------------------------
 * Parser: Go's text/template/parse/parse.go.
 */

static const struct func *func_lookup(const char *name, size_t len);

static int var_lookup(const struct parser *p, const char *name, size_t len)
{
	for (size_t i = p->nvars; i-- > 0;)
		if (p->vars[i].len == len && memcmp(p->vars[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int var_push(struct parser *p, const char *name, size_t len)
{
	VEC_GROW(p->vars, p->nvars, p->capvars);
	p->vars[p->nvars++] = (struct pvar){name, len};
	if ((int)p->nvars > p->t->nslots)
		p->t->nslots = (int)p->nvars;
	return (int)p->nvars - 1;
}

static int check_arity(struct parser *p, int line, const struct func *f, size_t argc)
{
	if (argc >= (size_t)f->min && (f->max < 0 || argc <= (size_t)f->max))
		return 0;
	if (f->max < 0)
		return perr(p, line, "wrong number of args for %s: want at least %d got %zu",
			    f->name, f->min, argc);
	return perr(p, line, "wrong number of args for %s: want %d got %zu", f->name, f->min, argc);
}

static bool starts_operand(enum tok_type type)
{
	switch (type) {
	case TOK_BOOL:
	case TOK_CHAR:
	case TOK_NUMBER:
	case TOK_DOT:
	case TOK_FIELD:
	case TOK_IDENT:
	case TOK_NIL:
	case TOK_RAWSTRING:
	case TOK_STRING:
	case TOK_VAR:
	case TOK_LPAREN:
		return true;
	default:
		return false;
	}
}

static int parse_pipeline(struct parser *p, const char *ctx, enum tok_type end, int maxdecl,
			  const struct pipe **ret);

/* One operand with its chained fields. Returns 1 with *a filled, 0 when the next token does not
 * start an operand (nothing consumed), or a negative error. */
static int parse_operand(struct parser *p, struct arg *a)
{
	_cleanup_free_ struct field *fields = NULL;
	size_t nfields = 0, capfields = 0;
	struct mark m = mark_get(p);
	struct tok t;
	const char *ts;
	int r;

	if ((r = tok_next(p, &t)) < 0)
		return r;
	ts = p->src + t.pos;
	memset(a, 0, sizeof(*a));
	switch (t.type) {
	case TOK_IDENT:
		a->kind = ARG_FUNC;
		a->u.fn = func_lookup(ts, t.len);
		if (!a->u.fn)
			return perr(p, t.line, "function \"%.*s\" not defined", (int)t.len, ts);
		break;
	case TOK_DOT:
		a->kind = ARG_DOT;
		break;
	case TOK_NIL:
		a->kind = ARG_NIL;
		break;
	case TOK_BOOL:
		a->kind = ARG_BOOL;
		a->u.b = t.len == 4;
		break;
	case TOK_NUMBER:
		a->kind = ARG_INT;
		if ((r = parse_number(p, &t, &a->u.i)) < 0)
			return r;
		break;
	case TOK_CHAR:
		a->kind = ARG_INT;
		if ((r = parse_char(p, &t, &a->u.i)) < 0)
			return r;
		break;
	case TOK_STRING:
	case TOK_RAWSTRING:
		a->kind = ARG_STR;
		if ((r = parse_string(p, &t, &a->u.str.s, &a->u.str.n)) < 0)
			return r;
		break;
	case TOK_VAR:
		a->kind = ARG_VAR;
		a->u.slot = var_lookup(p, ts, t.len);
		if (a->u.slot < 0)
			return perr(p, t.line, "undefined variable \"%.*s\"", (int)t.len, ts);
		break;
	case TOK_FIELD:
		a->kind = ARG_FIELD;
		VEC_GROW(fields, nfields, capfields);
		fields[nfields++] = (struct field){ts + 1, (uint32_t)(t.len - 1),
						   hash_bytes(ts + 1, t.len - 1)};
		break;
	case TOK_LPAREN:
		if (++p->depth > TEMPLATE_MAX_DEPTH)
			return perr(p, t.line, "nesting deeper than %d", TEMPLATE_MAX_DEPTH);
		a->kind = ARG_PIPE;
		r = parse_pipeline(p, "parenthesized pipeline", TOK_RPAREN, 0, &a->u.pipe);
		p->depth--;
		if (r < 0)
			return r;
		break;
	default:
		mark_restore(p, m);
		return 0;
	}
	for (;;) {
		if ((r = lex(p, &t)) < 0)
			return r;
		if (t.type != TOK_FIELD)
			break;
		if (a->kind != ARG_FIELD && a->kind != ARG_VAR && a->kind != ARG_PIPE)
			return perr(p, t.line, "unexpected . after term \"%.*s\"",
				    (int)(t.pos - m.pos), p->src + m.pos);
		tok_consume(p, &t);
		ts = p->src + t.pos;
		VEC_GROW(fields, nfields, capfields);
		fields[nfields++] = (struct field){ts + 1, (uint32_t)(t.len - 1),
						   hash_bytes(ts + 1, t.len - 1)};
	}
	if (nfields) {
		a->fields = arena_dup(p->t, fields, nfields * sizeof(*fields));
		a->nfields = nfields;
	}
	return 1;
}

/* One command: operands up to '|', which is consumed (returns 1), or up to "}}" or ')', which
 * are not (returns 0). */
static int parse_command(struct parser *p, struct cmd *c)
{
	_cleanup_free_ struct arg *args = NULL;
	size_t n = 0, cap = 0, start, end;
	struct tok t;
	char desc[32];
	int r, piped = 0;

	if ((r = tok_peek_nonspace(p, &t)) < 0)
		return r;
	start = end = p->pos;
	c->line = t.line;
	for (;;) {
		struct arg a;

		if ((r = tok_peek_nonspace(p, &t)) < 0)
			return r;
		if ((r = parse_operand(p, &a)) < 0)
			return r;
		if (r == 1) {
			if (n >= TEMPLATE_MAX_ARGS)
				return perr(p, t.line, "more than %d operands in a command",
					    TEMPLATE_MAX_ARGS);
			if (n > 0 && a.kind == ARG_FUNC && !a.nfields &&
			    (r = check_arity(p, t.line, a.u.fn, 0)) < 0)
				return r;
			VEC_GROW(args, n, cap);
			args[n++] = a;
			end = p->pos;
		}
		if ((r = tok_next(p, &t)) < 0)
			return r;
		if (t.type == TOK_SPACE)
			continue;
		if (t.type == TOK_RDELIM || t.type == TOK_RPAREN) {
			tok_unconsume(p, &t);
			break;
		}
		if (t.type == TOK_PIPE) {
			piped = 1;
			break;
		}
		return perr(p, t.line, "unexpected %s in operand",
			    tok_desc(p, &t, desc, sizeof(desc)));
	}
	if (n == 0)
		return perr(p, c->line, "empty command");
	c->args = arena_dup(p->t, args, n * sizeof(*args));
	c->nargs = n;
	c->src = p->src + start;
	c->srclen = end - start;
	return piped;
}

/* A pipeline up to the token end ("}}" or ')'), consumed. maxdecl: how many variables it may
 * declare or assign (0 in parentheses, 2 for range, else 1). The declared variables come into
 * scope after the pipeline, like in Go's executor. */
static int parse_pipeline(struct parser *p, const char *ctx, enum tok_type end, int maxdecl,
			  const struct pipe **ret)
{
	struct pipe *pp = arena_alloc(p->t, sizeof(*pp));
	_cleanup_free_ struct cmd *cmds = NULL;
	size_t n = 0, cap = 0, start;
	struct tok t, decl[2];
	int ndecl = 0, r, piped = 0;
	bool assign = false;
	char desc[32];

	if ((r = tok_peek_nonspace(p, &t)) < 0)
		return r;
	pp->line = t.line;
	start = p->pos;
	if (t.type == TOK_VAR && maxdecl > 0) {
		struct mark m = mark_get(p);
		struct tok v = t;

		tok_consume(p, &t);
		if ((r = tok_peek_nonspace(p, &t)) < 0)
			return r;
		if (t.type == TOK_DECLARE || t.type == TOK_ASSIGN) {
			decl[ndecl++] = v;
			assign = t.type == TOK_ASSIGN;
			tok_consume(p, &t);
		} else if (t.type == TOK_COMMA) {
			if (maxdecl < 2)
				return perr(p, t.line, "too many declarations in %s", ctx);
			tok_consume(p, &t);
			decl[ndecl++] = v;
			if ((r = tok_next_nonspace(p, &t)) < 0)
				return r;
			if (t.type != TOK_VAR)
				return perr(p, t.line, "range can only initialize variables");
			decl[ndecl++] = t;
			if ((r = tok_next_nonspace(p, &t)) < 0)
				return r;
			if (t.type != TOK_DECLARE && t.type != TOK_ASSIGN)
				return perr(p, t.line, "expected := or = after range variables");
			assign = t.type == TOK_ASSIGN;
		} else {
			mark_restore(p, m);
		}
	}
	for (;;) {
		if ((r = tok_next_nonspace(p, &t)) < 0)
			return r;
		if (t.type == end)
			break;
		if (t.type == TOK_RDELIM)
			return perr(p, t.line, "unclosed left paren");
		if (t.type == TOK_RPAREN)
			return perr(p, t.line, "unexpected right paren");
		if (!starts_operand(t.type))
			return perr(p, t.line, "unexpected %s in %s",
				    tok_desc(p, &t, desc, sizeof(desc)), ctx);
		tok_unconsume(p, &t);
		VEC_GROW(cmds, n, cap);
		if ((piped = parse_command(p, &cmds[n])) < 0)
			return piped;
		n++;
	}
	if (piped)
		return perr(p, t.line, "missing command after | in %s", ctx);
	if (n == 0)
		return perr(p, t.line, "missing value for %s", ctx);
	for (size_t i = 0; i < n; i++) {
		const struct arg *a0 = &cmds[i].args[0];

		if (a0->kind == ARG_FUNC && !a0->nfields) {
			if ((r = check_arity(p, cmds[i].line, a0->u.fn,
					     cmds[i].nargs - 1 + (i > 0))) < 0)
				return r;
			continue;
		}
		if (a0->kind == ARG_NIL)
			return perr(p, cmds[i].line, "nil is not a command");
		if (i > 0 && a0->kind != ARG_FIELD && a0->kind != ARG_VAR && a0->kind != ARG_PIPE &&
		    a0->kind != ARG_FUNC)
			return perr(p, cmds[i].line, "non executable command in pipeline stage %zu",
				    i + 1);
		if (i > 0 || cmds[i].nargs > 1 || a0->kind == ARG_FUNC)
			return perr(p, cmds[i].line, "can't give argument to non-function %.*s",
				    (int)cmds[i].srclen, cmds[i].src);
	}
	for (int k = 0; k < ndecl; k++) {
		const char *name = p->src + decl[k].pos;

		if (assign) {
			pp->decl[k] = var_lookup(p, name, decl[k].len);
			if (pp->decl[k] < 0)
				return perr(p, decl[k].line, "undefined variable \"%.*s\"",
					    (int)decl[k].len, name);
		} else {
			pp->decl[k] = var_push(p, name, decl[k].len);
		}
	}
	pp->ndecl = ndecl;
	pp->cmds = arena_dup(p->t, cmds, n * sizeof(*cmds));
	pp->ncmds = n;
	pp->src = p->src + start;
	pp->srclen = t.pos > start ? t.pos - start : 0;
	while (pp->srclen && is_space((unsigned char)pp->src[pp->srclen - 1]))
		pp->srclen--;
	*ret = pp;
	return 0;
}

enum stop {
	STOP_NONE = 0,
	STOP_EOF,
	STOP_END,
	STOP_ELSE,
	STOP_ELSE_IF,
	STOP_ELSE_WITH,
};

static int parse_list(struct parser *p, struct node **ret, enum stop *stop, int *stop_line);

static struct node *node_new(struct parser *p, enum node_kind kind, int line)
{
	struct node *n = arena_alloc(p->t, sizeof(*n));

	n->kind = kind;
	n->line = line;
	return n;
}

static int expect_rdelim(struct parser *p, const char *ctx)
{
	struct tok t;
	char desc[32];
	int r;

	if ((r = tok_next_nonspace(p, &t)) < 0)
		return r;
	if (t.type != TOK_RDELIM)
		return perr(p, t.line, "unexpected %s in %s", tok_desc(p, &t, desc, sizeof(desc)),
			    ctx);
	return 0;
}

/* {{if}}, {{range}}, {{with}} after the keyword, through the matching {{end}}. chained: an
 * {{else if}} or {{else with}}, which shares the {{end}} and does not nest deeper. */
static int parse_control(struct parser *p, enum node_kind kind, int line, bool chained,
			 struct node **ret)
{
	const char *ctx = kind == NODE_IF ? "if" : kind == NODE_RANGE ? "range" : "with";
	size_t saved_vars = p->nvars;
	struct node *n = node_new(p, kind, line);
	enum stop stop;
	int r, sline;

	if (!chained && ++p->depth > TEMPLATE_MAX_DEPTH)
		return perr(p, line, "nesting deeper than %d", TEMPLATE_MAX_DEPTH);
	if (chained && ++p->chain > TEMPLATE_MAX_CHAIN)
		return perr(p, line, "more than %d {{else %s}} in a row", TEMPLATE_MAX_CHAIN, ctx);
	if ((r = parse_pipeline(p, ctx, TOK_RDELIM, kind == NODE_RANGE ? 2 : 1, &n->pipe)) < 0)
		return r;
	if (kind == NODE_RANGE)
		p->range_depth++;
	r = parse_list(p, &n->list, &stop, &sline);
	if (kind == NODE_RANGE)
		p->range_depth--;
	if (r < 0)
		return r;
	switch (stop) {
	case STOP_END:
		break;
	case STOP_ELSE:
		if ((r = parse_list(p, &n->elselist, &stop, &sline)) < 0)
			return r;
		if (stop == STOP_EOF)
			break;
		if (stop != STOP_END)
			return perr(p, sline, "expected {{end}}; found {{else}}");
		break;
	case STOP_ELSE_IF:
	case STOP_ELSE_WITH:
		if ((stop == STOP_ELSE_IF) != (kind == NODE_IF) || kind == NODE_RANGE)
			return perr(p, sline, "{{else %s}} inside {{%s}}",
				    stop == STOP_ELSE_IF ? "if" : "with", ctx);
		r = parse_control(p, kind, sline, true, &n->elselist);
		if (r < 0)
			return r;
		break;
	default:
		break;
	}
	if (stop == STOP_EOF)
		return perr(p, line, "unexpected EOF: {{%s}} has no matching {{end}}", ctx);
	p->nvars = saved_vars;
	if (chained)
		p->chain--;
	else
		p->depth--;
	*ret = n;
	return 0;
}

/* An action after "{{" (and its trim marker): a node, or a stop for {{end}} and {{else}}. */
static int parse_action(struct parser *p, struct node **ret, enum stop *stop, int *stop_line)
{
	struct tok t;
	struct node *n;
	int r;

	*ret = NULL;
	*stop = STOP_NONE;
	if ((r = tok_next_nonspace(p, &t)) < 0)
		return r;
	*stop_line = t.line;
	switch (t.type) {
	case TOK_IF:
		return parse_control(p, NODE_IF, t.line, false, ret);
	case TOK_RANGE:
		return parse_control(p, NODE_RANGE, t.line, false, ret);
	case TOK_WITH:
		return parse_control(p, NODE_WITH, t.line, false, ret);
	case TOK_BREAK:
	case TOK_CONTINUE: {
		const char *word = t.type == TOK_BREAK ? "{{break}}" : "{{continue}}";

		if ((r = expect_rdelim(p, word)) < 0)
			return r;
		if (!p->range_depth)
			return perr(p, t.line, "%s outside {{range}}", word);
		n = node_new(p, t.type == TOK_BREAK ? NODE_BREAK : NODE_CONTINUE, t.line);
		*ret = n;
		return 0;
	}
	case TOK_ELSE:
		if ((r = tok_peek_nonspace(p, &t)) < 0)
			return r;
		if (t.type == TOK_IF || t.type == TOK_WITH) {
			tok_consume(p, &t);
			*stop = t.type == TOK_IF ? STOP_ELSE_IF : STOP_ELSE_WITH;
			return 0;
		}
		if ((r = expect_rdelim(p, "else")) < 0)
			return r;
		*stop = STOP_ELSE;
		return 0;
	case TOK_END:
		if ((r = expect_rdelim(p, "end")) < 0)
			return r;
		*stop = STOP_END;
		return 0;
	case TOK_DEFINE:
	case TOK_TEMPLATE:
	case TOK_BLOCK:
		return perr(p, t.line, "{{%.*s}} is not supported", (int)t.len, p->src + t.pos);
	default:
		tok_unconsume(p, &t);
		n = node_new(p, NODE_ACTION, t.line);
		if ((r = parse_pipeline(p, "command", TOK_RDELIM, 1, &n->pipe)) < 0)
			return r;
		*ret = n;
		return 0;
	}
}

/* A comment action after the opening delimiter (and trim marker): Go wants the comment to fill
 * the whole action, from right after the delimiter to right before the closing one. */
static int parse_comment(struct parser *p)
{
	const char *s = p->src + p->pos + 2;
	const char *e = memmem(s, p->len - p->pos - 2, "*/", 2);
	struct tok t = {.type = TOK_RDELIM};

	if (!e)
		return perr(p, p->action_line, "unclosed comment");
	for (const char *c = p->src + p->pos; c < e; c++)
		if (*c == '\n')
			p->line++;
	p->pos = (size_t)(e - p->src) + 2;
	t.len = at_rdelim(p, p->pos, &t.trim);
	if (!t.len)
		return perr(p, p->line, "comment ends before closing delimiter");
	t.pos = p->pos;
	t.line = p->line;
	tok_consume(p, &t);
	return 0;
}

/* Text and actions up to {{end}}, {{else}} or the end of the input. */
static int parse_list(struct parser *p, struct node **ret, enum stop *stop, int *stop_line)
{
	struct node *head = NULL, **tail = &head;
	int r;

	*ret = NULL;
	for (;;) {
		const char *s = p->src + p->pos, *x;
		size_t rest = p->len - p->pos, tlen, keep;
		bool ltrim;

		if (rest == 0) {
			*stop = STOP_EOF;
			break;
		}
		x = memmem(s, rest, "{{", 2);
		tlen = x ? (size_t)(x - s) : rest;
		ltrim = x && tlen + 3 < rest && x[2] == '-' && is_space((unsigned char)x[3]);
		keep = tlen;
		if (ltrim)
			while (keep && is_space((unsigned char)s[keep - 1]))
				keep--;
		if (keep) {
			struct node *n = node_new(p, NODE_TEXT, p->line);

			n->text = s;
			n->len = keep;
			*tail = n;
			tail = &n->next;
		}
		for (size_t i = 0; i < tlen; i++)
			if (s[i] == '\n')
				p->line++;
		p->pos += tlen;
		if (!x) {
			*stop = STOP_EOF;
			break;
		}
		p->action_line = p->line;
		p->pos += 2;
		if (ltrim) {
			if (x[3] == '\n')
				p->line++;
			p->pos += 2;
		}
		if (p->len - p->pos >= 2 && p->src[p->pos] == '/' && p->src[p->pos + 1] == '*') {
			if ((r = parse_comment(p)) < 0)
				return r;
			continue;
		}
		struct node *n;

		if ((r = parse_action(p, &n, stop, stop_line)) < 0)
			return r;
		if (*stop != STOP_NONE)
			break;
		*tail = n;
		tail = &n->next;
	}
	*ret = head;
	return 0;
}

int template_parse(const char *name, const char *text, size_t len, struct template **ret,
		   char **reterr)
{
	struct template *t = xcalloc(1, sizeof(*t));
	struct parser p = {0};
	enum stop stop = STOP_NONE;
	int r, sline = 1;

	t->name = xstrdup(str_set(name) ? name : "template");
	t->src = xmalloc(len + 1);
	if (len)
		memcpy(t->src, text, len);
	t->src[len] = '\0';
	t->len = len;
	p.t = t;
	p.name = t->name;
	p.src = t->src;
	p.len = len;
	p.line = 1;
	p.reterr = reterr;
	var_push(&p, "$", 1);
	r = parse_list(&p, &t->root, &stop, &sline);
	if (r >= 0 && stop == STOP_END)
		r = perr(&p, sline, "unexpected {{end}}");
	else if (r >= 0 && stop != STOP_EOF)
		r = perr(&p, sline, "unexpected {{else}}");
	free(p.vars);
	if (r < 0) {
		template_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Values during execution
 */

struct val {
	enum tval_kind kind; /* TVAL_NULL also stands for a missing value */
	union {
		bool b;
		int64_t i;
		struct {
			const char *s;
			size_t n;
		} str;
		const struct tval *node; /* TVAL_LIST, TVAL_MAP */
	} u;
	struct tval *ref; /* a counted temporary this value lives in, or NULL */
};

struct exec {
	const struct template *t;
	struct strbuf *out;
	size_t out_start, max_output;
	uint64_t steps, max_steps;
	struct val *vars;
	char **reterr;
};

static const struct val val_null = {.kind = TVAL_NULL};

static void val_release(struct val *v)
{
	if (v->ref && --v->ref->refs == 0)
		tval_free(v->ref);
	v->ref = NULL;
}

static void val_copy(struct val *dst, const struct val *src)
{
	*dst = *src;
	if (dst->ref)
		dst->ref->refs++;
}

/* A value for t, a node of a tree that lives in ref (or outlives execution when ref is NULL). */
static void val_from_tval(struct val *v, const struct tval *t, struct tval *ref)
{
	*v = val_null;
	if (!t)
		return;
	v->kind = t->kind;
	switch (t->kind) {
	case TVAL_BOOL:
		v->u.b = t->u.b;
		return;
	case TVAL_INT:
		v->u.i = t->u.i;
		return;
	case TVAL_STRING:
		v->u.str.s = t->u.str.s;
		v->u.str.n = t->u.str.len;
		break;
	case TVAL_LIST:
	case TVAL_MAP:
		v->u.node = t;
		break;
	default:
		return;
	}
	if (ref) {
		ref->refs++;
		v->ref = ref;
	}
}

static void val_bool(struct val *v, bool b)
{
	*v = val_null;
	v->kind = TVAL_BOOL;
	v->u.b = b;
}

static void val_int(struct val *v, int64_t i)
{
	*v = val_null;
	v->kind = TVAL_INT;
	v->u.i = i;
}

static size_t val_len(const struct val *v)
{
	switch (v->kind) {
	case TVAL_STRING:
		return v->u.str.n;
	case TVAL_LIST:
		return v->u.node->u.list.n;
	case TVAL_MAP:
		return v->u.node->u.map.n;
	default:
		return 0;
	}
}

/* Go's truth: false, 0, nil, and empty strings, lists and maps are false. */
static bool val_truth(const struct val *v)
{
	switch (v->kind) {
	case TVAL_BOOL:
		return v->u.b;
	case TVAL_INT:
		return v->u.i != 0;
	case TVAL_STRING:
	case TVAL_LIST:
	case TVAL_MAP:
		return val_len(v) > 0;
	default:
		return false;
	}
}

static const char *kind_name(enum tval_kind k)
{
	switch (k) {
	case TVAL_BOOL:
		return "bool";
	case TVAL_INT:
		return "int";
	case TVAL_STRING:
		return "string";
	case TVAL_LIST:
		return "list";
	case TVAL_MAP:
		return "map";
	default:
		return "nil";
	}
}

/* Go's type names, for printf's %!verb(type=value). */
static const char *go_type_name(enum tval_kind k)
{
	switch (k) {
	case TVAL_LIST:
		return "[]interface {}";
	case TVAL_MAP:
		return "map[string]interface {}";
	default:
		return kind_name(k);
	}
}

static int xerr(struct exec *x, int code, int line, const char *src, size_t srclen, const char *fmt,
		...) PRINTF_LIKE(6, 7);
static int xerr(struct exec *x, int code, int line, const char *src, size_t srclen, const char *fmt,
		...)
{
	char buf[512];
	va_list ap;
	bool cut = srclen > 60;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return errmsg_set(x->reterr, code, "%s:%d: at <%.*s%s>: %s", x->t->name, line,
			  (int)(cut ? 60 : srclen), src, cut ? "..." : "", buf);
}

static int cmd_err(struct exec *x, const struct cmd *c, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int cmd_err(struct exec *x, const struct cmd *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xerr(x, -EINVAL, c->line, c->src, c->srclen, "%s", buf);
}

static int call_err(struct exec *x, const struct cmd *c, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int call_err(struct exec *x, const struct cmd *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xerr(x, -EINVAL, c->line, c->src, c->srclen, "error calling %s: %s",
		    c->args[0].kind == ARG_FUNC ? c->args[0].u.fn->name : "function", buf);
}

/* Makes *v a new temporary string taking s (malloc'ed, n bytes, NUL-terminated). */
static int val_take_str(struct exec *x, const struct cmd *c, struct val *v, char *s, size_t n)
{
	struct tval *t;

	*v = val_null;
	if (n > x->max_output) {
		free(s);
		return xerr(x, -EMSGSIZE, c->line, c->src, c->srclen,
			    "string longer than %zu bytes", x->max_output);
	}
	t = tval_alloc(TVAL_STRING);
	t->u.str.s = s;
	t->u.str.len = n;
	t->refs = 1;
	v->kind = TVAL_STRING;
	v->u.str.s = s;
	v->u.str.n = n;
	v->ref = t;
	return 0;
}

static int val_take_buf(struct exec *x, const struct cmd *c, struct val *v, struct strbuf *b)
{
	size_t n = b->len;

	if (n == 0) {
		strbuf_done(b);
		*v = val_null;
		v->kind = TVAL_STRING;
		v->u.str.s = "";
		return 0;
	}
	return val_take_str(x, c, v, strbuf_steal(b), n);
}

/* ---------------------------------------------------------------------------------------------
 * Printing values: Go's fmt %v, except that a nil value at the top prints as "".
 */

static void put_int(struct strbuf *b, int64_t i)
{
	char buf[24], *e = buf + sizeof(buf), *s = e;
	uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;

	do
		*--s = (char)('0' + u % 10);
	while (u /= 10);
	if (i < 0)
		*--s = '-';
	strbuf_append(b, s, (size_t)(e - s));
}

static void put_tval(struct strbuf *b, const struct tval *t, bool top);

static void put_val(struct strbuf *b, const struct val *v)
{
	switch (v->kind) {
	case TVAL_BOOL:
		strbuf_puts(b, v->u.b ? "true" : "false");
		break;
	case TVAL_INT:
		put_int(b, v->u.i);
		break;
	case TVAL_STRING:
		strbuf_append(b, v->u.str.s, v->u.str.n);
		break;
	case TVAL_LIST:
	case TVAL_MAP:
		put_tval(b, v->u.node, true);
		break;
	default:
		break;
	}
}

static void put_tval(struct strbuf *b, const struct tval *t, bool top)
{
	const struct tval_entry *buf[32], **e;

	if (!t || t->kind == TVAL_NULL) {
		if (!top)
			strbuf_puts(b, "<nil>");
		return;
	}
	switch (t->kind) {
	case TVAL_BOOL:
		strbuf_puts(b, t->u.b ? "true" : "false");
		break;
	case TVAL_INT:
		put_int(b, t->u.i);
		break;
	case TVAL_STRING:
		strbuf_append(b, t->u.str.s, t->u.str.len);
		break;
	case TVAL_LIST:
		strbuf_putc(b, '[');
		for (size_t i = 0; i < t->u.list.n; i++) {
			if (i)
				strbuf_putc(b, ' ');
			put_tval(b, t->u.list.items[i], false);
		}
		strbuf_putc(b, ']');
		break;
	case TVAL_MAP:
		e = map_sorted(t, buf, ARRAY_SIZE(buf));
		strbuf_puts(b, "map[");
		for (size_t i = 0; i < t->u.map.n; i++) {
			if (i)
				strbuf_putc(b, ' ');
			strbuf_append(b, e[i]->key, e[i]->klen);
			strbuf_putc(b, ':');
			put_tval(b, e[i]->val, false);
		}
		strbuf_putc(b, ']');
		if (e != buf)
			free(e);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------------------------------
 * printf: the part of Go's fmt that makes sense for these values.
 */

struct fmtspec {
	bool minus, plus, sharp, space, zero;
	bool has_wid, has_prec;
	int wid, prec;
};

static void put_chars(struct strbuf *b, char c, size_t n)
{
	char buf[64];

	memset(buf, c, sizeof(buf));
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		strbuf_append(b, buf, k);
		n -= k;
	}
}

/* Appends s padded to the width in runes, like Go's fmt.pad. */
static void put_padded(struct strbuf *b, const struct fmtspec *fs, const char *s, size_t n)
{
	size_t runes;

	if (!fs->has_wid || (runes = utf8_count(s, n)) >= (size_t)fs->wid) {
		strbuf_append(b, s, n);
		return;
	}
	if (fs->minus) {
		strbuf_append(b, s, n);
		put_chars(b, ' ', (size_t)fs->wid - runes);
	} else {
		put_chars(b, fs->zero ? '0' : ' ', (size_t)fs->wid - runes);
		strbuf_append(b, s, n);
	}
}

/* Go's strconv.Quote (q '"') and QuoteRune (q '\''), treating every valid rune from U+00A0 on,
 * except U+00AD, as printable. */
static void put_quoted(struct strbuf *b, const char *s, size_t n, char q)
{
	strbuf_putc(b, q);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		bool ok;
		size_t k;

		if (c < 0x80) {
			i++;
			if (c == q || c == '\\') {
				strbuf_putc(b, '\\');
				strbuf_putc(b, (char)c);
				continue;
			}
			if (c >= 0x20 && c < 0x7f) {
				strbuf_putc(b, (char)c);
				continue;
			}
			switch (c) {
			case '\a':
				strbuf_puts(b, "\\a");
				break;
			case '\b':
				strbuf_puts(b, "\\b");
				break;
			case '\f':
				strbuf_puts(b, "\\f");
				break;
			case '\n':
				strbuf_puts(b, "\\n");
				break;
			case '\r':
				strbuf_puts(b, "\\r");
				break;
			case '\t':
				strbuf_puts(b, "\\t");
				break;
			case '\v':
				strbuf_puts(b, "\\v");
				break;
			default:
				strbuf_printf(b, "\\x%02x", c);
				break;
			}
			continue;
		}
		k = utf8_decode((const unsigned char *)s + i, n - i, &cp, &ok);
		if (!ok)
			strbuf_printf(b, "\\x%02x", c);
		else if (cp < 0xa0 || cp == 0xad)
			strbuf_printf(b, "\\u%04x", (unsigned)cp);
		else
			strbuf_append(b, s + i, k);
		i += k;
	}
	strbuf_putc(b, q);
}

/* Go's fmt.fmtInteger. */
static void put_fmt_int(struct strbuf *b, const struct fmtspec *fs, int64_t v, unsigned base,
			int verb)
{
	const char *digits = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	char dig[72], head[8];
	size_t nd = 0, nh = 0, zeros = 0, total;
	bool neg = v < 0;
	uint64_t u = neg ? 0 - (uint64_t)v : (uint64_t)v;
	long prec = -1;

	if (fs->has_prec) {
		prec = fs->prec;
		if (prec == 0 && v == 0) {
			if (fs->has_wid)
				put_chars(b, ' ', (size_t)fs->wid);
			return;
		}
	} else if (fs->zero && fs->has_wid && !fs->minus) {
		prec = fs->wid;
		if (neg || fs->plus || fs->space)
			prec--;
	}
	do
		dig[sizeof(dig) - ++nd] = digits[u % base];
	while (u /= base);
	if (prec > 0 && (size_t)prec > nd)
		zeros = (size_t)prec - nd;
	if (neg)
		head[nh++] = '-';
	else if (fs->plus)
		head[nh++] = '+';
	else if (fs->space)
		head[nh++] = ' ';
	if (verb == 'O') {
		head[nh++] = '0';
		head[nh++] = 'o';
	} else if (fs->sharp) {
		if (base == 16) {
			head[nh++] = '0';
			head[nh++] = (char)(verb == 'X' ? 'X' : 'x');
		} else if (base == 2) {
			head[nh++] = '0';
			head[nh++] = 'b';
		} else if (base == 8 && !zeros && dig[sizeof(dig) - nd] != '0') {
			zeros = 1;
		}
	}
	total = nh + zeros + nd;
	if (fs->has_wid && !fs->minus && (size_t)fs->wid > total)
		put_chars(b, ' ', (size_t)fs->wid - total);
	strbuf_append(b, head, nh);
	put_chars(b, '0', zeros);
	strbuf_append(b, dig + sizeof(dig) - nd, nd);
	if (fs->has_wid && fs->minus && (size_t)fs->wid > total)
		put_chars(b, ' ', (size_t)fs->wid - total);
}

static void put_bad_verb(struct strbuf *b, const char *verb, size_t vlen, const struct val *v)
{
	strbuf_puts(b, "%!");
	strbuf_append(b, verb, vlen);
	strbuf_putc(b, '(');
	if (v->kind == TVAL_NULL) {
		strbuf_puts(b, "<nil>");
	} else {
		strbuf_puts(b, go_type_name(v->kind));
		strbuf_putc(b, '=');
		put_val(b, v);
	}
	strbuf_putc(b, ')');
}

static void put_fmt_one(struct strbuf *b, struct fmtspec *fs, const char *verb, size_t vlen,
			const struct val *v)
{
	struct strbuf tmp;
	char rune[4];
	int c = vlen == 1 ? (unsigned char)verb[0] : 0;

	if (c == 'v') {
		fs->plus = false; /* %+v and %#v mean something else for Go values */
		fs->sharp = false;
	}
	strbuf_init(&tmp);
	switch (v->kind) {
	case TVAL_INT:
		switch (c) {
		case 'd':
		case 'v':
			put_fmt_int(b, fs, v->u.i, 10, c);
			break;
		case 'b':
			put_fmt_int(b, fs, v->u.i, 2, c);
			break;
		case 'o':
		case 'O':
			put_fmt_int(b, fs, v->u.i, 8, c);
			break;
		case 'x':
		case 'X':
			put_fmt_int(b, fs, v->u.i, 16, c);
			break;
		case 'c':
			put_padded(b, fs, rune,
				   utf8_encode(rune, v->u.i < 0 || v->u.i > 0x10ffff
							     ? 0xfffd
							     : (uint32_t)v->u.i));
			break;
		case 'q':
			put_quoted(&tmp, rune,
				   utf8_encode(rune, v->u.i < 0 || v->u.i > 0x10ffff
							     ? 0xfffd
							     : (uint32_t)v->u.i),
				   '\'');
			put_padded(b, fs, tmp.s, tmp.len);
			break;
		case 'U':
			strbuf_printf(&tmp, "U+%04" PRIX64, (uint64_t)v->u.i);
			put_padded(b, fs, tmp.s, tmp.len);
			break;
		default:
			put_bad_verb(b, verb, vlen, v);
		}
		break;
	case TVAL_STRING: {
		const char *s = v->u.str.s;
		size_t n = v->u.str.n;

		if (fs->has_prec && (c == 's' || c == 'v' || c == 'q'))
			n = utf8_prefix(s, n, (size_t)fs->prec);
		switch (c) {
		case 's':
		case 'v':
			put_padded(b, fs, s, n);
			break;
		case 'q':
			if (fs->sharp && !memchr(s, '`', n) && !memchr(s, '\r', n)) {
				strbuf_putc(&tmp, '`');
				strbuf_append(&tmp, s, n);
				strbuf_putc(&tmp, '`');
			} else {
				put_quoted(&tmp, s, n, '"');
			}
			put_padded(b, fs, tmp.s, tmp.len);
			break;
		case 'x':
		case 'X':
			if (fs->has_prec && (size_t)fs->prec < n)
				n = (size_t)fs->prec;
			for (size_t i = 0; i < n; i++)
				strbuf_printf(&tmp, c == 'x' ? "%02x" : "%02X",
					      (unsigned char)s[i]);
			put_padded(b, fs, strbuf_str(&tmp), tmp.len);
			break;
		default:
			put_bad_verb(b, verb, vlen, v);
		}
		break;
	}
	case TVAL_BOOL:
		if (c == 't' || c == 'v')
			put_padded(b, fs, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
		else
			put_bad_verb(b, verb, vlen, v);
		break;
	case TVAL_LIST:
	case TVAL_MAP:
		put_val(&tmp, v);
		put_padded(b, fs, tmp.s, tmp.len);
		break;
	default:
		/* A missing value prints as "" (see docs/templates.md), also through printf. */
		if (c == 's' || c == 'v' || c == 'q')
			put_padded(b, fs, c == 'q' ? "\"\"" : "", c == 'q' ? 2 : 0);
		else
			put_bad_verb(b, verb, vlen, v);
	}
	strbuf_done(&tmp);
}

/* Parses a width or precision at f[*i]; sets *bad when it is over Go's limit of 1e6. */
static int fmt_num(const char *f, size_t n, size_t *i, bool *bad)
{
	long v = 0;

	while (*i < n && is_digit((unsigned char)f[*i])) {
		if (v <= FMT_MAX_WIDTH)
			v = v * 10 + (f[*i] - '0');
		(*i)++;
	}
	if (v > FMT_MAX_WIDTH) {
		*bad = true;
		return 0;
	}
	return (int)v;
}

/* Go's fmt.Sprintf(f, args...) into b. */
static void put_printf(struct strbuf *b, const char *f, size_t n, const struct val *args,
		       size_t nargs)
{
	size_t ai = 0, i = 0;

	while (i < n) {
		const char *pct = memchr(f + i, '%', n - i);
		struct fmtspec fs = {0};
		bool bad = false;

		if (!pct) {
			strbuf_append(b, f + i, n - i);
			break;
		}
		strbuf_append(b, f + i, (size_t)(pct - (f + i)));
		i = (size_t)(pct - f) + 1;
		for (; i < n; i++) {
			char c = f[i];

			if (c == '#')
				fs.sharp = true;
			else if (c == '0')
				fs.zero = !fs.minus; /* Go: '-' overrides '0' */
			else if (c == '+')
				fs.plus = true;
			else if (c == '-') {
				fs.minus = true;
				fs.zero = false;
			} else if (c == ' ')
				fs.space = true;
			else
				break;
		}
		if (i < n && f[i] == '*') {
			i++;
			if (ai < nargs && args[ai].kind == TVAL_INT &&
			    args[ai].u.i <= FMT_MAX_WIDTH && args[ai].u.i >= -FMT_MAX_WIDTH) {
				int64_t w = args[ai].u.i;

				fs.has_wid = true;
				if (w < 0) {
					fs.minus = true;
					fs.zero = false;
					w = -w;
				}
				fs.wid = (int)w;
			} else {
				strbuf_puts(b, "%!(BADWIDTH)");
			}
			ai++;
		} else if (i < n && is_digit((unsigned char)f[i])) {
			fs.wid = fmt_num(f, n, &i, &bad);
			fs.has_wid = !bad;
			if (bad)
				strbuf_puts(b, "%!(BADWIDTH)");
		}
		if (i < n && f[i] == '.') {
			i++;
			bad = false;
			if (i < n && f[i] == '*') {
				i++;
				if (ai < nargs && args[ai].kind == TVAL_INT && args[ai].u.i >= 0 &&
				    args[ai].u.i <= FMT_MAX_WIDTH) {
					fs.prec = (int)args[ai].u.i;
					fs.has_prec = true;
				} else {
					strbuf_puts(b, "%!(BADPREC)");
				}
				ai++;
			} else {
				fs.prec = fmt_num(f, n, &i, &bad);
				fs.has_prec = !bad;
				if (bad)
					strbuf_puts(b, "%!(BADPREC)");
			}
		}
		if (i >= n) {
			strbuf_puts(b, "%!(NOVERB)");
			break;
		}
		uint32_t cp;
		bool ok;
		size_t vlen = utf8_decode((const unsigned char *)f + i, n - i, &cp, &ok);
		const char *verb = f + i;

		i += vlen;
		if (vlen == 1 && *verb == '%') {
			strbuf_putc(b, '%');
			continue;
		}
		if (ai >= nargs) {
			strbuf_puts(b, "%!");
			strbuf_append(b, verb, vlen);
			strbuf_puts(b, "(MISSING)");
			continue;
		}
		put_fmt_one(b, &fs, verb, vlen, &args[ai++]);
	}
	if (ai < nargs) {
		strbuf_puts(b, "%!(EXTRA ");
		for (size_t k = ai; k < nargs; k++) {
			if (k > ai)
				strbuf_puts(b, ", ");
			if (args[k].kind == TVAL_NULL) {
				strbuf_puts(b, "<nil>");
				continue;
			}
			strbuf_puts(b, go_type_name(args[k].kind));
			strbuf_putc(b, '=');
			put_val(b, &args[k]);
		}
		strbuf_putc(b, ')');
	}
}

/* ---------------------------------------------------------------------------------------------
 * Functions. Arity is checked by the parser; types are checked here.
 */

/* A string argument; nil (a missing value) counts as "". */
static int arg_str(struct exec *x, const struct cmd *c, const struct val *v, const char **s,
		   size_t *n)
{
	*s = "";
	*n = 0;
	if (v->kind == TVAL_STRING) {
		*s = v->u.str.s;
		*n = v->u.str.n;
		return 0;
	}
	if (v->kind == TVAL_NULL)
		return 0;
	return call_err(x, c, "wrong type for value; expected string; got %s", kind_name(v->kind));
}

/* Go's eq for two values: basic kinds compare by value, nil equals only nil. */
static int cmp_eq(struct exec *x, const struct cmd *c, const struct val *a, const struct val *b,
		  bool *ret)
{
	if (a->kind == TVAL_NULL || b->kind == TVAL_NULL) {
		*ret = a->kind == b->kind;
		return 0;
	}
	if (a->kind != b->kind)
		return call_err(x, c, "incompatible types for comparison");
	switch (a->kind) {
	case TVAL_BOOL:
		*ret = a->u.b == b->u.b;
		return 0;
	case TVAL_INT:
		*ret = a->u.i == b->u.i;
		return 0;
	case TVAL_STRING:
		*ret = a->u.str.n == b->u.str.n && memcmp(a->u.str.s, b->u.str.s, a->u.str.n) == 0;
		return 0;
	default:
		return call_err(x, c, "non-comparable type %s", kind_name(a->kind));
	}
}

/* Go's lt: only ints and strings are ordered, and only against their own kind. */
static int cmp_lt(struct exec *x, const struct cmd *c, const struct val *a, const struct val *b,
		  bool *ret)
{
	if ((a->kind != TVAL_INT && a->kind != TVAL_STRING) ||
	    (b->kind != TVAL_INT && b->kind != TVAL_STRING))
		return call_err(x, c, "invalid type for comparison");
	if (a->kind != b->kind)
		return call_err(x, c, "incompatible types for comparison");
	if (a->kind == TVAL_INT) {
		*ret = a->u.i < b->u.i;
	} else {
		size_t n = a->u.str.n < b->u.str.n ? a->u.str.n : b->u.str.n;
		int k = memcmp(a->u.str.s, b->u.str.s, n);

		*ret = k < 0 || (k == 0 && a->u.str.n < b->u.str.n);
	}
	return 0;
}

static int fn_eq(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	bool t = false;
	int r;

	for (size_t i = 1; i < argc && !t; i++)
		if ((r = cmp_eq(x, c, &argv[0], &argv[i], &t)) < 0)
			return r;
	val_bool(ret, t);
	return 0;
}

static int fn_ne(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	bool t = false;
	int r = cmp_eq(x, c, &argv[0], &argv[1], &t);

	if (r < 0)
		return r;
	val_bool(ret, !t);
	return 0;
}

static int fn_lt(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	bool t = false;
	int r = cmp_lt(x, c, &argv[0], &argv[1], &t);

	if (r < 0)
		return r;
	val_bool(ret, t);
	return 0;
}

static int fn_le(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	bool t = false;
	int r = cmp_lt(x, c, &argv[0], &argv[1], &t);

	if (r == 0 && !t)
		r = cmp_eq(x, c, &argv[0], &argv[1], &t);
	if (r < 0)
		return r;
	val_bool(ret, t);
	return 0;
}

static int fn_gt(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	int r = fn_le(x, c, argv, argc, ret);

	if (r == 0)
		ret->u.b = !ret->u.b;
	return r;
}

static int fn_ge(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		 struct val *ret)
{
	int r = fn_lt(x, c, argv, argc, ret);

	if (r == 0)
		ret->u.b = !ret->u.b;
	return r;
}

static int fn_not(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		  struct val *ret)
{
	val_bool(ret, !val_truth(&argv[0]));
	return 0;
}

static int fn_len(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		  struct val *ret)
{
	if (argv[0].kind == TVAL_BOOL || argv[0].kind == TVAL_INT)
		return call_err(x, c, "len of type %s", kind_name(argv[0].kind));
	val_int(ret, (int64_t)val_len(&argv[0]));
	return 0;
}

static int fn_index(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		    struct val *ret)
{
	struct val cur, next;

	val_copy(&cur, &argv[0]);
	for (size_t k = 1; k < argc && cur.kind != TVAL_NULL; k++) {
		const struct val *ix = &argv[k];
		const struct tval_entry *e;

		switch (cur.kind) {
		case TVAL_LIST:
		case TVAL_STRING:
			if (ix->kind != TVAL_INT) {
				val_release(&cur);
				if (ix->kind == TVAL_NULL)
					return call_err(x, c, "cannot index slice/array with nil");
				return call_err(x, c, "cannot index slice/array with type %s",
						kind_name(ix->kind));
			}
			if (ix->u.i < 0 || (uint64_t)ix->u.i >= val_len(&cur)) {
				val_release(&cur);
				return call_err(x, c, "index out of range: %" PRId64, ix->u.i);
			}
			if (cur.kind == TVAL_STRING)
				val_int(&next, (unsigned char)cur.u.str.s[ix->u.i]);
			else
				val_from_tval(&next, cur.u.node->u.list.items[ix->u.i], cur.ref);
			break;
		case TVAL_MAP:
			if (ix->kind != TVAL_STRING) {
				val_release(&cur);
				return call_err(x, c, "value has type %s; should be string",
						kind_name(ix->kind));
			}
			e = map_find(cur.u.node, ix->u.str.s, ix->u.str.n,
				     hash_bytes(ix->u.str.s, ix->u.str.n));
			val_from_tval(&next, e ? e->val : NULL, cur.ref);
			break;
		default:
			val_release(&cur);
			return call_err(x, c, "can't index item of type %s", kind_name(cur.kind));
		}
		val_release(&cur);
		cur = next;
	}
	*ret = cur;
	return 0;
}

/* Go's fmt.Sprint: a space between operands when neither is a string. */
static int fn_print(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		    struct val *ret)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < argc; i++) {
		if (i && argv[i].kind != TVAL_STRING && argv[i - 1].kind != TVAL_STRING)
			strbuf_putc(&b, ' ');
		put_val(&b, &argv[i]);
	}
	return val_take_buf(x, c, ret, &b);
}

static int fn_println(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		      struct val *ret)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < argc; i++) {
		if (i)
			strbuf_putc(&b, ' ');
		put_val(&b, &argv[i]);
	}
	strbuf_putc(&b, '\n');
	return val_take_buf(x, c, ret, &b);
}

static int fn_printf(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		     struct val *ret)
{
	struct strbuf b;

	if (argv[0].kind != TVAL_STRING)
		return call_err(x, c, "wrong type for value; expected string; got %s",
				kind_name(argv[0].kind));
	strbuf_init(&b);
	put_printf(&b, argv[0].u.str.s, argv[0].u.str.n, argv + 1, argc - 1);
	return val_take_buf(x, c, ret, &b);
}

/* join SEP LIST (sprig's order, so that `.List | join ","` works). */
static int fn_join(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		   struct val *ret)
{
	const struct tval *l;
	struct strbuf b;
	const char *sep;
	size_t nsep;
	int r;

	if ((r = arg_str(x, c, &argv[0], &sep, &nsep)) < 0)
		return r;
	if (argv[1].kind == TVAL_NULL) {
		*ret = val_null;
		ret->kind = TVAL_STRING;
		ret->u.str.s = "";
		return 0;
	}
	if (argv[1].kind != TVAL_LIST)
		return call_err(x, c, "wrong type for value; expected list; got %s",
				kind_name(argv[1].kind));
	l = argv[1].u.node;
	strbuf_init(&b);
	for (size_t i = 0; i < l->u.list.n; i++) {
		if (i)
			strbuf_append(&b, sep, nsep);
		put_tval(&b, l->u.list.items[i], true);
		if (b.len > x->max_output) {
			strbuf_done(&b);
			return xerr(x, -EMSGSIZE, c->line, c->src, c->srclen,
				    "string longer than %zu bytes", x->max_output);
		}
	}
	return val_take_buf(x, c, ret, &b);
}

/* split SEP STRING: Go's strings.Split(STRING, SEP). */
static int fn_split(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		    struct val *ret)
{
	const char *sep, *s;
	size_t nsep, n;
	struct tval *l;
	int r;

	if ((r = arg_str(x, c, &argv[0], &sep, &nsep)) < 0 ||
	    (r = arg_str(x, c, &argv[1], &s, &n)) < 0)
		return r;
	l = tval_alloc(TVAL_LIST);
	l->refs = 1;
	for (size_t i = 0;;) {
		size_t k;

		if (++x->steps > x->max_steps) {
			tval_free(l);
			return cmd_err(x, c, "more than %" PRIu64 " loop iterations", x->max_steps);
		}
		if (nsep == 0) {
			uint32_t cp;
			bool ok;

			if (i >= n)
				break;
			k = utf8_decode((const unsigned char *)s + i, n - i, &cp, &ok);
			tval_list_append(l, tval_new_strn(s + i, k));
			i += k;
			continue;
		}
		const char *e = memmem(s + i, n - i, sep, nsep);

		k = e ? (size_t)(e - (s + i)) : n - i;
		tval_list_append(l, tval_new_strn(s + i, k));
		if (!e)
			break;
		i += k + nsep;
	}
	*ret = val_null;
	ret->kind = TVAL_LIST;
	ret->u.node = l;
	ret->ref = l;
	return 0;
}

static int fn_contains(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		       struct val *ret)
{
	const char *sub, *s;
	size_t nsub, n;
	int r;

	if ((r = arg_str(x, c, &argv[0], &sub, &nsub)) < 0 ||
	    (r = arg_str(x, c, &argv[1], &s, &n)) < 0)
		return r;
	val_bool(ret, nsub == 0 || memmem(s, n, sub, nsub) != NULL);
	return 0;
}

static int fn_has_prefix(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
			 struct val *ret)
{
	const char *pre, *s;
	size_t npre, n;
	int r;

	if ((r = arg_str(x, c, &argv[0], &pre, &npre)) < 0 ||
	    (r = arg_str(x, c, &argv[1], &s, &n)) < 0)
		return r;
	val_bool(ret, npre <= n && memcmp(s, pre, npre) == 0);
	return 0;
}

static int fn_has_suffix(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
			 struct val *ret)
{
	const char *suf, *s;
	size_t nsuf, n;
	int r;

	if ((r = arg_str(x, c, &argv[0], &suf, &nsuf)) < 0 ||
	    (r = arg_str(x, c, &argv[1], &s, &n)) < 0)
		return r;
	val_bool(ret, nsuf <= n && memcmp(s + n - nsuf, suf, nsuf) == 0);
	return 0;
}

/* replace OLD NEW STRING: Go's strings.ReplaceAll(STRING, OLD, NEW). */
static int fn_replace(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		      struct val *ret)
{
	const char *old, *new, *s;
	size_t nold, nnew, n;
	struct strbuf b;
	int r;

	if ((r = arg_str(x, c, &argv[0], &old, &nold)) < 0 ||
	    (r = arg_str(x, c, &argv[1], &new, &nnew)) < 0 ||
	    (r = arg_str(x, c, &argv[2], &s, &n)) < 0)
		return r;
	strbuf_init(&b);
	for (size_t i = 0;;) {
		const char *e;
		size_t k;

		if (b.len > x->max_output) {
			strbuf_done(&b);
			return xerr(x, -EMSGSIZE, c->line, c->src, c->srclen,
				    "string longer than %zu bytes", x->max_output);
		}
		if (nold == 0) {
			/* Go inserts NEW before every rune and at the end. */
			uint32_t cp;
			bool ok;

			strbuf_append(&b, new, nnew);
			if (i >= n)
				break;
			k = utf8_decode((const unsigned char *)s + i, n - i, &cp, &ok);
			strbuf_append(&b, s + i, k);
			i += k;
			continue;
		}
		e = memmem(s + i, n - i, old, nold);
		k = e ? (size_t)(e - (s + i)) : n - i;
		strbuf_append(&b, s + i, k);
		if (!e)
			break;
		strbuf_append(&b, new, nnew);
		i += k + nold;
	}
	return val_take_buf(x, c, ret, &b);
}

/* lower and upper map ASCII letters only; an unchanged string is returned as it is. */
static int change_case(struct exec *x, const struct cmd *c, struct val *argv, struct val *ret,
		       bool up)
{
	const char *s;
	size_t n, i;
	char *o;
	int r;

	if ((r = arg_str(x, c, &argv[0], &s, &n)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if (up ? (s[i] >= 'a' && s[i] <= 'z') : (s[i] >= 'A' && s[i] <= 'Z'))
			break;
	if (i == n) {
		if (argv[0].kind == TVAL_STRING) {
			val_copy(ret, &argv[0]);
		} else {
			*ret = val_null;
			ret->kind = TVAL_STRING;
			ret->u.str.s = "";
		}
		return 0;
	}
	o = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (up && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (!up && ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		o[i] = ch;
	}
	o[n] = '\0';
	return val_take_str(x, c, ret, o, n);
}

static int fn_lower(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		    struct val *ret)
{
	return change_case(x, c, argv, ret, false);
}

static int fn_upper(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
		    struct val *ret)
{
	return change_case(x, c, argv, ret, true);
}

static bool is_trim_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* trimSpace S: S without leading and trailing ASCII white space; a view of S, no copy. */
static int fn_trim_space(struct exec *x, const struct cmd *c, struct val *argv, size_t argc,
			 struct val *ret)
{
	const char *s;
	size_t n;
	int r;

	if ((r = arg_str(x, c, &argv[0], &s, &n)) < 0)
		return r;
	while (n && is_trim_space((unsigned char)s[0]))
		s++, n--;
	while (n && is_trim_space((unsigned char)s[n - 1]))
		n--;
	val_copy(ret, &argv[0]);
	ret->kind = TVAL_STRING;
	ret->u.str.s = s;
	ret->u.str.n = n;
	return 0;
}

/* Sorted by name. */
static const struct func funcs[] = {
	{"and", 1, -1, NULL, 1},
	{"contains", 2, 2, fn_contains, 0},
	{"eq", 2, -1, fn_eq, 0},
	{"ge", 2, 2, fn_ge, 0},
	{"gt", 2, 2, fn_gt, 0},
	{"hasPrefix", 2, 2, fn_has_prefix, 0},
	{"hasSuffix", 2, 2, fn_has_suffix, 0},
	{"index", 1, -1, fn_index, 0},
	{"join", 2, 2, fn_join, 0},
	{"le", 2, 2, fn_le, 0},
	{"len", 1, 1, fn_len, 0},
	{"lower", 1, 1, fn_lower, 0},
	{"lt", 2, 2, fn_lt, 0},
	{"ne", 2, 2, fn_ne, 0},
	{"not", 1, 1, fn_not, 0},
	{"or", 1, -1, NULL, 2},
	{"print", 0, -1, fn_print, 0},
	{"printf", 1, -1, fn_printf, 0},
	{"println", 0, -1, fn_println, 0},
	{"replace", 3, 3, fn_replace, 0},
	{"split", 2, 2, fn_split, 0},
	{"trimSpace", 1, 1, fn_trim_space, 0},
	{"upper", 1, 1, fn_upper, 0},
};

static const struct func *func_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(funcs); i++)
		if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
			return &funcs[i];
	return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Execution
 */

static int eval_pipe(struct exec *x, const struct val *dot, const struct pipe *p, struct val *ret);

static int eval_arg(struct exec *x, const struct val *dot, const struct cmd *c, const struct arg *a,
		    struct val *ret);

static int call_func(struct exec *x, const struct val *dot, const struct cmd *c,
		     const struct func *fn, const struct arg *args, size_t nargs,
		     const struct val *final, struct val *ret)
{
	size_t argc = nargs + (final != NULL);
	struct val stack[8], *argv;
	size_t done = 0;
	int r = 0;

	if (fn->lazy) {
		/* and/or return the operand that decides, evaluating no further (Go 1.18). */
		for (size_t i = 0; i < argc; i++) {
			struct val v;

			if (i < nargs) {
				if ((r = eval_arg(x, dot, c, &args[i], &v)) < 0)
					return r;
			} else {
				val_copy(&v, final);
			}
			if (i == argc - 1 || val_truth(&v) == (fn->lazy == 2)) {
				*ret = v;
				return 0;
			}
			val_release(&v);
		}
		*ret = val_null;
		return 0;
	}
	argv = argc <= ARRAY_SIZE(stack) ? stack : xcalloc(argc, sizeof(*argv));
	for (; done < nargs; done++)
		if ((r = eval_arg(x, dot, c, &args[done], &argv[done])) < 0)
			break;
	if (r >= 0) {
		if (final)
			val_copy(&argv[done++], final);
		*ret = val_null;
		r = fn->fn(x, c, argv, argc, ret);
	}
	for (size_t i = 0; i < done; i++)
		val_release(&argv[i]);
	if (argv != stack)
		free(argv);
	return r;
}

/* Replaces *v by its field chain; fields of a missing value are missing too. */
static int walk_fields(struct exec *x, const struct cmd *c, struct val *v, const struct field *f,
		       size_t nf)
{
	for (size_t i = 0; i < nf; i++) {
		const struct tval_entry *e;
		struct val next;

		if (v->kind == TVAL_NULL)
			return 0;
		if (v->kind != TVAL_MAP) {
			enum tval_kind k = v->kind;

			val_release(v);
			return cmd_err(x, c, "can't evaluate field %.*s in type %s", (int)f[i].len,
				       f[i].name, kind_name(k));
		}
		e = map_find(v->u.node, f[i].name, f[i].len, f[i].hash);
		val_from_tval(&next, e ? e->val : NULL, v->ref);
		val_release(v);
		*v = next;
	}
	return 0;
}

static int eval_arg(struct exec *x, const struct val *dot, const struct cmd *c, const struct arg *a,
		    struct val *ret)
{
	struct val v = val_null;
	int r;

	switch (a->kind) {
	case ARG_DOT:
	case ARG_FIELD:
		val_copy(&v, dot);
		break;
	case ARG_NIL:
		break;
	case ARG_BOOL:
		val_bool(&v, a->u.b);
		break;
	case ARG_INT:
		val_int(&v, a->u.i);
		break;
	case ARG_STR:
		v.kind = TVAL_STRING;
		v.u.str.s = a->u.str.s;
		v.u.str.n = a->u.str.n;
		break;
	case ARG_VAR:
		val_copy(&v, &x->vars[a->u.slot]);
		break;
	case ARG_FUNC:
		if ((r = call_func(x, dot, c, a->u.fn, NULL, 0, NULL, &v)) < 0)
			return r;
		break;
	case ARG_PIPE:
		if ((r = eval_pipe(x, dot, a->u.pipe, &v)) < 0)
			return r;
		break;
	}
	if (a->nfields && (r = walk_fields(x, c, &v, a->fields, a->nfields)) < 0)
		return r;
	*ret = v;
	return 0;
}

static int eval_pipe(struct exec *x, const struct val *dot, const struct pipe *p, struct val *ret)
{
	struct val cur = val_null;

	for (size_t i = 0; i < p->ncmds; i++) {
		const struct cmd *c = &p->cmds[i];
		const struct arg *a0 = &c->args[0];
		struct val next;
		int r;

		if (a0->kind == ARG_FUNC && !a0->nfields)
			r = call_func(x, dot, c, a0->u.fn, c->args + 1, c->nargs - 1,
				      i ? &cur : NULL, &next);
		else
			r = eval_arg(x, dot, c, a0, &next);
		val_release(&cur);
		if (r < 0)
			return r;
		cur = next;
	}
	*ret = cur;
	return 0;
}

static void set_var(struct exec *x, int slot, const struct val *v)
{
	val_release(&x->vars[slot]);
	val_copy(&x->vars[slot], v);
}

static int check_output(struct exec *x, const struct node *n)
{
	if (x->out->len - x->out_start <= x->max_output)
		return 0;
	return errmsg_set(x->reterr, -EMSGSIZE, "%s:%d: output larger than %zu bytes", x->t->name,
			  n->line, x->max_output);
}

static int walk(struct exec *x, const struct val *dot, const struct node *n);

/* One iteration of a range: sets its variables and runs the body with elem as dot. */
static int range_step(struct exec *x, const struct node *n, const struct val *key,
		      const struct val *elem)
{
	const struct pipe *p = n->pipe;

	if (++x->steps > x->max_steps)
		return xerr(x, -EINVAL, n->line, p->src, p->srclen,
			    "more than %" PRIu64 " loop iterations", x->max_steps);
	if (p->ndecl == 1) {
		set_var(x, p->decl[0], elem);
	} else if (p->ndecl == 2) {
		set_var(x, p->decl[0], key);
		set_var(x, p->decl[1], elem);
	}
	return walk(x, elem, n->list);
}

static int walk_range(struct exec *x, const struct val *dot, const struct node *n)
{
	const struct tval_entry *buf[32], **sorted;
	struct val v, key, elem;
	size_t count = 0;
	int r = 0;

	if ((r = eval_pipe(x, dot, n->pipe, &v)) < 0)
		return r;
	switch (v.kind) {
	case TVAL_LIST:
		for (size_t i = 0; i < v.u.node->u.list.n; i++) {
			val_int(&key, (int64_t)i);
			val_from_tval(&elem, v.u.node->u.list.items[i], v.ref);
			r = range_step(x, n, &key, &elem);
			val_release(&elem);
			count++;
			if (r < 0 || r == WALK_BREAK)
				break;
		}
		break;
	case TVAL_MAP:
		sorted = map_sorted(v.u.node, buf, ARRAY_SIZE(buf));
		for (size_t i = 0; i < v.u.node->u.map.n; i++) {
			key = val_null;
			key.kind = TVAL_STRING;
			key.u.str.s = sorted[i]->key;
			key.u.str.n = sorted[i]->klen;
			val_from_tval(&elem, sorted[i]->val, v.ref);
			r = range_step(x, n, &key, &elem);
			val_release(&elem);
			count++;
			if (r < 0 || r == WALK_BREAK)
				break;
		}
		if (sorted != buf)
			free(sorted);
		break;
	case TVAL_INT:
		/* Go 1.22: range over an integer n visits 0 ... n-1. */
		if (n->pipe->ndecl > 1) {
			r = xerr(x, -EINVAL, n->line, n->pipe->src, n->pipe->srclen,
				 "can't use %" PRId64 " to iterate over more than one variable",
				 v.u.i);
			break;
		}
		for (int64_t i = 0; i < v.u.i; i++) {
			val_int(&key, i);
			r = range_step(x, n, &key, &key);
			count++;
			if (r < 0 || r == WALK_BREAK)
				break;
		}
		break;
	case TVAL_NULL:
		break;
	default:
		r = xerr(x, -EINVAL, n->line, n->pipe->src, n->pipe->srclen,
			 "range can't iterate over %s", kind_name(v.kind));
		break;
	}
	val_release(&v);
	if (r < 0)
		return r;
	if (count == 0 && n->elselist)
		return walk(x, dot, n->elselist);
	return 0;
}

/* The common {{.A.B}}, {{$x.A}} and {{.}} printed straight from the tree, without building
 * values. Returns false when the general path must run (it also reports the errors). */
static bool print_fast(struct exec *x, const struct val *dot, const struct pipe *p)
{
	const struct arg *a = &p->cmds[0].args[0];
	const struct val *base;
	const struct tval *t;

	if (p->ndecl || p->ncmds != 1 || p->cmds[0].nargs != 1 ||
	    (a->kind != ARG_FIELD && a->kind != ARG_VAR && a->kind != ARG_DOT))
		return false;
	base = a->kind == ARG_VAR ? &x->vars[a->u.slot] : dot;
	if (!a->nfields) {
		put_val(x->out, base);
		return true;
	}
	if (base->kind == TVAL_NULL)
		return true;
	if (base->kind != TVAL_MAP)
		return false;
	t = base->u.node;
	for (size_t i = 0; i < a->nfields; i++) {
		const struct tval_entry *e;

		if (!t || t->kind == TVAL_NULL)
			return true;
		if (t->kind != TVAL_MAP)
			return false;
		e = map_find(t, a->fields[i].name, a->fields[i].len, a->fields[i].hash);
		t = e ? e->val : NULL;
	}
	put_tval(x->out, t, true);
	return true;
}

/* Runs a node list. Returns 0, WALK_BREAK or WALK_CONTINUE (to the enclosing range), or a
 * negative error. */
static int walk(struct exec *x, const struct val *dot, const struct node *n)
{
	struct val v;
	int r;

	for (; n; n = n->next) {
		switch (n->kind) {
		case NODE_TEXT:
			strbuf_append(x->out, n->text, n->len);
			if ((r = check_output(x, n)) < 0)
				return r;
			break;
		case NODE_ACTION:
			if (print_fast(x, dot, n->pipe)) {
				if ((r = check_output(x, n)) < 0)
					return r;
				break;
			}
			if ((r = eval_pipe(x, dot, n->pipe, &v)) < 0)
				return r;
			if (n->pipe->ndecl)
				set_var(x, n->pipe->decl[0], &v);
			else
				put_val(x->out, &v);
			val_release(&v);
			if ((r = check_output(x, n)) < 0)
				return r;
			break;
		case NODE_IF:
		case NODE_WITH:
			if ((r = eval_pipe(x, dot, n->pipe, &v)) < 0)
				return r;
			if (n->pipe->ndecl)
				set_var(x, n->pipe->decl[0], &v);
			if (val_truth(&v))
				r = walk(x, n->kind == NODE_WITH ? &v : dot, n->list);
			else
				r = walk(x, dot, n->elselist);
			val_release(&v);
			if (r)
				return r;
			break;
		case NODE_RANGE:
			if ((r = walk_range(x, dot, n)) != 0)
				return r;
			break;
		case NODE_BREAK:
			return WALK_BREAK;
		case NODE_CONTINUE:
			return WALK_CONTINUE;
		}
	}
	return 0;
}

int template_execute_limits(const struct template *t, const struct tval *data, struct strbuf *out,
			    uint64_t max_steps, size_t max_output, char **reterr)
{
	struct val stack[16];
	struct exec x = {
		.t = t,
		.out = out,
		.out_start = out->len,
		.max_output = max_output,
		.max_steps = max_steps,
		.reterr = reterr,
	};
	struct val root;
	size_t nslots = (size_t)t->nslots;
	int r;

	x.vars = nslots <= ARRAY_SIZE(stack) ? stack : xcalloc(nslots, sizeof(*x.vars));
	for (size_t i = 0; i < nslots; i++)
		x.vars[i] = val_null;
	val_from_tval(&root, data, NULL);
	x.vars[0] = root;
	r = walk(&x, &root, t->root);
	for (size_t i = 0; i < nslots; i++)
		val_release(&x.vars[i]);
	if (x.vars != stack)
		free(x.vars);
	return r < 0 ? r : 0;
}

int template_execute(const struct template *t, const struct tval *data, struct strbuf *out,
		     char **reterr)
{
	return template_execute_limits(t, data, out, TEMPLATE_MAX_STEPS, TEMPLATE_MAX_OUTPUT,
				       reterr);
}
