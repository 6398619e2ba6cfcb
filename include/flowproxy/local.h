/* SPDX-License-Identifier: MIT */
/*
 * local: local mode, for a machine without Docker. Services come from a JSON file
 * (docs/local-mode.md): each entry is a parameter map (the same parameters as the reconfigure
 * API), plus an optional "exec" command that flowproxy starts and keeps running as the service's
 * backend. Parsing is pure (local_parse); running the commands is local_start's job.
 */
#pragma once

#include "flowproxy/service.h"

struct local_entry {
	struct params params;
	char **argv; /* NULL-terminated, NULL when the entry has no "exec" */
};

struct local_file {
	struct local_entry *v;
	size_t n;
};

/*
 * Parses a services file: a JSON array of objects, or {"services": [...]}. Parameter values may
 * be strings, numbers or booleans; "exec" must be an array of strings. At most 10,000 entries.
 * Fails with -EINVAL and a message naming the entry. Caller frees with local_file_done.
 */
int local_parse(const char *json, size_t len, struct local_file *ret, char **reterr);
void local_file_done(struct local_file *f);

struct local;

/*
 * Starts every entry's command and keeps it running (restarted, at most 5 times a minute), its
 * children's exits seen on loop (NULL: not supervised). Caller frees with local_free.
 */
struct loop;
int local_start(struct loop *loop, const struct local_file *f, struct local **ret, char **reterr);
/* Stops the commands (SIGTERM, then SIGKILL after 2 s) and frees l. NULL ok. */
void local_free(struct local *l);
