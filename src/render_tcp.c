// SPDX-License-Identifier: MIT
/*
 * render_tcp: reqMode tcp and sni in haproxy.cfg (render_tcp.h; docs/tcp.md). Docker Flow
 * Proxy's getFrontTemplateTcp, getFrontTemplateSNI and tcp groups (reference docker-flow-proxy.md
 * §4.2), in a deterministic order: frontends by srcPort, listen groups by name then srcPort,
 * services within a port in the renderer's order (render_sort).
 */
#include "flowproxy/render_tcp.h"
#include "flowproxy/slots.h"
#include "flowproxy/telemetry_parse.h"

enum tcp_kind {
	TCP_KIND_TCP = 0, /* frontend tcpFE_<port> */
	TCP_KIND_SNI,	  /* frontend service_<port> */
	TCP_KIND_LISTEN,  /* listen tcpListen_<group>_<port> */
};

/* A destination's place in the tcp sections: sorted by kind, then group, then port, then the
 * route's order. */
struct tcp_entry {
	enum tcp_kind kind;
	const char *group; /* "" unless TCP_KIND_LISTEN */
	long port;
	size_t route;	 /* index in routes */
	size_t service;	 /* index in svcs */
	size_t position; /* the destination's position in its service (DFP's sni numbering) */
};

