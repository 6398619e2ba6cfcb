/* SPDX-License-Identifier: MIT */
/*
 * httpc: plain HTTP requests to peers flowproxy talks to as a client (other flowproxy replicas,
 * the Swarm Listener), on the loop's libcurl multi handle, never blocking it. One request is
 * one attempt with a total deadline; retrying is the caller's business, since each caller
 * (a fan-out, a start-up poll) has its own rhythm. The answer's body is kept up to a cap.
 *
 * Callbacks run from the loop (after curl did some work), never inside httpc_request.
 * CURLcode never leaves httpc.c.
 */
#pragma once

#include <stddef.h>

#define HTTPC_URL_MAX	(256u << 10) /* a distributed query (QUERY_LEN_MAX), percent-encoded */
#define HTTPC_REPLY_MAX (16u << 20)  /* the largest reply_max a request may ask for */

struct loop;
struct httpc;
struct httpc_call;

/* The outcome of one request; everything is borrowed for the callback's duration. */
struct httpc_result {
	/*
	 * 0: an HTTP answer came (any status). Otherwise -ECONNREFUSED (no connection),
	 * -EHOSTUNREACH (the host does not resolve), -ETIMEDOUT (the deadline), -EMSGSIZE (the
	 * body passed reply_max), -EPROTO (HTTP broken), -EIO (other).
	 */
	int r;
	long status;	  /* 0 when no answer came */
	const char *body; /* NUL-terminated, "" when none */
	size_t len;
	const char *err; /* for people, naming the method and URL when r < 0; "" otherwise */
};

typedef void (*httpc_done_fn)(void *userdata, const struct httpc_result *res);

/* Loads libcurl on first use (-ENOENT and a message when it cannot). Caller frees with
 * httpc_free, before the loop. */
int httpc_new(struct loop *loop, struct httpc **ret, char **reterr);
/* Abandons every request without calling back. NULL ok. Not from within a callback. */
void httpc_free(struct httpc *h);

/*
 * Starts method (GET, PUT, POST, DELETE...: a token of at most 15 letters) on url (http://
 * only, at most HTTPC_URL_MAX bytes), with body (len bytes, copied; NULL for none) and the
 * header "Authorization: Bearer <bearer>" when bearer is set (never logged). timeout_ms bounds
 * the whole exchange; at most reply_max bytes of body are kept (more is -EMSGSIZE). cb runs
 * exactly once, from the loop, unless httpc_cancel comes first. Returns the call (valid until
 * its callback returns), or NULL for a method or URL refused above: then cb never runs.
 */
struct httpc_call *httpc_request(struct httpc *h, const char *method, const char *url,
				 const char *body, size_t len, const char *bearer, long timeout_ms,
				 size_t reply_max, httpc_done_fn cb, void *userdata);
/* Forgets the call: cb never runs. NULL ok. Not from within its own callback. */
void httpc_cancel(struct httpc_call *c);
