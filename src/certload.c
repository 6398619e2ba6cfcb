// SPDX-License-Identifier: MIT
/*
 * certload: a certificate is loaded by HAProxy before it replaces anything (certload.h). It is
 * staged, `haproxy -c` loads it in a configuration that serves only it, and only then it is
 * moved into the certs directory and HAProxy reloads (seamlessly).
 */
#include "flowproxy/certload.h"
#include "flowproxy/certs.h"
#include "flowproxy/haproxy.h"
#include "flowproxy/log.h"
#include "flowproxy/pem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- PUT /cert ---- */

struct certload_put {
	struct daemon *d;
	char *name;
	char *staged; /* <certs_dir>/.<name>.new, loaded by `haproxy -c` */
	char *pem;
	size_t len;
	daemon_done_fn done;
	void *userdata;
};

static void put_free(struct certload_put *p)
{
	free(p->name);
	free(p->staged);
	free(p->pem);
	free(p);
}

static void on_put_checked(void *userdata, int r, const char *err)
{
	struct certload_put *p = userdata;
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

int certload_put(struct daemon *d, const char *name, const char *pem, size_t len,
		 daemon_done_fn done, void *userdata, char **reterr)
{
	const struct config *cfg = daemon_config(d);
	_cleanup_free_ char *err = NULL;
	struct certload_put *p;
	int r;

	if (!daemon_haproxy(d))
		return errmsg_set(reterr, -EAGAIN, "HAProxy is not running yet: try again");
	/* A refused name is not quoted: it may hold control bytes. */
	if (pem_name_check(name, &err) < 0)
		return errmsg_set(reterr, -EINVAL, "certName: %s", err);
	if (pem_check(pem, len, &err) < 0)
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
	struct certload_put put; /* name, staged, pem: the certificate */
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

int certload_service(struct daemon *d, struct service *svc, const char *const *addrs,
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
	c->put.pem = pem_unescape(v);
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