static int cmp_entries(const void *a, const void *b)
{
	const struct tcp_entry *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	if ((c = strcmp(x->group, y->group)) != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->route < y->route ? -1 : x->route > y->route;
}

static const char *kind_name(enum tcp_kind k)
{
	return k == TCP_KIND_TCP   ? "reqMode tcp"
	       : k == TCP_KIND_SNI ? "reqMode sni"
				   : "serviceGroup";
}

void render_tcp_init(struct render_tcp *t)
{
	*t = (struct render_tcp){0};
	strbuf_init(&t->frontends);
	strbuf_init(&t->sni);
	strbuf_init(&t->listens);
}

void render_tcp_done(struct render_tcp *t)
{
	if (!t)
		return;
	strbuf_done(&t->frontends);
	strbuf_done(&t->sni);
	strbuf_done(&t->listens);
	for (size_t i = 0; i < t->n_groups; i++)
		free(t->groups[i].name);
	free(t->groups);
	free(t->timeout_client);
	t->groups = NULL;
	t->timeout_client = NULL;
	t->n_groups = 0;
}

/*
 * What every tcp frontend and listen starts with: bind, mode, the request log, and DFP's
 * timeoutClient and clitcpka taken from the first destination on the port that sets them.
 */
static long section_timeout_client(const struct tcp_entry *e, size_t n,
				   const struct render_route *routes)
{
	for (size_t i = 0; i < n; i++)
		if (routes[e[i].route].dest->timeout_client > 0)
			return routes[e[i].route].dest->timeout_client;
	return 0;
}

static void section_head(struct strbuf *b, const struct config *cfg, const char *head,
			 const struct tcp_entry *e, size_t n, const struct render_route *routes)
{
	long timeout = section_timeout_client(e, n, routes);
	bool ka = false;

	strbuf_printf(b, "\n\n%s\n    bind %s:%ld\n    mode tcp", head, cfg->bind_address, e->port);
	/* An HTTP option of the base template's defaults: HAProxy warns about it on every reload. */
	strbuf_puts(b, "\n    no option idle-close-on-response");
	/* The defaults' log-format is HTTP's; HAProxy refuses %Tr/%Ta/%ST in a tcp proxy. With
	 * DEBUG the printed line follows the telemetry fields (DEBUG needs TELEMETRY). */
	if (cfg->telemetry) {
		_cleanup_free_ char *fmt = render_tcp_log_format(cfg);
		strbuf_printf(b, "\n    log-format \"%s\"", fmt);
	}
	for (size_t i = 0; i < n; i++)
		ka |= routes[e[i].route].dest->clitcpka;
	if (timeout)
		strbuf_printf(b, "\n    timeout client %lds", timeout);
	if (ka)
		strbuf_puts(b, "\n    option clitcpka");
}

/*
 * " <fetch> -i d1 d2" lines of one ACL: exact names with fetch, "*.x" wildcards as a suffix
 * match (hdr_end(host) for a host header fetch, as the HTTP frontend does).
 */
static void domain_acl(struct strbuf *b, const char *acl, const char *fetch,
		       const struct strv *domains)
{
	bool plain = false, wild = false;
	bool hdr = strncmp(fetch, "hdr", 3) == 0;

	for (size_t j = 0; j < domains->n; j++) {
		if (domains->v[j][0] == '*')
			wild = true;
		else
			plain = true;
	}
	if (plain) {
		strbuf_printf(b, "\n    acl %s %s -i", acl, fetch);
		for (size_t j = 0; j < domains->n; j++)
			if (domains->v[j][0] != '*')
				strbuf_printf(b, " %s", domains->v[j]);
	}
	if (wild) {
		if (hdr)
			strbuf_printf(b, "\n    acl %s hdr_end(host) -i", acl);
		else
			strbuf_printf(b, "\n    acl %s %s -m end -i", acl, fetch);
		for (size_t j = 0; j < domains->n; j++)
			if (domains->v[j][0] == '*')
				strbuf_printf(b, " %s", domains->v[j] + 1);
	}
}

/* frontend tcpFE_<port>: domains select a backend (once the client has sent enough to match
 * them), the destination without domains is the default. */
static int tcp_frontend(struct strbuf *b, const struct config *cfg, const struct tcp_entry *e,
			size_t n, const struct render_route *routes, char **reterr)
{
	_cleanup_free_ char *head = xasprintf("frontend tcpFE_%ld", e->port);
	const struct render_route *def = NULL;
	bool any_domain = false;

	section_head(b, cfg, head, e, n, routes);
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[e[i].route];
		if (!rt->dest->domains.n)
			continue;
		_cleanup_free_ char *acl = xasprintf("domain_%s", rt->suffix);
		domain_acl(b, acl, rt->rs->svc->domain_algo, &rt->dest->domains);
		any_domain = true;
	}
	/*
	 * DFP puts the domain ACLs straight into use_backend, where nothing has arrived yet to
	 * match: wait for the client's first bytes (at most 5 s, as for sni) so that they can.
	 */
	if (any_domain) {
		strbuf_puts(b, "\n    tcp-request inspect-delay 5s");
		strbuf_puts(b, "\n    tcp-request content accept if");
		bool first = true;
		for (size_t i = 0; i < n; i++) {
			const struct render_route *rt = &routes[e[i].route];
			if (!rt->dest->domains.n)
				continue;
			strbuf_printf(b, "%s domain_%s", first ? "" : " ||", rt->suffix);
			first = false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[e[i].route];
		if (rt->dest->domains.n) {
			strbuf_printf(b, "\n    use_backend %s if domain_%s", rt->backend,
				      rt->suffix);
			continue;
		}
		if (def)
			return errmsg_set(reterr, -EINVAL,
					  "srcPort %ld: services '%s' and '%s' both have no "
					  "serviceDomain, and a srcPort has one default backend",
					  e->port, def->rs->svc->name, rt->rs->svc->name);
		def = rt;
	}
	if (def)
		strbuf_printf(b, "\n    default_backend %s", def->backend);
	return 0;
}

/* frontend service_<port>: the TLS hello's server name selects the backend (§4.2 SNI). */
static void sni_frontend(struct strbuf *b, const struct config *cfg, const struct tcp_entry *e,
			 size_t n, const struct render_route *routes)
{
	_cleanup_free_ char *head = xasprintf("frontend service_%ld", e->port);

	section_head(b, cfg, head, e, n, routes);
	strbuf_puts(b, "\n    tcp-request inspect-delay 5s");
	strbuf_puts(b, "\n    tcp-request content accept if { req_ssl_hello_type 1 }");
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[e[i].route];
		const struct service *s = rt->rs->svc;
		const struct service_dest *d = rt->dest;
		_cleanup_free_ char *acl =
			xasprintf("sni_%s%s-%zu", s->acl_name, d->port, e[i].position + 1);

		if (d->paths_given) {
			/* DFP: the servicePath values are the names, matched with pathType; the
			 * default path_beg cannot match a TLS hello, so it means req_ssl_sni -i. */
			const char *pt =
				streq(d->path_type, "path_beg") ? "req_ssl_sni -i" : d->path_type;
			strbuf_printf(b, "\n    acl %s %s", acl, pt);
			for (size_t j = 0; j < d->paths.n; j++)
				strbuf_printf(b, " %s", d->paths.v[j]);
		} else {
			domain_acl(b, acl, "req_ssl_sni", &d->domains);
		}
		/* DFP names the backend after serviceName here, which is not the backend's name
		 * when aclName differs: use the backend's. */
		strbuf_printf(b, "\n    use_backend %s if %s", rt->backend, acl);
	}
}

static void server_line(struct strbuf *b, const char *name, const struct render_server *sv,
			bool check)
{
	strbuf_printf(b, "\n    server %s %s:%s%s%s", name, sv->addr, sv->port,
		      check ? " check" : "", sv->disabled ? " disabled" : "");
}

