/* SPDX-License-Identifier: MIT */
/*
 * snippets: the per-service files of Docker Flow Proxy's templates directory, `<aclName>-fe.cfg`
 * and `<aclName>-be.cfg` (reference docker-flow-proxy.md §4.1, §7 item 3), read and parsed as
 * templates so that the renderer can join them into haproxy.cfg. This module reads files; the
 * renderer (render.h) stays pure and only gets the parsed set.
 *
 * flowproxy does not write these files (it renders in memory). A file named after a routed
 * service's aclName takes the place of what flowproxy generates for that service (its frontend
 * lines, or its backends); any other file is added as it is. docs/templates.md says when the
 * files are read.
 */
#pragma once

#include "flowproxy/util.h"

struct template;

enum snippet_kind {
	SNIPPET_FE = 0, /* <name>-fe.cfg: lines of `frontend services` */
	SNIPPET_BE,	/* <name>-be.cfg: whole sections (backends, userlists) */
};

struct snippet {
	enum snippet_kind kind;
	char *acl;  /* the file name without "-fe.cfg" / "-be.cfg" */
	char *path; /* where it was read, for messages */
	struct template *tmpl;
};

/* A set of snippet files: FE ones first, then BE ones, each in byte order of their names. */
struct snippets {
	struct snippet *v;
	size_t n;
};

#define SNIPPETS_MAX	  1000	    /* files in one directory */
#define SNIPPETS_FILE_MAX (1 << 20) /* bytes of one file */

void snippets_init(struct snippets *s);
void snippets_done(struct snippets *s);
/* Moves src into dst (dst released first); src is left empty. */
void snippets_move(struct snippets *dst, struct snippets *src);

/*
 * Reads every regular file of dir whose name ends in "-fe.cfg" or "-be.cfg" (and has something
 * before it) and parses it as a template. A missing dir gives an empty set. Fails, naming the
 * file, when one cannot be read, is larger than SNIPPETS_FILE_MAX or does not parse; more than
 * SNIPPETS_MAX files is -EMSGSIZE. On success *ret (initialised by the caller) holds the set;
 * on failure it is left empty.
 */
int snippets_load(const char *dir, struct snippets *ret, char **reterr);

struct service;
/*
 * Reads the files a service's templateFePath / templateBePath name (absolute, or relative to
 * dir) into s->template_fe / s->template_be, and checks that they parse as templates. Fails
 * with -EINVAL or -errno and a message naming the parameter and the file when one cannot be
 * read, is larger than SNIPPETS_FILE_MAX or does not parse (the reconfigure answers 400).
 */
int snippets_service_templates(struct service *s, const char *dir, char **reterr);

/* The snippet of kind for aclName acl, NULL if none. Borrowed from s. */
const struct snippet *snippets_find(const struct snippets *s, enum snippet_kind kind,
				    const char *acl);
