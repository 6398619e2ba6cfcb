/* SPDX-License-Identifier: MIT */
/*
 * demoload: the bounded load of the local demo (README, `scripts/run-local`): requests on
 * loopback through HAProxy to one path, at a fixed rate, whose responses are fast for a phase,
 * then slow (the backend is asked to wait with `?delay=<ms>`, as tests/testserver.c does), then
 * fast again, so that the example service's autoscaling policies have something to act on. It
 * only ever connects to 127.0.0.0/8, holds at most `concurrency` requests at once, and stops by
 * itself after `duration_s`. On the loop; nothing blocks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct demoload;

struct demoload_options {
	const char *addr; /* IPv4 loopback address of HAProxy's frontend */
	int port;
	const char *path; /* "/demo" */
	long rate;	  /* requests per second */
	long concurrency; /* requests in flight at most */
	long phase_s;	  /* length of each phase, fast first */
	long fast_ms;	  /* delay asked for in a fast phase */
	long slow_ms;	  /* delay asked for in a slow phase (each request: 1x to 2x this) */
	long duration_s;  /* the load stops after this */
};

/* Starts the load at once. Refuses an address outside 127.0.0.0/8 (-EINVAL, *reterr). */
int demoload_new(struct loop *loop, const struct demoload_options *o, struct demoload **ret,
		 char **reterr);
/* Stops it (requests in flight are dropped) and frees d. NULL ok. */
void demoload_free(struct demoload *d);

struct demoload_stats {
	uint64_t sent, ok, failed;
	int phase; /* 0, 1, ...: even phases are fast */
	bool done;
};
void demoload_get_stats(const struct demoload *d, struct demoload_stats *ret);
