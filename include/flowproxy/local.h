/* SPDX-License-Identifier: MIT */
/*
 * local: local mode, for a machine without Docker. Services come from a JSON file
 * (docs/local-mode.md): each entry is a parameter map (the same parameters as the reconfigure
 * API), plus an optional "exec" command that flowproxy starts and keeps running as the service's
 * backend, or N copies of it on ports flowproxy picks ("replicas", {port}), which HAProxy's
 * servers follow at run time and the local scaler (local_scale) starts and stops. Parsing is
 * pure (local_parse, local_argv_expand); running the commands is local_start's job.
 */
#pragma once

#include "flowproxy/service.h"

#define LOCAL_REPLICAS_MAX 1024
#define LOCAL_PORT_TOKEN   "{port}" /* in "exec" arguments: the port of the copy */

struct local_entry {
	struct params params; /* for routing; without "replicas" when the entry is replicated */
	char **argv;	      /* NULL-terminated, NULL when the entry has no "exec" */
	/*
	 * The entry runs copies of argv, each on a port flowproxy picks ({port} in the arguments,
	 * PORT in the environment), as the servers of its backends: "exec" with "replicas", or
	 * with {port} in an argument. Otherwise the command (if any) is one process that serves
	 * at the entry's own port, as the parameters say.
	 */
	bool replicated;
	long replicas; /* when replicated: the copies wanted at start-up, 0..LOCAL_REPLICAS_MAX */
};

struct local_file {
	struct local_entry *v;
	size_t n;
};

/*
 * Parses a services file: a JSON array of objects, or {"services": [...]}. Parameter values may
 * be strings, numbers or booleans; "exec" must be an array of strings. At most 10,000 entries.
 * An entry with "exec" is replicated when it has "replicas" (an integer 0..LOCAL_REPLICAS_MAX,
 * as a string or a number; it leaves the parameters) or LOCAL_PORT_TOKEN in an argument (then
 * 1 copy without "replicas"); a replicated entry needs a serviceName, and at most one entry
 * replicates a given serviceName. "replicas" without "exec" stays a parameter (DFP's). Fails
 * with -EINVAL and a message naming the entry. Caller frees with local_file_done.
 */
int local_parse(const char *json, size_t len, struct local_file *ret, char **reterr);
void local_file_done(struct local_file *f);

/*
 * A copy of argv (NULL-terminated) for the copy on port: every LOCAL_PORT_TOKEN, also inside a
 * longer argument ("--listen=127.0.0.1:{port}"), becomes the port in decimal. Caller frees with
 * local_argv_free (NULL ok).
 */
char **local_argv_expand(char *const *argv, int port);
void local_argv_free(char **argv);

struct local;

/*
 * Starts every entry's command and keeps it running (restarted after a growing delay, at most 5
 * times a minute), its children's exits seen on loop (NULL: not supervised). A replicated
 * entry's service is submitted to d (daemon_submit_service, source naming it in logs; slots for
 * its replicas) and its copies are started, each on a port picked here; a copy joins its
 * service's servers (daemon_submit_addrs: at run time, no reload) once its port accepts a TCP
 * connection, and leaves them when it exits. An entry whose parameters d rejects starts no
 * copies. Non-replicated entries are not submitted here. d (may be NULL: nothing submitted, no
 * draining) and loop are borrowed for l's life; f is copied. Caller frees with local_free.
 */
struct loop;
struct daemon;
int local_start(struct loop *loop, struct daemon *d, const struct local_file *f, const char *source,
		struct local **ret, char **reterr);
/* Stops the commands (SIGTERM, then SIGKILL after 2 s) and frees l. NULL ok. */
void local_free(struct local *l);

/*
 * The local scaler: sets how many copies of service's command are wanted, and starts or stops
 * copies until that many run. A copy scaled away (those that serve nobody first, then the
 * newest) first leaves HAProxy's servers at run time, then waits until HAProxy counts no session
 * on it (at most 30 s; 2 s when the count cannot be read), then gets SIGTERM, and SIGKILL 2 s
 * later. New copies join once they accept connections. -ENOENT for a service without a
 * replicated entry, -EINVAL for replicas outside 0..LOCAL_REPLICAS_MAX; *reterr says which.
 */
int local_scale(struct local *l, const char *service, long replicas, char **reterr);

/*
 * The copies of service wanted (local_scale, or the file's "replicas") and running (accepting
 * connections, in HAProxy's servers: not those starting, waiting to restart or being stopped).
 * Either pointer may be NULL. -ENOENT for a service without a replicated entry.
 */
int local_replicas(const struct local *l, const char *service, long *ret_wanted, long *ret_running);
