// SPDX-License-Identifier: MIT
/*
 * render: services + settings -> haproxy.cfg. Builds the routing rules as data, the frontend
 * ACL lines from them, the template data of the base template (with Docker Flow Proxy's field
 * names, so users' custom haproxy.tmpl files keep working) and one backend fragment per HTTP
 * destination. Naming follows DFP (reference docker-flow-proxy.md §4.2): ACLs
 * url_<acl><port>_<i>, backends <acl>-be<port>_<i>. reqMode tcp and sni: render_tcp.c. Users'
 * files join in as DFP joins them (§4.1): the templates directory's snippet files (parsed by
 * snippets.c, passed in) and a service's templateFePath / templateBePath text, executed against
 * DFP's Service fields; each replaces what would be generated for its service.
 */
#include "flowproxy/render.h"
#include "flowproxy/render_tcp.h"
#include "flowproxy/slots.h"
#include "flowproxy/snippets.h"
#include "flowproxy/telemetry_parse.h"
#include "flowproxy/template.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <strings.h>

struct render {
	struct template *base;
	struct template *backend;
	char *crt_list;	     /* render_set_certs: NULL while there is no certificate */
	uint64_t certs_hash; /* of the certificates' contents */
};

void render_set_certs(struct render *r, const char *crt_list, uint64_t hash)
{
	free(r->crt_list);
	r->crt_list = crt_list ? xstrdup(crt_list) : NULL;
	r->certs_hash = hash;
}

/*
 * DFP's CertsString (§4.1.5), what replaces ":ssl" in a bind: the crt-list with ALPN, and with
 * CA_FILE the client-certificate verification; NULL when there is no certificate. Caller frees.
 */
static char *certs_snippet(const struct render *r, const struct config *cfg)
{
	if (!r->crt_list)
		return NULL;
	if (str_set(cfg->ca_file))
		return xasprintf(" ssl crt-list %s alpn %s ca-file %s verify optional", r->crt_list,
				 cfg->enable_h2 ? "h2,http/1.1" : "http/1.1", cfg->ca_file);
	return xasprintf(" ssl crt-list %s alpn %s", r->crt_list,
			 cfg->enable_h2 ? "h2,http/1.1" : "http/1.1");
}

static int load_template(const char *path, struct template **ret, char **reterr)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = read_file(path, 1 << 20, &text, &len);

	if (r < 0)
		return errmsg_set(reterr, r, "cannot read template '%s': %s", path, strerror(-r));
	return template_parse(path, text, len, ret, reterr);
}

int render_new(const char *templates_dir, const char *base_path, struct render **ret, char **reterr)
{
	struct render *r = xcalloc(1, sizeof(*r));
	_cleanup_free_ char *base = base_path[0] == '/'
					    ? xstrdup(base_path)
					    : xasprintf("%s/%s", templates_dir, base_path);
	_cleanup_free_ char *be = xasprintf("%s/backend.tmpl", templates_dir);
	int k;

	if ((k = load_template(base, &r->base, reterr)) < 0 ||
	    (k = load_template(be, &r->backend, reterr)) < 0) {
		render_free(r);
		return k;
	}
	*ret = r;
	return 0;
}

void render_free(struct render *r)
{
	if (!r)
		return;
	template_free(r->base);
	template_free(r->backend);
	free(r->crt_list);
	free(r);
}

/* HAProxy's config parser treats a backslash outside quotes as an escape: double it. */
static char *escape_backslashes(const char *s)
{
	struct strbuf b;

	strbuf_init(&b);
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_putc(&b, '\\');
		strbuf_putc(&b, *s);
	}
	return strbuf_steal(&b);
}

static bool dest_is_http(const struct service_dest *d)
{
	return !d->req_mode || streq(d->req_mode, "http");
}

static bool dest_is_tcp(const struct service_dest *d)
{
	return d->req_mode && (streq(d->req_mode, "tcp") || streq(d->req_mode, "sni"));
}

static char *backend_name(const struct service *s, const struct service_dest *d)
{
	return xasprintf("%s-be%s_%d", s->acl_name, d->port, d->index);
}

void render_plan_done(struct render_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_backends; i++) {
		free(p->backends[i].name);
		free(p->backends[i].service);
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].path_type);
		strv_done(&p->rules[i].paths);
		strv_done(&p->rules[i].path_excludes);
		strv_done(&p->rules[i].domains);
	}
	for (size_t i = 0; i < p->n_sources; i++)
		free(p->sources[i].path);
	free(p->backends);
	free(p->rules);
	free(p->sources);
	*p = (struct render_plan){0};
}

char *render_plan_blame(const struct render_plan *p, const char *err)
{
	/* HAProxy names config lines "[<file>:<line>]" (e.g. "parsing [/cfg/haproxy.cfg:87]"). */
	for (const char *q = err; p && q && (q = strchr(q, '[')); q++) {
		const char *colon = strchr(q, ':'), *close = strchr(q, ']');
		long line = 0;

		if (!colon || !close || colon > close)
			continue;
		_cleanup_free_ char *num = xstrndup(colon + 1, (size_t)(close - colon - 1));
		if (parse_long(num, 1, LONG_MAX, &line) < 0)
			continue;
		for (size_t i = 0; i < p->n_sources; i++) {
			const struct render_source *src = &p->sources[i];
			if ((size_t)line >= src->first_line &&
			    (size_t)line < src->first_line + src->n_lines)
				return xasprintf(
					"line %ld of haproxy.cfg is line %zu of the output of '%s'",
					line, (size_t)line - src->first_line + 1, src->path);
		}
		return NULL;
	}
	return NULL;
}

size_t render_plan_service(const struct render_plan *p, const char *service, size_t *ret_first)
{
	size_t first = 0, n = 0;

	for (size_t i = 0; p && i < p->n_backends; i++) {
		if (!streq(p->backends[i].service, service))
			continue;
		if (n++ == 0)
			first = i;
	}
	if (ret_first)
		*ret_first = first;
	return n;
}

static void strv_copy(struct strv *dst, const struct strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		strv_add(dst, src->v[i]);
}

