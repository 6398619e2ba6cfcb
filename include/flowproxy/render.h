/* SPDX-License-Identifier: MIT */
/*
 * render: the whole haproxy.cfg from the set of services and the global settings. Pure: the
 * templates are read once by render_new; render_config does no I/O.
 *
 * The routing rules are data first (struct render_route: match -> backend, in Docker Flow
 * Proxy's order, §4.2), turned into ACL lines here; the base template (haproxy.tmpl) gets them as
 * .ContentFrontend, and each backend is the backend fragment (backend.tmpl) executed against the
 * backend's fields. Output is deterministic: the same input gives the same bytes.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/service.h"

/*
 * A service and its server slots: n_addrs endpoints ("ip" or "ip:port", slots.h), one server
 * each, "" for an empty slot (rendered disabled). None: one server at outboundHostname or the
 * service's own name.
 */
struct render_service {
	const struct service *svc;
	const char *const *addrs;
	size_t n_addrs;
};

/* One HTTP routing rule: requests matching a destination go to its backend. */
struct render_route {
	const struct render_service *rs;
	const struct service_dest *dest;
	char *suffix;  /* "<aclName><port>_<index>", the ACLs' common suffix */
	char *backend; /* "<aclName>-be<port>_<index>" */
};

struct render;

/*
 * Reads and parses the base template (base_path: absolute, or relative to templates_dir) and
 * the backend fragment (templates_dir/backend.tmpl). Caller frees with render_free.
 */
int render_new(const char *templates_dir, const char *base_path, struct render **ret,
	       char **reterr);
void render_free(struct render *r);

/*
 * Orders services as Docker Flow Proxy does: a path starting with /.well-known first, a path
 * exactly "/" last, otherwise by aclName (then serviceName, so that the order is total).
 */
void render_sort(struct render_service *svcs, size_t n);

/*
 * Renders the configuration for svcs (in the order given: call render_sort first) into out.
 * Fails with -EINVAL and a message naming the service if its fragment cannot be rendered.
 */
int render_config(const struct render *r, const struct config *cfg,
		  const struct render_service *svcs, size_t n, struct strbuf *out, char **reterr);

/*
 * The HTTP backend of destination d of s ("<aclName>-be<port>_<index>"), or NULL when d has none
 * (not http, or no port). Caller frees.
 */
char *render_backend_name(const struct service *s, const struct service_dest *d);

/* Quotes s for an HAProxy argument: "..." with \, " and $ escaped. Appends to out. */
void render_quote(struct strbuf *out, const char *s);
