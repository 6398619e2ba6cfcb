/* SPDX-License-Identifier: MIT */
/*
 * slots: replica changes without a reload. A task-level backend is rendered with a fixed number
 * of server slots (`<prefix>_1` ... `<prefix>_<n>`); slots_plan computes, from the addresses the
 * slots hold now and the task addresses wanted, the HAProxy runtime commands that move the
 * running worker there (`set server <be>/<srv> addr|state`,
 * reference/haproxy-runtime-autoscaling.md §2.5), or says that the new set does not fit and the
 * backend must be re-rendered with more slots and reloaded. The plan also gives the new slot ->
 * address assignment, which the caller remembers and renders, so that the file always carries
 * the live addresses and a later reload keeps them (runtime state is lost on reload, §2.3).
 *
 * The planner is pure and deterministic: the same input (in any order of the desired addresses)
 * gives the same assignment and the same commands. slots_apply is the edge: it sends a plan's
 * commands to the worker's stats socket and checks every reply.
 *
 * Rendering rules the renderer follows (documented here because the planner relies on them):
 * - slot i (0-based) is the server `<prefix>_<i + 1>`, as render.c names per-task servers;
 * - a slot with an address renders `server <prefix>_<i+1> <addr>:<port>`;
 * - an empty slot renders `server <prefix>_<i+1> 127.0.0.1:<port> disabled` (SLOTS_EMPTY_ADDR).
 *   Not 0.0.0.0: for HAProxy that means "the client's original destination" (transparent mode),
 *   so a slot enabled by mistake would loop back into the proxy; 127.0.0.1:<port> just refuses.
 */
#pragma once

#include "flowproxy/util.h"

#include <netinet/in.h>

#define SLOTS_MIN	   4	       /* never render fewer slots than this */
#define SLOTS_HEADROOM_MAX 64	       /* at most this many spare slots over the task count */
#define SLOTS_MAX	   1024	       /* hard cap on slots (and tasks) per backend */
#define SLOTS_NAME_MAX	   128	       /* backend and prefix length cap */
#define SLOTS_EMPTY_ADDR   "127.0.0.1" /* rendered, with `disabled`, for an empty slot */

/* What slots_plan works from. All pointers are borrowed for the duration of the call. */
struct slots_input {
	const char *backend; /* HAProxy backend name: [A-Za-z0-9_.:-], 1..SLOTS_NAME_MAX */
	const char *prefix;  /* server name prefix, same charset; servers are <prefix>_<i+1> */
	int port;	     /* the tasks' port, 1..65535, for endpoints given without one */
	size_t n_slots;	     /* slots rendered in the running configuration, 0..SLOTS_MAX */
	/* n_slots entries, as last applied: an endpoint, or NULL/"" for an empty (disabled) slot.
	 * May be NULL when n_slots is 0. An endpoint is an IPv4 or IPv6 literal (Swarm tasks, on
	 * port), or "<ipv4>:<port>" / "[<ipv6>]:<port>" when tasks differ in port (local mode:
	 * processes on 127.0.0.1). */
	const char *const *current;
	/* n_desired task endpoints (same syntax, any order, no duplicates). May be NULL when
	 * n_desired is 0. */
	const char *const *desired;
	size_t n_desired; /* 0..SLOTS_MAX */
};

/* The outcome of slots_plan. Embedded: filled by slots_plan, released with slots_plan_done. */
struct slots_plan {
	/* The desired set does not fit in the rendered slots: render n_slots slots with assign and
	 * reload. No commands then. */
	bool reload;
	size_t n_slots; /* slots to render: the input's n_slots, or more when reload */
	/* n_slots entries: the canonical endpoint of each slot (inet_ntop form, with ":<port>" only
	 * when it differs from the input's port; slots_endpoint_parse splits it), or NULL for an
	 * empty slot. Owned by the plan. */
	char **assign;
	/* Runtime CLI commands to send in order (slots_apply), none when nothing changes or when
	 * reload. Owned by the plan. */
	char **commands;
	size_t n_commands;
};

/*
 * How many slots to render for a backend with n_tasks tasks: the next power of two at or above
 * 2 x n_tasks, at least SLOTS_MIN, at most n_tasks + SLOTS_HEADROOM_MAX and at most SLOTS_MAX
 * (never below n_tasks when n_tasks <= SLOTS_MAX). Doubling leaves room to double the replicas
 * without a reload; the headroom cap keeps big services from carrying hundreds of idle servers
 * (each one is a line in `show stat` and a few KB in every worker).
 * 0 -> 4, 2 -> 4, 3 -> 8, 5 -> 16, 40 -> 104, 1000 -> 1024.
 */