/*
 * The plan of routes[0..n) (in svcs order): one backend per route that has one, one rule per
 * HTTP route, and after each service's own backends the listen groups it is the first member
 * of, so that a service's backends stay consecutive.
 */
static void make_plan(const struct render_service *svcs, size_t n_svcs,
		      const struct render_route *routes, size_t n, const struct render_tcp *tcp,
		      struct render_plan *ret)
{
	struct render_plan p = {0};
	size_t r = 0;

	p.backends = xcalloc(n + tcp->n_groups + 1, sizeof(*p.backends));
	p.rules = xcalloc(n ? n : 1, sizeof(*p.rules));
	for (size_t k = 0; k < n_svcs; k++) {
		for (; r < n && routes[r].rs == &svcs[k]; r++) {
			const struct render_route *rt = &routes[r];
			const struct service *s = rt->rs->svc;
			const struct service_dest *d = rt->dest;
			bool dns = s->discovery_type && streq(s->discovery_type, "DNS");
			bool vip = s->discovery_type && streq(s->discovery_type, "VIP");
			long port = 0;

			if (rt->grouped)
				continue;
			struct render_backend *b = &p.backends[p.n_backends++];
			parse_long(rt->port, 1, 65535, &port);
			b->name = xstrdup(rt->backend);
			b->service = xstrdup(s->name);
			b->dest = d->index;
			b->mode = rt->mode;
			b->port = (int)port;
			/* A user's backend has its own servers: nothing to re-point at run time. */
			b->n_slots = dns || vip || rt->custom_be ? 0 : rt->rs->n_addrs;
			if (rt->mode != RENDER_HTTP)
				continue;
			struct render_rule *u = &p.rules[p.n_rules++];
			u->backend = p.n_backends - 1;
			u->path_type = xstrdup(str_set(d->path_type) ? d->path_type : "path_beg");
			strv_copy(&u->paths, &d->paths);
			strv_copy(&u->path_excludes, &d->path_excludes);
			strv_copy(&u->domains, &d->domains);
			u->src_port = rt->https ? d->src_https_port : d->src_port;
			u->is_default = s->is_default_backend && !rt->https;
		}
		for (size_t g = 0; g < tcp->n_groups; g++) {
			if (tcp->groups[g].first_service != k)
				continue;
			struct render_backend *b = &p.backends[p.n_backends++];
			b->name = xstrdup(tcp->groups[g].name);
			b->service = xstrdup(svcs[k].svc->name);
			b->mode = RENDER_TCP;
		}
	}
	*ret = p;
}

static bool svc_has_path(const struct service *s, bool (*pred)(const char *))
{
	for (size_t i = 0; i < s->n_dests; i++)
		for (size_t j = 0; j < s->dests[i].paths.n; j++)
			if (pred(s->dests[i].paths.v[j]))
				return true;
	return false;
}

static bool path_is_well_known(const char *p)
{
	return strncasecmp(p, "/.well-known", 12) == 0;
}

static bool path_is_root(const char *p)
{
	return streq(p, "/");
}

static int service_rank(const struct service *s)
{
	if (svc_has_path(s, path_is_well_known))
		return 0;
	if (svc_has_path(s, path_is_root))
		return 2;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_services(const void *a, const void *b)
{
	const struct service *x = ((const struct render_service *)a)->svc;
	const struct service *y = ((const struct render_service *)b)->svc;
	int rx = service_rank(x), ry = service_rank(y);

	if (rx != ry)
		return rx - ry;
	int c = strcmp(x->acl_name, y->acl_name);
	return c ? c : strcmp(x->name, y->name);
}

void render_sort(struct render_service *svcs, size_t n)
{
	qsort(svcs, n, sizeof(*svcs), cmp_services);
}

/* Splits a comma-separated setting into lines "\n    <item>" (DFP's EXTRA_* handling). */
static void append_lines(struct strbuf *b, const char *csv)
{
	const char *p = csv;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		if (n > 0) {
			strbuf_puts(b, "\n    ");
			strbuf_append(b, p, n);
		}
		p = e ? e + 1 : NULL;
	}
}

/*
 * The bind lines of a DEFAULT_PORTS / BIND_PORTS value. An entry ending in ":ssl" gets the
 * certificates (certs, DFP's CertsString); without any (certs NULL) it is left out: DFP bound it
 * as plain HTTP, so that https:// clients failed with a protocol error and http://host:443 was
 * served in clear. certs.c logs which ports wait for a certificate.
 */
static void append_binds(struct strbuf *b, const char *addr, const char *ports, const char *certs)
{
	const char *p = ports;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		_cleanup_free_ char *item = xstrndup(p, n);
		char *s = item;
		while (*s == ' ')
			s++;
		bool ssl = str_endswith(s, ":ssl");
		if (ssl)
			s[strlen(s) - 4] = '\0';
		if (*s && (!ssl || certs))
			strbuf_printf(b, "\n    bind %s:%s%s", addr, s, ssl ? certs : "");
		p = e ? e + 1 : NULL;
	}
}

static void append_userlist(struct strbuf *b, const char *name, const struct service_user *u,
			    size_t n)
{
	strbuf_printf(b, "userlist %s\n", name);
	for (size_t i = 0; i < n; i++)
		strbuf_printf(b, "    user %s %s %s\n", u[i].name,
			      u[i].encrypted ? "password" : "insecure-password", u[i].password);
}

/* Parses USERS ("u:p,u2:p2") for the global userlist; entries without a password are skipped. */
static size_t global_users(const struct config *cfg, struct service_user **ret)
{
	struct service_user *u = NULL;
	size_t n = 0;
	const char *p = cfg->users;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		_cleanup_free_ char *item = xstrndup(p, len);
		char *colon = strchr(item, ':');
		if (colon && colon != item && colon[1]) {
			*colon = '\0';
			u = xrealloc(u, (n + 1) * sizeof(*u));
			u[n].name = xstrdup(item);
			u[n].password = xstrdup(colon + 1);
			u[n].encrypted = cfg->users_pass_encrypted;
			n++;
		}
		p = e ? e + 1 : NULL;
	}
	*ret = u;
	return n;
}

