/* SPDX-License-Identifier: MIT */
/*
 * resolve: host names resolved off the event loop (getaddrinfo blocks for as long as DNS takes),
 * for SKIP_ADDRESS_VALIDATION=false. Each resolution runs getaddrinfo on a thread of its own and
 * hands its one answer back through a socket the loop watches; nothing else is shared, so a
 * cancelled resolution leaves only that thread, which finishes and exits on its own.
 */
#pragma once

#include <stddef.h>

struct loop;
struct resolve;

/*
 * The end of a resolution: r == 0 every name resolved; -ENXIO name (borrowed for the call) did
 * not, and why is HAProxy-independent text from getaddrinfo; other -errno when the resolution
 * itself failed. The resolution is freed after the call: do not cancel it from cb.
 */
typedef void (*resolve_done_fn)(void *userdata, int r, const char *name, const char *why);

/*
 * Resolves names[0..n) (copied) in order, stopping at the first that does not resolve; cb runs
 * on loop, never inside this call. Returns the resolution, or NULL with -errno in *ret_r
 * (-ENOMEM, a thread or socket that could not be made; then cb never runs).
 */
struct resolve *resolve_start(struct loop *loop, const char *const *names, size_t n,
			      resolve_done_fn cb, void *userdata, int *ret_r);
/* Drops a resolution in flight: cb will not run. NULL is fine. */
void resolve_cancel(struct resolve *r);
