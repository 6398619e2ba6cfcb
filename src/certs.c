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

int certs_name_check(const char *name, char **reterr)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return errmsg_set(reterr, -EINVAL, "the certificate name is empty");
	if (n > 255)
		return errmsg_set(reterr, -EINVAL, "the certificate name is longer than 255 bytes");
	if (name[0] == '.')
		return errmsg_set(reterr, -EINVAL, "the certificate name must not start with '.'");
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f)
			return errmsg_set(reterr, -EINVAL,
					  "the certificate name must not contain spaces, control "
					  "or non-ASCII bytes");
		if (strchr("/\\#\"'", c))
			return errmsg_set(reterr, -EINVAL,
					  "the certificate name must not contain '%c'", c);
	}
	return 0;
}

static bool is_base64_line_byte(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

/* The label of the "-----BEGIN <label>-----" line at p (a copy, caller frees), or NULL. */
static char *pem_label(const char *p, const char *end, const char *what, const char **ret_after)
{
	size_t wl = strlen(what);

	if ((size_t)(end - p) < wl + 5 || memcmp(p, what, wl) != 0)
		return NULL;
	const char *l = p + wl;
	const char *e = l;
	while (e < end && *e != '\n' && *e != '-')
		e++;
	if ((size_t)(end - e) < 5 || memcmp(e, "-----", 5) != 0 || e == l)
		return NULL;
	*ret_after = e + 5;
	return xstrndup(l, (size_t)(e - l));
}

int certs_pem_check(const char *pem, size_t len, char **reterr)
{
	const char *p = pem, *end = pem + len;
	unsigned certs = 0, keys = 0;

	if (len == 0)
		return errmsg_set(reterr, -EINVAL, "the certificate is empty");
	if (len > CERTS_PEM_MAX)
		return errmsg_set(reterr, -EINVAL, "the certificate is longer than %d bytes",
				  CERTS_PEM_MAX);
	if (memchr(pem, '\0', len))
		return errmsg_set(reterr, -EINVAL, "the certificate contains a NUL byte");
	while (p < end) {
		const char *after = NULL;
		_cleanup_free_ char *label = NULL;

		/* Text between blocks (openssl's "Bag Attributes", comments) is ignored, as by
		 * OpenSSL's PEM reader. */
		const char *b = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
		if (!b)
			break;
		label = pem_label(b, end, "-----BEGIN ", &after);
		if (!label)
			return errmsg_set(reterr, -EINVAL, "a PEM BEGIN line is malformed");
		_cleanup_free_ char *endline = xasprintf("-----END %s-----", label);
		const char *e = memmem(after, (size_t)(end - after), endline, strlen(endline));
		if (!e)
			return errmsg_set(reterr, -EINVAL, "the PEM block '%s' has no END line",
					  label);
		size_t body = 0;
		for (const char *q = after; q < e; q++) {
			if (!is_base64_line_byte(*q))
				return errmsg_set(reterr, -EINVAL,
						  "the PEM block '%s' is not base64", label);
			if (*q != '\r' && *q != '\n' && *q != ' ' && *q != '\t')
				body++;
		}
		if (body < 4)
			return errmsg_set(reterr, -EINVAL, "the PEM block '%s' is empty", label);
		if (streq(label, "CERTIFICATE") || streq(label, "TRUSTED CERTIFICATE"))
			certs++;
		else if (streq(label, "ENCRYPTED PRIVATE KEY"))
			return errmsg_set(reterr, -EINVAL,
					  "the private key is encrypted: HAProxy needs it without "
					  "a passphrase");
		else if (streq(label, "PRIVATE KEY") || streq(label, "RSA PRIVATE KEY") ||
			 streq(label, "EC PRIVATE KEY"))
			keys++;
		p = e + strlen(endline);
	}
	if (certs == 0)
		return errmsg_set(reterr, -EINVAL,
				  "no PEM CERTIFICATE block (the body must hold the certificate, "
				  "its chain and its private key)");
	if (keys == 0)
		return errmsg_set(reterr, -EINVAL,
				  "no PEM PRIVATE KEY block (the body must hold the certificate, "
				  "its chain and its private key)");
	if (keys > 1)
		return errmsg_set(reterr, -EINVAL, "more than one private key");
	return 0;
}

char *certs_unescape(const char *v)
{
	struct strbuf b;

	strbuf_init(&b);
	for (; *v; v++) {
		if (v[0] == '\\' && v[1] == 'n') {
			strbuf_putc(&b, '\n');
			v++;
		} else {
			strbuf_putc(&b, *v);
		}
	}
	return strbuf_steal(&b);
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

	if (certs_name_check(name, &err) < 0) {
		_cleanup_free_ char *why = xasprintf("%s: %s", path, err);
		if (skipped)
			strv_add(skipped, why);
		return;
	}
	r = read_file(path, CERTS_PEM_MAX, &data, &len);
	if (r < 0 || certs_pem_check(data, len, &err) < 0) {
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

/* ---- PUT /cert ---- */

struct certs_put {
	struct daemon *d;
	char *name;
	char *staged; /* <certs_dir>/.<name>.new, loaded by `haproxy -c` */
	char *pem;
	size_t len;
	daemon_done_fn done;
	void *userdata;
};

static void put_free(struct certs_put *p)
{
	free(p->name);
	free(p->staged);
	free(p->pem);
	free(p);
}

static void on_put_checked(void *userdata, int r, const char *err)
{
	struct certs_put *p = userdata;
	const struct config *cfg = daemon_config(p->d);
	_cleanup_free_ char *msg = NULL, *werr = NULL;

	unlink(p->staged);
	if (r < 0) {
		msg = xasprintf("certificate '%s' refused, nothing changed: %s", p->name,
				err && *err ? err : strerror(-r));
		log_warn("%s", msg);
		p->done(p->userdata, 400, msg, false);
		put_free(p);
		return;
	}
	r = certs_write(cfg->certs_dir, p->name, p->pem, p->len, &werr);
	if (r < 0) {
		log_error("%s", werr);
		p->done(p->userdata, 500, werr, false);
		put_free(p);
		return;
	}
	log_info("certificate '%s' %s in '%s': reloading", p->name, r ? "written" : "unchanged",
		 cfg->certs_dir);
	/* A reload even when the rendering is the same: HAProxy reads certificates at load. */
	daemon_submit(p->d, DAEMON_OP_RELOAD, NULL, NULL, 0, "", p->done, p->userdata);
	put_free(p);
}

/*
 * The file a certificate waits in while HAProxy loads it: a dot file (never listed), one per
 * check, so that two checks of the same name never share it. Caller frees.
 */
static char *staged_name(const char *name)
{
	static unsigned long n;

	return xasprintf(".%s.%d.%lu.new", name, (int)getpid(), ++n);
}

/* The smallest configuration that makes HAProxy load the certificate at path and its key. */
static char *check_config(const struct config *cfg, const char *path)
{
	return xasprintf(
		"defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
		"    timeout server 1s\nfrontend certcheck\n    bind unix@%s/certcheck.sock "
		"ssl crt %s\n",
		cfg->run_dir, path);
}

int certs_put(struct daemon *d, const char *name, const char *pem, size_t len, daemon_done_fn done,
	      void *userdata, char **reterr)
{
	const struct config *cfg = daemon_config(d);
	_cleanup_free_ char *err = NULL;
	struct certs_put *p;
	int r;

	if (!daemon_haproxy(d))
		return errmsg_set(reterr, -EAGAIN, "HAProxy is not running yet: try again");
	/* A refused name is not quoted: it may hold control bytes. */
	if (certs_name_check(name, &err) < 0)
		return errmsg_set(reterr, -EINVAL, "certName: %s", err);
	if (certs_pem_check(pem, len, &err) < 0)
		return errmsg_set(reterr, -EINVAL, "certName '%s': %s", name, err);
	p = xcalloc(1, sizeof(*p));
	p->d = d;
	p->name = xstrdup(name);
	p->pem = xstrndup(pem, len);
	p->len = len;
	p->done = done;
	p->userdata = userdata;
	_cleanup_free_ char *base = staged_name(name);
	p->staged = xasprintf("%s/%s", cfg->certs_dir, base);
	r = certs_write(cfg->certs_dir, base, pem, len, reterr);
	if (r < 0) {
		put_free(p);
		return r;
	}
	_cleanup_free_ char *check = check_config(cfg, p->staged);
	if (!daemon_validate(d, check, strlen(check), on_put_checked, p)) {
		unlink(p->staged);
		put_free(p);
		return errmsg_set(reterr, -EAGAIN, "HAProxy is not running yet: try again");
	}
	return 0;
}

/* ---- serviceCert ---- */

struct certs_svc {
	struct certs_put put; /* name, staged, pem: the certificate */
	struct service *svc;
	char **addrs;
	size_t n_addrs;
};

static void svc_free(struct certs_svc *c)
{
	free(c->put.name);
	free(c->put.staged);
	free(c->put.pem);
	service_free(c->svc);
	for (size_t i = 0; i < c->n_addrs; i++)
		free(c->addrs[i]);
	free(c->addrs);
	free(c);
}

/* The service's operation, now that its certificate is in place (the service is handed on). */
static void svc_submit(struct certs_svc *c)
{
	daemon_submit(c->put.d, DAEMON_OP_PUT, TAKE_PTR(c->svc), (const char *const *)c->addrs,
		      c->n_addrs, NULL, c->put.done, c->put.userdata);
}

static void on_svc_checked(void *userdata, int r, const char *err)
{
	struct certs_svc *c = userdata;
	const struct config *cfg = daemon_config(c->put.d);
	_cleanup_free_ char *msg = NULL, *werr = NULL;

	unlink(c->put.staged);
	if (r >= 0 && certs_write(cfg->certs_dir, c->put.name, c->put.pem, c->put.len, &werr) < 0)
		msg = xasprintf("service '%s': serviceCert: %s", c->svc->name, werr);
	else if (r < 0)
		msg = xasprintf("service '%s' was not applied: serviceCert refused by HAProxy: %s",
				c->svc->name, err && *err ? err : strerror(-r));
	if (msg) {
		if (c->put.done) {
			c->put.done(c->put.userdata, r < 0 ? 400 : 500, msg, false);
		} else {
			log_error("%s", msg);
			daemon_set_rejected(c->put.d, c->svc->name, msg);
		}
		svc_free(c);
		return;
	}
	log_info("service '%s': serviceCert written to '%s/%s'", c->svc->name, cfg->certs_dir,
		 c->put.name);
	svc_submit(c);
	svc_free(c);
}

int certs_submit_service(struct daemon *d, struct service *svc, const char *const *addrs,
			 size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr)
{
	const struct config *cfg = daemon_config(d);
	const char *v = params_get(&svc->raw, "serviceCert");
	struct certs_svc *c = xcalloc(1, sizeof(*c));
	_cleanup_free_ char *old = NULL;
	size_t old_len = 0;

	c->svc = svc;
	c->put.d = d;
	c->put.done = done;
	c->put.userdata = userdata;
	c->addrs = xcalloc(n_addrs ? n_addrs : 1, sizeof(char *));
	for (size_t i = 0; i < n_addrs; i++)
		c->addrs[i] = xstrdup(addrs[i]);
	c->n_addrs = n_addrs;
	if (!str_set(v)) {
		svc_submit(c);
		svc_free(c);
		return 0;
	}
	/* labels_parse checked the PEM and the name (the first domain, else the service). */
	c->put.pem = certs_unescape(v);
	c->put.len = strlen(c->put.pem);
	c->put.name = xstrdup(svc->n_dests && svc->dests[0].domains.n ? svc->dests[0].domains.v[0]
								      : svc->name);
	_cleanup_free_ char *path = xasprintf("%s/%s", cfg->certs_dir, c->put.name);
	/* The same certificate again (every swarm resync sends it): nothing to check or write. */
	if (read_file(path, CERTS_PEM_MAX, &old, &old_len) == 0 && old_len == c->put.len &&
	    memcmp(old, c->put.pem, old_len) == 0) {
		svc_submit(c);
		svc_free(c);
		return 0;
	}
	_cleanup_free_ char *base = staged_name(c->put.name);
	c->put.staged = xasprintf("%s/%s", cfg->certs_dir, base);
	int r = certs_write(cfg->certs_dir, base, c->put.pem, c->put.len, reterr);
	if (r < 0) {
		svc_free(c);
		return r;
	}
	_cleanup_free_ char *check = check_config(cfg, c->put.staged);
	if (!daemon_validate(d, check, strlen(check), on_svc_checked, c)) {
		/* Before HAProxy runs (DFP_SERVICE_* at start-up) only the PEM check applies. */
		unlink(c->put.staged);
		r = certs_write(cfg->certs_dir, c->put.name, c->put.pem, c->put.len, reterr);
		if (r < 0) {
			svc_free(c);
			return r;
		}
		svc_submit(c);
		svc_free(c);
	}
	return 0;
}
