/* SPDX-License-Identifier: MIT */
/*
 * docker: the Docker Engine API client (reference swarm-listener-monitor-docker-api.md §4). Pure
 * parsers turn reply bodies (services, tasks, inspect, /version, event lines) into structs; they
 * do no I/O, cap every size and reject anything malformed with -EBADMSG and a message. The I/O
 * half talks HTTP/1.1 through libcurl to /var/run/docker.sock (or DOCKER_HOST=tcp://host:port),
 * negotiates the API version once (docker_ping), makes blocking list/inspect calls, and follows
 * GET /events from an epoll loop, reconnecting with since= after errors. libcurl's types and
 * codes never leave docker.c.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOCKER_HOST_DEFAULT   "unix:///var/run/docker.sock"
#define DOCKER_API_MAX	      141	  /* 1.41, as major * 100 + minor */
#define DOCKER_REPLY_MAX      (32u << 20) /* one reply body */
#define DOCKER_LABELS_MAX     512	  /* Spec.Labels / Actor.Attributes entries */
#define DOCKER_ADDRS_MAX      64	  /* addresses of one task, all networks */
#define DOCKER_EVENT_LINE_MAX (64u << 10) /* one line of the events stream */

/* ---- pure parsers ------------------------------------------------------------------------ */

enum docker_mode {
	DOCKER_MODE_REPLICATED = 0,
	DOCKER_MODE_GLOBAL,
	DOCKER_MODE_REPLICATED_JOB,
	DOCKER_MODE_GLOBAL_JOB,
};

/* One service from GET /services or GET /services/{id}. All strings owned. */
struct docker_service {
	char *id;	       /* ID */
	char *name;	       /* Spec.Name */
	struct params labels;  /* Spec.Labels, keys in reply order, prefixes kept */
	enum docker_mode mode; /* Spec.Mode */
	long replicas;	       /* Spec.Mode.Replicated.Replicas; 0 for the other modes */
	bool has_status;       /* ServiceStatus present (list with status=true only) */
	long running_tasks;    /* ServiceStatus.RunningTasks */
	long desired_tasks;    /* ServiceStatus.DesiredTasks */
	uint64_t version;      /* Version.Index, for POST /services/{id}/update?version= */
	char *updated_at;      /* UpdatedAt as given (RFC 3339), NULL when absent */
};

struct docker_service_list {
	struct docker_service *v;
	size_t n;
};

/* One address of a task on one network: "10.0.1.5/24" becomes addr "10.0.1.5". */
struct docker_task_addr {
	char *network; /* NetworksAttachments[].Network.Spec.Name */
	char *addr;    /* IPv4 or IPv6, without the mask */
};

struct docker_task {
	char *id;	     /* ID */
	char *service_id;    /* ServiceID */
	char *node_id;	     /* NodeID, NULL when not yet assigned */
	long slot;	     /* Slot, 0 for global tasks (which have none) */
	char *state;	     /* Status.State: new … running, complete, failed, shutdown, … */
	char *desired_state; /* DesiredState */
	struct docker_task_addr *addrs;
	size_t n_addrs;
};

struct docker_task_list {
	struct docker_task *v;
	size_t n;
};

enum docker_action {
	DOCKER_ACTION_OTHER = 0,
	DOCKER_ACTION_CREATE,
	DOCKER_ACTION_UPDATE,
	DOCKER_ACTION_REMOVE,
};

/* One EventMessage (§4.5). Strings owned; docker_event_done frees them. */
struct docker_event {
	char *type;		  /* Type: "service", "node", … */
	char *action;		  /* Action as given */
	enum docker_action kind;  /* Action as an enum */
	char *actor_id;		  /* Actor.ID */
	char *name;		  /* Actor.Attributes.name, NULL when absent */
	struct params attributes; /* Actor.Attributes, e.g. replicas.old / replicas.new */
	int64_t time;		  /* time, seconds */
	int64_t time_nano;	  /* timeNano (exact, read from the text), else time * 1e9 */
};

void docker_service_done(struct docker_service *s);
void docker_service_list_done(struct docker_service_list *l);
void docker_task_done(struct docker_task *t);
void docker_task_list_done(struct docker_task_list *l);
void docker_event_done(struct docker_event *e);

/*
 * GET /services reply (a JSON array) -> *ret (caller frees with docker_service_list_done; it is
 * filled only on success). Rejects: over DOCKER_REPLY_MAX or more than DOCKER_LABELS_MAX labels
 * on one service (-EMSGSIZE); not JSON, not an array, an item without ID / Spec.Name / Spec.Mode,
 * labels that are not strings, counts that are not non-negative integers (-EBADMSG).
 */
int docker_parse_services(const char *body, size_t len, struct docker_service_list *ret,
			  char **reterr);

/* GET /services/{id} reply (one object) -> *ret (caller frees with docker_service_done). Same
 * rules as one item of docker_parse_services. */
int docker_parse_service(const char *body, size_t len, struct docker_service *ret, char **reterr);

/*
 * GET /tasks reply -> *ret (caller frees with docker_task_list_done). Requires ID, ServiceID,
 * Status.State and DesiredState; addresses must be "<ip>/<prefix>" with a valid IP (more than
 * DOCKER_ADDRS_MAX per task: -EMSGSIZE). Tasks without NetworksAttachments have no addresses.
 */
