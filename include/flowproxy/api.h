/* SPDX-License-Identifier: MIT */
/*
 * api: Docker Flow Proxy's HTTP API (/v1/docker-flow-proxy/reconfigure, remove, reload, config,
 * ping, successfulinitreload, metrics, /v1/test, /v2/test; distribute=true sent to every replica
 * with distribute.h) and flowproxy's own (status, stats, autoscale,
 * scale, alertmanager, /metrics)
 * on libmicrohttpd, run inside the loop (MHD's epoll fd, no thread of its own). A request that changes the routing is parsed here,
 * handed to the daemon as an operation, and its connection is suspended until the batch that
 * carries it is applied; the answer then says what HAProxy did with it. Connections are
 * limited per client address and in all, and a request must arrive whole within a deadline, so
 * that a slow or idle client costs only its own connections (docs/api.md "Limits").
 */
#pragma once

#include "flowproxy/daemon.h"

struct api;
struct loop;
struct provider;

/*
 * Listens on the configured address, its sockets and timeouts on loop. d is borrowed for a's
 * life, p too (NULL without swarm mode: the Swarm Listener endpoints answer 404 then). Caller
 * frees with api_free (before the loop and d).
 */
int api_new(struct loop *loop, struct daemon *d, struct provider *p, struct api **ret,
	    char **reterr);
/*
 * The autoscaler behind /v1/flowproxy/autoscale, /scale and /alertmanager, and the sender whose
 * counters /metrics shows (either NULL: those endpoints answer 404, no counters). Borrowed: the
 * autoscaler must be freed first (its pending scales answer 503), then the api.
 */
struct autoscaler;
struct webhook;
void api_attach(struct api *a, struct autoscaler *as, struct webhook *w);
/*
 * The Swarm Listener start-up (NULL without LISTENER_ADDRESS): successfulinitreload waits for
 * its first services, reload?fromListener=true asks it to resend them. Borrowed: freed after
 * the api.
 */
struct listener;
void api_attach_listener(struct api *a, struct listener *l);
void api_free(struct api *a);
