/* SPDX-License-Identifier: MIT */
/*
 * webhook: POSTs to outside HTTP(S) URLs that never block the loop: Slack-compatible
 * notifications (`{"text": "..."}` as application/json) and scaling triggers such as a Jenkins
 * `buildWithParameters?token=...&service=S&scale=N` call (a POST without a body).
 *
 * One libcurl multi handle per sender, its sockets loop ios and its timeout one loop timer.
 * Every attempt has a connect and a total deadline. An attempt that fails for a reason that may
 * pass (no connection, a deadline, HTTP 5xx, 408 or 429) is retried a bounded number of times,
 * the delay doubling from one retry to the next; 2xx is success, and any other answer (a 4xx, a
 * redirect) ends the message at once. The queue, messages in flight plus waiting ones, is
 * capped: a message posted at the cap drops the oldest waiting one, which is counted. Outcomes
 * come back through a callback run by the loop, never from inside webhook_post, and a message
 * can be cancelled until then.
 *
 * URLs are http:// or https:// only. A URL's query and user information can hold a token, so
 * every message (webhook_result.err, logs) names a URL as scheme://host/path only
 * (webhook_url_redact). CURLcode never leaves webhook.c.
 */
#pragma once

#include "flowproxy/util.h"

#include <stdint.h>

#define WEBHOOK_URL_MAX		 4096	       /* bytes of a URL */
#define WEBHOOK_BODY_MAX	 (64u << 10)   /* bytes of a body */
#define WEBHOOK_CONTENT_TYPE_MAX 256	       /* bytes of a Content-Type */
#define WEBHOOK_URLS_MAX	 64	       /* URLs in one comma-separated list */
#define WEBHOOK_RETRIES_MAX	 10	       /* webhook_options.retries */
#define WEBHOOK_DELAY_MAX_MS	 (600L * 1000) /* webhook_options.retry_delay_ms */

struct loop;
struct webhook;
struct webhook_call;

/* How a sender works. Use WEBHOOK_OPTIONS_DEFAULT and change what differs. */
struct webhook_options {
	long connect_timeout_ms; /* per attempt: TCP and TLS connection, 1..600000 */
	long timeout_ms;	 /* per attempt: the whole exchange, 1..600000 */
	long retries;		 /* attempts after the first one, 0..WEBHOOK_RETRIES_MAX */
	long retry_delay_ms;	 /* before the first retry, doubled for each next one, 1.. */
	long queue_max;		 /* messages in flight plus waiting, 1..1000000 */
	long parallel;		 /* transfers at once, 1..queue_max */
};

/* 3 s to connect, 5 s in all; 3 retries 1 s, 2 s and 4 s later; 1,000 messages, 4 at once. */
#define WEBHOOK_OPTIONS_DEFAULT                               \
	((struct webhook_options){.connect_timeout_ms = 3000, \
				  .timeout_ms = 5000,         \
				  .retries = 3,               \
				  .retry_delay_ms = 1000,     \
				  .queue_max = 1000,          \
				  .parallel = 4})

/* The outcome of one message; everything in it is borrowed for the callback's duration. */
struct webhook_result {
	/*
	 * 0: a 2xx answer. Otherwise the last attempt's failure: -EREMOTEIO (an HTTP answer that
	 * is not 2xx, see status), -ECONNREFUSED (no connection), -EHOSTUNREACH (the host does
	 * not resolve), -ETIMEDOUT (a deadline), -EPROTO (TLS or HTTP broken), -EIO (other), or
	 * -ENOBUFS: dropped unsent from a full queue.
	 */
	int r;
	long status;	   /* HTTP status of the last answer, 0 when none came */
	unsigned attempts; /* attempts made, 0 for a message dropped before its first */
	const char *url;   /* the URL as scheme://host/path */
	const char *err;   /* for people, naming url and the attempts; "" on success */
};

/* Called once per message (unless it was cancelled or its sender freed), on the loop. When it
 * runs the message is already gone: do not cancel it from there. */
typedef void (*webhook_done_fn)(void *userdata, const struct webhook_result *res);

