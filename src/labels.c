// SPDX-License-Identifier: MIT
/*
 * labels: the one parser from a parameter map (reconfigure query, `com.df.*` labels with the
 * prefix stripped, DFP_SERVICE_* environment variables, the local services file) to a struct
 * service. Pure: no I/O and no logging; the only outside call is getrandom(2) for the password of
 * DFP's dummy user.
 *
 * It follows Docker Flow Proxy's proxy/types.go GetServiceFromProvider (reference
 * docker-flow-proxy.md §1.2, §1.3): service-level parameters are read once; destination-level
 * ones are read per destination with `.1`…`.10` suffixes falling back to the un-suffixed value;
 * validation runs in DFP's order with DFP's messages and statuses. On top of DFP, every value is
 * checked against what its HAProxy position accepts (no control bytes anywhere, tokens where
 * HAProxy expects a word, numbers in range, regexes that PCRE2 compiles), so that no value can
 * add lines or words to the generated configuration.
 *
 * Order of checks: size caps, then control bytes in every known parameter, then each parameter's
 * own syntax (service level, then each destination), then DFP's validation 1-4, then the
 * parameters flowproxy does not support yet (the h_unsupported rows): those are refused, never
 * dropped, so that no service is routed with less than it asked for; then each destination's
 * reqMode (http, tcp or sni) with the ports a tcp/sni destination needs.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "flowproxy/labels.h"
#include "flowproxy/pem.h"

#include <ctype.h>
#include <limits.h>
#include <pcre2.h>
#include <strings.h>
#include <stdint.h>
#include <sys/random.h>

#define LABELS_MAX_PARAMS 512
#define LABELS_MAX_KEY	  128
#define LABELS_MAX_VALUE  8192

#define STATUS_BAD_REQUEST 400
#define STATUS_CONFLICT	   409

enum labels_level {
	LABELS_SERVICE = 0, /* §1.3 Lvl S: read once, never indexed */
	LABELS_DEST,	    /* §1.3 Lvl D: read per destination, `.1`…`.10` with fallback */
};

struct parse_state {
	const struct params *p;
	const struct labels_ctx *ctx;
	const char *sep;
	struct service *s;
	const char *users;	  /* the `users` value, resolved once usersPassEncrypted is known */
	const char *users_secret; /* usersSecret: the name of a dfp_users_<name> secret */
	const char *rp_search;	  /* deprecated reqPathSearch / reqPathReplace */
	const char *rp_replace;
	char *unsupported; /* the first parameter flowproxy cannot honour yet, refused last */
};

typedef int (*labels_handler)(struct parse_state *st, struct service_dest *d, const char *key,
			      const char *v, char **reterr);

struct labels_def {
	const char *name;
	enum labels_level level;
	labels_handler fn;
	bool secret; /* never quote the value in a message */
};

/* ---- messages ---- */

/*
 * A value made safe to quote in a message: control bytes, quotes and backslashes escaped, at
 * most 80 bytes. Caller frees.
 */
static char *show(const char *v)
{
	struct strbuf b;
	size_t n = 0;

	strbuf_init(&b);
	for (; *v; v++, n++) {
		unsigned char c = (unsigned char)*v;
		if (n == 80) {
			strbuf_puts(&b, "...");
			break;
		}
		if (c < 0x20 || c == 0x7f)
			strbuf_printf(&b, "\\x%02x", c);
		else if (c == '\'' || c == '\\')
			strbuf_printf(&b, "\\%c", c);
		else
			strbuf_putc(&b, (char)c);
	}
	return strbuf_steal(&b);
}

/* "<key> '<v>' <what>", the shape of every flowproxy hardening message. */
static int bad(char **reterr, const char *key, const char *v, const char *what)
{
	_cleanup_free_ char *q = show(v);

	return errmsg_set(reterr, -EINVAL, "%s '%s' %s", key, q, what);
}

/* ---- character classes ---- */

static bool has_control(const char *v, bool allow_lf)
{
	for (; *v; v++)
		if (((unsigned char)*v < 0x20 && !(allow_lf && *v == '\n')) ||
		    (unsigned char)*v == 0x7f)
			return true;
	return false;
}

/*
 * Why a value cannot stand as one word of an HAProxy config line, or NULL. HAProxy splits lines
 * on spaces, starts a comment at '#', and gives quotes a meaning (configuration manual §2.2).
 * Backslashes are checked by the callers: the renderer doubles them where regexes need them.
 */
static const char *word_problem(const char *v, bool allow_backslash)
{
	for (; *v; v++) {
		if (*v == ' ')
			return "must not contain spaces";
		if (*v == '#')
			return "must not contain '#'";
		if (*v == '"' || *v == '\'')
			return "must not contain quotes";
		if (*v == '\\' && !allow_backslash)
			return "must not contain backslashes";
	}
	return NULL;
}

static bool all_chars(const char *v, const char *extra)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr(extra, *v))
			return false;
	return true;
}

/* RFC 7230 tchar minus '#' and '\'', which HAProxy's config parser would interpret. */
static bool header_name_ok(const char *v)
{
	return all_chars(v, "!$%&*+-.^_`|~");
}

/* ---- small parsers ---- */

/* A copy of [b, e) without leading and trailing spaces. */
static char *trim_dup(const char *b, const char *e)
{
	while (b < e && *b == ' ')
		b++;
	while (e > b && e[-1] == ' ')
		e--;
	return xstrndup(b, (size_t)(e - b));
}

/*
 * Splits v on sep (the SEPARATOR, default ","), trims spaces around items and drops empty ones.
 * Each item goes through check (may be NULL) before it is appended to out.
 */
static int split_list(const char *v, const char *sep, struct strv *out, const char *key,
		      const char *(*check)(const char *item), char **reterr)
{
	size_t sl = strlen(sep);

	for (const char *b = v;;) {
		const char *e = strstr(b, sep);
		if (!e)
			e = b + strlen(b);
		_cleanup_free_ char *item = trim_dup(b, e);
		if (*item) {
			const char *why = check ? check(item) : NULL;
			if (why)
				return bad(reterr, key, item, why);
			strv_add(out, item);
		}
		if (!*e)
			break;
		b = e + sl;
	}
	return 0;
}

static const char *path_item_problem(const char *item)
{
	return word_problem(item, true);
}

static const char *domain_item_problem(const char *item)
{
	return word_problem(item, false);
}

/* PCRE2, as HAProxy 2.6 is built with (USE_PCRE2): reports the library's own message. */
static int regex_check(const char *key, const char *re, char **reterr)
{
	int code = 0;
	PCRE2_SIZE off = 0;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	PCRE2_UCHAR msg[256];

	if (c) {
		pcre2_code_free(c);
		return 0;
	}
	if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
		snprintf((char *)msg, sizeof(msg), "error %d", code);
	_cleanup_free_ char *q = show(re);
	return errmsg_set(reterr, -EINVAL, "%s '%s' is not a valid regular expression: %s", key, q,
			  (const char *)msg);
}

/* pathType for reqMode sni: the TLS hello's server name (HAProxy 2.6 §7.3.5 req.ssl_sni). */
static bool path_type_is_sni(const char *v)
{
	return streq(v, "req_ssl_sni") || streq(v, "req_ssl_sni -i") || streq(v, "req.ssl_sni") ||
	       streq(v, "req.ssl_sni -i");
}

/*
 * pathType: "<fetch>[ -i]", fetch = (path|url|base)(_(beg|end|reg|dir|sub|dom|str|len))?, or
 * req_ssl_sni / req.ssl_sni (reqMode sni only, checked by validate_modes).
 */
static bool path_type_ok(const char *v, bool *ret_reg)
{
	static const char *const bases[] = {"path", "url", "base"};
	static const char *const ms[] = {"beg", "end", "reg", "dir", "sub", "dom", "str", "len"};
	const char *sp = strchr(v, ' ');
	size_t n = sp ? (size_t)(sp - v) : strlen(v);

	if (sp && !streq(sp, " -i"))
		return false;
	*ret_reg = false;
	if (path_type_is_sni(v))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		size_t bl = strlen(bases[i]);
		if (n < bl || strncmp(v, bases[i], bl) != 0)
			continue;
		if (n == bl) {
			*ret_reg = false;
			return true;
		}
		if (v[bl] != '_')
			continue;
		for (size_t j = 0; j < ARRAY_SIZE(ms); j++) {
			if (n == bl + 1 + strlen(ms[j]) &&
			    strncmp(v + bl + 1, ms[j], n - bl - 1) == 0) {
				*ret_reg = streq(ms[j], "reg");
				return true;
			}
		}
	}
	return false;
}

/* serviceDomainAlgo: ^[a-z0-9_.]+(\([A-Za-z0-9_-]+\))?$, e.g. hdr(host), req.ssl_sni */
static bool domain_algo_ok(const char *v)
{
	const char *p = v;

	while (*p &&
	       (islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '.'))
		p++;
	if (p == v)
		return false;
	if (!*p)
		return true;
	if (*p++ != '(')
		return false;
	const char *a = p;
	while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-'))
		p++;
	return p > a && p[0] == ')' && p[1] == '\0';
}

/* ---- service-level handlers ---- */

static int h_service_name(struct parse_state *st, struct service_dest *d, const char *key,
			  const char *v, char **reterr)
{
	const char *why = word_problem(v, false);

	if (why)
		return bad(reterr, key, v, why);
	free(st->s->name);
	st->s->name = xstrdup(v);
	return 0;
}

static int h_acl_name(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	/* Pasted into ACL, backend and file names: keep it to HAProxy's identifier characters. */
	if (!all_chars(v, "_.-"))
		return bad(reterr, key, v, "may only contain letters, digits, '_', '.' and '-'");
	free(st->s->acl_name);
	st->s->acl_name = xstrdup(v);
	return 0;
}

static int h_domain_algo(struct parse_state *st, struct service_dest *d, const char *key,
			 const char *v, char **reterr)
{
	if (!domain_algo_ok(v))
		return bad(reterr, key, v,
			   "is not a sample fetch such as hdr(host) or req.ssl_sni");
	free(st->s->domain_algo);
	st->s->domain_algo = xstrdup(v);
	return 0;
}

