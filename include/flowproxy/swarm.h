/* SPDX-License-Identifier: MIT */
/*
 * swarm: the pure half of the Swarm watcher. Turns a Docker service into the parameter map the
 * Docker Flow Swarm Listener would send to reconfigure (reference
 * swarm-listener-monitor-docker-api.md §1.2), picks the task addresses a backend routes to, and
 * compares two snapshots (service name -> parameters + addresses) so that the caller knows what
 * to render and reload and what to move at runtime through slots (§6). No I/O, no logging.
 */
#pragma once

#include "flowproxy/docker.h"
#include "flowproxy/service.h"

#include <stddef.h>

#define SWARM_SERVICES_MAX 4096 /* services in one snapshot */

/*
 * The parameters DFSL's GetSwarmServiceMiniCreateParameters builds for s, into *ret
 * (overwritten, filled only on success; caller frees with params_done), sorted by key as
 * url.Values.Encode sends them:
 *   - every `com.df.*` label with the prefix stripped (labels_strip_prefix), except
 *     `com.df.notify` (DFSL's minify drops it);
 *   - serviceName = Spec.Name, overriding a `com.df.serviceName` label; with `com.df.shortName`
 *     case-insensitively "true" and a `com.docker.stack.namespace` label, the "<stack>_" prefix
 *     is trimmed from it;
 *   - replicas = Spec.Mode.Replicated.Replicas for replicated services only (none for global
 *     services and jobs);
 *   - distribute=true unless a `com.df.distribute` label exists.
 * Rejects a service whose `com.df.notify` label is absent or not case-insensitively "true"
 * (-ENOENT, DFSL's event path ignores it) and a service without a name (-EINVAL).
 */
int swarm_service_params(const struct docker_service *s, struct params *ret, char **reterr);

/*
 * The addresses the running tasks of service_id (the service's ID) can be reached at: one per
 * task whose Status.State and DesiredState are both "running" (§4.4: desired "running" includes
 * tasks still starting). A task's address is its first address on the first network of
 * networks[] (in that order of preference) it is attached to; with n_networks 0, its first
 * address on any network but "ingress" (the routing mesh, not reachable per task). Tasks with no
 * such address are skipped. *ret gets *ret_n strings (NULL when 0), unique, sorted like slots
 * sorts endpoints (IPv4 before IPv6, by bytes); caller frees each and the array. Returns 0.
 */
int swarm_task_addrs(const struct docker_task *tasks, size_t n, const char *service_id,
		     const char *const *networks, size_t n_networks, char ***ret, size_t *ret_n);

/* Frees an array returned by swarm_task_addrs. Accepts NULL. */
void swarm_addrs_free(char **addrs, size_t n);

/* One service of a snapshot. Everything owned by the snapshot. */
struct swarm_entry {
	char *name;	      /* the key, normally the serviceName parameter */
	struct params params; /* sorted by key, then value */
	char **addrs;	      /* sorted (as swarm_task_addrs), unique */
	size_t n_addrs;
};

/* Services by name, kept sorted by name (strcmp). Embedded: _init/_done. */
struct swarm_snapshot {
	struct swarm_entry *v;
	size_t n;
};

void swarm_snapshot_init(struct swarm_snapshot *s);
/* Accepts a zeroed or half-filled snapshot. */
void swarm_snapshot_done(struct swarm_snapshot *s);

/*
 * Stores copies of params and addrs under name, replacing an entry with that name. The copies
 * are normalised (params sorted, addresses sorted and deduplicated) so that equal services
 * compare equal whatever the input order. Rejects an empty name (-EINVAL) and more than
 * SWARM_SERVICES_MAX entries (-EMSGSIZE). Everything borrowed for the call.
 */
int swarm_snapshot_put(struct swarm_snapshot *s, const char *name, const struct params *params,
		       const char *const *addrs, size_t n_addrs);

/* The entry for name, NULL when absent. Borrowed until the snapshot changes. */
const struct swarm_entry *swarm_snapshot_get(const struct swarm_snapshot *s, const char *name);

enum swarm_change {
	SWARM_UNCHANGED = 0,
	SWARM_ADDED,	      /* only in the new snapshot: render + reload */
	SWARM_REMOVED,	      /* only in the old snapshot: render + reload */
	SWARM_CONFIG_CHANGED, /* parameters differ (addresses may too): render + reload */
	SWARM_ADDRS_CHANGED,  /* same parameters, other addresses: runtime update (slots_plan) */
};

/* One service of a diff. Pointers borrowed from the two snapshots (old NULL for ADDED, cur NULL
 * for REMOVED). */
struct swarm_diff_entry {
	const char *name;
	enum swarm_change change;
	const struct swarm_entry *old;
	const struct swarm_entry *cur;
};

/*
 * Classifies every service of old and cur, in name order (strcmp), UNCHANGED ones included.
 * *ret gets *ret_n entries (NULL when both are empty); caller frees the array with free, and
 * must keep both snapshots unchanged while using it. Returns 0.
 */
int swarm_diff(const struct swarm_snapshot *old, const struct swarm_snapshot *cur,
	       struct swarm_diff_entry **ret, size_t *ret_n);

/* "unchanged", "added", ... for logs. */
const char *swarm_change_name(enum swarm_change c);
