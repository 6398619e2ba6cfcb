/* SPDX-License-Identifier: MIT */
/*
 * daemon: owns the registry and HAProxy, on the loop (loop.h). Everything that changes
 * the routing arrives as an operation (put a service, remove one, reload); operations that arrive
 * while the loop is busy are applied together as one batch: one render, one reload. A batch that
 * HAProxy rejects is retried one operation at a time, so that only the operations that break the
 * configuration fail, each with HAProxy's message, and the others are applied.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/registry.h"

#include <stdint.h>

struct daemon;

enum daemon_op_kind {
	DAEMON_OP_PUT = 0, /* add or replace a service */
	DAEMON_OP_REMOVE,  /* remove a service by name */
	DAEMON_OP_RELOAD,  /* reload HAProxy even if nothing changed */
	DAEMON_OP_RUNTIME, /* new server slots for a known service, applied without a reload */
};

/*
 * Called from the loop once the operation's batch is done: status is an HTTP status (200, or
 * 4xx/5xx), message is "" on success, else a message naming the service. Both borrowed for the
 * call. found tells a REMOVE whether the service was known.
 */
typedef void (*daemon_done_fn)(void *userdata, int status, const char *message, bool found);

/*
 * Reads the templates. Does not start HAProxy. loop and cfg are borrowed for d's life. Caller
 * frees with daemon_free (before the loop).
 */
struct loop;
int daemon_new(struct loop *loop, const struct config *cfg, struct daemon **ret, char **reterr);
void daemon_free(struct daemon *d);

/*
 * Queues an operation. PUT takes ownership of svc (addrs copied); REMOVE uses name; done may be
 * NULL. Everything queued in one round of the loop is applied together, at its end.
 */
void daemon_submit(struct daemon *d, enum daemon_op_kind kind, struct service *svc,
		   const char *const *addrs, size_t n_addrs, const char *name, daemon_done_fn done,
		   void *userdata);

/*
 * The one entry for a parameter map from any source (the reconfigure API, DFP_SERVICE_*, the
 * services file, swarm labels; source names it in logs): parsed with labels_parse, replicas=0
 * meaning removal (DFP), addrs (n_addrs, copied) the service's server slots. On a parse error
 * nothing is queued and it returns -EINVAL with labels_parse's message in *reterr and its HTTP
 * status in *ret_status (either may be NULL); without a done callback (nobody to answer) it
 * also logs the error, naming the source, the service and the parameter, and records it for the
 * status API (daemon_rejected). Otherwise it queues the operation as daemon_submit does and
 * returns 0, with a copy of the parsed service in *ret_svc when ret_svc is not NULL (caller
 * frees), for an answer that echoes it.
 */
int daemon_submit_params(struct daemon *d, const struct params *p, const char *source,
			 const char *const *addrs, size_t n_addrs, daemon_done_fn done,
			 void *userdata, struct service **ret_svc, int *ret_status, char **reterr);

/*
 * The last step of daemon_submit_params, for a parsed service to be put (svc taken, addrs
 * copied): returns 0 once it is queued (or will be, by the hook's own doing), or -errno with a
 * message and nothing queued (svc freed). By default the service is queued as is; certload
 * (serviceCert) sets its own, which writes the certificate first.
 */
typedef int (*daemon_put_fn)(struct daemon *d, struct service *svc, const char *const *addrs,
			     size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr);
void daemon_set_put(struct daemon *d, daemon_put_fn fn);

/*
 * Whether the parameters p are this proxy's: FILTER_PROXY_INSTANCE_NAME is off, or their
 * proxyInstanceName equals PROXY_INSTANCE_NAME, case aside. daemon_submit_params turns a
 * service that is not into the removal of its name (logged): it is never routed here.
 */
bool daemon_instance_matches(const struct daemon *d, const struct params *p);

/*
 * Queues new server slots (addrs, n_addrs, "" for an empty slot) for the known service name,
 * applied at run time with commands (stats socket CLI commands, slots.h) and written into the
 * configuration file without a reload. Everything is copied.
 */
void daemon_submit_runtime(struct daemon *d, const char *name, const char *const *addrs,
			   size_t n_addrs, char *const *commands, size_t n_commands);

