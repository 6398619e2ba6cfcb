/* SPDX-License-Identifier: MIT */
/*
 * api: Docker Flow Proxy's HTTP API (/v1/docker-flow-proxy/reconfigure, remove, reload, config,
 * ping, successfulinitreload, /v1/test, /v2/test) on libmicrohttpd, run inside the daemon's loop
 * (MHD's epoll fd, no thread of its own). A request that changes the routing is parsed here,
 * handed to the daemon as an operation, and its connection is suspended until the batch that
 * carries it is applied; the answer then says what HAProxy did with it.
 */
#pragma once

#include "flowproxy/daemon.h"

struct api;

int api_new(struct daemon *d, struct api **ret, char **reterr);
void api_free(struct api *a);
/* The fd to watch for readability, and the longest the loop may sleep (-1: forever). */
int api_fd(const struct api *a);
int api_timeout_ms(const struct api *a);
/* Processes whatever is ready. */
void api_run(struct api *a);