/*
 * " <fetch> [--] v1 v2 ...": the match method once, then the patterns. HAProxy reads every word
 * after the method as one more pattern, so a repeated method would itself match ("/zzpath_beg").
 * A pattern starting with '-' would be read as a flag: "--" ends the flags first.
 */
static void append_acl_values(struct strbuf *b, const char *fetch, const struct strv *v)
{
	strbuf_printf(b, " %s", fetch);
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i][0] == '-') {
			strbuf_puts(b, " --");
			break;
		}
	}
	for (size_t i = 0; i < v->n; i++) {
		_cleanup_free_ char *e = escape_backslashes(v->v[i]);
		strbuf_printf(b, " %s", e);
	}
}

/*
 * " url_... [!url_exclude_...] [domain_...] [srcPort_...]": the ACLs that select a route. An
 * httpsPort route (DFP's https-<acl>-be<p>_<i>) has its own: url_https_..., domain_https_...,
 * srcHttpsPort_....
 */
static void route_conditions(struct strbuf *b, const struct render_route *rt, bool excludes)
{
	const struct service *s = rt->rs->svc;
	const struct service_dest *d = rt->dest;
	const char *h = rt->https ? "https_" : "";

	if (d->paths.n)
		strbuf_printf(b, " url_%s%s", h, rt->suffix);
	if (excludes && d->path_excludes.n)
		strbuf_printf(b, " !url_exclude_%s%s", h, rt->suffix);
	if (d->domains.n)
		strbuf_printf(b, " domain_%s%s", h, rt->suffix);
	if (!rt->https && d->src_port > 0)
		strbuf_printf(b, " srcPort_%s%ld_%d", s->acl_name, d->src_port, d->index);
	if (rt->https && d->src_https_port > 0)
		strbuf_printf(b, " srcHttpsPort_%s%ld_%d", s->acl_name, d->src_https_port,
			      d->index);
}

/* http-request redirect scheme https[ code c] if <cond> <route>, for every plain route. */
static void redirect_routes(struct strbuf *b, const struct render_route *routes, size_t n,
			    const char *cond)
{
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[i];
		const struct service_dest *d = rt->dest;
		if (rt->https)
			continue;
		strbuf_puts(b, "\n    http-request redirect scheme https");
		if (str_set(d->https_redirect_code))
			strbuf_printf(b, " code %s", d->https_redirect_code);
		strbuf_printf(b, " if %s", cond);
		route_conditions(b, rt, false);
	}
}

/* The frontend lines of one service: every ACL first, then redirects, then use_backend. */
static void frontend_service(struct strbuf *b, const struct render_route *routes, size_t n)
{
	const struct service *s = routes[0].rs->svc;
	_cleanup_free_ size_t *hdr_first = xcalloc(n, sizeof(*hdr_first));

	for (size_t i = 1; i < n; i++)
		hdr_first[i] = hdr_first[i - 1] + routes[i - 1].dest->n_service_headers;
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[i];
		const struct service_dest *d = rt->dest;
		const char *pt = str_set(d->path_type) ? d->path_type : "path_beg";
		/* The httpsPort backend's ACLs: url_https_..., domain_https_... (DFP). */
		const char *h = rt->https ? "https_" : "";

		if (d->paths.n) {
			strbuf_printf(b, "\n    acl url_%s%s", h, rt->suffix);
			append_acl_values(b, pt, &d->paths);
		}
		if (d->path_excludes.n) {
			strbuf_printf(b, "\n    acl url_exclude_%s%s", h, rt->suffix);
			append_acl_values(b, pt, &d->path_excludes);
		}
		if (d->domains.n) {
			/* Exact domains use the service's algorithm; "*.x" matches the end (DFP). */
			bool plain = false, wild = false;
			for (size_t j = 0; j < d->domains.n; j++) {
				if (d->domains.v[j][0] == '*')
					wild = true;
				else
					plain = true;
			}
			if (plain) {
				strbuf_printf(b, "\n    acl domain_%s%s %s -i", h, rt->suffix,
					      s->domain_algo);
				for (size_t j = 0; j < d->domains.n; j++)
					if (d->domains.v[j][0] != '*')
						strbuf_printf(b, " %s", d->domains.v[j]);
			}
			if (wild) {
				strbuf_printf(b, "\n    acl domain_%s%s hdr_end(host) -i", h,
					      rt->suffix);
				for (size_t j = 0; j < d->domains.n; j++)
					if (d->domains.v[j][0] == '*')
						strbuf_printf(b, " %s", d->domains.v[j] + 1);
			}
		}
		if (!rt->https && d->src_port > 0)
			strbuf_printf(b, "\n    acl srcPort_%s%ld_%d dst_port %ld", s->acl_name,
				      d->src_port, d->index, d->src_port);
		if (rt->https && d->src_https_port > 0)
			strbuf_printf(b, "\n    acl srcHttpsPort_%s%ld_%d dst_port %ld",
				      s->acl_name, d->src_https_port, d->index, d->src_https_port);
		/* serviceHeader: numbered across the service's routes, each naming its own (DFP
		 * restarted the count in use_backend and named another destination's ACLs). */
		for (size_t j = 0; j < d->n_service_headers; j++)
			strbuf_printf(b, "\n    acl hdr_%s%s_%zu hdr(%s) %s", s->acl_name, rt->port,
				      hdr_first[i] + j, d->service_headers[j].name,
				      d->service_headers[j].value);
		if (d->user_agents.n) {
			_cleanup_free_ char *ua = service_user_agent_acl(&d->user_agents);
			strbuf_printf(b, "\n    acl user_agent_%s_%s_%d hdr_sub(User-Agent) -i",
				      s->acl_name, ua, d->index);
			for (size_t j = 0; j < d->user_agents.n; j++)
				strbuf_printf(b, " %s", d->user_agents.v[j]);
		}
		for (size_t j = 0; !rt->https && j < d->redirect_from_domains.n; j++)
			strbuf_printf(b,
				      "\n    http-request redirect code 301 prefix http://%s if { "
				      "hdr_beg(host) -i %s }",
				      d->domains.v[0], d->redirect_from_domains.v[j]);
	}
	if (s->redirect_unless_https_proto) {
		_cleanup_free_ char *cond = xasprintf("!is_%s_https", s->acl_name);
		strbuf_printf(b, "\n    acl is_%s_https hdr(X-Forwarded-Proto) https", s->acl_name);
		redirect_routes(b, routes, n, cond);
	}
	if (s->redirect_when_http_proto) {
		_cleanup_free_ char *cond = xasprintf("is_%s_http", s->acl_name);
		strbuf_printf(b, "\n    acl is_%s_http hdr(X-Forwarded-Proto) http", s->acl_name);
		redirect_routes(b, routes, n, cond);
	}
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[i];
		const struct service_dest *d = rt->dest;

		strbuf_printf(b, "\n    use_backend %s if", rt->backend);
		route_conditions(b, rt, true);
		for (size_t j = 0; j < d->n_service_headers; j++)
			strbuf_printf(b, " hdr_%s%s_%zu", s->acl_name, rt->port, hdr_first[i] + j);
		if (d->user_agents.n) {
			_cleanup_free_ char *ua = service_user_agent_acl(&d->user_agents);
			strbuf_printf(b, " user_agent_%s_%s_%d", s->acl_name, ua, d->index);
		}
		if (s->is_default_backend && !rt->https)
			strbuf_printf(b, "\n    default_backend %s", rt->backend);
	}
}

