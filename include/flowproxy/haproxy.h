/* SPDX-License-Identifier: MIT */
/*
 * haproxy: starts HAProxy 2.6 in master-worker mode (-W -S <master socket>), supervises it
 * (a dead master is restarted), and applies configurations: write atomically, reload through the
 * master CLI, confirm from `show proc` that a new worker runs it. A configuration HAProxy rejects
 * is never applied: the previous file is put back, the old worker keeps serving, and the caller
 * gets HAProxy's own message. Also one-shot commands on the worker's stats socket.
 */
#pragma once

#include "flowproxy/util.h"

#include <sys/types.h>

struct haproxy_options {
	const char *binary;	 /* "haproxy" (looked up in PATH) */
	const char *config_path; /* the haproxy.cfg HAProxy runs */
	const char *run_dir;	 /* master.sock lives here */
	int timeout_ms;		 /* for a start or a reload to be confirmed; default 10000 */
};

struct haproxy;

/* Copies o. Does not start anything. Caller frees with haproxy_free. */
int haproxy_new(const struct haproxy_options *o, struct haproxy **ret, char **reterr);
/* Stops HAProxy if this object started it (soft stop, then hard after a grace), frees h. NULL ok. */
void haproxy_free(struct haproxy *h);

/*
 * Starts the master on cfg (written atomically to config_path first) and returns once a worker
 * runs it. If a master is already listening on run_dir/master.sock (flowproxy restarted), it is
 * adopted instead, and reloaded with cfg. On a config HAProxy rejects: -EINVAL, HAProxy's
 * messages in *reterr.
 */
int haproxy_start(struct haproxy *h, const char *cfg, size_t len, char **reterr);

/*
 * Applies cfg: writes it atomically, reloads through the master CLI, and returns once `show proc`
 * shows a new worker that answers (>= 0), or the reload failed. On failure the previous file is
 * restored, HAProxy keeps serving the previous config, and the return is -EINVAL with HAProxy's
 * messages (the [ALERT] lines) in *reterr; -ETIMEDOUT if nothing was confirmed in time.
 */
int haproxy_apply(struct haproxy *h, const char *cfg, size_t len, char **reterr);

/* Reloads the current file (same confirmation as haproxy_apply). */
int haproxy_reload(struct haproxy *h, char **reterr);

/*
 * Validates cfg with `haproxy -c` on a temporary file, without touching the running HAProxy.
 * Slow (a process start): used only to find which service broke a rejected batch.
 */
int haproxy_validate(struct haproxy *h, const char *cfg, size_t len, char **reterr);

/*
 * File descriptor that becomes readable when HAProxy printed something or its master exited;
 * call haproxy_process_events then (logs HAProxy's lines, restarts a dead master). -1 if none.
 */
int haproxy_event_fd(struct haproxy *h);
int haproxy_process_events(struct haproxy *h);

pid_t haproxy_master_pid(const struct haproxy *h);
/* The current worker's pid, from the last `show proc`; 0 if unknown. */
pid_t haproxy_worker_pid(const struct haproxy *h);
/* Number of successful reloads and of rejected ones since start. */
unsigned haproxy_reload_count(const struct haproxy *h);
unsigned haproxy_reload_failures(const struct haproxy *h);

/*
 * Sends one command to a HAProxy CLI socket (worker stats socket or master socket) and returns
 * the whole reply in *ret (caller frees). Replies over 64 MiB fail with -EMSGSIZE.
 */
int haproxy_cli(const char *socket_path, const char *cmd, int timeout_ms, char **ret,
		char **reterr);
