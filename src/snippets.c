// SPDX-License-Identifier: MIT
/*
 * snippets: reads `<aclName>-fe.cfg` / `<aclName>-be.cfg` from the templates directory, as
 * Docker Flow Proxy's getConfigs does (proxy/ha_proxy.go: readdir order, which is byte order,
 * `-fe.cfg` before `-be.cfg`), and parses each one as a template: DFP renders the joined files
 * once more with the base template's data, so they may use its fields. Only the edge calls
 * this; render.c gets the parsed set.
 */
#include "flowproxy/snippets.h"
#include "flowproxy/service.h"
#include "flowproxy/template.h"

#include <dirent.h>
#include <sys/stat.h>

void snippets_init(struct snippets *s)
{
	s->v = NULL;
	s->n = 0;
}

void snippets_done(struct snippets *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].acl);
		free(s->v[i].path);
		template_free(s->v[i].tmpl);
	}
	free(s->v);
	snippets_init(s);
}

void snippets_move(struct snippets *dst, struct snippets *src)
{
	snippets_done(dst);
	*dst = *src;
	snippets_init(src);
}

static int cmp_snippets(const void *a, const void *b)
{
	const struct snippet *x = a, *y = b;

	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	/* The file names: "<acl>-fe.cfg" and "<acl>-be.cfg" order as their paths do. */
	return strcmp(x->path, y->path);
}

/* "<acl>-fe.cfg" or "<acl>-be.cfg" with a non-empty <acl>. */
static bool snippet_kind_of(const char *name, enum snippet_kind *ret_kind)
{
	if (strlen(name) <= 7)
		return false;
	if (str_endswith(name, "-fe.cfg"))
		*ret_kind = SNIPPET_FE;
	else if (str_endswith(name, "-be.cfg"))
		*ret_kind = SNIPPET_BE;
	else
		return false;
	return true;
}

/* Reads and parses one file into *ret; 0 when it is no snippet (not a regular file). */
static int load_one(const char *dir, const char *name, enum snippet_kind kind, struct snippet *ret,
		    char **reterr)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	struct template *t = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	/* Directories and sockets with such names are not snippets; links to files are. */
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	r = read_file(path, SNIPPETS_FILE_MAX, &text, &len);
	if (r < 0)
		return errmsg_set(reterr, r, "cannot read snippet '%s': %s", path,
				  r == -EMSGSIZE ? "larger than 1 MiB" : strerror(-r));
	r = template_parse(path, text, len, &t, reterr);
	if (r < 0)
		return r;
	*ret = (struct snippet){kind, xstrndup(name, strlen(name) - 7), TAKE_PTR(path), t};
	return 1;
}

int snippets_load(const char *dir, struct snippets *ret, char **reterr)
{
	struct snippets s;
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	snippets_init(&s);
	if (!d)
		return errno == ENOENT ? 0
				       : errmsg_set(reterr, -errno, "cannot read '%s': %m", dir);
	while ((e = readdir(d))) {
		enum snippet_kind kind;
		struct snippet one;

		if (e->d_name[0] == '.' || !snippet_kind_of(e->d_name, &kind))
			continue;
		if (s.n == SNIPPETS_MAX) {
			r = errmsg_set(reterr, -EMSGSIZE, "more than %d snippet files in '%s'",
				       SNIPPETS_MAX, dir);
			goto out;
		}
		r = load_one(dir, e->d_name, kind, &one, reterr);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		s.v = xrealloc(s.v, (s.n + 1) * sizeof(*s.v));
		s.v[s.n++] = one;
	}
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), cmp_snippets);
	snippets_move(ret, &s);
	r = 0;
out:
	closedir(d);
	snippets_done(&s);
	return r;
}

const struct snippet *snippets_find(const struct snippets *s, enum snippet_kind kind,
				    const char *acl)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (s->v[i].kind == kind && streq(s->v[i].acl, acl))
			return &s->v[i];
	return NULL;
}

static int read_service_template(const char *key, const char *path, const char *dir, char **ret,
				 char **reterr)
{
	_cleanup_free_ char *full = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", dir, path);
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *err = NULL;
	struct template *t = NULL;
	size_t len = 0;
	int r = read_file(full, SNIPPETS_FILE_MAX, &text, &len);

	if (r < 0)
		return errmsg_set(reterr, r == -EMSGSIZE ? -EMSGSIZE : -EINVAL,
				  "%s '%s': cannot read '%s': %s", key, path, full,
				  r == -EMSGSIZE ? "larger than 1 MiB" : strerror(-r));
	r = template_parse(full, text, len, &t, &err);
	template_free(t);
	if (r < 0)
		return errmsg_set(reterr, r, "%s '%s': %s", key, path, err ? err : "bad template");
	*ret = TAKE_PTR(text);
	return 0;
}

int snippets_service_templates(struct service *s, const char *dir, char **reterr)
{
	char *fe = NULL, *be = NULL;
	int r;

	if (s->template_fe_path && (r = read_service_template("templateFePath", s->template_fe_path,
							      dir, &fe, reterr)) < 0)
		return r;
	if (s->template_be_path && (r = read_service_template("templateBePath", s->template_be_path,
							      dir, &be, reterr)) < 0) {
		free(fe);
		return r;
	}
	free(s->template_fe);
	free(s->template_be);
	s->template_fe = fe;
	s->template_be = be;
	return 0;
}
