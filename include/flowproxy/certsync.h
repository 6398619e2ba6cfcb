/* SPDX-License-Identifier: MIT */
/*
 * certsync: a new proxy replica takes the certificates its peers serve, as Docker Flow Proxy's
 * cert.Init does (reference docker-flow-proxy.md §5.2): once HAProxy runs, it asks every replica
 * of SERVICE_NAME (tasks.<SERVICE_NAME>, distribute.h) for GET /v1/docker-flow-proxy/certs,
 * takes the answer listing the most certificates, and loads each one it does not hold yet with
 * certload_put (HAProxy checks it first; then a seamless reload), one after the other. Replicas that
 * do not answer are left out; when the name does not resolve (not a swarm task) nothing happens.
 * Secrets are never exchanged: GET /certs does not list them.
 *
 * certsync_pick is the pure part: the answer to take, and its certificates.
 */
#pragma once

#include <stddef.h>

struct loop;
struct daemon;
struct certsync;

struct certsync_cert {
	char *name; /* ProxyServiceName: the file name */
	char *pem;  /* CertContent */
};

/*
 * Of bodies[0..n) (GET /certs answers; "" for a replica that failed), the one listing the most
 * certificates that pem_name_check and pem_check accept, those certificates into *ret
 * (caller frees with certsync_certs_free; NULL and 0 when none). Returns their count.
 */
size_t certsync_pick(const char *const *bodies, size_t n, struct certsync_cert **ret);
void certsync_certs_free(struct certsync_cert *v, size_t n);

/* Starts once the daemon is initialized (HAProxy runs). Caller frees with certsync_free before
 * the daemon. Returns 0, or -ENOENT with a message when libcurl cannot be loaded. */
int certsync_start(struct loop *loop, struct daemon *d, struct certsync **ret, char **reterr);
void certsync_free(struct certsync *cs);
