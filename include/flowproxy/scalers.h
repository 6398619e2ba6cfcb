/* SPDX-License-Identifier: MIT */
/*
 * scalers: the three implementations of the scaler interface (scaler.h), in the order they are
 * asked (docs/autoscaling.md "Scalers"):
 *  - local: a services-file entry with replicas (local_replicas, local_scale);
 *  - webhook: SCALE_WEBHOOK_URL called with service=<name>&scale=<±N> added to its query, for a
 *    service whose parameters carry replicas (the count it works from, until the service is
 *    reconfigured with another);
 *  - docker: a swarm service (provider_replicas, docker_scale_service).
 * Each ends on the loop, never inside the call that started it.
 */
#pragma once

#include "flowproxy/scaler.h"

struct daemon;
struct local;
struct loop;
struct provider;
struct webhook;

struct scalers_options {
	struct local *local;	   /* NULL: no local scaler */
	struct daemon *d;	   /* the webhook scaler's registry */
	struct webhook *webhook;   /* the webhook scaler's sender */
	const char *scale_url;	   /* SCALE_WEBHOOK_URL; NULL or "": no webhook scaler */
	struct provider *provider; /* NULL: no docker scaler */
};

struct scalers;

/* Everything in o is borrowed for the scalers' life. -EINVAL for a scale_url webhook_url_check
 * refuses (*reterr names it). Free with scalers_free, after whoever uses the set. */
int scalers_new(struct loop *loop, const struct scalers_options *o, struct scalers **ret,
		char **reterr);
/* Cancels what is in flight (no callbacks) and frees s. NULL ok. */
void scalers_free(struct scalers *s);
/* The set, in order (borrowed for s's life). */
const struct scaler_set *scalers_set(const struct scalers *s);

/* new = current + delta within [min, max] (pure; the rule every scaler applies). */
long scalers_clamp(long current, long delta, long min, long max);