static bool is_ip_literal(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* "A B C", or "" for none: a list rendered as the words of one HAProxy line. */
static struct tval *strv_words(const struct strv *v)
{
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			strbuf_putc(&b, ' ');
		strbuf_puts(&b, v->v[i]);
	}
	return tval_new_str_take(strbuf_steal(&b));
}

static struct tval *header_list(const struct service_header *h, size_t n, bool with_value)
{
	struct tval *l = tval_new_list();
	struct strbuf b;

	strbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		strbuf_reset(&b);
		strbuf_puts(&b, h[i].name);
		if (with_value && h[i].value) {
			strbuf_putc(&b, ' ');
			strbuf_put_quoted(&b, h[i].value);
		}
		if (h[i].cond) {
			strbuf_putc(&b, ' ');
			strbuf_puts(&b, h[i].cond);
		}
		tval_list_append(l, tval_new_str(strbuf_str(&b)));
	}
	strbuf_done(&b);
	return l;
}

/* The data of one HTTP backend, for backend.tmpl (docs/templates.md lists the fields). */
static struct tval *backend_data(const struct render_route *rt, bool global_auth,
				 const struct config *cfg)
{
	const struct service *s = rt->rs->svc;
	const struct service_dest *d = rt->dest;
	struct tval *m = tval_new_map();

	tval_map_set_str(m, "Name", rt->backend);
	tval_map_set_str(m, "ServiceName", s->name);
	tval_map_set_str(m, "AclName", s->acl_name);
	tval_map_set_str(m, "Port", rt->port);
	tval_map_set_int(m, "Index", d->index);
	/* The httpsPort backend serves what came over TLS: no redirect, nothing to deny. */
	tval_map_set_bool(m, "HttpsOnly", d->https_only && !rt->https);
	tval_map_set_bool(m, "DenyHttp", d->deny_http && !rt->https);
	tval_map_set_bool(m, "SslVerifyNone", d->ssl_verify_none);
	_cleanup_free_ char *cc = d->verify_client_ssl
					  ? xasprintf("valid_client_cert_%s%s", s->name, rt->port)
					  : NULL;
	tval_map_set_str(m, "ClientCertAcl", cc ? cc : "");
	tval_map_set_str(m, "HttpsRedirectCode",
			 d->https_redirect_code ? d->https_redirect_code : "");
	tval_map_set(m, "AddReqHeaders",
		     header_list(s->add_req_headers, s->n_add_req_headers, true));
	tval_map_set(m, "SetReqHeaders",
		     header_list(s->set_req_headers, s->n_set_req_headers, true));
	tval_map_set(m, "DelReqHeaders",
		     header_list(s->del_req_headers, s->n_del_req_headers, false));
	tval_map_set(m, "AddResHeaders",
		     header_list(s->add_res_headers, s->n_add_res_headers, true));
	tval_map_set(m, "SetResHeaders",
		     header_list(s->set_res_headers, s->n_set_res_headers, true));
	tval_map_set(m, "DelResHeaders",
		     header_list(s->del_res_headers, s->n_del_res_headers, false));
	tval_map_set_int(m, "TimeoutServer", d->timeout_server);
	tval_map_set_int(m, "TimeoutTunnel", d->timeout_tunnel);

	struct tval *pr = tval_new_list();
	for (size_t i = 0; i < d->n_path_replace; i++) {
		struct tval *e = tval_new_map();
		tval_map_set_str(e, "Search", d->path_replace[i].search);
		tval_map_set_str(e, "Replace", d->path_replace[i].replace);
		tval_list_append(pr, e);
	}
	tval_map_set(m, "PathReplace", pr);
	tval_map_set_str(m, "ConnectionMode", s->connection_mode ? s->connection_mode : "");
	tval_map_set_str(m, "CompressionAlgo", s->compression_algo ? s->compression_algo : "");
	tval_map_set_str(m, "CompressionType", s->compression_type ? s->compression_type : "");
	tval_map_set(m, "AllowedMethods", strv_words(&d->allowed_methods));
	tval_map_set(m, "DeniedMethods", strv_words(&d->denied_methods));
	tval_map_set_str(m, "Cookie", s->sticky ? s->name : "");
	struct tval *extra = tval_new_list();
	for (const char *b = s->backend_extra; b && *b;) {
		const char *e = strchr(b, '\n');
		size_t len = e ? (size_t)(e - b) : strlen(b);
		while (len && *b == ' ') {
			b++;
			len--;
		}
		if (len)
			tval_list_append(extra, tval_new_strn(b, len));
		b += len + (e ? 1 : 0);
	}
	tval_map_set(m, "BackendExtra", extra);

	/* Basic auth: the service's own users win over USERS; ignoreAuthorization skips both. */
	if (!d->ignore_authorization && s->n_users) {
		_cleanup_free_ char *ul = xasprintf("%sUsers", s->name);
		_cleanup_free_ char *realm = xasprintf("%sRealm", s->name);
		tval_map_set_str(m, "UserList", ul);
		tval_map_set_str(m, "Realm", realm);
	} else if (!d->ignore_authorization && global_auth) {
		tval_map_set_str(m, "UserList", "defaultUsers");
		tval_map_set_str(m, "Realm", "defaultRealm");
	} else {
		tval_map_set_str(m, "UserList", "");
		tval_map_set_str(m, "Realm", "");
	}

	/* checkResolvers or CHECK_RESOLVERS (DFP let the variable hide the label): checked, and
	 * resolved through the resolvers section. */
	bool check = cfg->check_resolvers || s->check_resolvers;
	struct tval *servers = tval_new_list();
	bool dns = s->discovery_type && streq(s->discovery_type, "DNS");
	bool vip = s->discovery_type && streq(s->discovery_type, "VIP");
	_cleanup_free_ char *st = render_server_template(rt);
	struct render_server *sv = NULL;
	size_t n_sv = render_route_servers(rt, &sv);

	tval_map_set_str(m, "ServerTemplate", st ? st : "");
	for (size_t i = 0; i < n_sv; i++) {
		struct tval *e = tval_new_map();
		tval_map_set_str(e, "Name", sv[i].name);
		tval_map_set_str(e, "Address", sv[i].addr);
		tval_map_set_str(e, "Port", sv[i].port);
		tval_map_set_bool(e, "Disabled", sv[i].disabled);
		tval_map_set_str(e, "Cookie", s->sticky ? sv[i].name : "");
		tval_map_set_bool(e, "Check", check);
		tval_map_set_bool(e, "Resolve",
				  check || (cfg->runtime_resolve && !sv[i].disabled &&
					    !is_ip_literal(sv[i].addr)));
		tval_list_append(servers, e);
	}
	free(sv);
	tval_map_set(m, "Servers", servers);
	tval_map_set_bool(m, "Tasks", dns || (!vip && rt->rs->n_addrs > 0));
	/* DFP let CHECK_RESOLVERS override every service's checkResolvers (§4.3); either turns
	 * the checks on here. */
	tval_map_set_bool(m, "CheckResolvers", cfg->check_resolvers || s->check_resolvers);
	tval_map_set_bool(m, "Debug", cfg->debug);
	return m;
}