/* listen tcpListen_<group>_<port>: the members' servers in one proxy (§4.2 TCP groups). */
static void listen_group(struct strbuf *b, const struct config *cfg, const struct tcp_entry *e,
			 size_t n, const struct render_route *routes, const char *name)
{
	_cleanup_free_ char *head = xasprintf("listen %s", name);
	const char *balance = NULL;
	long ts = 0, tt = 0;
	bool check = false;

	section_head(b, cfg, head, e, n, routes);
	for (size_t i = 0; i < n; i++) {
		const struct service_dest *d = routes[e[i].route].dest;
		if (!balance && str_set(d->balance_group))
			balance = d->balance_group;
		if (!ts && d->timeout_server > 0)
			ts = d->timeout_server;
		if (!tt && d->timeout_tunnel > 0)
			tt = d->timeout_tunnel;
		check |= d->check_tcp;
	}
	if (balance)
		strbuf_printf(b, "\n    balance %s", balance);
	if (check)
		strbuf_puts(b, "\n    option tcp-check");
	if (!tt) /* see render_tcp_backend */
		tt = section_timeout_client(e, n, routes);
	if (ts)
		strbuf_printf(b, "\n    timeout server %lds", ts);
	if (tt)
		strbuf_printf(b, "\n    timeout tunnel %lds", tt);
	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[e[i].route];
		struct render_server *sv = NULL;
		size_t n_sv = render_route_servers(rt, &sv);

		/* DNS discovery has no addresses here: the service's tasks name, resolved. */
		if (n_sv == 0) {
			sv = xcalloc(1, sizeof(*sv));
			snprintf(sv->addr, sizeof(sv->addr), "tasks.%s", rt->rs->svc->name);
			snprintf(sv->port, sizeof(sv->port), "%s", rt->dest->port);
			n_sv = 1;
		}
		for (size_t j = 0; j < n_sv; j++) {
			_cleanup_free_ char *sn = xasprintf(
				"%s-%s%s_%zu", e->group, rt->rs->svc->name, rt->dest->port, j + 1);
			server_line(b, sn, &sv[j], rt->dest->check_tcp);
		}
		free(sv);
	}
}

int render_tcp_sections(const struct config *cfg, const struct render_service *svcs, size_t n_svcs,
			const struct render_route *routes, size_t n, struct render_tcp *out,
			char **reterr)
{
	struct tcp_entry *e = xcalloc(n ? n : 1, sizeof(*e));
	size_t m = 0;
	int k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct render_route *rt = &routes[i];
		const struct service_dest *d = rt->dest;
		if (rt->mode != RENDER_TCP)
			continue;
		e[m].kind = rt->grouped			? TCP_KIND_LISTEN
			    : streq(d->req_mode, "sni") ? TCP_KIND_SNI
							: TCP_KIND_TCP;
		e[m].group = rt->grouped ? d->service_group : "";
		e[m].port = d->src_port;
		e[m].route = i;
		e[m].service = (size_t)(rt->rs - svcs);
		e[m].position = (size_t)(d - rt->rs->svc->dests);
		m++;
	}
	qsort(e, m, sizeof(*e), cmp_entries);
	out->timeout_client = xcalloc(n ? n : 1, sizeof(*out->timeout_client));

	/* One srcPort, one proxy: two would both bind it (SO_REUSEPORT lets them) and share its
	 * connections at random. */
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < i; j++) {
			if (e[j].port != e[i].port ||
			    (e[j].kind == e[i].kind && streq(e[j].group, e[i].group)))
				continue;
			/* In the renderer's order of the services, whichever came first. */
			const struct tcp_entry *x = e[j].service <= e[i].service ? &e[j] : &e[i];
			const struct tcp_entry *y = x == &e[j] ? &e[i] : &e[j];
			k = errmsg_set(
				reterr, -EINVAL,
				"srcPort %ld: service '%s' (%s) and service '%s' (%s) cannot "
				"share it: a srcPort serves one reqMode (and one serviceGroup)",
				e[i].port, routes[x->route].rs->svc->name, kind_name(x->kind),
				routes[y->route].rs->svc->name, kind_name(y->kind));
			goto out;
		}
	}

	for (size_t i = 0; i < m;) {
		size_t j = i;
		while (j < m && e[j].kind == e[i].kind && e[j].port == e[i].port &&
		       streq(e[j].group, e[i].group))
			j++;
		for (size_t x = i; x < j; x++)
			out->timeout_client[e[x].route] =
				section_timeout_client(&e[i], j - i, routes);
		switch (e[i].kind) {
		case TCP_KIND_TCP:
			k = tcp_frontend(&out->frontends, cfg, &e[i], j - i, routes, reterr);
			if (k < 0)
				goto out;
			break;
		case TCP_KIND_SNI:
			sni_frontend(&out->sni, cfg, &e[i], j - i, routes);
			break;
		case TCP_KIND_LISTEN: {
			size_t first = e[i].service;
			for (size_t x = i; x < j; x++)
				if (e[x].service < first)
					first = e[x].service;
			char *name = xasprintf("tcpListen_%s_%ld", e[i].group, e[i].port);
			listen_group(&out->listens, cfg, &e[i], j - i, routes, name);
			out->groups =
				xrealloc(out->groups, (out->n_groups + 1) * sizeof(*out->groups));
			out->groups[out->n_groups].name = name;
			out->groups[out->n_groups].first_service = first;
			out->n_groups++;
			break;
		}
		}
		i = j;
	}
	k = 0;
