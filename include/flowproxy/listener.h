/* SPDX-License-Identifier: MIT */
/*
 * listener: Docker Flow Proxy's start-up from the Swarm Listener (reference
 * docker-flow-proxy.md §3 LISTENER_ADDRESS, §5.2 step 3). For each address of LISTENER_ADDRESS,
 * `GET http://<addr>:8080/v1/docker-flow-swarm-listener/get-services` (a JSON array of parameter
 * maps) is fetched at start, then every RELOAD_INTERVAL ms until it succeeds; with several
 * addresses each is tried RELOAD_ATTEMPTS times at most; with REPEAT_RELOAD it is fetched every
 * RELOAD_INTERVAL for ever. The services of one answer are submitted together, so the daemon
 * applies them with one reload; a service the parser refuses is skipped, logged with its name
 * and the parameter. Once the first answer is applied, listener_initialized is true (DFP's
 * successfulinitreload). listener_notify is `reload?fromListener=true`: each listener's
 * notify-services, which has it resend every service.
 *
 * Everything goes through httpc on the loop. The address parsing and the answer's parsing are
 * pure and exported for tests.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdbool.h>
#include <stddef.h>

#define LISTENER_PORT_DEFAULT 8080
#define LISTENER_ADDRS_MAX    64
#define LISTENER_SERVICES_MAX 10000	  /* services in one get-services answer */
#define LISTENER_REPLY_MAX    (16u << 20) /* bytes of one answer */
#define LISTENER_TIMEOUT_MS   10000

struct loop;
struct daemon;
struct listener;

struct listener_options {
	const char *addresses; /* LISTENER_ADDRESS, comma-separated */
	long interval_ms;      /* RELOAD_INTERVAL; 0: one fetch only */
	bool repeat;	       /* REPEAT_RELOAD */
	long attempts;	       /* RELOAD_ATTEMPTS, when there are several addresses */
};

/*
 * Parses o->addresses (-EINVAL naming the address that is not host[:port] or http://host[:port],
 * -EMSGSIZE over LISTENER_ADDRS_MAX) and starts the first fetches, on loop. d is borrowed for
 * the listener's life. Caller frees with listener_free, before d and the loop.
 */
int listener_new(struct loop *loop, struct daemon *d, const struct listener_options *o,
		 struct listener **ret, char **reterr);
void listener_free(struct listener *l);

/* The first answer of a listener is applied (whatever the daemon did with each service). */
bool listener_initialized(const struct listener *l);

/*
 * `GET …/notify-services` on every listener; cb(userdata, 0, "") once all answered 200, or
 * cb(userdata, -EREMOTEIO, message naming the failures). cb runs from the loop; NULL ok. The
 * call cannot be cancelled: its requests end within LISTENER_TIMEOUT_MS, and a listener freed
 * meanwhile drops them without calling back.
 */
typedef void (*listener_notify_fn)(void *userdata, int r, const char *message);
void listener_notify(struct listener *l, listener_notify_fn cb, void *userdata);

/*
 * One address of LISTENER_ADDRESS as the base URL "http://host:port" (port 8080 when none is
 * given, as DFP hard-codes; surrounding spaces and a trailing '/' dropped). Returns 0, or
 * -EINVAL with a message for anything else (another scheme, a path, a query, user information,
 * spaces or control bytes, an empty host, a port that is not 1-65535). Caller frees *ret.
 */
int listener_base_url(const char *address, char **ret, char **reterr);

/*
 * A get-services answer: a JSON array of objects whose values are strings (the Swarm
 * Listener's maps; numbers and booleans are taken as their text, other values skipped). Each
 * object becomes one params in *ret (*ret_n of them; caller frees each with params_done, then
 * the array). -EBADMSG with a message for anything that is not such an array, -EMSGSIZE over
 * LISTENER_SERVICES_MAX services.
 */
int listener_parse_services(const char *json, size_t len, struct params **ret, size_t *ret_n,
			    char **reterr);
