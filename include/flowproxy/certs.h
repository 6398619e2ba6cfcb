/* SPDX-License-Identifier: MIT */
/*
 * certs: the certificates HAProxy serves on the `:ssl` ports of DEFAULT_PORTS and BIND_PORTS
 * (reference docker-flow-proxy.md §4.1.5, §5.3; docs/tls.md). They come from the certs directory
 * (CERTS_DIR, DFP's /certs) and from Docker secrets named cert-* or cert_* (any case), are ordered
 * by PREFERRED_CERTIFICATE and listed in a crt-list file, which the :ssl binds load:
 * ` ssl crt-list <file> alpn h2,http/1.1`.
 *
 * The pure part (names, PEM checks, ordering, the crt-list text) is unit-tested; certs_refresh
 * and certload_put read and write files.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/pem.h"
#include "flowproxy/service.h"

#include <stdint.h>

#define CERTS_PEM_MAX PEM_MAX

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
 * names pem_name_check refuses are skipped) and then the secrets directory's cert-* and cert_*
 * files (any case), each kept only when its content passes pem_check, then ordered with
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
 * Writes pem to <dir>/<name> (mode 0600, atomically, the directory created if missing) unless it
 * holds exactly that already. Returns 1 when written, 0 when unchanged, -errno with a message.
 */
int certs_write(const char *dir, const char *name, const char *pem, size_t len, char **reterr);
