/* SPDX-License-Identifier: MIT */
/*
 * lookup: a host name's IPv4 addresses without blocking the loop. Each lookup is one
 * getaddrinfo(3) on a short-lived thread of its own; its answer comes back to the loop with
 * loop_post. getaddrinfo rather than an asynchronous DNS library: the name is Docker's
 * `tasks.<service>`, answered by the embedded DNS server through the C library's usual path
 * (nsswitch, /etc/hosts, resolv.conf and its options), which is exactly what a user checks with
 * `getent ahosts`; glibc's getaddrinfo_a runs the same call on threads of its own and reports on
 * yet another thread, which buys nothing here. At most LOOKUP_INFLIGHT_MAX lookups run at
 * once, so a slow DNS server cannot make threads pile up.
 */
#pragma once

#include <stddef.h>

#define LOOKUP_INFLIGHT_MAX 8
#define LOOKUP_ADDRS_MAX    256 /* addresses kept of one answer */

struct loop;
struct lookup;
struct lookup_call;

/*
 * The outcome: r 0 and the addresses (n >= 1; sorted, without duplicates, dotted quads), or
 * -ENXIO (the name does not exist or has no IPv4 address), -EAGAIN (the resolver failed for
 * now) or -EIO, with a message naming the name in err. Everything is borrowed for the call.
 */
typedef void (*lookup_done_fn)(void *userdata, int r, const char *const *addrs, size_t n,
			       const char *err);

/* Caller frees with lookup_free, before the loop. */
struct lookup *lookup_new(struct loop *loop);
/* Forgets every lookup: no callback runs after it. Their threads end on their own. NULL ok. */
void lookup_free(struct lookup *rs);

/*
 * Starts looking name up (copied). cb runs once, from the loop, never inside lookup_start,
 * unless lookup_cancel comes first. Returns 0 with the call in *ret_call (NULL ok), or -EAGAIN
 * with LOOKUP_INFLIGHT_MAX lookups running, -EINVAL for an empty name or one over 253 bytes,
 * -errno when no thread can be started: then cb never runs.
 */
int lookup_start(struct lookup *rs, const char *name, lookup_done_fn cb, void *userdata,
		 struct lookup_call **ret_call);
/* cb will not run for c. NULL ok. Not from within c's own callback. */
void lookup_cancel(struct lookup_call *c);