/* CAPTURE_REQUEST_HEADER "Name:len,...": one capture line each (config_check checked them). */
static void append_captures(struct strbuf *b, const char *csv)
{
	for (const char *p = csv; p && *p;) {
		size_t k = strcspn(p, ",");
		const char *colon = memchr(p, ':', k);
		if (colon)
			strbuf_printf(b, "\n    capture request header %.*s len %.*s",
				      (int)(colon - p), p, (int)(k - (size_t)(colon - p) - 1),
				      colon + 1);
		p += k + (p[k] == ',');
	}
}

static struct tval *base_data(const struct render *r, const struct config *cfg, bool any_http,
			      size_t n_services, const char *frontend, const struct render_tcp *tcp,
			      const char *userlist)
{
	struct tval *m = tval_new_map();
	_cleanup_free_ char *certs = certs_snippet(r, cfg);
	struct strbuf b;

	strbuf_init(&b);
	append_lines(&b, cfg->extra_global);
	tval_map_set_str(m, "ExtraGlobal", strbuf_str(&b));
	tval_map_set_str(m, "SslBindOptions", cfg->ssl_bind_options);
	tval_map_set_str(m, "SslBindCiphers", cfg->ssl_bind_ciphers);
	struct tval *res = tval_new_list();
	const char *p = cfg->resolvers;
	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n)
			tval_list_append(res, tval_new_strn(p, n));
		p = e ? e + 1 : NULL;
	}
	tval_map_set(m, "Resolvers", res);

	strbuf_reset(&b);
	/* DFP's order: compression, then the dontlog options (§4.1.3). */
	if (str_set(cfg->compression_algo)) {
		strbuf_printf(&b, "\n    compression algo %s", cfg->compression_algo);
		if (str_set(cfg->compression_type))
			strbuf_printf(&b, "\n    compression type %s", cfg->compression_type);
	}
	/* dontlog-normal would hide the successful requests from the telemetry stream. */
	if (!cfg->debug)
		strbuf_puts(&b, "\n    option  dontlognull");
	if (!cfg->debug && !cfg->telemetry)
		strbuf_puts(&b, "\n    option  dontlog-normal");
	tval_map_set_str(m, "ExtraDefaults", strbuf_str(&b));
	tval_map_set_str(m, "ConnectionMode", cfg->connection_mode);
	tval_map_set_int(m, "TimeoutConnect", cfg->timeout_connect);
	tval_map_set_int(m, "TimeoutClient", cfg->timeout_client);
	tval_map_set_int(m, "TimeoutServer", cfg->timeout_server);
	tval_map_set_int(m, "TimeoutQueue", cfg->timeout_queue);
	tval_map_set_int(m, "TimeoutTunnel", cfg->timeout_tunnel);
	tval_map_set_int(m, "TimeoutHttpRequest", cfg->timeout_http_request);
	tval_map_set_int(m, "TimeoutHttpKeepAlive", cfg->timeout_http_keep_alive);

	strbuf_reset(&b);
	if (str_set(cfg->stats_user) && str_set(cfg->stats_pass)) {
		bool separate = str_set(cfg->stats_port) && !streq(cfg->stats_port, "80");
		if (separate)
			strbuf_printf(&b, "\nfrontend stats\n    bind %s:%s\n    mode http\n",
				      cfg->bind_address, cfg->stats_port);
		strbuf_printf(&b,
			      "    stats enable\n    stats refresh 30s\n    stats realm "
			      "Strictly\\ Private\n    stats uri %s\n",
			      cfg->stats_uri);
		if (!streq(cfg->stats_user, "none") && !streq(cfg->stats_pass, "none"))
			strbuf_printf(&b, "    stats auth %s:%s\n", cfg->stats_user,
				      cfg->stats_pass);
	}
	tval_map_set_str(m, "Stats", strbuf_str(&b));
	tval_map_set_str(m, "UserList", userlist);

	strbuf_reset(&b);
	if (n_services == 0 || any_http)
		append_binds(&b, cfg->bind_address, cfg->default_ports, certs);
	tval_map_set_str(m, "DefaultBinds", strbuf_str(&b));
	tval_map_set_str(m, "DefaultReqMode", cfg->default_req_mode);

	strbuf_reset(&b);
	append_lines(&b, cfg->extra_frontend);
	append_binds(&b, cfg->bind_address, cfg->bind_ports, certs);
	append_captures(&b, cfg->capture_request_header);
	tval_map_set_str(m, "ExtraFrontend", strbuf_str(&b));
	tval_map_set_str(m, "ContentFrontend", frontend);
	tval_map_set_str(m, "ContentFrontendTcp", strbuf_str(&tcp->frontends));
	tval_map_set_str(m, "ContentFrontendSNI", strbuf_str(&tcp->sni));
	tval_map_set_str(m, "ContentListen", strbuf_str(&tcp->listens));
	tval_map_set_str(m, "CertsString", certs ? certs : "");
	/* flowproxy's own fields. */
	_cleanup_free_ char *stats_sock = xasprintf("%s/stats.sock", cfg->run_dir);
	tval_map_set_str(m, "StatsSocket", stats_sock);
	tval_map_set_str(m, "HardStopAfter", cfg->hard_stop_after);
	/* "none" (or an empty --errorfiles-path=): HAProxy's own pages. */
	tval_map_set_str(m, "ErrorFilesPath",
			 streq(cfg->errorfiles_path, "none") ? "" : cfg->errorfiles_path);
	tval_map_set_bool(m, "Debug", cfg->debug);
	tval_map_set_str(m, "TelemetryRing", cfg->telemetry ? TELEMETRY_RING : "");
	tval_map_set_int(m, "TelemetryRingSize", cfg->telemetry_ring_size);
	/* DEBUG: the ring's lines carry the printed line after the telemetry fields. */
	_cleanup_free_ char *http_fmt =
		telemetry_log_format(false, cfg->debug, cfg->debug_http_format);
	_cleanup_free_ char *tcp_fmt = render_tcp_log_format(cfg);
	tval_map_set_str(m, "TelemetryLogFormat", http_fmt);
	tval_map_set_str(m, "TelemetryTcpLogFormat", tcp_fmt);
	strbuf_done(&b);
	return m;
}