/* DFP's discoveryType: "DNS" (server-template on tasks.<service>) or the default; "VIP" is
 * flowproxy's name for DFP's default form (one server at <service>:<port>). */
static int h_discovery_type(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	free(st->s->discovery_type);
	st->s->discovery_type = NULL;
	if (strcasecmp(v, "DNS") == 0)
		st->s->discovery_type = xstrdup("DNS");
	else if (strcasecmp(v, "VIP") == 0)
		st->s->discovery_type = xstrdup("VIP");
	else if (*v && strcasecmp(v, "Overlay") != 0)
		return bad(reterr, key, v, "must be DNS, VIP or Overlay");
	return 0;
}

static int h_domain_match_all(struct parse_state *st, struct service_dest *d, const char *key,
			      const char *v, char **reterr)
{
	/* Deprecated since July 2017; DFP compares with "true" case-insensitively and wins. */
	if (strcasecmp(v, "true") == 0) {
		free(st->s->domain_algo);
		st->s->domain_algo = xstrdup("hdr_dom(host)");
	}
	return 0;
}

static int h_redirect_http(struct parse_state *st, struct service_dest *d, const char *key,
			   const char *v, char **reterr)
{
	st->s->redirect_when_http_proto = params_bool(v);
	return 0;
}

static int h_default_backend(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	st->s->is_default_backend = params_bool(v);
	return 0;
}

/* checkResolvers: also switched on for every service by CHECK_RESOLVERS=true (render). */
static int h_check_resolvers(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	st->s->check_resolvers = params_bool(v);
	return 0;
}

static int h_users(struct parse_state *st, struct service_dest *d, const char *key, const char *v,
		   char **reterr)
{
	st->users = v;
	return 0;
}

/* usersSecret names the secret dfp_users_<name>: a file name part. */
static int h_users_secret(struct parse_state *st, struct service_dest *d, const char *key,
			  const char *v, char **reterr)
{
	if (!all_chars(v, "_.-"))
		return bad(reterr, key, v, "may only contain letters, digits, '_', '.' and '-'");
	st->users_secret = v;
	return 0;
}

static int h_users_encrypted(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	st->s->users_pass_encrypted = params_bool(v);
	return 0;
}

static int h_replicas(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	long r;

	/* -1 is DFP's count of a DFP_SERVICE_* service: not global, never removed by count. */
	if (parse_long(v, -1, INT_MAX, &r) < 0)
		return bad(reterr, key, v, "must be an integer, -1 or more");
	st->s->replicas = r;
	st->s->has_replicas = true;
	return 0;
}

static int h_rp_search(struct parse_state *st, struct service_dest *d, const char *key,
		       const char *v, char **reterr)
{
	st->rp_search = v;
	return 0;
}

static int h_rp_replace(struct parse_state *st, struct service_dest *d, const char *key,
			const char *v, char **reterr)
{
	st->rp_replace = v;
	return 0;
}

/*
 * Header rules are HAProxy words, as Docker Flow Proxy pastes them into `http-request
 * set-header <item>`: `Name value`, `Name "a value; with spaces"`, `Name v if { ssl_fc }`. They
 * are tokenized here as HAProxy's configuration parser would (configuration manual §2.2) and
 * rendered again word by word, so the words HAProxy reads are the ones written, and nothing else:
 *
 * - words are separated by spaces; "..." and '...' group, and may be glued to other text;
 * - a backslash outside single quotes escapes the next character;
 * - refused: an unbalanced quote, a lone trailing backslash, '#' outside quotes (it would start a
 *   comment), the escapes \r \n \t \x and \0 (they would make control bytes), and '$' inside
 *   double quotes (HAProxy would paste flowproxy's own environment into the header).
 */
struct hap_word {
	char *text;
	bool bare; /* written without quotes or escapes: only then can it be `if` or `unless` */
};

static void hap_words_free(struct hap_word *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i].text);
	free(w);
}

static const char *hap_split(const char *s, struct hap_word **ret, size_t *ret_n)
{
	struct hap_word *w = NULL;
	size_t n = 0;
	struct strbuf b;
	const char *why = NULL;

	strbuf_init(&b);
	for (;;) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		bool bare = true;
		char q = 0;
		strbuf_reset(&b);
		for (; *s && (q || *s != ' '); s++) {
			char c = *s;
			if (q == '\'') {
				if (c == '\'')
					q = 0;
				else
					strbuf_putc(&b, c);
				continue;
			}
			if (c == '\\') {
				char e = s[1];
				if (!e) {
					why = "ends with a lone backslash";
					goto out;
				}
				if (strchr("rntx0", e)) {
					why = "must not contain the escapes \\r \\n \\t \\x or \\0 "
					      "(control characters)";
					goto out;
				}
				strbuf_putc(&b, e);
				s++;
				bare = false;
				continue;
			}
			if (q == '"') {
				if (c == '"')
					q = 0;
				else if (c == '$') {
					why = "must not contain '$' inside double quotes (HAProxy would "
					      "expand flowproxy's environment)";
					goto out;
				} else
					strbuf_putc(&b, c);
				continue;
			}
			if (c == '"' || c == '\'') {
				q = c;
				bare = false;
				continue;
			}
			if (c == '#') {
				why = "must not contain '#' outside quotes (HAProxy would start a "
				      "comment)";
				goto out;
			}
			strbuf_putc(&b, c);
		}
		if (q) {
			why = "has an unbalanced quote";
			goto out;
		}
		w = xrealloc(w, (n + 1) * sizeof(*w));
		w[n].text = xstrdup(strbuf_str(&b));
		w[n].bare = bare;
		n++;
	}
out:
	strbuf_done(&b);
	if (why) {
		hap_words_free(w, n);
		w = NULL;
		n = 0;
	}
	*ret = w;
	*ret_n = n;
	return why;
}

/* A condition word may stay bare when HAProxy would read it back unchanged. */
static bool cond_word_bare(const char *v)
{
	return all_chars(v, "_.:/!{}()<>=*+,;@%[]|&~^?-");
}

/*
 * Splits v on sep outside quotes: a separator inside "..." or '...' (or escaped) belongs to the
 * item. Items are trimmed; empty ones are dropped.
 */
static void split_quoted(const char *v, const char *sep, struct strv *out)
{
	size_t sl = strlen(sep);
	const char *b = v;
	char q = 0;

	for (const char *p = v;; p++) {
		if (*p && q) {
			if (*p == q)
				q = 0;
			else if (*p == '\\' && q == '"' && p[1])
				p++;
			continue;
		}
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '"' || *p == '\'') {
			q = *p;
			continue;
		}
		if (*p && strncmp(p, sep, sl) != 0)
			continue;
		_cleanup_free_ char *item = trim_dup(b, p);
		if (*item)
			strv_add(out, item);
		if (!*p)
			break;
		b = p + sl;
		p += sl - 1;
	}
}

/*
 * One header item: the name (an RFC 7230 token), then (with_value) the value's words, then an
 * optional `if`/`unless` condition. Several value words are joined by one space into one value,
 * so `X-Added hello world` sends "hello world" (HAProxy would refuse the extra words).
 */
static int parse_header_item(const char *key, const char *it, bool with_value,
			     struct service_header *ret, char **reterr)
{
	struct hap_word *w = NULL;
	size_t n = 0, k;
	const char *why = hap_split(it, &w, &n);
	int r = 0;

	if (why)
		return bad(reterr, key, it, why);
	if (!n || !w[0].bare || !header_name_ok(w[0].text)) {
		_cleanup_free_ char *q = show(n ? w[0].text : "");
		_cleanup_free_ char *what = xasprintf("has an invalid header name '%s'", q);
		r = bad(reterr, key, it, what);
		goto out;
	}
	for (k = 1; k < n; k++)
		if (w[k].bare && (streq(w[k].text, "if") || streq(w[k].text, "unless")))
			break;
	if (with_value && k == 1) {
		r = bad(reterr, key, it, "must be 'Name value [if|unless condition]'");
		goto out;
	}
	if (!with_value && k > 1) {
		r = bad(reterr, key, it, "must be a header name only [if|unless condition]");
		goto out;
	}
	if (k < n && k + 1 == n) {
		r = bad(reterr, key, it, "has an empty condition after if/unless");
		goto out;
	}
	ret->name = xstrdup(w[0].text);
	if (with_value) {
		struct strbuf v;
		strbuf_init(&v);
		for (size_t i = 1; i < k; i++) {
			if (i > 1)
				strbuf_putc(&v, ' ');
			strbuf_puts(&v, w[i].text);
		}
		ret->value = strbuf_steal(&v);
	}
	if (k < n) {
		struct strbuf c;
		strbuf_init(&c);
		for (size_t i = k; i < n; i++) {
			if (i > k)
				strbuf_putc(&c, ' ');
			if (cond_word_bare(w[i].text))
				strbuf_puts(&c, w[i].text);
			else
				strbuf_put_quoted(&c, w[i].text);
		}
		ret->cond = strbuf_steal(&c);
	}
out:
	hap_words_free(w, n);
	return r;
}

static int parse_headers(struct parse_state *st, const char *key, const char *v, bool with_value,
			 struct service_header **ret, size_t *ret_n, char **reterr)
{
	struct strv items = {0};
	int r = 0;

	split_quoted(v, st->sep, &items);
	service_headers_free(*ret, *ret_n);
	*ret = NULL;
	*ret_n = 0;
	if (items.n)
		*ret = xcalloc(items.n, sizeof(**ret));
	for (size_t i = 0; i < items.n; i++) {
		r = parse_header_item(key, items.v[i], with_value, &(*ret)[*ret_n], reterr);
		if (r < 0)
			break;
		(*ret_n)++;
	}
	strv_done(&items);
	return r;
}

