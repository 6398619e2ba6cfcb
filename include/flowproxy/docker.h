/* SPDX-License-Identifier: MIT */
/*
 * docker: the Docker Engine API client (reference swarm-listener-monitor-docker-api.md §4). It
 * talks HTTP/1.1 through libcurl's multi interface to /var/run/docker.sock (or
 * DOCKER_HOST=tcp://host:port), driven by the loop's sockets and timers: every call returns at
 * once and its result comes back as a callback on the loop, within its deadline, and any call
 * can be cancelled. It negotiates the API version once (docker_ping) and follows GET /events,
 * reconnecting with since= after errors. It scales a replicated service (docker_scale_service:
 * read, change the count only, update, retry when another writer came between). The replies are
 * parsed by docker_parse.h. libcurl's types and codes never leave docker.c.
 */
#pragma once

#include "flowproxy/docker_parse.h"

#define DOCKER_HOST_DEFAULT	  "unix:///var/run/docker.sock"
#define DOCKER_CONNECT_TIMEOUT_MS 5000L
#define DOCKER_CALL_TIMEOUT_MS	  10000L /* any one call, connect included */
#define DOCKER_SCALE_TIMEOUT_MS	  30000L /* docker_scale_service, every retry included */
#define DOCKER_SCALE_ATTEMPTS	  5	 /* updates sent while the engine says "out of sequence" */

struct docker;
struct docker_req;
struct loop;

/*
 * host: "unix:///path", "/path", "tcp://host:port" or "http://host:port" (no TLS); NULL means
 * $DOCKER_HOST, else DOCKER_HOST_DEFAULT. Does no I/O. -EINVAL for other schemes, -ENOENT when
 * libcurl cannot be loaded. Caller frees *ret with docker_free (before the loop).
 */
int docker_new(struct loop *loop, const char *host, struct docker **ret, char **reterr);
/* Cancels every call in flight (no callbacks) and frees d. Followers must be freed first. */
void docker_free(struct docker *d);

/*
 * The outcome of a call, borrowed for the callback. r is 0 or -errno: HTTP errors become
 * 400 -EINVAL, 404 -ENOENT, 409 -EBUSY, 500 -EREMOTEIO, 501 -EOPNOTSUPP, 503 -ENOTCONN (not a
 * swarm manager), other -EPROTO, with Docker's {"message"} in err; -ECONNREFUSED (no daemon
 * there), -ETIMEDOUT (past the deadline), -EIO (the connection broke), -EMSGSIZE (a reply over
 * DOCKER_REPLY_MAX), -EBADMSG (a reply that does not parse), -ENOTCONN (a versioned call
 * before docker_ping succeeded). The parsed result of the call, if any, is in the field named
 * for it; the callback may take it over (move it out and zero it), else it is freed after.
 */
struct docker_result {
	int r;
	const char *err; /* "" on success */
	const char *body;
	size_t len;
	struct docker_service_list *services; /* docker_list_services */
	struct docker_task_list *tasks;	      /* docker_list_tasks */
	struct docker_service *service;	      /* docker_inspect_service (body: the raw spec) */
	struct strv *networks;		      /* docker_container_networks */
	struct docker_scale *scale;	      /* docker_scale_service, once a GET was read */
};

/* What docker_scale_service read and wrote. */
struct docker_scale {
	long old_replicas; /* the count the last GET read */
	long new_replicas; /* the count the engine accepted; old_replicas when none was */
	uint64_t version;  /* the Version.Index of the last GET, the one an update was sent for */
	int attempts;	   /* updates sent, 0 when none was needed */
	char *warnings;	   /* the accepted update's Warnings joined with "; ", NULL when none */
};

typedef void (*docker_done_fn)(void *userdata, const struct docker_result *res);

/*
 * Each call below starts at once and reports once through cb, on the loop, never inside the
 * call itself, unless docker_cancel comes first. Strings are copied. The returned handle is
 * valid until cb returns or docker_cancel.
 */

/* GET /_ping, then GET /version: negotiates the API version every later call uses. */
struct docker_req *docker_ping(struct docker *d, docker_done_fn cb, void *userdata);

/* GET /services?filters={"label":["com.df.notify=true"]}&status=true. */
struct docker_req *docker_list_services(struct docker *d, docker_done_fn cb, void *userdata);

/* GET /tasks?filters={"service":[service],"desired-state":["running"]}; service (name or ID)
 * NULL lists every service's tasks. */