/*
 * flowproxy reaches the worker through its stats socket (run-time server changes, stats,
 * telemetry) and bounds old workers with hard-stop-after. A base template written for Docker
 * Flow Proxy has neither: they go in a global section of their own, which HAProxy merges with
 * the first (configuration.txt §3: "global" may appear more than once). Placed after the
 * -fe.cfg files, which continue the base template's last frontend.
 */
/* Whether a line of text starts (after blanks) with prefix. */
static bool has_line(const char *text, const char *prefix)
{
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		l += strspn(l, " \t");
		if (str_startswith(l, prefix))
			return true;
	}
	return false;
}

static void append_own_global(struct strbuf *out, const struct config *cfg)
{
	_cleanup_free_ char *sock = xasprintf("stats socket %s/stats.sock ", cfg->run_dir);
	bool has_sock = has_line(strbuf_str(out), sock);
	bool has_stop = has_line(strbuf_str(out), "hard-stop-after ");

	if (has_sock && has_stop)
		return;
	strbuf_puts(out, "\nglobal\n");
	if (!has_sock)
		strbuf_printf(out, "    %smode 600 level admin\n    stats timeout 24d\n", sock);
	if (!has_stop)
		strbuf_printf(out, "    hard-stop-after %s\n", cfg->hard_stop_after);
}

/* The JSON tree as template data: objects become maps (keys in order), numbers integers. */
static struct tval *tval_from_json(const cJSON *j)
{
	struct tval *v;

	if (cJSON_IsBool(j))
		return tval_new_bool(cJSON_IsTrue(j));
	if (cJSON_IsNumber(j))
		return tval_new_int((int64_t)j->valuedouble);
	if (cJSON_IsString(j))
		return tval_new_str(j->valuestring);
	if (cJSON_IsArray(j)) {
		v = tval_new_list();
		for (const cJSON *e = j->child; e; e = e->next)
			tval_list_append(v, tval_from_json(e));
		return v;
	}
	if (cJSON_IsObject(j)) {
		v = tval_new_map();
		for (const cJSON *e = j->child; e; e = e->next)
			tval_map_set(v, e->string, tval_from_json(e));
		return v;
	}
	return tval_new_null();
}

static void json_set_str(cJSON *o, const char *key, const char *v)
{
	cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateString(v));
}

/*
 * The data of a service's templateFePath / templateBePath file: Docker Flow Proxy's Service
 * struct (the Go field names of service_to_json), formatted as DFP's FormatServiceForTemplates
 * leaves it: ReqMode and PathType defaulted, the srcPort ACL strings filled, Tasks the task
 * addresses (sorted, as DFP sorts them).
 */
static struct tval *service_data(const struct render_service *rs)
{
	const struct service *s = rs->svc;
	cJSON *j = service_to_json_named(s);
	cJSON *dests = cJSON_GetObjectItemCaseSensitive(j, "ServiceDest");
	size_t i = 0;