/*
 * A new or reconfigured service p (parsed as daemon_submit_params does, source naming it in
 * logs) with task server slots: its endpoints addrs (n_addrs, "ip" or "ip:port" as slots.h
 * says) first, then empty ones, slots_count_for(max(n_addrs, n_expected)) in all, so that the
 * n_expected endpoints coming (a wanted replica count; 0 when unknown) fit without a reload.
 * Rendered and reloaded. Returns daemon_submit_params's result (-EINVAL, logged, when p is
 * rejected). Everything is copied.
 */
int daemon_submit_service(struct daemon *d, const struct params *p, const char *source,
			  const char *const *addrs, size_t n_addrs, size_t n_expected);

/*
 * "These are service p's endpoints now" (addrs, n_addrs, any order, no duplicates; copied):
 * when the service's backends in the running configuration have task slots and the new set
 * fits them, the slots are re-pointed at run time (slots_plan, daemon_submit_runtime: no
 * reload), planned from what the operations queued or in flight leave, not only from what is
 * applied; otherwise (an unknown service, a change that does not fit, DNS or VIP discovery, a
 * re-rendering of the service already queued) daemon_submit_service re-renders it with more
 * slots. Returns 0, or daemon_submit_service's result.
 */
int daemon_submit_addrs(struct daemon *d, const struct params *p, const char *source,
			const char *const *addrs, size_t n_addrs, size_t n_expected);

/*
 * Applies what is queued now, unless a batch is in flight (then it is the next batch). Before
 * daemon_start the services only go into the registry: they make the first configuration.
 */
void daemon_flush(struct daemon *d);

/*
 * Starts HAProxy with what is queued and registered (adopting a running master), on the loop;
 * then telemetry. cb (may be NULL) gets 0 once HAProxy serves, or -errno when it cannot be
 * started: the daemon is useless then. Operations submitted meanwhile wait for the start.
 * Returns < 0 with *reterr when nothing could be set up.
 */
typedef void (*daemon_started_fn)(void *userdata, int r);
int daemon_start(struct daemon *d, daemon_started_fn cb, void *userdata, char **reterr);

const struct registry *daemon_registry(const struct daemon *d);
const struct config *daemon_config(const struct daemon *d);
/* The configuration HAProxy runs now (borrowed), "" before the first one. */
const char *daemon_current_cfg(const struct daemon *d);
/* True once the first configuration was applied (DFP's successfulinitreload). */
bool daemon_initialized(const struct daemon *d);
/*
 * What the configuration HAProxy runs now has: its backends (name, service, destination, mode,
 * server slots) and routing rules (render.h). Borrowed until the next applied batch. Metrics,
 * run-time server slots and the autoscaler read backend identity here, never derive it.
 */
struct render_plan;
const struct render_plan *daemon_plan(const struct daemon *d);
/* The context the parser needs, from the configuration. */
void daemon_labels_ctx(const struct daemon *d, struct labels_ctx *ret);
/* Telemetry (NULL when off): the per-backend metrics and the request stream. */
struct metrics *daemon_metrics(const struct daemon *d);
struct telemetry *daemon_telemetry(const struct daemon *d);
/* The monotonic clock the metrics use, in ms. */
uint64_t daemon_now_ms(void);

/*
 * Services that are not applied and that nobody was told about (operations without a done
 * callback: the swarm, the services file, the environment): name -> message, shown by the
 * status API. A successful PUT or REMOVE of the name clears it. daemon_set_rejected sets a
 * message, or clears it when msg is NULL.
 */
void daemon_set_rejected(struct daemon *d, const char *name, const char *msg);
const struct params *daemon_rejected(const struct daemon *d);

/* The HAProxy it runs (borrowed; NULL before daemon_run starts it). */
struct haproxy;
const struct haproxy *daemon_haproxy(const struct daemon *d);
/*
 * Has HAProxy check cfg (`haproxy -c`, haproxy_validate) beside whatever runs: done gets 0 or
 * -EINVAL with HAProxy's message, from the loop. False, and no call, before HAProxy exists.
 */
typedef void (*daemon_check_fn)(void *userdata, int r, const char *err);
bool daemon_validate(struct daemon *d, const char *cfg, size_t len, daemon_check_fn done,
		     void *userdata);
