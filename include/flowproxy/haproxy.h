/* SPDX-License-Identifier: MIT */
/*
 * haproxy: starts HAProxy 2.6 in master-worker mode (-W -S <master socket>), supervises it
 * (a dead master is restarted), and applies configurations: write atomically, reload through the
 * master CLI, confirm from `show proc` that a new worker runs it. A configuration HAProxy rejects
 * is never applied: the previous file is put back, the old worker keeps serving, and the caller
 * gets HAProxy's own message. Every step is a non-blocking call on the loop (cli.h); the result
 * comes back through a callback.
 */
#pragma once

#include "flowproxy/util.h"

#include <sys/types.h>

struct haproxy_options {
	const char *binary;	 /* "haproxy" (looked up in PATH) */
	const char *config_path; /* the haproxy.cfg HAProxy runs */
	const char *run_dir;	 /* master.sock lives here */
	int timeout_ms;		 /* for a start or a reload to be confirmed; default 10000 */
	int stop_ms;		 /* haproxy_free: how long HAProxy may drain; default 30000 */
	/* After a confirmed reload, SIGTERM the previous workers instead of letting them finish
	 * their connections: DFP's TERMINATE_ON_RELOAD (`haproxy -st`, management.txt §4). */
	bool terminate_on_reload;
};

struct haproxy;
struct loop;

/*
 * The end of a start, apply or reload: r >= 0 success, else -errno with a message for people
 * in err (borrowed for the call): -EINVAL HAProxy rejected the file (its [ALERT] lines),
 * -ETIMEDOUT nothing confirmed within timeout_ms, -ESRCH the master died meanwhile, or a CLI
 * error. Runs on the loop, never inside the call that started the operation.
 */
typedef void (*haproxy_done_fn)(void *userdata, int r, const char *err);

/*
 * Copies o; HAProxy's output pipe, its master's pidfd and every CLI call live on loop. Does not
 * start anything. Caller frees with haproxy_free (before the loop).
 */
int haproxy_new(struct loop *loop, const struct haproxy_options *o, struct haproxy **ret,
		char **reterr);
/*
 * Cancels what is in flight (no callback) and stops HAProxy, started or adopted: soft stop
 * (connections finish), then hard after stop_ms. Waits for that (shutdown only). NULL ok.
 */
void haproxy_free(struct haproxy *h);

/*
 * One operation at a time (-EBUSY otherwise, returned at once, no callback). Each writes the
 * file atomically first, and on a rejection puts the previous file back, so HAProxy keeps
 * serving the last good configuration.
 *
 * haproxy_start: starts the master on cfg and reports once a worker answers. A master already
 * listening on run_dir/master.sock (flowproxy restarted) is adopted instead, and reloaded with
 * cfg.
 * haproxy_apply: reloads through the master CLI and reports once `show proc` shows a new worker
 * that answers, or the reload failed. A dead master is started again on cfg.
 * haproxy_reload: the same on the current file.
 */
int haproxy_start(struct haproxy *h, const char *cfg, size_t len, haproxy_done_fn done,
		  void *userdata);
int haproxy_apply(struct haproxy *h, const char *cfg, size_t len, haproxy_done_fn done,
		  void *userdata);
int haproxy_reload(struct haproxy *h, haproxy_done_fn done, void *userdata);
/* True while a start, apply or reload is in flight. */
bool haproxy_busy(const struct haproxy *h);

/*
 * Validates cfg with `haproxy -c` on a temporary file, without touching the running HAProxy,
 * as a child process watched by the loop. Slow (a process start): used only to find which
 * service broke a configuration. done gets 0 or -EINVAL with HAProxy's [ALERT] lines. Runs
 * beside any operation. Returns a handle for haproxy_check_cancel (NULL when it could not even
 * start: done then runs with the error from the loop anyway).
 */
struct haproxy_check;
struct haproxy_check *haproxy_validate(struct haproxy *h, const char *cfg, size_t len,
				       haproxy_done_fn done, void *userdata);
void haproxy_check_cancel(struct haproxy_check *c);

pid_t haproxy_master_pid(const struct haproxy *h);
/* The current worker's pid, from the last `show proc`; 0 if unknown. */
pid_t haproxy_worker_pid(const struct haproxy *h);
/* Number of successful reloads and of rejected ones since start. */
unsigned haproxy_reload_count(const struct haproxy *h);
unsigned haproxy_reload_failures(const struct haproxy *h);
/* The master socket's path (borrowed). */
const char *haproxy_master_socket(const struct haproxy *h);