	for (cJSON *o = dests ? dests->child : NULL; o && i < s->n_dests; o = o->next, i++) {
		const struct service_dest *d = &s->dests[i];
		if (!str_set(d->req_mode)) {
			json_set_str(o, "ReqMode", "http");
			json_set_str(o, "ReqModeFormatted", "http");
		}
		if (!str_set(d->path_type))
			json_set_str(o, "PathType", "path_beg");
		if (d->src_port > 0) {
			_cleanup_free_ char *name =
				xasprintf(" srcPort_%s%ld_%d", s->acl_name, d->src_port, d->index);
			_cleanup_free_ char *acl =
				xasprintf("acl srcPort_%s%ld_%d dst_port %ld", s->acl_name,
					  d->src_port, d->index, d->src_port);
			json_set_str(o, "SrcPortAclName", name);
			json_set_str(o, "SrcPortAcl", acl);
		}
	}
	struct strv tasks = {0};
	for (size_t k = 0; k < rs->n_addrs; k++) {
		char addr[INET6_ADDRSTRLEN];
		int port = 0;
		if (str_set(rs->addrs[k]) &&
		    slots_endpoint_parse(rs->addrs[k], 1, addr, &port) == 0)
			strv_add(&tasks, addr);
	}
	if (tasks.n) {
		qsort(tasks.v, tasks.n, sizeof(*tasks.v), cmp_str);
		cJSON *a = cJSON_CreateArray();
		for (size_t k = 0; k < tasks.n; k++)
			cJSON_AddItemToArray(a, cJSON_CreateString(tasks.v[k]));
		cJSON_ReplaceItemInObjectCaseSensitive(j, "Tasks", a);
	}
	strv_done(&tasks);
	struct tval *v = tval_from_json(j);
	cJSON_Delete(j);
	return v;
}

/*
 * Executes a service's custom template (text read from path) against its data into out, ending
 * with a newline. Messages name the service and the file.
 */
static int execute_service_template(const struct render_service *rs, const char *key,
				    const char *path, const char *text, struct strbuf *out,
				    char **reterr)
{
	struct template *t = NULL;
	struct tval *data = NULL;
	_cleanup_free_ char *err = NULL;
	int k = template_parse(path, text, strlen(text), &t, &err);

	if (k >= 0) {
		data = service_data(rs);
		k = template_execute(t, data, out, &err);
	}
	tval_free(data);
	template_free(t);
	if (k < 0)
		return errmsg_set(reterr, k, "service '%s': %s: %s", rs->svc->name, key,
				  err ? err : "template failed");
	if (out->len && out->s[out->len - 1] != '\n')
		strbuf_putc(out, '\n');
	return 0;
}

static size_t count_lines(const struct strbuf *b, size_t from)
{
	size_t n = 0;

	for (size_t i = from; i < b->len; i++)
		n += b->s[i] == '\n';
	return n;
}

/*
 * Appends snippet sn executed against data, on a line of its own and ending with a newline, and
 * records where it landed in *sources.
 */
static int append_snippet(struct strbuf *out, const struct snippet *sn, const struct tval *data,
			  struct render_source **sources, size_t *n_sources, char **reterr)
{
	size_t start;
	int k;

	if (out->len && out->s[out->len - 1] != '\n')
		strbuf_putc(out, '\n');
	/* DFP joins its files with "\n\n": an empty line between two of them. */
	strbuf_putc(out, '\n');
	start = out->len;
	k = template_execute(sn->tmpl, data, out, reterr);
	if (k < 0)
		return k;
	if (out->len > start && out->s[out->len - 1] != '\n')
		strbuf_putc(out, '\n');
	*sources = xrealloc(*sources, (*n_sources + 1) * sizeof(**sources));
	(*sources)[*n_sources] = (struct render_source){
		xstrdup(sn->path),
		count_lines(out, 0) - count_lines(out, start) + 1,
		count_lines(out, start),
	};
	(*n_sources)++;
	return 0;
}

int render_config(const struct render *r, const struct config *cfg,
		  const struct render_service *svcs, size_t n, struct strbuf *out,
		  struct render_plan *ret_plan, char **reterr)
{
	return render_config_snippets(r, cfg, svcs, n, NULL, out, ret_plan, reterr);
}

int render_config_snippets(const struct render *r, const struct config *cfg,
			   const struct render_service *svcs, size_t n,
			   const struct snippets *snippets, struct strbuf *out,
			   struct render_plan *ret_plan, char **reterr)
{
	struct render_route *routes = NULL;
	size_t n_routes = 0, n_http = 0;
	struct render_tcp tcp;
	struct strbuf fe, ul, be;
	struct service_user *gu = NULL;
	size_t n_gu = global_users(cfg, &gu);
	struct tval *data = NULL;
	struct render_source *sources = NULL;
	size_t n_sources = 0;
	/* templateBePath outputs in be: byte offsets there (first_line, n_lines: start, end). */
	struct render_source *be_src = NULL;
	size_t n_be_src = 0, be_line;
	int k = 0;

	strbuf_init(&fe);
	strbuf_init(&ul);
	strbuf_init(&be);
	render_tcp_init(&tcp);
	/* A destination has up to two backends: its port's and its httpsPort's. */
	for (size_t i = 0; i < n; i++)
		n_routes += 2 * svcs[i].svc->n_dests;
	routes = xcalloc(n_routes ? n_routes : 1, sizeof(*routes));
	n_routes = 0;

	if (n_gu)
		append_userlist(&ul, "defaultUsers", gu, n_gu);

