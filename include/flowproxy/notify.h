/* SPDX-License-Identifier: MIT */
/*
 * notify: the Swarm Listener's notifications to other tools (DF_NOTIFY_CREATE_SERVICE_URL, ...):
 * when a service appears or changes, each create URL gets its parameters as a query (keys sorted,
 * Go's url.Values encoding); when it goes, each remove URL does. Retries and cancellation follow
 * the Listener (reference swarm-listener-monitor-docker-api.md §1.2, §1.5): up to DF_RETRY
 * retries DF_RETRY_INTERVAL seconds apart, success is 200 (or 409 for a create), and a newer
 * notification for the same service cancels the older one. Requests run on a thread of their own
 * so that a slow peer never stalls the loop; the loop only queues.
 */
#pragma once

#include "flowproxy/service.h"

struct notify_options {
	const char *create_urls;    /* comma-separated */
	const char *remove_urls;    /* comma-separated */
	const char *create_methods; /* comma-separated, aligned with the URLs; last one reused */
	const char *remove_methods;
	long retries;
	long retry_interval_s;
};

struct notify;

/* Starts the sender thread (none when there is no URL: *ret is then NULL). */
int notify_new(const struct notify_options *o, struct notify **ret, char **reterr);
/* Stops the thread (in-flight retries are abandoned) and frees n. NULL ok. */
void notify_free(struct notify *n);

/* Queues a notification for service name with params (copied). n may be NULL (no-op). */
void notify_service(struct notify *n, bool create, const char *name, const struct params *params);

/* The query string of params as the Listener encodes it (keys sorted, escaped). Caller frees. */
char *notify_query(const struct params *params);