#define HEADER_HANDLER(fn, field, with_value, canonical)                                       \
	static int fn(struct parse_state *st, struct service_dest *d, const char *key,         \
		      const char *v, char **reterr)                                            \
	{                                                                                      \
		const char *c = (canonical);                                                   \
		if (c && str_set(params_get(st->p, c)))                                        \
			return 0;                                                              \
		return parse_headers(st, key, v, with_value, &st->s->field, &st->s->n_##field, \
				     reterr);                                                  \
	}

/* DFP: addReqHeader wins over the deprecated addHeader, setReqHeader over setHeader. */
HEADER_HANDLER(h_add_header, add_req_headers, true, "addReqHeader")
HEADER_HANDLER(h_set_header, set_req_headers, true, "setReqHeader")
HEADER_HANDLER(h_add_req_header, add_req_headers, true, NULL)
HEADER_HANDLER(h_set_req_header, set_req_headers, true, NULL)
HEADER_HANDLER(h_del_req_header, del_req_headers, false, NULL)
HEADER_HANDLER(h_add_res_header, add_res_headers, true, NULL)
HEADER_HANDLER(h_set_res_header, set_res_headers, true, NULL)
HEADER_HANDLER(h_del_res_header, del_res_headers, false, NULL)

/* ---- destination-level handlers ---- */

static int h_service_path(struct parse_state *st, struct service_dest *d, const char *key,
			  const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->paths, key, path_item_problem, reterr);
}

static int h_service_path_exclude(struct parse_state *st, struct service_dest *d, const char *key,
				  const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->path_excludes, key, path_item_problem, reterr);
}

static int h_service_domain(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	/* "*.example.com" is kept as given; the renderer turns it into hdr_end(host). */
	return split_list(v, st->sep, &d->domains, key, domain_item_problem, reterr);
}

static int h_path_type(struct parse_state *st, struct service_dest *d, const char *key,
		       const char *v, char **reterr)
{
	bool reg;

	if (!path_type_ok(v, &reg))
		return bad(reterr, key, v,
			   "is not a path match such as path_beg, path_reg or path_beg -i");
	free(d->path_type);
	d->path_type = xstrdup(v);
	return 0;
}

static int h_port(struct parse_state *st, struct service_dest *d, const char *key, const char *v,
		  char **reterr)
{
	long n;

	if (parse_long(v, 1, 65535, &n) < 0)
		return bad(reterr, key, v, "must be a port number (1-65535)");
	free(d->port);
	d->port = xstrdup(v);
	return 0;
}

static int h_src_port(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	if (parse_long(v, 1, 65535, &d->src_port) < 0)
		return bad(reterr, key, v, "must be a port number (1-65535)");
	return 0;
}

static int h_req_mode(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	/* Only checked for syntax here: the mode itself after DFP's validation (validate_modes). */
	if (!all_chars(v, "_-"))
		return bad(reterr, key, v, "must be a mode name such as http");
	free(d->req_mode);
	d->req_mode = xstrdup(v);
	return 0;
}

static void add_path_replace(struct service_dest *d, const char *search, const char *replace)
{
	d->path_replace =
		xrealloc(d->path_replace, (d->n_path_replace + 1) * sizeof(*d->path_replace));
	d->path_replace[d->n_path_replace].search = xstrdup(search);
	d->path_replace[d->n_path_replace].replace = xstrdup(replace);
	d->n_path_replace++;
}

/*
 * One search/replace pair, rendered as
 * `http-request set-path %[path,'regsub("<search>","<replace>")']`: single quotes keep
 * HAProxy's line parser away from the regex, double quotes keep the sample parser's ',' and ')'
 * inside the arguments, so groups, alternations and `\1` references work as PCRE2 means them.
 * Neither part may contain a quote (it would end its quoting) or end in a backslash (it would
 * escape the closing one); nor a space or '#', which no request path holds. The search must compile with PCRE2, as HAProxy compiles it.
 */
static int check_path_replace(const char *key, const char *search, const char *replace,
			      char **reterr)
{
	const char *parts[] = {search, replace};

	if (!*search)
		return bad(reterr, key, search, "must not be an empty regular expression");
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		size_t n = strlen(parts[i]);
		const char *why = word_problem(parts[i], true);
		if (why)
			;
		else if (n && parts[i][n - 1] == '\\' && (n < 2 || parts[i][n - 2] != '\\'))
			why = "must not end with a backslash";
		if (why)
			return bad(reterr, key, parts[i], why);
	}
	return regex_check(key, search, reterr);
}

/*
 * The end of a reqPathSearchReplace field: the first `stop` outside a regex group, class or
 * quantifier ((...), [...], {...}) that no backslash escapes. So `^/a/(?:x|y)/(\d{1,3}),/b/\1`
 * splits at the ',' after the group, and a literal ',' or ':' is written `\,` or `\:`.
 */
static const char *rp_field_end(const char *s, char stop)
{
	int depth = 0;
	bool in_class = false;

	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (in_class) {
			if (*s == ']')
				in_class = false;
			continue;
		}
		if (*s == '[')
			in_class = true;
		else if (*s == '(' || *s == '{')
			depth++;
		else if ((*s == ')' || *s == '}') && depth > 0)
			depth--;
		else if (*s == stop && depth == 0)
			return s;
	}
	return s;
}

static int h_path_search_replace(struct parse_state *st, struct service_dest *d, const char *key,
				 const char *v, char **reterr)
{
	/* "search,replace[:search2,replace2...]", split outside groups as rp_field_end says. */
	for (const char *b = v;;) {
		const char *e = rp_field_end(b, ':');
		if (e > b) {
			_cleanup_free_ char *pair = xstrndup(b, (size_t)(e - b));
			char *comma = (char *)rp_field_end(pair, ',');
			if (!*comma)
				return bad(reterr, key, pair,
					   "must be 'search,replace[:search2,replace2...]'");
			*comma = '\0';
			int r = check_path_replace(key, pair, comma + 1, reterr);
			if (r < 0)
				return r;
			add_path_replace(d, pair, comma + 1);
		}
		if (!*e)
			break;
		b = e + 1;
	}
	return 0;
}

static int h_outbound_hostname(struct parse_state *st, struct service_dest *d, const char *key,
			       const char *v, char **reterr)
{
	/* The server address: host names, IPv4 and IPv6 literals only. */
	if (!all_chars(v, ".-_:"))
		return bad(reterr, key, v, "must be a host name or an IP address");
	free(d->outbound_hostname);
	d->outbound_hostname = xstrdup(v);
	return 0;
}

static int h_https_only(struct parse_state *st, struct service_dest *d, const char *key,
			const char *v, char **reterr)
{
	d->https_only = params_bool(v);
	return 0;
}

static int h_https_redirect_code(struct parse_state *st, struct service_dest *d, const char *key,
				 const char *v, char **reterr)
{
	static const char *const codes[] = {"301", "302", "303", "307", "308"};

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		if (streq(v, codes[i])) {
			free(d->https_redirect_code);
			d->https_redirect_code = xstrdup(v);
			return 0;
		}
	}
	return bad(reterr, key, v, "must be one of 301, 302, 303, 307, 308");
}

/* HAProxy timers are milliseconds in a signed 32-bit int: 2147483 s is the largest. */
static int parse_timeout(const char *key, const char *v, long *ret, char **reterr)
{
	if (parse_long(v, 0, 2147483, ret) < 0)
		return bad(reterr, key, v, "must be a number of seconds (0-2147483)");
	return 0;
}

static int h_timeout_server(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	return parse_timeout(key, v, &d->timeout_server, reterr);
}

static int h_timeout_tunnel(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	return parse_timeout(key, v, &d->timeout_tunnel, reterr);
}

static int h_timeout_client(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	return parse_timeout(key, v, &d->timeout_client, reterr);
}

static int h_check_tcp(struct parse_state *st, struct service_dest *d, const char *key,
		       const char *v, char **reterr)
{
	d->check_tcp = params_bool(v);
	return 0;
}

static int h_clitcpka(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	d->clitcpka = params_bool(v);
	return 0;
}

/* serviceGroup: part of the proxy name tcpListen_<group>_<srcPort> and of its server names. */
static int h_service_group(struct parse_state *st, struct service_dest *d, const char *key,
			   const char *v, char **reterr)
{
	if (!all_chars(v, "_-.") || strlen(v) > 64)
		return bad(reterr, key, v,
			   "must be a name of letters, digits, '_', '-' and '.' (at most 64)");
	free(d->service_group);
	d->service_group = xstrdup(v);
	return 0;
}

/* balanceGroup: the algorithms HAProxy 2.6 offers a tcp proxy without arguments (§4.2). */
static int h_balance_group(struct parse_state *st, struct service_dest *d, const char *key,
			   const char *v, char **reterr)
{
	static const char *const algos[] = {"roundrobin", "static-rr", "leastconn",
					    "first",	  "source",    "random"};

	for (size_t i = 0; i < ARRAY_SIZE(algos); i++) {
		if (streq(v, algos[i])) {
			free(d->balance_group);
			d->balance_group = xstrdup(v);
			return 0;
		}
	}
	return bad(reterr, key, v,
		   "must be one of roundrobin, static-rr, leastconn, first, source, random");
}

static int h_ignore_auth(struct parse_state *st, struct service_dest *d, const char *key,
			 const char *v, char **reterr)
{
	d->ignore_authorization = params_bool(v);
	return 0;
}

/* An HTTP method: an RFC 7230 token, as HAProxy's `method` ACL takes it. */
static const char *method_item_problem(const char *item)
{
	return header_name_ok(item) ? NULL : "is not an HTTP method (a token such as GET)";
}

static int h_allowed_methods(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->allowed_methods, key, method_item_problem, reterr);
}

static int h_denied_methods(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->denied_methods, key, method_item_problem, reterr);
}

/* userAgent: substrings of User-Agent, one word each (HAProxy patterns are words). */
static int h_user_agent(struct parse_state *st, struct service_dest *d, const char *key,
			const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->user_agents, key, domain_item_problem, reterr);
}

