/* SPDX-License-Identifier: MIT */
/*
 * distribute: Docker Flow Proxy's `distribute=true` (reference docker-flow-proxy.md §2
 * "Distribution"). A request is sent again, same method, path, query and body, with
 * distribute=false, to every replica of the proxy's own swarm service: the IPv4 addresses of
 * `tasks.<SERVICE_NAME>` (Docker's DNS gives one per running task), on the API's PORT. Every
 * replica must answer below 300, or the whole request fails naming the addresses that did not.
 *
 * The lookup runs on a thread (lookup.h), the requests on the loop's curl multi (httpc.h):
 * nothing here blocks the loop. The pure parts (query, URL, messages) are exported for tests.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdbool.h>
#include <stddef.h>

#define DISTRIBUTE_TIMEOUT_MS 20000	 /* one replica's answer, reload included */
#define DISTRIBUTE_REPLY_MAX  (8u << 20) /* one replica's answer (metrics CSV) */

struct loop;
struct distribute;
struct distribute_call;

struct distribute_options {
	const char *service_name; /* SERVICE_NAME: tasks.<service_name> is looked up */
	long port;		  /* PORT: where the replicas' APIs listen */
	const char *token;	  /* API_TOKEN, sent as a Bearer token; NULL or "" for none */
};

/* The outcome; everything is borrowed for the callback's duration. */
struct distribute_result {
	/*
	 * 0: every replica answered below 300. -ENXIO: tasks.<SERVICE_NAME> does not resolve (not
	 * a swarm task, or SERVICE_NAME is wrong); -EAGAIN: too many lookups at once;
	 * -EREMOTEIO: some replicas failed (failed, n_failed).
	 */
	int r;
	const char *message;	  /* DFP's message when r < 0, "" otherwise */
	const char *const *addrs; /* every replica, sorted */
	size_t n_addrs;
	const char *const *bodies; /* their answers' bodies, in addrs' order ("" when none) */
	const char *const *failed; /* the addresses that failed */
	size_t n_failed;
};

typedef void (*distribute_done_fn)(void *userdata, const struct distribute_result *res);

/* Everything in o is copied. Caller frees with distribute_free, before the loop. -ENOENT when
 * libcurl cannot be loaded. */
int distribute_new(struct loop *loop, const struct distribute_options *o, struct distribute **ret,
		   char **reterr);
/* Abandons the calls in flight without calling back. NULL ok. */
void distribute_free(struct distribute *d);

/*
 * Sends method path?<query with distribute=false> (body: len bytes, NULL for none; all copied)
 * to every replica. cb runs once, from the loop, unless distribute_cancel comes first.
 */
struct distribute_call *distribute_send(struct distribute *d, const char *method, const char *path,
					const struct params *query, const char *body, size_t len,
					distribute_done_fn cb, void *userdata);
/* cb will not run. NULL ok. Not from within the call's callback. */
void distribute_cancel(struct distribute_call *c);

/* The name looked up: "tasks.<service_name>". Caller frees. */
char *distribute_lookup_name(const char *service_name);

/*
 * q as a query string (no '?'): each pair percent-encoded (RFC 3986 unreserved bytes kept), in
 * q's order, with every `distribute` pair (any case) replaced by one distribute=false where the
 * first stood, or appended when there was none. Caller frees.
 */
char *distribute_query(const struct params *q);

/* "http://<ip>:<port><path>?<distribute_query(q)>". Caller frees. */
char *distribute_url(const char *ip, long port, const char *path, const struct params *q);

/* DFP's messages: the lookup that failed, and the replicas that failed ("[a b]", Go's
 * formatting of a []string). Caller frees. */
char *distribute_lookup_message(const char *service_name);
char *distribute_failed_message(const char *const *addrs, size_t n);
