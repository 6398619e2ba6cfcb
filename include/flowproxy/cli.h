/* SPDX-License-Identifier: MIT */
/*
 * cli: one command on an HAProxy CLI socket (a worker's stats socket or the master socket), as a
 * non-blocking call on the loop (management.txt §9.3, non-interactive mode: one command per
 * connection, ending in "\n"; the write side is shut down after it, which the master CLI needs
 * and the worker CLI ignores). The call connects, sends, reads the reply until the peer closes,
 * and reports once through its callback, never from inside cli_call itself. Every call has a
 * deadline and can be cancelled.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CLI_REPLY_MAX (64u << 20) /* any reply; more is -EMSGSIZE */

struct loop;
struct cli_call;

struct cli_result {
	/*
	 * 0, or -errno: what connect() said (-ECONNREFUSED while a master re-executes, -ENOENT
	 * without a socket file, -EAGAIN with a full backlog), -ETIMEDOUT at the deadline,
	 * -ECONNRESET / -EPIPE from the peer, -EMSGSIZE over CLI_REPLY_MAX.
	 */
	int r;
	bool sent; /* the whole command went out: a reset afterwards still means it arrived */
	const char *reply; /* borrowed for the callback, NUL-terminated ("" on failure) */
	size_t len;
	const char *err; /* a message for people when r < 0, borrowed for the callback */
};

typedef void (*cli_done_fn)(void *userdata, const struct cli_result *res);

/*
 * Starts cmd (no '\n' inside; -EINVAL otherwise, reported through cb) on socket_path, with a
 * deadline timeout_ms from now (<= 0: 10 s). cb runs exactly once, on the loop, unless the call
 * is cancelled first. Everything is copied. The call frees itself after cb.
 */
struct cli_call *cli_call(struct loop *l, const char *socket_path, const char *cmd, int timeout_ms,
			  cli_done_fn cb, void *userdata);
/* Stops a call before its callback; cb will not run. NULL ok. Not from within cb. */
void cli_cancel(struct cli_call *c);