static int h_redirect_from_domain(struct parse_state *st, struct service_dest *d, const char *key,
				  const char *v, char **reterr)
{
	return split_list(v, st->sep, &d->redirect_from_domains, key, domain_item_problem, reterr);
}

static int header_cmp(const void *a, const void *b)
{
	return strcmp(((const struct service_header *)a)->name,
		      ((const struct service_header *)b)->name);
}

/* serviceHeader: `Name:value[,Name2:value2]`, each an `hdr(Name) value` ACL; sorted as DFP. */
static int h_service_header(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	struct strv items = {0};
	int r = split_list(v, st->sep, &items, key, domain_item_problem, reterr);

	service_headers_free(d->service_headers, d->n_service_headers);
	d->service_headers = NULL;
	d->n_service_headers = 0;
	if (r >= 0 && items.n)
		d->service_headers = xcalloc(items.n, sizeof(*d->service_headers));
	for (size_t i = 0; r >= 0 && i < items.n; i++) {
		const char *it = items.v[i];
		const char *colon = strchr(it, ':');
		_cleanup_free_ char *name = colon ? xstrndup(it, (size_t)(colon - it)) : NULL;
		if (!name || !header_name_ok(name) || !colon[1]) {
			r = bad(reterr, key, it, "must be 'Name:value' with a header name");
			break;
		}
		d->service_headers[d->n_service_headers].name = xstrdup(name);
		d->service_headers[d->n_service_headers].value = xstrdup(colon + 1);
		d->n_service_headers++;
	}
	if (d->n_service_headers > 1)
		qsort(d->service_headers, d->n_service_headers, sizeof(*d->service_headers),
		      header_cmp);
	strv_done(&items);
	return r;
}

static int h_redirect_https(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	st->s->redirect_unless_https_proto = params_bool(v);
	return 0;
}

static int h_session_type(struct parse_state *st, struct service_dest *d, const char *key,
			  const char *v, char **reterr)
{
	if (!streq(v, "sticky-server"))
		return bad(reterr, key, v, "must be sticky-server");
	st->s->sticky = true;
	return 0;
}

static int h_connection_mode(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	static const char *const modes[] = {"http-keep-alive", "http-server-close", "httpclose"};

	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		if (streq(v, modes[i])) {
			free(st->s->connection_mode);
			st->s->connection_mode = xstrdup(v);
			return 0;
		}
	}
	return bad(reterr, key, v, "must be http-keep-alive, http-server-close or httpclose");
}

/* Space-separated words, each accepted by ok; kept as one string with single spaces. */
static int parse_words(const char *key, const char *v, bool (*ok)(const char *), const char *what,
		       char **ret, char **reterr)
{
	struct strv w = {0};
	struct strbuf b;
	int r = split_list(v, " ", &w, key, domain_item_problem, reterr);

	strbuf_init(&b);
	for (size_t i = 0; r >= 0 && i < w.n; i++) {
		if (!ok(w.v[i])) {
			r = bad(reterr, key, w.v[i], what);
			break;
		}
		if (i)
			strbuf_putc(&b, ' ');
		strbuf_puts(&b, w.v[i]);
	}
	if (r >= 0 && w.n == 0)
		r = bad(reterr, key, v, what);
	strv_done(&w);
	if (r < 0) {
		strbuf_done(&b);
		return r;
	}
	free(*ret);
	*ret = strbuf_steal(&b);
	return 0;
}

static bool compression_algo_ok(const char *w)
{
	return streq(w, "gzip") || streq(w, "deflate") || streq(w, "raw-deflate") ||
	       streq(w, "identity");
}

static bool mime_type_ok(const char *w)
{
	return strchr(w, '/') && all_chars(w, "/+.-_;=");
}

static int h_compression_algo(struct parse_state *st, struct service_dest *d, const char *key,
			      const char *v, char **reterr)
{
	return parse_words(key, v, compression_algo_ok,
			   "must be gzip, deflate, raw-deflate or identity (space-separated)",
			   &st->s->compression_algo, reterr);
}

static int h_compression_type(struct parse_state *st, struct service_dest *d, const char *key,
			      const char *v, char **reterr)
{
	return parse_words(key, v, mime_type_ok,
			   "must be MIME types such as text/html (space-separated)",
			   &st->s->compression_type, reterr);
}

/*
 * backendExtra: HAProxy lines appended to each of the service's backends, as given (the one
 * parameter whose purpose is raw configuration; ALLOW_BACKEND_EXTRA=false refuses it). Lines are
 * separated by LF; none may open another section, which would take the rest of the backend's
 * lines, or other services' traffic, with it.
 */
static int h_backend_extra(struct parse_state *st, struct service_dest *d, const char *key,
			   const char *v, char **reterr)
{
	static const char *const sections[] = {
		"backend",  "cache",	 "defaults",	"frontend", "global",	      "http-errors",
		"listen",   "mailers",	 "peers",	"program",  "resolvers",      "ring",
		"userlist", "crt-store", "log-forward", "fcgi-app", "dynamic-update",
	};

	if (st->ctx->deny_backend_extra)
		return errmsg_set(reterr, -EINVAL,
				  "backendExtra is refused: ALLOW_BACKEND_EXTRA is false");
	for (const char *b = v; *b;) {
		const char *e = strchr(b, '\n');
		size_t n = e ? (size_t)(e - b) : strlen(b);
		_cleanup_free_ char *line = trim_dup(b, b + n);
		size_t wl = strcspn(line, " ");
		for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
			if (wl == strlen(sections[i]) && strncmp(line, sections[i], wl) == 0)
				return bad(reterr, key, line,
					   "must not open a section (it would end the backend)");
		b += n + (e ? 1 : 0);
	}
	free(st->s->backend_extra);
	st->s->backend_extra = xstrdup(v);
	return 0;
}

/* ---- TLS (docs/tls.md) ---- */

static int h_deny_http(struct parse_state *st, struct service_dest *d, const char *key,
		       const char *v, char **reterr)
{
	d->deny_http = params_bool(v);
	return 0;
}

static int h_ssl_verify_none(struct parse_state *st, struct service_dest *d, const char *key,
			     const char *v, char **reterr)
{
	d->ssl_verify_none = params_bool(v);
	return 0;
}

static int h_verify_client_ssl(struct parse_state *st, struct service_dest *d, const char *key,
			       const char *v, char **reterr)
{
	d->verify_client_ssl = params_bool(v);
	/* Without CA_FILE no bind asks for a client certificate: every request would be denied. */
	if (d->verify_client_ssl && !st->ctx->ca_file)
		return errmsg_set(reterr, -EINVAL,
				  "%s needs CA_FILE, the CA that client certificates are verified "
				  "against: set it on the proxy",
				  key);
	return 0;
}

static int h_https_port(struct parse_state *st, struct service_dest *d, const char *key,
			const char *v, char **reterr)
{
	if (parse_long(v, 1, 65535, &d->https_port) < 0)
		return bad(reterr, key, v, "must be a port number (1-65535)");
	return 0;
}

static int h_src_https_port(struct parse_state *st, struct service_dest *d, const char *key,
			    const char *v, char **reterr)
{
	if (parse_long(v, 1, 65535, &d->src_https_port) < 0)
		return bad(reterr, key, v, "must be a port number (1-65535)");
	return 0;
}

/*
 * serviceCert: a PEM with literal "\n" for newlines. Checked here; the service's caller writes it
 * to <certs dir>/<first serviceDomain or serviceName> (certload_service). The value is never
 * quoted in a message: it holds a private key.
 */
static int h_service_cert(struct parse_state *st, struct service_dest *d, const char *key,
			  const char *v, char **reterr)
{
	_cleanup_free_ char *pem = pem_unescape(v);
	_cleanup_free_ char *err = NULL;

	if (pem_check(pem, strlen(pem), &err) < 0)
		return errmsg_set(reterr, -EINVAL, "%s: %s", key, err);
	return 0;
}

/*
 * templateFePath / templateBePath: a file of the templates directory (relative) or anywhere
 * (absolute). Only the path is checked here (this module does no I/O): no ".." component, so that
 * a relative path stays inside the templates directory. The edge reads the file when the service
 * is submitted (snippets_service_templates) and refuses an unreadable one there.
 */
static int h_template_path(struct parse_state *st, struct service_dest *d, const char *key,
			   const char *v, char **reterr)
{
	char **slot = strcasecmp(key, "templateFePath") == 0 ? &st->s->template_fe_path
							     : &st->s->template_be_path;

	if (strlen(v) > 1024)
		return bad(reterr, key, v, "is longer than 1024 bytes");
	for (const char *c = v; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return bad(reterr, key, v,
				   "must not contain '..': a relative path is read from the "
				   "templates directory");
		c += n;
		c += *c == '/';
	}
	if (v[strlen(v) - 1] == '/')
		return bad(reterr, key, v, "must name a file, not a directory");
	free(*slot);
	*slot = xstrdup(v);
	return 0;
}

/* userDef: free data for custom templates (control bytes are refused for every parameter). */
static int h_user_def(struct parse_state *st, struct service_dest *d, const char *key,
		      const char *v, char **reterr)
{
	free(d->user_def);
	d->user_def = xstrdup(v);
	return 0;
}

/*
 * A Docker Flow Proxy parameter flowproxy does not implement yet. Dropping it would route the
 * service with less than its owner asked for (an allowedMethods or denyHttp restriction, say),
 * so it is refused; the refusal comes after DFP's own validation (parse_all), keyed by the first
 * such parameter. The value is not quoted: it may be a certificate or a password file name.
 */
static int h_unsupported(struct parse_state *st, struct service_dest *d, const char *key,
			 const char *v, char **reterr)
{
	if (!st->unsupported)
		st->unsupported = xstrdup(key);
	return 0;
}

/* The same for a boolean: false is what flowproxy does without it, so only true is refused. */
static int h_unsupported_bool(struct parse_state *st, struct service_dest *d, const char *key,
			      const char *v, char **reterr)
{
	return params_bool(v) ? h_unsupported(st, d, key, v, reterr) : 0;
}

