/* SPDX-License-Identifier: MIT */
/*
 * alertmanager: the body of an Alertmanager webhook (version 4) read for scaling: which services
 * are to be scaled up or down. Pure. An alert counts when it fires (its own status, else the
 * group's) and its labels (else the group's common labels) carry `service` and `scale=up|down`,
 * as the routes of Docker Flow Monitor's tutorial match them (reference
 * swarm-listener-monitor-docker-api.md §3.3).
 */
#pragma once

#include "flowproxy/autoscale.h"

#include <stddef.h>

#define ALERTMANAGER_BODY_MAX	(1u << 20)
#define ALERTMANAGER_ALERTS_MAX 1000

struct alertmanager_action {
	char *service;
	enum autoscale_dir dir;
};

/* What a body asks for: one action per (service, direction), in first-seen order, and how many
 * alerts were left out (resolved, or without the labels). Embedded: alertmanager_done. */
struct alertmanager_request {
	struct alertmanager_action *v;
	size_t n;
	size_t ignored;
};

/*
 * Parses body (len bytes, at most ALERTMANAGER_BODY_MAX, ALERTMANAGER_ALERTS_MAX alerts). Fails
 * with -EINVAL (not JSON, no alerts array, a label that is not a string) or -EMSGSIZE and a
 * message; *ret is then empty. Caller releases *ret with alertmanager_done.
 */
int alertmanager_parse(const char *body, size_t len, struct alertmanager_request *ret,
		       char **reterr);
void alertmanager_done(struct alertmanager_request *r);
