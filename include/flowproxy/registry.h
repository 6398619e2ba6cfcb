/* SPDX-License-Identifier: MIT */
/*
 * registry: the desired set of services, keyed by serviceName, with the server addresses of
 * each. Pure. Entries are shared between copies (reference-counted, immutable once added), so a
 * copy for a tentative change costs one pointer per service: the daemon changes a copy, renders
 * it, and keeps it only if HAProxy accepted the result.
 */
#pragma once

#include "flowproxy/render.h"
#include "flowproxy/service.h"

struct registry_entry;

struct registry {
	struct registry_entry **v; /* sorted by service name */
	size_t n;
};

void registry_init(struct registry *r);
void registry_done(struct registry *r);
/* Makes dst (initialized or done) a copy of src sharing its entries. */
void registry_copy(struct registry *dst, const struct registry *src);

/*
 * Adds or replaces the service named svc->name. Takes ownership of svc; addrs (n_addrs strings,
 * may be 0) are copied. Returns 1 if it replaced an entry, 0 if it added one.
 */
int registry_put(struct registry *r, struct service *svc, const char *const *addrs, size_t n_addrs);
/* Removes the service named name. Returns 1 if it was there, 0 if not. */
int registry_remove(struct registry *r, const char *name);
/* Borrowed until the entry is removed or replaced; NULL if absent. */
const struct service *registry_get(const struct registry *r, const char *name);
/* The server slots of the service named name (borrowed, "" for an empty slot); 0 if absent. */
size_t registry_get_addrs(const struct registry *r, const char *name, const char *const **ret);
size_t registry_count(const struct registry *r);
const struct service *registry_at(const struct registry *r, size_t i);

/*
 * Fills *ret with one render_service per entry, sorted for rendering (render_sort). The array is
 * the caller's (free); what it points to is borrowed from r.
 */
void registry_render_services(const struct registry *r, struct render_service **ret);