/*
 * distribute: read by the API, which sends the request to every replica (distribute.h); the
 * service keeps the value in its raw parameters, which its JSON echoes.
 */
static int h_distribute(struct parse_state *st, struct service_dest *d, const char *key,
			const char *v, char **reterr)
{
	return 0;
}

/*
 * proxyInstanceName: which proxy the service is for, compared with PROXY_INSTANCE_NAME when
 * FILTER_PROXY_INSTANCE_NAME is set (daemon_instance_matches). It never reaches HAProxy's
 * configuration, so any text (control bytes are refused for every parameter) is fine.
 */
static int h_proxy_instance_name(struct parse_state *st, struct service_dest *d, const char *key,
				 const char *v, char **reterr)
{
	return 0;
}

/*
 * Every parameter flowproxy reads, sorted case-insensitively by name: parsing walks it in order,
 * and incoming keys are classified by binary search (check_control). Every parameter of DFP's
 * §1.3 has a row; anything else is ignored, as in DFP.
 */
static const struct labels_def defs[] = {
	{"aclCondition", LABELS_SERVICE, h_unsupported, false},
	{"aclName", LABELS_SERVICE, h_acl_name, false},
	{"addHeader", LABELS_SERVICE, h_add_header, false},
	{"addReqHeader", LABELS_SERVICE, h_add_req_header, false},
	{"addResHeader", LABELS_SERVICE, h_add_res_header, false},
	{"allowedMethods", LABELS_DEST, h_allowed_methods, false},
	{"backendExtra", LABELS_SERVICE, h_backend_extra, false},
	{"balanceGroup", LABELS_DEST, h_balance_group, false},
	{"checkResolvers", LABELS_SERVICE, h_check_resolvers, false},
	{"checkTcp", LABELS_DEST, h_check_tcp, false},
	{"clitcpka", LABELS_DEST, h_clitcpka, false},
	{"compressionAlgo", LABELS_SERVICE, h_compression_algo, false},
	{"compressionType", LABELS_SERVICE, h_compression_type, false},
	{"connectionMode", LABELS_SERVICE, h_connection_mode, false},
	{"delReqHeader", LABELS_SERVICE, h_del_req_header, false},
	{"delResHeader", LABELS_SERVICE, h_del_res_header, false},
	{"deniedMethods", LABELS_DEST, h_denied_methods, false},
	{"denyHttp", LABELS_DEST, h_deny_http, false},
	{"discoveryType", LABELS_SERVICE, h_discovery_type, false},
	{"distribute", LABELS_SERVICE, h_distribute, false},
	{"httpsOnly", LABELS_DEST, h_https_only, false},
	{"httpsPort", LABELS_DEST, h_https_port, false},
	{"httpsRedirectCode", LABELS_DEST, h_https_redirect_code, false},
	{"ignoreAuthorization", LABELS_DEST, h_ignore_auth, false},
	{"isDefaultBackend", LABELS_SERVICE, h_default_backend, false},
	{"outboundHostname", LABELS_DEST, h_outbound_hostname, false},
	{"pathType", LABELS_DEST, h_path_type, false},
	{"port", LABELS_DEST, h_port, false},
	{"proxyInstanceName", LABELS_SERVICE, h_proxy_instance_name, false},
	{"redirectFromDomain", LABELS_DEST, h_redirect_from_domain, false},
	{"redirectUnlessHttpsProto", LABELS_SERVICE, h_redirect_https, false},
	{"redirectWhenHttpProto", LABELS_SERVICE, h_redirect_http, false},
	{"replicas", LABELS_SERVICE, h_replicas, false},
	{"reqMode", LABELS_DEST, h_req_mode, false},
	{"reqPathReplace", LABELS_SERVICE, h_rp_replace, false},
	{"reqPathSearch", LABELS_SERVICE, h_rp_search, false},
	{"reqPathSearchReplace", LABELS_DEST, h_path_search_replace, false},
	{"serviceCert", LABELS_SERVICE, h_service_cert, true},
	{"serviceDomain", LABELS_DEST, h_service_domain, false},
	{"serviceDomainAlgo", LABELS_SERVICE, h_domain_algo, false},
	{"serviceDomainMatchAll", LABELS_SERVICE, h_domain_match_all, false},
	{"serviceGroup", LABELS_DEST, h_service_group, false},
	{"serviceHeader", LABELS_DEST, h_service_header, false},
	{"serviceName", LABELS_SERVICE, h_service_name, false},
	{"servicePath", LABELS_DEST, h_service_path, false},
	{"servicePathExclude", LABELS_DEST, h_service_path_exclude, false},
	{"sessionType", LABELS_SERVICE, h_session_type, false},
	{"setHeader", LABELS_SERVICE, h_set_header, false},
	{"setReqHeader", LABELS_SERVICE, h_set_req_header, false},
	{"setResHeader", LABELS_SERVICE, h_set_res_header, false},
	{"srcHttpsPort", LABELS_DEST, h_src_https_port, false},
	{"srcPort", LABELS_DEST, h_src_port, false},
	{"sslVerifyNone", LABELS_DEST, h_ssl_verify_none, false},
	{"templateBePath", LABELS_SERVICE, h_template_path, false},
	{"templateFePath", LABELS_SERVICE, h_template_path, false},
	{"timeoutClient", LABELS_DEST, h_timeout_client, false},
	{"timeoutServer", LABELS_DEST, h_timeout_server, false},
	{"timeoutTunnel", LABELS_DEST, h_timeout_tunnel, false},
	{"userAgent", LABELS_DEST, h_user_agent, false},
	{"userDef", LABELS_DEST, h_user_def, false},
	{"users", LABELS_SERVICE, h_users, true},
	{"usersPassEncrypted", LABELS_SERVICE, h_users_encrypted, false},
	{"usersSecret", LABELS_SERVICE, h_users_secret, false},
	{"verifyClientSsl", LABELS_DEST, h_verify_client_ssl, false},
};

static int def_cmp(const void *key, const void *elem)
{
	const char *k = key;
	const struct labels_def *d = elem;

	return strcasecmp(k, d->name);
}

/*
 * Looks key up as "<name>" or "<name>.<i>" (i in 1..10, destination-level names only). Returns
 * the definition and sets *ret_index (0 when un-suffixed), or NULL for unknown parameters.
 */
static const struct labels_def *def_find(const char *key, int *ret_index)
{
	char base[LABELS_MAX_KEY + 1];
	const char *dot = strrchr(key, '.');
	const struct labels_def *d;
	long idx = 0;

	if (strlen(key) > LABELS_MAX_KEY)
		return NULL;
	if (dot && dot[1] && parse_long(dot + 1, 1, SERVICE_DEST_MAX, &idx) == 0) {
		memcpy(base, key, (size_t)(dot - key));
		base[dot - key] = '\0';
	} else {
		idx = 0;
		snprintf(base, sizeof(base), "%s", key);
	}
	d = bsearch(base, defs, ARRAY_SIZE(defs), sizeof(defs[0]), def_cmp);
	if (!d || (idx > 0 && d->level != LABELS_DEST))
		return NULL;
	*ret_index = (int)idx;
	return d;
}

enum labels_support labels_param_support(const char *name)
{
	int idx;
	const struct labels_def *d = def_find(name, &idx);

	if (!d)
		return LABELS_UNKNOWN;
	if (d->fn == h_unsupported || d->fn == h_unsupported_bool)
		return LABELS_UNSUPPORTED;
	return LABELS_IMPLEMENTED;
}

/* The exact key `name.index`, as DFP's GetString reads it: no case folding. */
static const char *get_exact(const struct params *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->v[i].key, key))
			return p->v[i].value;
	return NULL;
}

/*
 * DFP's getFromString: `name.index` when non-empty, else `name`. *ret_key is the key the value
 * came from, for messages (caller frees).
 */
static const char *dest_get(const struct params *p, const char *name, int index, char **ret_key)
{
	const char *v = NULL;

	if (index > 0) {
		char *k = xasprintf("%s.%d", name, index);
		v = get_exact(p, k);
		if (str_set(v)) {
			*ret_key = k;
			return v;
		}
		free(k);
	}
	*ret_key = xstrdup(name);
	return params_get(p, name);
}

static bool dest_exists(const struct params *p, int index)
{
	static const char *const keys[] = {"servicePath", "port", "serviceDomain", "httpsPort"};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char k[64];
		snprintf(k, sizeof(k), "%s.%d", keys[i], index);
		if (str_set(get_exact(p, k)))
			return true;
	}
	return false;
}

/* ---- users ---- */

static void user_add(struct service *s, const char *name, const char *password, bool encrypted)
{
	s->users = xrealloc(s->users, (s->n_users + 1) * sizeof(*s->users));
	s->users[s->n_users].name = xstrdup(name);
	s->users[s->n_users].password = xstrdup(password);
	s->users[s->n_users].encrypted = encrypted;
	s->n_users++;
}

/* Passwords are never quoted in messages. */
static int check_user(const char *from, const char *name, const char *password, char **reterr)
{
	const char *why = word_problem(name, false);

	if (why || strpbrk(name, ",:")) {
		_cleanup_free_ char *q = show(name);
		return errmsg_set(reterr, -EINVAL,
				  "%s: user name '%s' must not contain spaces, ',', ':', '#', "
				  "quotes or backslashes",
				  from, q);
	}
	if (password && (word_problem(password, false) || strchr(password, ','))) {
		_cleanup_free_ char *q = show(name);
		return errmsg_set(
			reterr, -EINVAL,
			"%s: the password of '%s' must not contain spaces, ',', '#', quotes "
			"or backslashes",
			from, q);
	}
	return 0;
}

/*
 * DFP's extractUsersFromString for one item "name:password" or "name" (split on the first ':',
 * both parts trimmed). Returns false for items DFP skips (empty name, or empty password after
 * a ':').
 */
