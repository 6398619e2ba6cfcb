/* SPDX-License-Identifier: MIT */
/*
 * render_tcp: the reqMode tcp and sni parts of haproxy.cfg, for render.c (not used elsewhere).
 * Pure. Docker Flow Proxy's rendering (reference docker-flow-proxy.md §4.2), made deterministic
 * and made to work where DFP's did not (docs/tcp.md):
 *   - `frontend tcpFE_<srcPort>` per tcp srcPort, in port order (DFP: Go map order): bind, mode
 *     tcp, timeout client, clitcpka, per destination a domain ACL and use_backend, or the
 *     default_backend;
 *   - `frontend service_<srcPort>` per sni srcPort: TLS hello inspection, one
 *     `acl sni_<aclName><port>-<position> req_ssl_sni -i <names>` and use_backend per destination;
 *   - `listen tcpListen_<group>_<srcPort>` per serviceGroup and srcPort;
 *   - `mode tcp` backends, with the same server slots as HTTP ones.
 * With telemetry each frontend and listen has its own log-format (TELEMETRY_TCP_LOG_FORMAT):
 * HAProxy refuses the HTTP one in a tcp proxy.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/render-t.h"

#include <netinet/in.h>

/*
 * The server lines of rt's backend into *ret (caller frees; NULL when none): one per task slot
 * ("<service>_<i>", an empty slot disabled on loopback), else one at outboundHostname or the
 * service's name. None for discoveryType=DNS (a server-template instead, render_server_template).
 * Returns how many.
 */
size_t render_route_servers(const struct render_route *rt, struct render_server **ret);
/* DNS discovery: "<service> <n> tasks.<host>:<port>" for server-template (caller frees), or NULL. */
char *render_server_template(const struct render_route *rt);
/* The log-format of a tcp proxy: the telemetry fields, then with DEBUG the printed line's format
 * (DEBUG_TCP_FORMAT, else HAProxy's tcplog), escaped for double quotes. Caller frees. */
char *render_tcp_log_format(const struct config *cfg);

/* A tcp listen group, for the plan: its name and the index (in svcs) of its first member. */
struct render_tcp_group {
	char *name;
	size_t first_service;
};

/* The sections render_tcp_sections makes. Embedded: render_tcp_done releases it. */
struct render_tcp {
	struct strbuf frontends; /* .ContentFrontendTcp */
	struct strbuf sni;	 /* .ContentFrontendSNI */
	struct strbuf listens;	 /* .ContentListen */
	struct render_tcp_group *groups;
	size_t n_groups;
	/* Per route (index in routes): the timeoutClient of its frontend, 0 when none. */
	long *timeout_client;
};

void render_tcp_init(struct render_tcp *t);
void render_tcp_done(struct render_tcp *t);

/*
 * The tcp/sni frontends and listen groups of routes[0..n) (every mode; others are skipped), in
 * svcs order within a port. Fails with -EINVAL and a message naming the service when two kinds
 * (tcp, sni, a listen group) want one srcPort, or two tcp destinations without serviceDomain
 * both want to be one port's default backend.
 */
int render_tcp_sections(const struct config *cfg, const struct render_service *svcs, size_t n_svcs,
			const struct render_route *routes, size_t n, struct render_tcp *out,
			char **reterr);

/*
 * The `mode tcp` backend of routes[i] (not grouped) into out, starting with "\nbackend ...".
 * tcp is what render_tcp_sections made of the same routes.
 */
void render_tcp_backend(const struct config *cfg, const struct render_tcp *tcp,
			const struct render_route *routes, size_t i, struct strbuf *out);