size_t slots_count_for(size_t n_tasks);

/*
 * Plans the move from in->current to in->desired. Addresses still wanted keep their slot and
 * get no command. New endpoints are sorted (IPv4 before IPv6, by bytes, then port) and take, in
 * ascending slot order, first the slots of tasks that are gone (their server is up: one
 * `addr` changes its target), then empty slots; each gets
 *   set server <be>/<srv> addr <ip> port <port>
 *   set server <be>/<srv> state ready
 * (`state ready` also on a reused slot: it is idempotent, and it repairs a slot left in MAINT by
 * hand or by a half-applied earlier plan). Slots of gone tasks that no new address reuses get
 *   set server <be>/<srv> state maint
 * after all the ups, so that a backend never passes through fewer servers than it ends with.
 * No `drain` first: the task is already gone from Docker, MAINT stops new requests to it just as
 * DRAIN would, and neither cuts established connections (only `shutdown sessions` does); DRAIN
 * would also still admit sticky (persisted) clients to a dead task.
 *
 * When n_desired > n_slots, ret->reload is set, ret->n_slots = slots_count_for(n_desired), the
 * kept addresses stay in their slots and the new ones fill the others as above; no commands.
 *
 * A change of in->port is a configuration change (re-render and reload), not planned here:
 * endpoints given without a port are assumed to be on in->port already.
 *
 * Returns 0 and fills *ret (release with slots_plan_done); on failure *ret is left empty:
 * -EINVAL for a bad name or port, an endpoint that is not an IPv4/IPv6 literal with an optional
 * port, or a duplicate endpoint in current or desired; -EMSGSIZE when n_slots or n_desired is
 * over SLOTS_MAX.
 */
int slots_plan(const struct slots_input *in, struct slots_plan *ret, char **reterr);

/* Frees what slots_plan put in p and empties it. NULL and an empty (zeroed) plan are fine. */
void slots_plan_done(struct slots_plan *p);

/* The server name of slot i (0-based): "<prefix>_<i + 1>". Caller frees. */
char *slots_server_name(const char *prefix, size_t i);

/*
 * Splits an endpoint (the syntax of struct slots_input) into its canonical address (inet_ntop
 * form, no brackets) and its port (default_port when it has none), for the renderer. -EINVAL on
 * anything else.
 */
int slots_endpoint_parse(const char *s, int default_port, char ret_addr[static INET6_ADDRSTRLEN],
			 int *ret_port);

/*
 * Edge: sends commands[0..n) to the worker's stats socket (admin level), several per connection
 * chained with ';' (batches of at most SLOTS_CLI_LINE_MAX bytes), and checks the reply of each:
 * `set server ... state` must answer nothing, `set server ... addr` must answer "IP changed ..."
 * or "no need to change the addr ...". Anything else ("No such server.", "Invalid addr ...",
 * "Permission denied") is -EBADMSG with *reterr naming the command and quoting the reply.
 * Commands are not rolled back: the ones before a failure stay applied (each is idempotent, so
 * re-applying the same plan is safe). Socket errors are cli.h's (-ENOENT, -ETIMEDOUT, ...).
 * timeout_ms bounds each batch (<= 0: 5000). Only `set server ... addr|state` commands (what
 * slots_plan makes) are understood; a command with ';', CR or LF is -EINVAL, nothing sent.
 * Why chained: 64 commands took 3.6 ms one connection each and 0.2 ms chained (HAProxy 2.6.12,
 * this machine; tests/unit/test_slots_haproxy.c prints the figures).
 */
#define SLOTS_CLI_LINE_MAX 4096
struct loop;
struct slots_apply;
/* r is 0 or the error above, err a message for people ("" on success), borrowed for the call. */
typedef void (*slots_done_fn)(void *userdata, int r, const char *err);
/*
 * Starts the sending on loop; cb runs once, on the loop (never inside this call), unless
 * slots_apply_cancel comes first. Everything is copied.
 */
struct slots_apply *slots_apply(struct loop *l, const char *stats_socket, char *const *commands,
				size_t n, int timeout_ms, slots_done_fn cb, void *userdata);
void slots_apply_cancel(struct slots_apply *a);