out:
	free(e);
	return k;
}

void render_tcp_backend(const struct config *cfg, const struct render_tcp *tcp,
			const struct render_route *routes, size_t i, struct strbuf *out)
{
	const struct render_route *rt = &routes[i];
	const struct service_dest *d = rt->dest;
	/*
	 * Once a tcp connection is established HAProxy applies `timeout tunnel` instead of the
	 * client and server timeouts (configuration manual §4.2 "timeout tunnel"), and the base
	 * template's defaults set it to an hour: without this, DFP's timeoutClient never fires.
	 */
	long tunnel = d->timeout_tunnel > 0 ? d->timeout_tunnel : tcp->timeout_client[i];
	_cleanup_free_ char *st = render_server_template(rt);
	struct render_server *sv = NULL;
	size_t n_sv = render_route_servers(rt, &sv);

	strbuf_printf(out, "\nbackend %s\n    mode tcp", rt->backend);
	if (d->check_tcp)
		strbuf_puts(out, "\n    option tcp-check");
	if (d->timeout_server > 0)
		strbuf_printf(out, "\n    timeout server %lds", d->timeout_server);
	if (tunnel > 0)
		strbuf_printf(out, "\n    timeout tunnel %lds", tunnel);
	if (cfg->debug)
		strbuf_puts(out, "\n    log global");
	if (st)
		strbuf_printf(out,
			      "\n    server-template %s check resolvers docker init-addr none "
			      "resolve-prefer ipv4",
			      st);
	for (size_t k = 0; k < n_sv; k++)
		server_line(out, sv[k].name, &sv[k], d->check_tcp);
	strbuf_putc(out, '\n');
	free(sv);
}

char *render_server_template(const struct render_route *rt)
{
	const struct service *s = rt->rs->svc;
	const struct service_dest *d = rt->dest;
	const char *host = str_set(d->outbound_hostname) ? d->outbound_hostname : s->name;

	/* DFP's discoveryType=DNS: slots filled by HAProxy from Docker's DNS (tasks.<service>). */
	if (!s->discovery_type || !streq(s->discovery_type, "DNS"))
		return NULL;
	long n = rt->rs->n_addrs > 0 ? (long)rt->rs->n_addrs
				     : (s->has_replicas && s->replicas > 0 ? 2 * s->replicas : 4);
	return xasprintf("%s %ld tasks.%s:%s", s->name, n < 4 ? 4 : n, host, rt->port);
}

size_t render_route_servers(const struct render_route *rt, struct render_server **ret)
{
	const struct service *s = rt->rs->svc;
	const struct service_dest *d = rt->dest;
	const char *host = str_set(d->outbound_hostname) ? d->outbound_hostname : s->name;
	bool dns = s->discovery_type && streq(s->discovery_type, "DNS");
	bool vip = s->discovery_type && streq(s->discovery_type, "VIP");
	struct render_server *v;
	long dport = 0;

	*ret = NULL;
	if (dns)
		return 0;
	if (vip || rt->rs->n_addrs == 0) {
		v = xcalloc(1, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s", s->name);
		snprintf(v->addr, sizeof(v->addr), "%s", host);
		snprintf(v->port, sizeof(v->port), "%s", rt->port);
		*ret = v;
		return 1;
	}
	/* Task-level backends: one server per slot (slots.h); an empty slot is rendered disabled
	 * on loopback, ready to be pointed at a new task at run time. */
	parse_long(rt->port, 1, 65535, &dport);
	v = xcalloc(rt->rs->n_addrs, sizeof(*v));
	for (size_t i = 0; i < rt->rs->n_addrs; i++) {
		const char *a = rt->rs->addrs[i];
		char addr[INET6_ADDRSTRLEN] = "127.0.0.1";
		int p = 0;
		bool disabled = !str_set(a);

		if (!disabled && slots_endpoint_parse(a, (int)dport, addr, &p) < 0)
			disabled = true;
		snprintf(v[i].port, sizeof(v[i].port), "%d", disabled || p <= 0 ? (int)dport : p);
		snprintf(v[i].name, sizeof(v[i].name), "%s_%zu", s->name, i + 1);
		snprintf(v[i].addr, sizeof(v[i].addr), "%s", disabled ? "127.0.0.1" : addr);
		v[i].disabled = disabled;
	}
	*ret = v;
	return rt->rs->n_addrs;
}

char *render_tcp_log_format(const struct config *cfg)
{
	return telemetry_log_format(true, cfg->debug, cfg->debug_tcp_format);
}
