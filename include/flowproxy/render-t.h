/* SPDX-License-Identifier: MIT */
/*
 * render-t: the structs render.c and render_tcp.c share while rendering: a service with its
 * server slots, one routing rule, one server line. render.h and render_tcp.h include it; the
 * functions live in those modules.
 */
#pragma once

#include "flowproxy/service.h"

#include <netinet/in.h>

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

enum render_mode {
	RENDER_HTTP = 0,
	RENDER_TCP, /* reqMode tcp and sni: a `mode tcp` backend or listen (docs/tcp.md) */
};

/*
 * One routing rule while rendering: connections or requests matching a destination go to its
 * backend. A grouped one (reqMode tcp with serviceGroup) has no backend of its own: its servers
 * are in the group's listen section.
 */
struct render_route {
	const struct render_service *rs;
	const struct service_dest *dest;
	char *suffix;  /* "<aclName><port>_<index>", the ACLs' common suffix */
	char *backend; /* "<aclName>-be<port>_<index>", "https-..." for the httpsPort one */
	char *port;    /* the servers' port: the destination's port, or its httpsPort */
	bool https;    /* DFP's second backend of a destination with httpsPort (§4.2) */
	enum render_mode mode;
	bool grouped;
	bool custom_be; /* the service's backends come from a snippet file or templateBePath */
};

/* One server line of a backend: what render.c's backend fragment and the tcp sections print. */
struct render_server {
	char name[160];
	char addr[256]; /* an address, or a host name (outboundHostname, serviceName) */
	char port[16];
	bool disabled;
};
