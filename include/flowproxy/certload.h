/* SPDX-License-Identifier: MIT */
/*
 * certload: new certificates, loaded by HAProxy first: PUT /v1/docker-flow-proxy/cert and the
 * serviceCert parameter. The edge above certs.c (which lists and writes the files) and the
 * daemon (which reloads).
 */
#pragma once

#include "flowproxy/daemon.h"

/*
 * PUT /v1/docker-flow-proxy/cert: checks name and pem (pem_name_check, pem_check: -EINVAL
 * with the message, nothing done), then, on the loop: stages the file, has HAProxy load it
 * (`haproxy -c` on a configuration that serves only it, which refuses a key that does not match
 * its certificate), moves it to <certs_dir>/<name> and reloads HAProxy seamlessly. done gets 200,
 * or 400 with HAProxy's message (nothing written), or 500. pem is copied.
 */
int certload_put(struct daemon *d, const char *name, const char *pem, size_t len,
		 daemon_done_fn done, void *userdata, char **reterr);

/*
 * Queues svc (taken; addrs copied) as daemon_submit_params does, after its serviceCert, if it
 * has one, is in <certs_dir>/<first serviceDomain or serviceName>: when that file holds another
 * certificate, the new one is loaded by HAProxy first (as certload_put does) and the service is
 * queued only if HAProxy takes it; otherwise done gets 400 (or, without done, the error is logged
 * and recorded with daemon_set_rejected). Returns 0, or -errno with a message when the file
 * cannot be written (nothing queued, svc freed).
 */
int certload_service(struct daemon *d, struct service *svc, const char *const *addrs,
		     size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr);