struct docker_req *docker_list_tasks(struct docker *d, const char *service, docker_done_fn cb,
				     void *userdata);

/* GET /services/{id}?insertDefaults=false: the service parsed, and body as received (for a
 * read-modify-write of the spec). */
struct docker_req *docker_inspect_service(struct docker *d, const char *id, docker_done_fn cb,
					  void *userdata);

/* GET /containers/{id}/json: the names of its networks (-ENOENT when there is no such
 * container). */
struct docker_req *docker_container_networks(struct docker *d, const char *id, docker_done_fn cb,
					     void *userdata);

/*
 * Scales the replicated service id (a name or an ID) by delta, kept within [min, max] (§4.2,
 * §4.3, reference §3.4): GET /services/{id}, then new = clamp(current + delta, min, max), so a
 * count already outside the bounds is brought inside them whatever delta says. When new equals
 * current no update is sent and r is -ERANGE ("service 'web' is already at its maximum of 4
 * replicas"). Otherwise POST /services/{id}/update?version=<Version.Index> with the spec as
 * read, only its count changed (docker_spec_scale), as application/json. Both calls are made at
 * the daemon's own API version (docker_daemon_api_version), so neither side drops a field the
 * other knows (§4.0 update trap). On HTTP 500 "update out of sequence" (someone updated the
 * service in between, §4.3) it reads the service again and applies delta to the fresh count,
 * clamped again, for DOCKER_SCALE_ATTEMPTS updates in all; then -EBUSY.
 *
 * Also fails with: -EINVAL (no id; min > max or bounds outside [0, DOCKER_REPLICAS_MAX]; |delta|
 * over DOCKER_REPLICAS_MAX), -ENOTCONN (before docker_ping), -ENOTSUP (a global service or a
 * job), -ENOENT (no such service), -EBADMSG (a service object that does not parse), -ETIMEDOUT
 * (DOCKER_SCALE_TIMEOUT_MS passed; an update then in flight may or may not have been applied),
 * and the other errors of struct docker_result. res->scale is set once a GET was read (success,
 * -ERANGE, -EBUSY and any later failure), NULL before. A reply to the update that does not parse
 * is still success (the engine said 200); it is named in warnings. docker_cancel stops it at any
 * step, without a callback; an update already sent may still be applied.
 */
struct docker_req *docker_scale_service(struct docker *d, const char *id, long delta, long min,
					long max, docker_done_fn cb, void *userdata);

void docker_cancel(struct docker_req *q);

/* The negotiated version, e.g. "1.41" (borrowed, "" before docker_ping), and the daemon's own
 * ApiVersion as major * 100 + minor (0 before docker_ping) for updates (§4.0 update trap). */
const char *docker_api_version(const struct docker *d);
int docker_daemon_api_version(const struct docker *d);

/* ---- events follower --------------------------------------------------------------------- */

struct docker_events;

/* Called once per event, in order, never twice for the same timeNano. ev borrowed for the call.
 * The callback must not call docker_events_free. */
typedef void (*docker_event_fn)(void *userdata, const struct docker_event *ev);

struct docker_events_stats {
	uint64_t events;      /* delivered to the callback */
	uint64_t bad_lines;   /* lines that did not parse or were over DOCKER_EVENT_LINE_MAX */
	uint64_t connects;    /* streams that answered 200 */
	uint64_t disconnects; /* streams that ended or failed (then reconnected) */
	bool connected;
	int64_t last_time_nano; /* timeNano of the last event delivered, 0 before any */
};

/*
 * Follows GET /events?filters={"type":[...types]}&since=<since> (types NULL means service, node
 * and container events whose action is create, update, remove, start or die; since 0 means
 * "now", taken from the local clock so a reconnect before the first event loses nothing), on
 * d's loop. d must have been pinged and must outlive the follower. Starts connecting at once.
 * After an error it reconnects with backoff (250 ms doubling to 8 s) and since=<last event
 * time>, dropping replayed events it already delivered. Caller frees *ret with
 * docker_events_free.
 */
int docker_events_new(struct docker *d, const char *const *types, int64_t since, docker_event_fn cb,
		      void *userdata, struct docker_events **ret, char **reterr);
void docker_events_free(struct docker_events *e);
void docker_events_get_stats(const struct docker_events *e, struct docker_events_stats *ret);