static bool user_split(const char *item, char **ret_name, char **ret_pass)
{
	const char *c = strchr(item, ':');

	*ret_name = *ret_pass = NULL;
	if (!c) {
		*ret_name = trim_dup(item, item + strlen(item));
		return **ret_name != '\0';
	}
	*ret_name = trim_dup(item, c);
	*ret_pass = trim_dup(c + 1, c + strlen(c));
	return **ret_name && **ret_pass;
}

/* Looks name up (case-insensitively, as DFP's findUserByName) in USERS "u:p,u2:p2". */
static char *global_password(const char *users, const char *name)
{
	if (!users)
		return NULL;
	for (const char *b = users;;) {
		const char *e = strpbrk(b, ",\n");
		if (!e)
			e = b + strlen(b);
		_cleanup_free_ char *item = xstrndup(b, (size_t)(e - b));
		_cleanup_free_ char *n = NULL, *pw = NULL;
		if (user_split(item, &n, &pw) && pw && strcasecmp(n, name) == 0)
			return TAKE_PTR(pw);
		if (!*e)
			return NULL;
		b = e + 1;
	}
}

/* A random password that no crypt(3) output can equal, for DFP's dummyUser. */
static char *random_password(void)
{
	unsigned char r[16];
	char hex[sizeof(r) * 2 + 1];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		unsigned long long t = (unsigned long long)now_usec() ^ (uintptr_t)r;
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)(i * 131);
	}
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return xstrdup(hex);
}

/* The users of a `u:p` list separated by ',' or LF (a usersSecret file), checked. */
static int users_from_text(struct service *s, const char *from, const char *text, bool encrypted,
			   char **reterr)
{
	for (const char *b = text;;) {
		const char *e = strpbrk(b, ",\n");
		if (!e)
			e = b + strlen(b);
		_cleanup_free_ char *item = xstrndup(b, (size_t)(e - b));
		_cleanup_free_ char *name = NULL, *pw = NULL;
		if (user_split(item, &name, &pw) && pw) {
			int r = check_user(from, name, pw, reterr);
			if (r < 0)
				return r;
			user_add(s, name, pw, encrypted);
		}
		if (!*e)
			return 0;
		b = e + 1;
	}
}

/*
 * DFP's mergeUsers: users with a password are kept; names without one take their password from
 * the usersSecret file when there is one, else from USERS; names not found are dropped. Without
 * `users`, every user of the usersSecret file is taken. If users were requested but none is
 * left, a dummyUser with a random "encrypted" password locks everyone out, as in DFP. A
 * usersSecret that cannot be read is refused (DFP logged it and locked everyone out).
 */
static int resolve_users(struct parse_state *st, char **reterr)
{
	const char *v = st->users;
	struct service file = {0};
	int r = 0;

	if (!str_set(v) && !str_set(st->users_secret))
		return 0;
	if (str_set(st->users_secret)) {
		_cleanup_free_ char *text = NULL;
		_cleanup_free_ char *from = xasprintf("usersSecret '%s'", st->users_secret);
		if (!st->ctx->read_users_secret)
			return errmsg_set(reterr, -EINVAL,
					  "usersSecret is not available for this source");
		r = st->ctx->read_users_secret(st->ctx->secret_arg, st->users_secret, &text,
					       reterr);
		if (r < 0)
			return r;
		r = users_from_text(&file, from, text, st->s->users_pass_encrypted, reterr);
		if (r < 0)
			goto out;
	}
	if (!str_set(v)) {
		for (size_t i = 0; i < file.n_users; i++)
			user_add(st->s, file.users[i].name, file.users[i].password,
				 file.users[i].encrypted);
	}
	for (const char *b = str_set(v) ? v : "";;) {
		const char *e = strchr(b, ',');
		if (!e)
			e = b + strlen(b);
		_cleanup_free_ char *item = xstrndup(b, (size_t)(e - b));
		_cleanup_free_ char *name = NULL, *pw = NULL;
		if (user_split(item, &name, &pw)) {
			if (pw) {
				r = check_user("users", name, pw, reterr);
				if (r < 0)
					goto out;
				user_add(st->s, name, pw, st->s->users_pass_encrypted);
			} else if (str_set(st->users_secret)) {
				r = check_user("users", name, NULL, reterr);
				if (r < 0)
					goto out;
				for (size_t i = 0; i < file.n_users; i++) {
					if (strcasecmp(file.users[i].name, name) == 0) {
						user_add(st->s, name, file.users[i].password,
							 file.users[i].encrypted);
						break;
					}
				}
			} else {
				r = check_user("users", name, NULL, reterr);
				if (r < 0)
					goto out;
				_cleanup_free_ char *gp = global_password(st->ctx->users, name);
				if (gp) {
					r = check_user("USERS", name, gp, reterr);
					if (r < 0)
						goto out;
					user_add(st->s, name, gp, st->ctx->users_pass_encrypted);
				}
			}
		}
		if (!*e)
			break;
		b = e + 1;
	}
	if (st->s->n_users == 0) {
		_cleanup_free_ char *pw = random_password();
		user_add(st->s, "dummyUser", pw, true);
	}
out:
	for (size_t i = 0; i < file.n_users; i++) {
		free(file.users[i].name);
		free(file.users[i].password);
	}
	free(file.users);
	return r;
}

/* ---- destinations ---- */

static int parse_dest(struct parse_state *st, struct service_dest *d, int index, char **reterr)
{
	bool reg = false;
	int r;

	d->index = index;
	for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
		if (defs[i].level != LABELS_DEST)
			continue;
		_cleanup_free_ char *key = NULL;
		const char *v = dest_get(st->p, defs[i].name, index, &key);
		if (!str_set(v))
			continue;
		r = defs[i].fn(st, d, key, v, reterr);
		if (r < 0)
			return r;
	}
	if (!d->path_type)
		d->path_type = xstrdup("path_beg");
	if (!d->req_mode)
		d->req_mode = xstrdup("http");
	if (d->redirect_from_domains.n && !d->domains.n) {
		_cleanup_free_ char *k = NULL;
		dest_get(st->p, "redirectFromDomain", index, &k);
		return errmsg_set(reterr, -EINVAL,
				  "%s needs a serviceDomain to redirect to (the first one is the "
				  "target)",
				  k);
	}
	d->paths_given = d->paths.n > 0;
	if (d->domains.n && !d->paths.n)
		strv_add(&d->paths, "/");
	/* DFP's FormatServiceForTemplates: httpsPort implies srcHttpsPort 443 and srcPort 80, so
	 * the HTTP backend gets port 80's requests and the https one port 443's. */
	if (d->https_port > 0) {
		if (d->src_https_port <= 0)
			d->src_https_port = 443;
		if (d->src_port <= 0)
			d->src_port = 80;
	}

	/* DFP: the un-suffixed httpsOnly or HTTPS_ONLY forces every destination. */
	const char *ho = params_get(st->p, "httpsOnly");
	if (st->ctx->https_only || (str_set(ho) && params_bool(ho)))
		d->https_only = true;

	/* The deprecated reqPathSearch/reqPathReplace pair comes first, in every destination. */
	if (str_set(st->rp_search)) {
		const char *rep = st->rp_replace ? st->rp_replace : "";
		r = check_path_replace("reqPathSearch", st->rp_search, "", reterr);
		if (r >= 0)
			r = check_path_replace("reqPathReplace", "x", rep, reterr);
		if (r < 0)
			return r;
		d->path_replace = xrealloc(d->path_replace,
					   (d->n_path_replace + 1) * sizeof(*d->path_replace));
		memmove(d->path_replace + 1, d->path_replace,
			d->n_path_replace * sizeof(*d->path_replace));
		d->path_replace[0].search = xstrdup(st->rp_search);
		d->path_replace[0].replace = xstrdup(rep);
		d->n_path_replace++;
	}

	/* Regex matches must compile, or HAProxy refuses the whole configuration. */
	path_type_ok(d->path_type, &reg);
	if (reg) {
		_cleanup_free_ char *pk = NULL, *ek = NULL;
		dest_get(st->p, "servicePath", index, &pk);
		dest_get(st->p, "servicePathExclude", index, &ek);
		for (size_t i = 0; i < d->paths.n; i++)
			if ((r = regex_check(pk, d->paths.v[i], reterr)) < 0)
				return r;
		for (size_t i = 0; i < d->path_excludes.n; i++)
			if ((r = regex_check(ek, d->path_excludes.v[i], reterr)) < 0)
				return r;
	}
	return 0;
}

/* DFP's IsValidReconf and server.hasPort (§1.2 Validation), in that order. */
static int validate_dfp(struct parse_state *st, int *ret_status, char **reterr)
{
	const struct service *s = st->s;
	const struct service_dest *d = &s->dests[0];
	_cleanup_free_ char *hk = NULL;
	const char *hp = dest_get(st->p, "httpsPort", d->index, &hk);
	long https_port = 0;

	if (!str_set(s->name)) {
		*ret_status = STATUS_BAD_REQUEST;
		return errmsg_set(reterr, -EINVAL, "serviceName parameter is mandatory.");
	}
	if (streq(d->req_mode, "http")) {
		if (d->paths.n == 0 && d->domains.n == 0) {
			*ret_status = STATUS_CONFLICT;
			return errmsg_set(
				reterr, -EINVAL,
				"When using reqMode http, servicePath or serviceDomain are mandatory");
		}
	} else if (d->src_port <= 0 || !str_set(d->port)) {
		*ret_status = STATUS_BAD_REQUEST;
		return errmsg_set(reterr, -EINVAL,
				  "When NOT using reqMode http (e.g. tcp), srcPort and port "
				  "parameters are mandatory.");
	}
	if (str_set(hp) && parse_long(hp, 1, INT_MAX, &https_port) < 0)
		https_port = 0;
	if (!str_set(d->port) && https_port <= 0) {
		*ret_status = STATUS_BAD_REQUEST;
		return errmsg_set(reterr, -EINVAL,
				  "When MODE is set to \"service\" or \"swarm\", the port query is "
				  "mandatory");
	}
	return 0;
}