/* Counters since webhook_new, and the queue now. */
struct webhook_stats {
	uint64_t sent;	  /* messages answered 2xx */
	uint64_t failed;  /* messages given up after their last attempt */
	uint64_t retried; /* attempts after a message's first one */
	uint64_t dropped; /* messages dropped unsent from a full queue */
	size_t queued;	  /* messages in flight or waiting */
	size_t in_flight; /* transfers running */
};

/*
 * Makes a sender on loop with options o (NULL: WEBHOOK_OPTIONS_DEFAULT). Loads libcurl on
 * first use. Fails with -EINVAL (an option out of its range, named in the message) or -ENOENT
 * (libcurl cannot be loaded). Caller frees *ret with webhook_free, before the loop.
 */
int webhook_new(struct loop *loop, const struct webhook_options *o, struct webhook **ret,
		char **reterr);

/*
 * Frees w and abandons its messages, in flight or waiting, without calling their callbacks.
 * NULL ok. May be called from a webhook_done_fn (no other callback runs after it then).
 */
void webhook_free(struct webhook *w);

/*
 * Queues a POST of body (NUL-terminated, copied; NULL for no body, as a Jenkins trigger is
 * called) to url (copied) with Content-Type content_type (copied; NULL: none). The transfer
 * starts from the loop; cb(userdata, result) runs once it is over (cb may be NULL). At the
 * queue's cap the oldest waiting message is dropped (its callback gets -ENOBUFS); when every
 * queued message is in flight the new one is refused instead.
 *
 * Refuses, without calling cb: a URL webhook_url_check refuses (-EINVAL, -EMSGSIZE), a
 * content_type with control bytes (-EINVAL) or over WEBHOOK_CONTENT_TYPE_MAX, a body over
 * WEBHOOK_BODY_MAX (-EMSGSIZE), a full queue with nothing waiting (-ENOBUFS); each with a
 * message naming the URL as webhook_url_redact shows it.
 *
 * *ret_call (NULL ok) is the message, for webhook_cancel; it is valid until its callback runs.
 */
int webhook_post(struct webhook *w, const char *url, const char *content_type, const char *body,
		 webhook_done_fn cb, void *userdata, struct webhook_call **ret_call, char **reterr);

/* Forgets the message: its transfer, if running, is abandoned and its callback never runs.
 * NULL ok. Not for a message whose callback is running. */
void webhook_cancel(struct webhook_call *c);

/*
 * Posts text as a Slack message (webhook_slack_body, application/json) to every URL of urls
 * (comma-separated, spaces around a URL ignored, at most WEBHOOK_URLS_MAX). Every URL is
 * checked first: one that webhook_url_check refuses fails the whole call (-EINVAL, the message
 * names it) and nothing is sent. Outcomes are not reported: a message not delivered after its
 * retries is logged as a warning, a drop once per streak. Returns the number of URLs posted to
 * (0 for an empty list), or webhook_post's error if it refused one (those before it are sent).
 */
int webhook_notify(struct webhook *w, const char *urls, const char *text, char **reterr);

/* Checks every URL of a list as webhook_notify does, sending nothing: the number of URLs, or
 * the first refusal (-EINVAL, -EMSGSIZE, *reterr names the URL). */
int webhook_urls_check(const char *urls, char **reterr);

/* `{"text":"<text, JSON-escaped>"}`, Slack's incoming-webhook body. Caller frees. */
char *webhook_slack_body(const char *text);

/*
 * Checks that url can be posted to: http:// or https:// (any case), a host, no spaces or
 * control bytes, at most WEBHOOK_URL_MAX bytes. Returns 0, or -EINVAL / -EMSGSIZE with a
 * message that shows the URL as webhook_url_redact does.
 */
int webhook_url_check(const char *url, char **reterr);

/*
 * url for messages and logs: scheme://host[:port]/path, without user information, query or
 * fragment (where tokens go), control bytes replaced by '?', at most 200 bytes. Caller frees.
 */
char *webhook_url_redact(const char *url);

void webhook_get_stats(const struct webhook *w, struct webhook_stats *ret);

/* Appends the counters and the queue to out in Prometheus' text format, each as
 * flowproxy_webhook_<what>{sender="<name>"} (name escaped as a label value). w NULL: zeros. */
void webhook_prometheus(const struct webhook *w, const char *name, struct strbuf *out);
