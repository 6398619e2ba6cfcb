/* SPDX-License-Identifier: MIT */
/*
 * docker_parse: the Docker Engine API's replies (reference swarm-listener-monitor-docker-api.md
 * §4) as structs. Pure parsers turn reply bodies (services, tasks, inspect, /version, event
 * lines, a container's networks) into structs; they do no I/O, cap every size and reject
 * anything malformed with -EBADMSG and a message. docker_spec_scale makes the body of a scaling
 * update from an inspect reply, every byte of the spec but the replica count passed through.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOCKER_API_MAX	      141	  /* 1.41, as major * 100 + minor */
#define DOCKER_REPLY_MAX      (32u << 20) /* one reply body */
#define DOCKER_LABELS_MAX     512	  /* Spec.Labels / Actor.Attributes entries */
#define DOCKER_ADDRS_MAX      64	  /* addresses of one task, all networks */
#define DOCKER_EVENT_LINE_MAX (64u << 10) /* one line of the events stream */
#define DOCKER_REPLICAS_MAX   2147483647L /* a replica count, as docker_parse_service caps it */
#define DOCKER_JSON_DEPTH_MAX 100	  /* nesting of a service object read byte by byte */
#define DOCKER_WARNINGS_MAX   4096	  /* the Warnings of an update reply, joined */

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
	char *container_id;  /* Status.ContainerStatus.ContainerID, NULL before there is one */
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
 * Status.ContainerStatus.ContainerID, when present, must be a string (-EBADMSG otherwise).
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

/*
 * The names of the networks a container is attached to (NetworkSettings.Networks keys, reply
 * order) from GET /containers/{id}/json. At most DOCKER_ADDRS_MAX (-EMSGSIZE beyond); a reply
 * without NetworkSettings.Networks is -EBADMSG. Caller frees *ret with strv_done.
 */
int docker_parse_container_networks(const char *body, size_t len, struct strv *ret, char **reterr);

/*
 * The body of POST /services/{id}/update (§4.3) that sets the replica count of a replicated
 * service to replicas, from body, the whole reply of GET /services/{id} (len bytes, need not be
 * NUL-terminated): the bytes of its Spec object exactly as received, with only the value of
 * Spec.Mode.Replicated.Replicas replaced by the decimal digits of replicas. The spec is never
 * re-printed, so fields this code does not know, their order, spacing and escapes reach the
 * engine as it sent them (§4.0 update trap, §5 complaint 3). The object is read with a scanner
 * that checks the whole of it is JSON and follows only the keys on the way (ID, Version.Index,
 * Spec.Name, Spec.Mode.*), so a "Replicas" anywhere else (labels, env, PreviousSpec) is left
 * alone. A Replicated object without Replicas, or with "Replicas":null, is what the engine runs
 * as 1 replica (it fills in 1 on create and update, checked on dockerd 20.10): the current count
 * is then 1 and the key is written (replaced, or inserted first in the object).
 *
 * *ret_current gets the current count and *ret_version Version.Index (either may be NULL).
 * ret_spec NULL only reads them (replicas is then not used); else *ret_spec gets the new spec,
 * NUL-terminated, *ret_len its length (caller frees). Nothing is set on failure.
 *
 * Rejects: replicas outside [0, DOCKER_REPLICAS_MAX] (-EINVAL); a body over DOCKER_REPLY_MAX
 * (-EMSGSIZE); a global service or a job (-ENOTSUP: they have no replica count); anything that
 * is not one JSON object, nesting deeper than DOCKER_JSON_DEPTH_MAX, a missing or non-object
 * Spec or Spec.Mode, no mode or more than one, a Replicas that is not a whole number in
 * [0, DOCKER_REPLICAS_MAX], a missing Version.Index, and, on the keys it follows, a key given
 * twice or spelt other than the engine prints it but matching it without regard to case (Go's
 * decoder would take either, so which one counts would be a guess) (-EBADMSG).
 */
int docker_spec_scale(const char *body, size_t len, long replicas, char **ret_spec, size_t *ret_len,
		      long *ret_current, uint64_t *ret_version, char **reterr);

/*
 * The reply of a successful POST /services/{id}/update, {"Warnings":[...]} or
 * {"Warnings":null}: *ret gets the warnings joined with "; " (caller frees), cut at
 * DOCKER_WARNINGS_MAX bytes, or NULL when there are none. -EBADMSG for a body that is not such
 * an object, -EMSGSIZE over DOCKER_REPLY_MAX.
 */
int docker_parse_update_reply(const char *body, size_t len, char **ret, char **reterr);