/* Whether port is one of a DEFAULT_PORTS/BIND_PORTS list ("80,443:ssl", "80 accept-proxy"). */
static bool port_listed(const char *list, long port)
{
	for (const char *p = list; p && *p;) {
		char *end;
		while (*p == ' ')
			p++;
		long v = strtol(p, &end, 10);
		if (end > p && v == port && (*end == '\0' || strchr(" :,", *end)))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/*
 * reqMode per destination (docs/tcp.md), after DFP's validation so that DFP's messages come
 * first: http, tcp or sni. A tcp/sni destination needs its own srcPort and port (DFP checks
 * destination 0 only) on a port nothing else binds: the HTTP frontend's DEFAULT_PORTS and
 * BIND_PORTS, the API, the stats frontend. pathType for sni matches the TLS server name.
 */
static int validate_modes(struct parse_state *st, char **reterr)
{
	const struct labels_ctx *ctx = st->ctx;

	for (size_t i = 0; i < st->s->n_dests; i++) {
		const struct service_dest *d = &st->s->dests[i];
		_cleanup_free_ char *mk = NULL, *sk = NULL, *tk = NULL;
		const char *tv;
		char port[24];

		dest_get(st->p, "reqMode", d->index, &mk);
		dest_get(st->p, "srcPort", d->index, &sk);
		tv = dest_get(st->p, "pathType", d->index, &tk);
		/* DFP ignores these outside tcp (and sni): refused, not dropped, like the rest. */
		if (!streq(d->req_mode, "tcp") && (d->service_group || d->balance_group)) {
			const char *n = d->service_group ? "serviceGroup" : "balanceGroup";
			_cleanup_free_ char *gk = NULL;
			const char *gv = dest_get(st->p, n, d->index, &gk);
			return bad(reterr, gk, gv, "groups reqMode tcp destinations only");
		}
		if (streq(d->req_mode, "http")) {
			static const char *const tcp_only[] = {"timeoutClient", "checkTcp",
							       "clitcpka"};
			if (path_type_is_sni(d->path_type))
				return bad(reterr, tk, d->path_type,
					   "matches a TLS server name: it needs reqMode sni");
			for (size_t j = 0; j < ARRAY_SIZE(tcp_only); j++) {
				_cleanup_free_ char *ok = NULL;
				const char *ov = dest_get(st->p, tcp_only[j], d->index, &ok);
				bool set = j == 0   ? d->timeout_client > 0
					   : j == 1 ? d->check_tcp
						    : d->clitcpka;
				if (str_set(ov) && set)
					return bad(reterr, ok, ov,
						   "applies to reqMode tcp and sni only (HTTP: "
						   "TIMEOUT_CLIENT and the defaults)");
			}
			continue;
		}
		if (!streq(d->req_mode, "tcp") && !streq(d->req_mode, "sni"))
			return bad(reterr, mk, d->req_mode, "must be http, tcp or sni");
		if (d->src_port <= 0 || !str_set(d->port)) {
			/* The keys of this destination, even where a value would fall back. */
			_cleanup_free_ char *s_k =
				d->index ? xasprintf("srcPort.%d", d->index) : xstrdup("srcPort");
			_cleanup_free_ char *p_k =
				d->index ? xasprintf("port.%d", d->index) : xstrdup("port");
			return errmsg_set(reterr, -EINVAL,
					  "%s needs %s and %s: with reqMode %s they are mandatory",
					  mk, s_k, p_k, d->req_mode);
		}
		if (streq(d->req_mode, "sni") && str_set(tv) && !path_type_is_sni(d->path_type))
			return bad(reterr, tk, d->path_type,
				   "cannot match a TLS hello: use req_ssl_sni -i with reqMode sni");
		if (streq(d->req_mode, "sni") && d->paths.n == 0)
			return errmsg_set(
				reterr, -EINVAL,
				"%s sni needs servicePath or serviceDomain: the TLS server "
				"names it serves",
				mk);
		if (streq(d->req_mode, "tcp") && str_set(tv))
			return bad(reterr, tk, d->path_type,
				   "has no meaning with reqMode tcp (serviceDomain selects among "
				   "services on one srcPort)");
		snprintf(port, sizeof(port), "%ld", d->src_port);
		if (port_listed(ctx->default_ports, d->src_port))
			return bad(
				reterr, sk, port,
				"is one of DEFAULT_PORTS, where the HTTP frontend listens: choose "
				"another srcPort for reqMode tcp or sni, or remove it from "
				"DEFAULT_PORTS");
		if (port_listed(ctx->bind_ports, d->src_port))
			return bad(reterr, sk, port,
				   "is one of BIND_PORTS, where the HTTP frontend listens: choose "
				   "another srcPort for reqMode tcp or sni");
		if (ctx->api_port > 0 && ctx->api_port == d->src_port)
			return bad(reterr, sk, port, "is flowproxy's API port");
		if (str_set(ctx->stats_port) && port_listed(ctx->stats_port, d->src_port))
			return bad(reterr, sk, port, "is STATS_PORT, where HAProxy's stats listen");
	}
	return 0;
}

static int check_caps(const struct params *p, char **reterr)
{
	if (p->n > LABELS_MAX_PARAMS)
		return errmsg_set(reterr, -EMSGSIZE, "too many parameters: %zu (at most %d)", p->n,
				  LABELS_MAX_PARAMS);
	for (size_t i = 0; i < p->n; i++) {
		const char *k = p->v[i].key;
		if (strlen(k) > LABELS_MAX_KEY) {
			_cleanup_free_ char *q = show(k);
			return errmsg_set(reterr, -EMSGSIZE,
					  "parameter name '%.40s...' is longer than %d bytes", q,
					  LABELS_MAX_KEY);
		}
		if (strlen(p->v[i].value) > LABELS_MAX_VALUE) {
			_cleanup_free_ char *q = show(k);
			return errmsg_set(reterr, -EMSGSIZE,
					  "parameter '%s' is longer than %d bytes", q,
					  LABELS_MAX_VALUE);
		}
	}
	return 0;
}

/* No CR, LF, TAB or other control byte in any value flowproxy reads, whatever its position. */
static int check_control(const struct params *p, char **reterr)
{
	for (size_t i = 0; i < p->n; i++) {
		int idx;
		const struct labels_def *d = def_find(p->v[i].key, &idx);
		/* backendExtra is lines of configuration: LF separates them. */
		if (!d || !has_control(p->v[i].value, d->fn == h_backend_extra))
			continue;
		if (d->secret)
			return errmsg_set(reterr, -EINVAL,
					  "%s must not contain control characters (CR, LF, TAB...)",
					  p->v[i].key);
		return bad(reterr, p->v[i].key, p->v[i].value,
			   "must not contain control characters (CR, LF, TAB...)");
	}
	return 0;
}

static int parse_all(struct parse_state *st, int *ret_status, char **reterr)
{
	struct service *s = st->s;
	int idx[SERVICE_DEST_MAX];
	size_t n = 0;
	int r;

	*ret_status = STATUS_BAD_REQUEST;
	r = check_caps(st->p, reterr);
	if (r < 0)
		return r;
	r = check_control(st->p, reterr);
	if (r < 0)
		return r;

	for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
		if (defs[i].level != LABELS_SERVICE)
			continue;
		const char *v = params_get(st->p, defs[i].name);
		if (!str_set(v))
			continue;
		r = defs[i].fn(st, NULL, defs[i].name, v, reterr);
		if (r < 0)
			return r;
	}
	if (!s->acl_name && s->name)
		s->acl_name = xstrdup(s->name);
	if (!s->domain_algo)
		s->domain_algo = xstrdup(str_set(st->ctx->domain_algo) ? st->ctx->domain_algo
								       : "hdr_beg(host)");
	r = resolve_users(st, reterr);
	if (r < 0)
		return r;

	/* §1.2: indexed destinations from 1 up to the first gap, else the un-suffixed one. */
	for (int i = 1; i <= SERVICE_DEST_MAX && dest_exists(st->p, i); i++)
		idx[n++] = i;
	if (n == 0)
		idx[n++] = 0;
	s->dests = xcalloc(n, sizeof(*s->dests));
	for (size_t i = 0; i < n; i++) {
		s->n_dests++;
		r = parse_dest(st, &s->dests[i], idx[i], reterr);
		if (r < 0)
			return r;
	}

	r = validate_dfp(st, ret_status, reterr);
	if (r < 0)
		return r;

	/* serviceCert's file is named after the first domain, else the service. */
	if (str_set(params_get(st->p, "serviceCert"))) {
		const char *cn = s->dests[0].domains.n ? s->dests[0].domains.v[0] : s->name;
		_cleanup_free_ char *err = NULL;
		*ret_status = STATUS_BAD_REQUEST;
		if (pem_name_check(cn, &err) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "serviceCert: '%s' cannot name its file: %s", cn, err);
	}

	*ret_status = STATUS_BAD_REQUEST;
	if (st->unsupported)
		return errmsg_set(reterr, -EINVAL,
				  "%s is not supported by flowproxy yet: the service is refused "
				  "rather than routed without it (docs/parameters.md)",
				  st->unsupported);
	r = validate_modes(st, reterr);
	if (r < 0)
		return r;
	params_copy(&s->raw, st->p);
	s->policy_hash = params_policy_hash(&s->raw);
	return 0;
}

int labels_parse(const struct params *p, const struct labels_ctx *ctx, struct service **ret,
		 int *ret_status, char **reterr)
{
	static const struct labels_ctx defaults = {0};
	struct parse_state st = {0};
	int status = 0;
	int r;

	st.p = p;
	st.ctx = ctx ? ctx : &defaults;
	st.sep = str_set(st.ctx->separator) ? st.ctx->separator : ",";
	st.s = xcalloc(1, sizeof(*st.s));
	params_init(&st.s->raw);

	r = parse_all(&st, &status, reterr);
	free(st.unsupported);
	if (r < 0) {
		service_free(st.s);
		if (ret_status)
			*ret_status = status;
		*ret = NULL;
		return -EINVAL;
	}
	if (ret_status)
		*ret_status = 0;
	*ret = st.s;
	return 0;
}

struct service *labels_echo(const struct params *p, const struct labels_ctx *ctx)
{
	static const struct labels_ctx defaults = {0};
	struct parse_state st = {0};
	_cleanup_free_ char *err = NULL;
	int status = 0;

	st.p = p;
	st.ctx = ctx ? ctx : &defaults;
	st.sep = str_set(st.ctx->separator) ? st.ctx->separator : ",";
	st.s = xcalloc(1, sizeof(*st.s));
	params_init(&st.s->raw);
	if (parse_all(&st, &status, &err) < 0) {
		if (!st.s->acl_name && st.s->name)
			st.s->acl_name = xstrdup(st.s->name);
		params_copy(&st.s->raw, p);
	}
	free(st.unsupported);
	return st.s;
}

/* ---- environment ---- */

struct env_def {
	const char *suffix;
	const char *param;
	bool indexed; /* DFP also reads <prefix>_<SUFFIX>_<i>, i = 1..10 */
};

/* §1.3 Env column. users* are not supported for env services (DFP's docs/usage.md). */
static const struct env_def env_defs[] = {
	{"ACL_NAME", "aclName", false},
	{"ADD_REQ_HEADER", "addReqHeader", false},
	{"ADD_RES_HEADER", "addResHeader", false},
	{"ALLOWED_METHODS", "allowedMethods", true},
	{"BACKEND_EXTRA", "backendExtra", false},
	{"CHECK_RESOLVERS", "checkResolvers", false},
	{"COMPRESSION_ALGO", "compressionAlgo", false},
	{"COMPRESSION_TYPE", "compressionType", false},
	{"CONNECTION_MODE", "connectionMode", false},
	{"DEL_REQ_HEADER", "delReqHeader", false},
	{"DEL_RES_HEADER", "delResHeader", false},
	{"DENIED_METHODS", "deniedMethods", true},
	{"DENY_HTTP", "denyHttp", true},
	{"DISCOVERYTYPE", "discoveryType", false},
	{"DISTRIBUTE", "distribute", false},
	{"HTTPS_ONLY", "httpsOnly", true},
	{"HTTPS_PORT", "httpsPort", false},
	{"HTTPS_REDIRECT_CODE", "httpsRedirectCode", true},
	{"IGNORE_AUTHORIZATION", "ignoreAuthorization", true},
	{"IS_DEFAULT_BACKEND", "isDefaultBackend", false},
	{"OUTBOUND_HOSTNAME", "outboundHostname", true},
	{"PATH_TYPE", "pathType", false},
	{"PORT", "port", true},
	{"PROXY_INSTANCE_NAME", "proxyInstanceName", false},
	{"REDIRECT_FROM_DOMAIN", "redirectFromDomain", true},
	{"REDIRECT_UNLESS_HTTPS_PROTO", "redirectUnlessHttpsProto", false},
	{"REDIRECT_WHEN_HTTP_PROTO", "redirectWhenHttpProto", false},
	{"REQ_MODE", "reqMode", true},
	{"REQ_PATH_SEARCH_REPLACE", "reqPathSearchReplace", true},
	{"SERVICE_CERT", "serviceCert", false},
	{"SERVICE_DOMAIN", "serviceDomain", true},
	{"SERVICE_DOMAIN_ALGO", "serviceDomainAlgo", false},
	{"SERVICE_DOMAIN_MATCH_ALL", "serviceDomainMatchAll", false},
	{"SERVICE_NAME", "serviceName", false},
	{"SERVICE_PATH", "servicePath", true},
	{"SERVICE_PATH_EXCLUDE", "servicePathExclude", true},
	{"SESSION_TYPE", "sessionType", false},
	{"SET_REQ_HEADER", "setReqHeader", false},
	{"SET_RES_HEADER", "setResHeader", false},
	{"SRC_HTTPS_PORT", "srcHttpsPort", true},
	{"SRC_PORT", "srcPort", true},
	{"SSL_VERIFY_NONE", "sslVerifyNone", false},
	{"TEMPLATE_BE_PATH", "templateBePath", false},
	{"TEMPLATE_FE_PATH", "templateFePath", false},
	{"TIMEOUT_SERVER", "timeoutServer", true},
	{"TIMEOUT_TUNNEL", "timeoutTunnel", true},
	{"VERIFY_CLIENT_SSL", "verifyClientSsl", true},
};

static int env_def_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct env_def *)elem)->suffix);
}

