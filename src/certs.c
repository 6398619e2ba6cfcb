// SPDX-License-Identifier: MIT
/*
 * certs: the certificates of the :ssl ports. Docker Flow Proxy's rules (reference
 * docker-flow-proxy.md §4.1.5, §5.3): every file of the certs directory, then the secrets
 * cert-* / cert_*, ordered by PREFERRED_CERTIFICATE, listed one path per line in a crt-list that
 * the :ssl binds load; the first is HAProxy's default certificate for clients without SNI.
 *
 * Where flowproxy differs, on purpose (docs/tls.md): a file that is not a certificate with its
 * key is left out of the list, with one log line, instead of making every later reload fail; a
 * certificate put through the API is loaded by HAProxy (`haproxy -c`) before it replaces
 * anything, so that a key that does not match its certificate is refused with HAProxy's message
 * and the running configuration never depends on it; an :ssl port without any certificate is
 * not bound at all rather than bound as plain HTTP.
 */
#include "flowproxy/certs.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/log.h"
#include "flowproxy/render.h"

#include <dirent.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void certs_list_done(struct certs_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void certs_list_add(struct certs_list *l, const char *path, const char *name, bool secret)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].path = xstrdup(path);
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].secret = secret;
	l->n++;
}

bool certs_glob_match(const char *glob, const char *name)
{
	/* Iterative, with one backtracking point: linear in practice, never exponential. */
	const char *star = NULL, *resume = NULL;

	while (*name) {
		if (*glob == '*') {
			star = glob++;
			resume = name;
		} else if (*glob == *name) {
			glob++;
			name++;
		} else if (star) {
			glob = star + 1;
			name = ++resume;
		} else {
			return false;
		}
	}
	while (*glob == '*')
		glob++;
	return *glob == '\0';
}

/* The index of the first glob of preferred that matches name; n_globs when none does. */
static size_t preferred_rank(const struct strv *globs, const char *name)
{
	for (size_t i = 0; i < globs->n; i++)
		if (certs_glob_match(globs->v[i], name))
			return i;
	return globs->n;
}

void certs_order(struct certs_list *l, const char *preferred)
{
	struct strv globs = {0};
	struct certs_list out = {0};

	for (const char *p = preferred; p && *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n && *p == ' ') {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n) {
			_cleanup_free_ char *g = xstrndup(p, n);
			strv_add(&globs, g);
		}
		p = e ? e + 1 : NULL;
	}
	if (globs.n == 0)
		return;
	/* A stable bucket sort: one pass per rank keeps each group's order. */
	out.v = xcalloc(l->n ? l->n : 1, sizeof(*out.v));
	for (size_t rank = 0; rank <= globs.n; rank++)
		for (size_t i = 0; i < l->n; i++)
			if (preferred_rank(&globs, l->v[i].name) == rank)
				out.v[out.n++] = l->v[i];
	free(l->v);
	*l = out;
	strv_done(&globs);
}

char *certs_crt_list(const struct certs_list *l)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < l->n; i++)
		strbuf_printf(&b, "%s\n", l->v[i].path);
	return strbuf_steal(&b);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir that keep(name) accepts, in name order. */
static void dir_files(const char *dir, bool (*keep)(const char *name), struct strv *ret)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (!dp)
		return;
	while ((de = readdir(dp)) != NULL) {
		struct stat st;
		_cleanup_free_ char *path = NULL;

		if (de->d_name[0] == '.' || !keep(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			strv_add(ret, de->d_name);
	}
	closedir(dp);
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), cmp_str);
}

static bool any_name(const char *name)
{
	return true;
}

static bool secret_cert_name(const char *name)
{
	return strncasecmp(name, "cert-", 5) == 0 || strncasecmp(name, "cert_", 5) == 0;
}

/* Adds dir/name to l when it is a certificate HAProxy can load; else says why in skipped. */
static void scan_one(const char *dir, const char *name, bool secret, struct certs_list *l,
		     struct strv *skipped, uint64_t *hash)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *data = NULL, *err = NULL;
	size_t len = 0;
	int r;

	if (pem_name_check(name, &err) < 0) {
		_cleanup_free_ char *why = xasprintf("%s: %s", path, err);
		if (skipped)
			strv_add(skipped, why);
		return;
	}
	r = read_file(path, CERTS_PEM_MAX, &data, &len);
	if (r < 0 || pem_check(data, len, &err) < 0) {
		_cleanup_free_ char *why = xasprintf("%s: %s", path, r < 0 ? strerror(-r) : err);
		if (skipped)
			strv_add(skipped, why);
		return;
	}
	*hash = fnv(fnv(*hash, path, strlen(path) + 1), data, len);
	certs_list_add(l, path, name, secret);
}

void certs_scan(const char *certs_dir, const char *secrets_dir, const char *preferred,
		struct certs_list *ret, struct strv *ret_skipped, uint64_t *ret_hash)
{
	struct strv files = {0}, secrets = {0};
	uint64_t h = 0xcbf29ce484222325ULL;

	memset(ret, 0, sizeof(*ret));
	if (str_set(certs_dir))
		dir_files(certs_dir, any_name, &files);
	if (str_set(secrets_dir))
		dir_files(secrets_dir, secret_cert_name, &secrets);
	for (size_t i = 0; i < files.n; i++)
		scan_one(certs_dir, files.v[i], false, ret, ret_skipped, &h);
	for (size_t i = 0; i < secrets.n; i++)
		scan_one(secrets_dir, secrets.v[i], true, ret, ret_skipped, &h);
	certs_order(ret, preferred);
	strv_done(&files);
	strv_done(&secrets);
	if (ret_hash)
		*ret_hash = h;
}

