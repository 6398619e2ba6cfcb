/* SPDX-License-Identifier: MIT */
/*
 * scaler: what changes a service's replica count, behind one interface (docs/autoscaling.md
 * "Scalers"): `local` (copies of a services-file command), `docker` (a swarm service update) and
 * `webhook` (a URL called with the service and the step, as a Jenkins job was). The autoscaler
 * and the scale endpoints only see this interface; main wires the implementations.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * The end of a scale, on the loop, never inside the call that started it: r = 0 and the counts
 * before and after, or r < 0 (-ERANGE: at a limit, nothing changed; -ENOTSUP: cannot be scaled)
 * with message naming the service. Strings borrowed for the call.
 */
typedef void (*scaler_done_fn)(void *userdata, int r, long from, long to, const char *message);

struct scaler_ops {
	/*
	 * Replicas of service that are wanted and serving now. -ENOENT when this scaler does not
	 * scale that service (the next scaler is asked).
	 */
	int (*replicas)(void *impl, const char *service, long *ret_wanted, long *ret_running);
	/*
	 * Starts changing service's count by delta within [min, max] (re-applied to a fresh count
	 * if the count moved meanwhile). Returns a handle for cancel, or NULL with *reterr when it
	 * could not start (then cb is never called).
	 */
	void *(*scale)(void *impl, const char *service, long delta, long min, long max,
		       scaler_done_fn cb, void *userdata, char **reterr);
	/* Abandons a scale in flight: its cb is not called. */
	void (*cancel)(void *impl, void *handle);
};

struct scaler {
	const char *kind; /* "local", "docker", "webhook" */
	const struct scaler_ops *ops;
	void *impl;
};

/* Up to this many scalers are asked in order (the first that knows a service scales it). */
#define SCALER_MAX 4

struct scaler_set {
	struct scaler v[SCALER_MAX];
	size_t n;
};

/*
 * The first scaler of set that knows service, with its counts; NULL when none does.
 */
const struct scaler *scaler_find(const struct scaler_set *set, const char *service,
				 long *ret_wanted, long *ret_running);