	for (size_t i = 0; i < n; i++) {
		const struct service *s = svcs[i].svc;
		size_t first = n_routes;
		bool own_fe = s->template_fe || snippets_find(snippets, SNIPPET_FE, s->acl_name);
		bool own_be = s->template_be || snippets_find(snippets, SNIPPET_BE, s->acl_name);

		size_t n_svc_http = 0;

		/* HTTP routes first, then tcp/sni ones: the HTTP frontend lines need its own
		 * routes consecutive; backends stay in destination order within each mode. */
		for (int tcp_pass = 0; tcp_pass < 2; tcp_pass++) {
			for (size_t j = 0; j < s->n_dests; j++) {
				const struct service_dest *d = &s->dests[j];
				bool is_tcp = dest_is_tcp(d);
				if ((!is_tcp && !dest_is_http(d)) || is_tcp != (tcp_pass == 1))
					continue;
				if (str_set(d->port)) {
					struct render_route *rt = &routes[n_routes++];
					rt->rs = &svcs[i];
					rt->dest = d;
					rt->suffix = xasprintf("%s%s_%d", s->acl_name, d->port,
							       d->index);
					rt->backend = backend_name(s, d);
					rt->port = xstrdup(d->port);
					rt->custom_be = own_be;
					rt->mode = is_tcp ? RENDER_TCP : RENDER_HTTP;
					rt->grouped = is_tcp && streq(d->req_mode, "tcp") &&
						      str_set(d->service_group);
					if (!is_tcp)
						n_svc_http++;
				}
				if (!is_tcp && d->https_port > 0) {
					struct render_route *rt = &routes[n_routes++];
					rt->rs = &svcs[i];
					rt->dest = d;
					rt->https = true;
					rt->mode = RENDER_HTTP;
					rt->suffix = xasprintf("%s%ld_%d", s->acl_name,
							       d->https_port, d->index);
					rt->backend = xasprintf("https-%s-be%ld_%d", s->acl_name,
								d->https_port, d->index);
					rt->port = xasprintf("%ld", d->https_port);
					rt->custom_be = own_be;
					n_svc_http++;
				}
			}
		}
		n_http += n_svc_http;
		if (n_svc_http && !own_fe)
			frontend_service(&fe, &routes[first], n_svc_http);
		if (s->template_fe) {
			/* In the service's place among the generated frontend lines. */
			struct strbuf t;
			strbuf_init(&t);
			k = execute_service_template(&svcs[i], "templateFePath",
						     s->template_fe_path, s->template_fe, &t,
						     reterr);
			while (t.len && t.s[t.len - 1] == '\n')
				t.s[--t.len] = '\0';
			if (t.len)
				strbuf_printf(&fe, "\n%s", strbuf_str(&t));
			strbuf_done(&t);
			if (k < 0)
				goto out;
		}
		if (s->template_be) {
			size_t start;
			strbuf_putc(&be, '\n');
			start = be.len;
			k = execute_service_template(&svcs[i], "templateBePath",
						     s->template_be_path, s->template_be, &be,
						     reterr);
			if (k < 0)
				goto out;
			be_src = xrealloc(be_src, (n_be_src + 1) * sizeof(*be_src));
			be_src[n_be_src++] =
				(struct render_source){xstrdup(s->template_be_path), start, be.len};
		}
		if (s->n_users && !own_be) {
			_cleanup_free_ char *name = xasprintf("%sUsers", s->name);
			strbuf_putc(&be, '\n');
			append_userlist(&be, name, s->users, s->n_users);
		}
	}

	k = render_tcp_sections(cfg, svcs, n, routes, n_routes, &tcp, reterr);
	if (k < 0)
		goto out;
	for (size_t i = 0; i < n_routes; i++) {
		if (routes[i].custom_be)
			continue;
		if (routes[i].mode == RENDER_TCP) {
			if (!routes[i].grouped)
				render_tcp_backend(cfg, &tcp, routes, i, &be);
			continue;
		}
		struct tval *bd = backend_data(&routes[i], n_gu > 0, cfg);
		strbuf_putc(&be, '\n');
		k = template_execute(r->backend, bd, &be, reterr);
		tval_free(bd);
		if (k < 0) {
			errmsg_set(reterr, k, "service '%s': %s", routes[i].rs->svc->name,
				   reterr && *reterr ? *reterr : "backend template failed");
			goto out;
		}
	}

	data = base_data(r, cfg, n_http > 0, n, strbuf_str(&fe), &tcp, strbuf_str(&ul));
	k = template_execute(r->base, data, out, reterr);
	if (k < 0)
		goto out;
	if (out->len && out->s[out->len - 1] != '\n')
		strbuf_putc(out, '\n');
	for (size_t i = 0; snippets && i < snippets->n && k >= 0; i++)
		if (snippets->v[i].kind == SNIPPET_FE)
			k = append_snippet(out, &snippets->v[i], data, &sources, &n_sources,
					   reterr);
	if (k < 0)
		goto out;
	append_own_global(out, cfg);
	be_line = count_lines(out, 0) + 1;
	strbuf_append(out, strbuf_str(&be), be.len);
	for (size_t i = 0; i < n_be_src; i++) {
		size_t first = be_line, last;
		for (size_t c = 0; c < be_src[i].first_line; c++)
			first += be.s[c] == '\n';
		last = first;
		for (size_t c = be_src[i].first_line; c < be_src[i].n_lines; c++)
			last += be.s[c] == '\n';
		sources = xrealloc(sources, (n_sources + 1) * sizeof(*sources));
		sources[n_sources++] =
			(struct render_source){TAKE_PTR(be_src[i].path), first, last - first};
	}
	for (size_t i = 0; snippets && i < snippets->n && k >= 0; i++)
		if (snippets->v[i].kind == SNIPPET_BE)
			k = append_snippet(out, &snippets->v[i], data, &sources, &n_sources,
					   reterr);
	if (k < 0)
		goto out;
	/* HAProxy reads certificates when it loads its configuration: a changed one must change
	 * the file, or the daemon would see the same bytes and not reload. */
	if (r->crt_list)
		strbuf_printf(out, "\n# certificates %016llx\n", (unsigned long long)r->certs_hash);
	if (ret_plan) {
		make_plan(svcs, n, routes, n_routes, &tcp, ret_plan);
		ret_plan->sources = TAKE_PTR(sources);
		ret_plan->n_sources = n_sources;
		n_sources = 0;
	}
	k = 0;
out:
	for (size_t i = 0; i < n_sources; i++)
		free(sources[i].path);
	free(sources);
	for (size_t i = 0; i < n_be_src; i++)
		free(be_src[i].path);
	free(be_src);
	tval_free(data);
	for (size_t i = 0; i < n_routes; i++) {
		free(routes[i].suffix);
		free(routes[i].backend);
		free(routes[i].port);
	}
	free(routes);
	for (size_t i = 0; i < n_gu; i++) {
		free(gu[i].name);
		free(gu[i].password);
	}
	free(gu);
	render_tcp_done(&tcp);
	strbuf_done(&fe);
	strbuf_done(&ul);
	strbuf_done(&be);
	return k;
}