/*
 * CRT_LIST_PATH: the user's list. Its text and the files its lines name (the first word of each
 * line that is not a comment) make the hash, so that a changed certificate is reloaded. Returns
 * whether the list names any certificate.
 */
static bool user_list(const char *path, uint64_t *ret_hash)
{
	_cleanup_free_ char *text = NULL;
	uint64_t h = 0xcbf29ce484222325ULL;
	bool any = false;

	if (read_file(path, 1 << 20, &text, NULL) < 0)
		return false;
	h = fnv(h, text, strlen(text));
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		line += strspn(line, " \t");
		if (*line && *line != '#') {
			_cleanup_free_ char *data = NULL;
			_cleanup_free_ char *file = xstrndup(line, strcspn(line, " \t\r"));
			size_t len = 0;
			any = true;
			if (read_file(file, CERTS_PEM_MAX, &data, &len) == 0)
				h = fnv(h, data, len);
		}
		line = nl ? nl + 1 : NULL;
	}
	*ret_hash = h;
	return any;
}

/* The :ssl entries of a DEFAULT_PORTS / BIND_PORTS value, "443, 8443" (caller frees), or NULL. */
static char *ssl_ports(const char *ports, char *acc)
{
	struct strbuf b;

	strbuf_init(&b);
	if (acc) {
		strbuf_puts(&b, acc);
		free(acc);
	}
	for (const char *p = ports; p && *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		_cleanup_free_ char *item = xstrndup(p, n);
		if (str_endswith(item, ":ssl")) {
			item[strlen(item) - 4] = '\0';
			char *s = item + strspn(item, " ");
			strbuf_printf(&b, "%s'%s'", b.len ? ", " : "", s);
		}
		p = e ? e + 1 : NULL;
	}
	if (b.len == 0) {
		strbuf_done(&b);
		return NULL;
	}
	return strbuf_steal(&b);
}

void certs_refresh(struct certs_state *st, const struct config *cfg, struct render *r)
{
	struct certs_list l = {0};
	struct strv skipped = {0};
	uint64_t hash = 0;
	bool any;
	_cleanup_free_ char *list_path = NULL;

	if (str_set(cfg->crt_list_path)) {
		list_path = xstrdup(cfg->crt_list_path);
		any = user_list(list_path, &hash);
	} else {
		list_path = xasprintf("%s/crt-list.txt", cfg->configs_path);
		certs_scan(cfg->certs_dir, cfg->secrets_dir, cfg->preferred_certificate, &l,
			   &skipped, &hash);
		any = l.n > 0;
		_cleanup_free_ char *text = certs_crt_list(&l);
		if (any && (!st->list_text || !streq(text, st->list_text))) {
			/* Before the start the configs directory may not exist yet. */
			mkdir(cfg->configs_path, 0755);
			int k = write_file_atomic(list_path, text, strlen(text));
			if (k < 0) {
				log_error("cannot write the crt-list '%s': %s: the :ssl ports stay "
					  "as they are",
					  list_path, strerror(-k));
				any = false;
			} else {
				free(st->list_text);
				st->list_text = TAKE_PTR(text);
				log_info(
					"crt-list '%s': %zu certificate(s), '%s' first (the default "
					"for clients without SNI)",
					list_path, l.n, l.v[0].name);
			}
		}
	}

	/* What is skipped is logged when it changes, not at every rendering. */
	struct strbuf sk;
	strbuf_init(&sk);
	for (size_t i = 0; i < skipped.n; i++)
		strbuf_printf(&sk, "%s\n", skipped.v[i]);
	if (!st->skipped || !streq(st->skipped, strbuf_str(&sk))) {
		for (size_t i = 0; i < skipped.n; i++)
			log_warn("certificate %s: not served", skipped.v[i]);
		free(st->skipped);
		st->skipped = xstrdup(strbuf_str(&sk));
	}
	strbuf_done(&sk);

	_cleanup_free_ char *ports =
		ssl_ports(cfg->bind_ports, ssl_ports(cfg->default_ports, NULL));
	if (ports && !any && st->unbound != 1)
		log_warn("no certificate (in '%s'%s): the :ssl port(s) %s are not bound until one "
			 "is added (PUT /v1/docker-flow-proxy/cert, serviceCert, or a cert-* "
			 "secret)",
			 str_set(cfg->crt_list_path) ? cfg->crt_list_path : cfg->certs_dir,
			 str_set(cfg->crt_list_path) ? "" : " or cert-* secrets", ports);
	else if (ports && any && st->unbound == 1)
		log_info("certificates found: the :ssl port(s) %s are bound", ports);
	st->unbound = any ? 0 : 1;
	render_set_certs(r, any ? list_path : NULL, hash);
	certs_list_done(&l);
	strv_done(&skipped);
}

void certs_state_done(struct certs_state *st)
{
	if (!st)
		return;
	free(st->skipped);
	free(st->list_text);
	st->skipped = st->list_text = NULL;
}

int certs_write(const char *dir, const char *name, const char *pem, size_t len, char **reterr)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;
	int r;

	if (read_file(path, CERTS_PEM_MAX, &old, &old_len) == 0 && old_len == len &&
	    memcmp(old, pem, len) == 0)
		return 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return errmsg_set(reterr, -errno, "cannot create '%s': %m", dir);
	/* The key is a secret: readable by flowproxy and HAProxy's user only. */
	r = write_file_atomic_mode(path, pem, len, 0600);
	if (r < 0)
		return errmsg_set(reterr, r, "cannot write '%s': %s", path, strerror(-r));
	return 1;
}