static const struct env_def *env_find(const char *suffix)
{
	return bsearch(suffix, env_defs, ARRAY_SIZE(env_defs), sizeof(env_defs[0]), env_def_cmp);
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* The parameters of the service <prefix>_*, e.g. DFP_SERVICE_PORT_2=8080 -> port.2=8080. */
static void env_service(char *const *envp, const char *prefix, struct params *out)
{
	size_t pl = strlen(prefix);

	for (size_t i = 0; envp[i]; i++) {
		const char *kv = envp[i];
		const char *eq = strchr(kv, '=');
		if (!eq || strncmp(kv, prefix, pl) != 0 || kv[pl] != '_')
			continue;
		size_t sl = (size_t)(eq - kv) - pl - 1;
		if (sl == 0 || sl > 64)
			continue;
		char suffix[65];
		memcpy(suffix, kv + pl + 1, sl);
		suffix[sl] = '\0';

		const struct env_def *d = env_find(suffix);
		if (d) {
			params_add(out, d->param, eq + 1);
			continue;
		}
		/* <SUFFIX>_<i>: the indexed variant of a destination parameter. */
		char *us = strrchr(suffix, '_');
		long idx;
		if (!us || parse_long(us + 1, 1, SERVICE_DEST_MAX, &idx) < 0)
			continue;
		*us = '\0';
		d = env_find(suffix);
		if (!d || !d->indexed)
			continue;
		_cleanup_free_ char *k = xasprintf("%s.%ld", d->param, idx);
		params_add(out, k, eq + 1);
	}

	/*
	 * DFP creates an indexed env destination only when both SERVICE_PATH_<i> and PORT_<i> are
	 * set: drop every `.i` parameter of an incomplete one.
	 */
	for (int i = 1; i <= SERVICE_DEST_MAX; i++) {
		char pk[32], ok[32], suf[8];
		snprintf(pk, sizeof(pk), "servicePath.%d", i);
		snprintf(ok, sizeof(ok), "port.%d", i);
		if (str_set(get_exact(out, pk)) && str_set(get_exact(out, ok)))
			continue;
		snprintf(suf, sizeof(suf), ".%d", i);
		size_t w = 0;
		for (size_t j = 0; j < out->n; j++) {
			if (str_endswith(out->v[j].key, suf)) {
				free(out->v[j].key);
				free(out->v[j].value);
				continue;
			}
			out->v[w++] = out->v[j];
		}
		out->n = w;
	}
}

#define LABELS_ENV_MAX_SERVICES 1000

int labels_from_env(char *const *envp, struct params **ret, size_t *ret_n, char **reterr)
{
	struct params *v = NULL;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!envp)
		return 0;
	/* DFP_SERVICE, then DFP_SERVICE_1, _2, ... up to the first missing _SERVICE_NAME. */
	for (int i = 0;; i++) {
		_cleanup_free_ char *prefix =
			i ? xasprintf("DFP_SERVICE_%d", i) : xstrdup("DFP_SERVICE");
		_cleanup_free_ char *name_key = xasprintf("%s_SERVICE_NAME", prefix);
		if (!str_set(env_get(envp, name_key))) {
			if (i == 0)
				continue;
			break;
		}
		if (n == LABELS_ENV_MAX_SERVICES) {
			for (size_t j = 0; j < n; j++)
				params_done(&v[j]);
			free(v);
			return errmsg_set(reterr, -EMSGSIZE,
					  "more than %d DFP_SERVICE_<n> services",
					  LABELS_ENV_MAX_SERVICES);
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		params_init(&v[n]);
		env_service(envp, prefix, &v[n]);
		/* DFP gives env services Replicas=-1: not global, never removed by count. */
		params_set(&v[n], "replicas", "-1");
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void labels_strip_prefix(const struct params *in, struct params *out)
{
	static const char prefix[] = "com.df.";

	for (size_t i = 0; i < in->n; i++)
		if (str_startswith(in->v[i].key, prefix) && in->v[i].key[sizeof(prefix) - 1])
			params_add(out, in->v[i].key + sizeof(prefix) - 1, in->v[i].value);
}

size_t labels_resp_time_thresholds(const struct service *s, uint32_t *ret, size_t max)
{
	static const char *const shortcuts[] = {"@resp_time_above:", "@resp_time_below:"};
	size_t n = 0;

	for (size_t i = 0; i < s->raw.n && n < max; i++) {
		const char *k = s->raw.v[i].key;
		if (strncasecmp(k, "alertIf", 7) != 0 || (k[7] != '\0' && k[7] != '.'))
			continue;
		for (size_t j = 0; j < ARRAY_SIZE(shortcuts); j++) {
			const char *p = s->raw.v[i].value;
			while (n < max && (p = strstr(p, shortcuts[j])) != NULL) {
				p += strlen(shortcuts[j]);
				/* Seconds with up to 3 decimals: "0.1", "2", "0.025". */
				uint64_t whole = 0, frac = 0, scale = 1000;
				bool digits = false;
				while (*p >= '0' && *p <= '9' && whole < 1000000) {
					whole = whole * 10 + (uint64_t)(*p++ - '0');
					digits = true;
				}
				if (*p == '.') {
					p++;
					while (*p >= '0' && *p <= '9') {
						if (scale > 1) {
							scale /= 10;
							frac += (uint64_t)(*p - '0') * scale;
						}
						p++;
						digits = true;
					}
				}
				uint64_t ms = whole * 1000 + frac;
				if (digits && ms > 0 && ms <= UINT32_MAX)
					ret[n++] = (uint32_t)ms;
			}
		}
	}
	return n;
}
