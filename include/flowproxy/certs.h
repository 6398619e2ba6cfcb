/* SPDX-License-Identifier: MIT */
/*
 * certs: the certificates HAProxy serves on the `:ssl` ports of DEFAULT_PORTS and BIND_PORTS
 * (reference docker-flow-proxy.md §4.1.5, §5.3; docs/tls.md). They come from the certs directory
 * (CERTS_DIR, DFP's /certs) and from Docker secrets named cert-* or cert_* (any case), are ordered
 * by PREFERRED_CERTIFICATE and listed in a crt-list file, which the :ssl binds load:
 * ` ssl crt-list <file> alpn h2,http/1.1`.
 *
 * The pure part (names, PEM checks, ordering, the crt-list text) is unit-tested; certs_refresh
 * and certs_put read and write files.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/daemon.h"

#include <stdint.h>

/* The most a certificate file may hold: a chain of several certificates and a key. */
#define CERTS_PEM_MAX (64 * 1024)

struct certs_entry {
	char *path;  /* absolute, as the crt-list names it */
	char *name;  /* the file name */
	bool secret; /* from the secrets directory (never handed out by GET /certs) */
};

/* A list of certificates, in crt-list order. Embedded: certs_list_done releases it. */
struct certs_list {
	struct certs_entry *v;
	size_t n;
};

void certs_list_done(struct certs_list *l);
void certs_list_add(struct certs_list *l, const char *path, const char *name, bool secret);

/*
 * Whether name may be a certificate's file name (PUT /cert's certName, serviceCert's domain):
 * 1 to 255 printable ASCII bytes, no '/', '\\', spaces, '#' or quotes (it is a word of a crt-list
 * line), not starting with '.' (flowproxy's own temporary files), so never "." or "..". Returns
 * 0, or -EINVAL with a message naming what is wrong.
 */
int certs_name_check(const char *name, char **reterr);

/*
 * Whether pem[0..len) is what HAProxy loads as one certificate: PEM blocks only, at least one
 * CERTIFICATE and exactly one unencrypted private key (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE
 * KEY), each with a base64 body. Refuses NUL bytes, an encrypted key (HAProxy would ask for a
 * passphrase), a block without its END line, and more than CERTS_PEM_MAX bytes. Whether the key
 * matches the certificate is HAProxy's check (certs_put). Returns 0 or -EINVAL with a message.
 */
int certs_pem_check(const char *pem, size_t len, char **reterr);

/* serviceCert's value: literal "\n" (backslash, n) become newlines. Caller frees. */
char *certs_unescape(const char *v);

/* glob ('*' matches any run of bytes, everything else itself) against name. */
bool certs_glob_match(const char *glob, const char *name);

/*
 * Orders l by PREFERRED_CERTIFICATE (comma-separated globs, matched against file names): the
 * certificates the first glob matches first, then the second's, ..., then the others, each group
 * in its existing order. The first certificate is HAProxy's default for clients without SNI.
 */
void certs_order(struct certs_list *l, const char *preferred);

/* The crt-list text of l: one path per line. Caller frees. */
char *certs_crt_list(const struct certs_list *l);

/*
 * Lists the certificates of the certs directory (regular files, in name order; dot files and
 * names certs_name_check refuses are skipped) and then the secrets directory's cert-* and cert_*
 * files (any case), each kept only when its content passes certs_pem_check, then ordered with
 * certs_order. ret_skipped (may be NULL) gets "<path>: <why>" for each file left out. A missing
 * directory lists nothing. *ret_hash (may be NULL) is a hash of the paths and contents, which
 * changes when any certificate does.
 */
void certs_scan(const char *certs_dir, const char *secrets_dir, const char *preferred,
		struct certs_list *ret, struct strv *ret_skipped, uint64_t *ret_hash);

/*
 * What the certificates mean for the next rendering: scans (certs_scan, or the files the
 * CRT_LIST_PATH list names), writes <configs_path>/crt-list.txt when flowproxy owns the list and
 * its text changed, and tells the renderer (render_set_certs). Logs, once per change, the files
 * skipped and the :ssl ports left unbound for want of a certificate. state is the caller's,
 * zeroed at first; certs_state_done releases it.
 */
struct certs_state {
	char *skipped;	 /* the last skipped files logged, one per line */
	int unbound;	 /* -1 unknown, 0 certificates served, 1 :ssl ports unbound logged */
	char *list_text; /* the crt-list text written last */
};
struct render;
void certs_refresh(struct certs_state *st, const struct config *cfg, struct render *r);
void certs_state_done(struct certs_state *st);

/*
 * PUT /v1/docker-flow-proxy/cert: checks name and pem (certs_name_check, certs_pem_check: -EINVAL
 * with the message, nothing done), then, on the loop: stages the file, has HAProxy load it
 * (`haproxy -c` on a configuration that serves only it, which refuses a key that does not match
 * its certificate), moves it to <certs_dir>/<name> and reloads HAProxy seamlessly. done gets 200,
 * or 400 with HAProxy's message (nothing written), or 500. pem is copied.
 */
int certs_put(struct daemon *d, const char *name, const char *pem, size_t len, daemon_done_fn done,
	      void *userdata, char **reterr);

/*
 * Queues svc (taken; addrs copied) as daemon_submit_params does, after its serviceCert, if it
 * has one, is in <certs_dir>/<first serviceDomain or serviceName>: when that file holds another
 * certificate, the new one is loaded by HAProxy first (as certs_put does) and the service is
 * queued only if HAProxy takes it; otherwise done gets 400 (or, without done, the error is logged
 * and recorded with daemon_set_rejected). Returns 0, or -errno with a message when the file
 * cannot be written (nothing queued, svc freed).
 */
int certs_submit_service(struct daemon *d, struct service *svc, const char *const *addrs,
			 size_t n_addrs, daemon_done_fn done, void *userdata, char **reterr);

/*
 * Writes pem to <dir>/<name> (mode 0600, atomically, the directory created if missing) unless it
 * holds exactly that already. Returns 1 when written, 0 when unchanged, -errno with a message.
 */
int certs_write(const char *dir, const char *name, const char *pem, size_t len, char **reterr);
