/* SPDX-License-Identifier: MIT */
/*
 * render: the whole haproxy.cfg from the set of services and the global settings. Pure: the
 * templates are read once by render_new; render_config does no I/O.
 *
 * The routing rules are data first (struct render_route: match -> backend, in Docker Flow
 * Proxy's order, §4.2), turned into ACL lines here; the base template (haproxy.tmpl) gets them as
 * .ContentFrontend, and each backend is the backend fragment (backend.tmpl) executed against the
 * backend's fields. Output is deterministic: the same input gives the same bytes.
 */
#pragma once

#include "flowproxy/config.h"
#include "flowproxy/render-t.h"
#include "flowproxy/service.h"

/*
 * A backend the configuration has: what metrics, run-time server slots and the autoscaler use.
 * A tcp listen group (tcpListen_<group>_<srcPort>) is one too, owned by its first member
 * service, with no slots: a change of its servers re-renders it.
 */
struct render_backend {
	char *name;    /* "<aclName>-be<port>_<index>" (DFP's scheme), or the listen's name */
	char *service; /* its service's serviceName */
	int dest;      /* the destination's index: 0, or 1..10 */
	enum render_mode mode;
	int port; /* the destination's port */
	/*
	 * Task slots (slots.h): servers "<service>_1" .. "<service>_<n_slots>", re-pointed at run
	 * time. 0 when the backend has one server at the service's host, or DNS/VIP discovery.
	 */
	size_t n_slots;
};

/* An HTTP routing rule as data, in the order HAProxy evaluates them: the matches of one
 * destination (all given ones must hold) and the backend they select. tcp/sni backends have
 * none: their frontends are per srcPort (docs/tcp.md). */
struct render_rule {
	size_t backend; /* index in render_plan.backends */
	char *path_type;
	struct strv paths, path_excludes, domains;
	long src_port;
	bool is_default; /* also the frontend's default_backend */
};

/* Lines of the configuration that a user's file produced (snippets.h), for error messages. */
struct render_source {
	char *path;
	size_t first_line; /* 1-based line of haproxy.cfg where its output starts */
	size_t n_lines;
};

/* What a rendering made, besides its text. Embedded: render_plan_done releases it. */
struct render_plan {
	struct render_backend *backends;
	size_t n_backends;
	struct render_rule *rules;
	size_t n_rules;
	struct render_source *sources;
	size_t n_sources;
};

void render_plan_done(struct render_plan *p);
/*
 * When HAProxy's message err points at a line of haproxy.cfg (`[<file>:<line>]`) that a user's
 * file produced, says which: "line 12 of haproxy.cfg is line 3 of the output of '/t/web-be.cfg'".
 * NULL otherwise. Caller frees.
 */
char *render_plan_blame(const struct render_plan *p, const char *err);
/* The backends of service (n of them, from *ret_first on: they are consecutive); 0 if none. */
size_t render_plan_service(const struct render_plan *p, const char *service, size_t *ret_first);

struct render;

/*
 * Reads and parses the base template (base_path: absolute, or relative to templates_dir) and
 * the backend fragment (templates_dir/backend.tmpl). Caller frees with render_free.
 */
int render_new(const char *templates_dir, const char *base_path, struct render **ret,
	       char **reterr);
void render_free(struct render *r);
/*
 * The certificates the next renderings serve on the :ssl ports (certs.h): crt_list is the
 * crt-list file (copied), NULL when there is none, and then those ports are not bound; hash
 * changes with any certificate's content, and goes into the configuration so that a new
 * certificate changes its bytes (and so reloads HAProxy).
 */
void render_set_certs(struct render *r, const char *crt_list, uint64_t hash);

/*
 * Orders services as Docker Flow Proxy does: a path starting with /.well-known first, a path
 * exactly "/" last, otherwise by aclName (then serviceName, so that the order is total).
 */
void render_sort(struct render_service *svcs, size_t n);

/*
 * Renders the configuration for svcs (in the order given: call render_sort first) into out,
 * and, when ret_plan is not NULL, what it made into *ret_plan (release with render_plan_done;
 * filled only on success). Fails with -EINVAL and a message naming the service if its fragment
 * cannot be rendered.
 */
int render_config(const struct render *r, const struct config *cfg,
		  const struct render_service *svcs, size_t n, struct strbuf *out,
		  struct render_plan *ret_plan, char **reterr);

struct snippets;
/*
 * render_config with the templates directory's snippet files (snippets.h, borrowed; NULL for
 * none), joined as Docker Flow Proxy joins them (§4.1): the base template's output, then every
 * `-fe.cfg` file (inside the last frontend the base template opened), then the backends, then
 * every `-be.cfg` file, each executed against the base template's data. A file named after a
 * service's aclName replaces what is generated for it: `<acl>-fe.cfg` its frontend lines,
 * `<acl>-be.cfg` its backends and userlist (whose servers are then the file's: no task slots).
 * A service's templateFePath / templateBePath text (service.h) does the same in the service's
 * own place: among the generated frontend lines, among the backends. Fails (-EINVAL, or
 * -EMSGSIZE over template.h's caps) with a message naming the file when a snippet or a
 * service's template fails to execute.
 */
int render_config_snippets(const struct render *r, const struct config *cfg,
			   const struct render_service *svcs, size_t n,
			   const struct snippets *snippets, struct strbuf *out,
			   struct render_plan *ret_plan, char **reterr);
