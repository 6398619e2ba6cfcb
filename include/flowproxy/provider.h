/* SPDX-License-Identifier: MIT */
/*
 * provider: services from the swarm. Lists the services labelled com.df.notify=true and their
 * running tasks through the Docker Engine API, follows Docker's events, and turns what changed
 * into daemon operations: a new or relabelled service is rendered and reloaded once; a removed
 * one loses its routes; a change of tasks only re-points server slots at run time (no reload)
 * while the slots suffice. A full resync runs every RESYNC_INTERVAL seconds as a safety net.
 */
#pragma once

#include "flowproxy/daemon.h"

struct provider;

/*
 * Called once: when the first resync submitted the swarm's services to the daemon (r = 0), or
 * when the Docker Engine could not be reached or listed before that (r < 0, err says why).
 */
typedef void (*provider_ready_fn)(void *userdata, int r, const char *err);

/*
 * Starts talking to the Docker Engine (DOCKER_HOST or the default socket) on loop: pings it,
 * learns this container's networks, follows events and lists the swarm's services for the
 * daemon; ready_cb reports the first outcome. Every Docker call is asynchronous: a stalled
 * engine delays resyncs, nothing else. Returns < 0 only for a bad DOCKER_HOST or libcurl
 * missing. Caller frees with provider_free (before the loop).
 */
struct loop;
int provider_new(struct loop *loop, struct daemon *d, provider_ready_fn ready_cb, void *userdata,
		 struct provider **ret, char **reterr);
void provider_free(struct provider *p);

/*
 * The Swarm Listener's get-services answer: a JSON array of the parameter maps (strings) of the
 * labelled services, as they would be sent on create. Caller frees.
 */
char *provider_services_json(const struct provider *p);
/*
 * Adds the provider's state to the status API's object o: "swarm": {"dockerApi", "services",
 * "tasks" (addresses routed), "lastResync" (seconds since the epoch, 0 before any success),
 * "resyncFailures", "events": {"connected", "received", "reconnects", "badLines"}}.
 */
struct cJSON;
void provider_status_json(const struct provider *p, struct cJSON *o);
/*
 * The replica count of a labelled service, as the last resync read it: wanted
 * (Spec.Mode.Replicated.Replicas; DesiredTasks for a global service or a job) and running
 * (ServiceStatus.RunningTasks). Either pointer may be NULL. -ENOENT for a service not labelled
 * com.df.notify=true.
 */
int provider_replicas(const struct provider *p, const char *service, long *ret_wanted,
		      long *ret_running);
/* The provider's Docker client, for the docker scaler (borrowed for p's life). */
struct docker;
struct docker *provider_docker(const struct provider *p);
/*
 * Whether this replica acts (scales services), decided at the end of each resync from the tasks
 * of flowproxy's own service (SERVICE_NAME) by acting_choose (acting.h): the running task with
 * the lowest slot acts; a flowproxy that is not one of its tasks acts alone. who names the task
 * that acts instead ("<service>.<slot>.<task ID>", borrowed for the call) when this one does not,
 * NULL when this one acts or none runs.
 */
typedef void (*provider_acting_fn)(void *userdata, bool acting, const char *who);
/*
 * cb is called with the first decision, and then whenever a resync's decision differs from the
 * last one; the first resync makes its decision before ready_cb reports it. When a decision was
 * already made, cb is called with it at once. Until the first decision (the own tasks could not
 * be listed, which fails no resync) cb is not called: the caller's default holds. cb NULL stops
 * the calls.
 */
void provider_set_acting_cb(struct provider *p, provider_acting_fn cb, void *userdata);
/* The Listener's notify-services: sends every service's create notification again. */
void provider_notify_all(struct provider *p);