int docker_parse_tasks(const char *body, size_t len, struct docker_task_list *ret, char **reterr);

/*
 * One line of GET /events (without '\n', len bytes, not NUL-terminated) -> *ret (caller frees
 * with docker_event_done). Requires Type, Action, Actor.ID (strings) and time or timeNano.
 * Over DOCKER_EVENT_LINE_MAX or DOCKER_LABELS_MAX attributes: -EMSGSIZE; else -EBADMSG.
 */
int docker_parse_event(const char *line, size_t len, struct docker_event *ret, char **reterr);

/*
 * GET /version reply -> ApiVersion and MinAPIVersion as major * 100 + minor ("1.41" -> 141).
 * ret_min gets 0 when MinAPIVersion is absent. -EBADMSG without a well-formed ApiVersion.
 */
int docker_parse_version(const char *body, size_t len, int *ret_api, int *ret_min, char **reterr);

/* "1.41" -> 141 (minor < 100). -EINVAL otherwise. */
int docker_parse_api_version(const char *s, int *ret);

/*
 * The version to put in front of every call (§4.0): min(daemon api, DOCKER_API_MAX), raised to
 * the daemon's minimum when that is higher (Docker 29 refuses below 1.44).
 */
int docker_negotiate_version(int daemon_api, int daemon_min);

/* ---- I/O --------------------------------------------------------------------------------- */

struct docker;

/*
 * host: "unix:///path", "/path", "tcp://host:port" or "http://host:port" (no TLS); NULL means
 * $DOCKER_HOST, else DOCKER_HOST_DEFAULT. Does no I/O. -EINVAL for other schemes. Caller frees
 * *ret with docker_free.
 */
int docker_new(const char *host, struct docker **ret, char **reterr);
void docker_free(struct docker *d);

/*
 * GET /_ping, then GET /version: negotiates the API version used by every later call. Must
 * succeed before the calls below (they return -ENOTCONN otherwise). Errors: -ECONNREFUSED /
 * -ENOENT (no socket), -ETIMEDOUT, -EBADMSG (not a Docker daemon), with a message.
 */
int docker_ping(struct docker *d, char **reterr);

/* The negotiated version, e.g. "1.41" (borrowed, "" before docker_ping), and the daemon's own
 * ApiVersion as major * 100 + minor (0 before docker_ping) for updates (§4.0 update trap). */
const char *docker_api_version(const struct docker *d);
int docker_daemon_api_version(const struct docker *d);

/*
 * The calls below block (connect timeout 5 s, whole call 30 s). HTTP errors become -errno with
 * Docker's {"message"} in *reterr: 400 -EINVAL, 404 -ENOENT, 409 -EBUSY, 500 -EREMOTEIO,
 * 501 -EOPNOTSUPP, 503 -ENOTCONN (not a swarm manager), other -EPROTO; a body over
 * DOCKER_REPLY_MAX -EMSGSIZE.
 */

/* GET /services?filters={"label":["com.df.notify=true"]}&status=true. Caller frees *ret with
 * docker_service_list_done. */
int docker_list_services(struct docker *d, struct docker_service_list *ret, char **reterr);

/* GET /tasks?filters={"service":[service],"desired-state":["running"]}; service (name or ID) NULL
 * lists every service's tasks. Caller frees *ret with docker_task_list_done. */
int docker_list_tasks(struct docker *d, const char *service, struct docker_task_list *ret,
		      char **reterr);

/*
 * The names of the networks a container is attached to (NetworkSettings.Networks keys, reply
 * order) from GET /containers/{id}/json. At most DOCKER_ADDRS_MAX (-EMSGSIZE beyond); a reply
 * without NetworkSettings.Networks is -EBADMSG. Caller frees *ret with strv_done.
 */
int docker_parse_container_networks(const char *body, size_t len, struct strv *ret, char **reterr);
/* The same, asked of the daemon for the container id (or name): -ENOENT when there is none. */
int docker_container_networks(struct docker *d, const char *id, struct strv *ret, char **reterr);

/* GET /services/{id}. ret and ret_raw may each be NULL; *ret_raw is the reply body as received
 * (NUL-terminated, caller frees), for a read-modify-write of the spec. */
int docker_inspect_service(struct docker *d, const char *id, struct docker_service *ret,
			   char **ret_raw, char **reterr);

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
 * "now", taken from the local clock so a reconnect before the first event loses nothing). d must have been pinged and must outlive the follower. Starts connecting at
 * once. After an error it reconnects with backoff (250 ms doubling to 8 s) and since=<last event
 * time>, dropping replayed events it already delivered. Caller frees *ret with docker_events_free.
 */
int docker_events_new(struct docker *d, const char *const *types, int64_t since, docker_event_fn cb,
		      void *userdata, struct docker_events **ret, char **reterr);
void docker_events_free(struct docker_events *e);

/* An fd (epoll, close-on-exec) that becomes readable when docker_events_process has work. */
int docker_events_fd(const struct docker_events *e);
/* Does the pending work without blocking: socket I/O, timers, callbacks, reconnects. */
void docker_events_process(struct docker_events *e);
void docker_events_get_stats(const struct docker_events *e, struct docker_events_stats *ret);
