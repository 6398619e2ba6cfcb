// SPDX-License-Identifier: MIT
/* registry: services by name, with shared immutable entries (see registry.h). */
#include "flowproxy/registry.h"

struct registry_entry {
	unsigned refs;
	struct service *svc;
	char **addrs;
	size_t n_addrs;
};

static void entry_unref(struct registry_entry *e)
{
	if (!e || --e->refs > 0)
		return;
	service_free(e->svc);
	for (size_t i = 0; i < e->n_addrs; i++)
		free(e->addrs[i]);
	free(e->addrs);
	free(e);
}

void registry_init(struct registry *r)
{
	r->v = NULL;
	r->n = 0;
}

void registry_done(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		entry_unref(r->v[i]);
	free(r->v);
	registry_init(r);
}

void registry_copy(struct registry *dst, const struct registry *src)
{
	registry_done(dst);
	dst->v = xcalloc(src->n ? src->n : 1, sizeof(*dst->v));
	dst->n = src->n;
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = src->v[i];
		dst->v[i]->refs++;
	}
}

/* Binary search: index of name, or of where it would be inserted (*found false). */
static size_t find(const struct registry *r, const char *name, bool *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->v[mid]->svc->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int registry_put(struct registry *r, struct service *svc, const char *const *addrs, size_t n_addrs)
{
	struct registry_entry *e = xcalloc(1, sizeof(*e));
	bool found;
	size_t i = find(r, svc->name, &found);

	e->refs = 1;
	e->svc = svc;
	e->addrs = xcalloc(n_addrs ? n_addrs : 1, sizeof(char *));
	for (size_t k = 0; k < n_addrs; k++)
		e->addrs[k] = xstrdup(addrs[k]);
	e->n_addrs = n_addrs;
	if (found) {
		entry_unref(r->v[i]);
		r->v[i] = e;
		return 1;
	}
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
	r->v[i] = e;
	r->n++;
	return 0;
}

int registry_remove(struct registry *r, const char *name)
{
	bool found;
	size_t i = find(r, name, &found);

	if (!found)
		return 0;
	entry_unref(r->v[i]);
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
	r->n--;
	return 1;
}

const struct service *registry_get(const struct registry *r, const char *name)
{
	bool found;
	size_t i = find(r, name, &found);

	return found ? r->v[i]->svc : NULL;
}

size_t registry_get_addrs(const struct registry *r, const char *name, const char *const **ret)
{
	bool found;
	size_t i = find(r, name, &found);

	*ret = found ? (const char *const *)r->v[i]->addrs : NULL;
	return found ? r->v[i]->n_addrs : 0;
}

size_t registry_count(const struct registry *r)
{
	return r->n;
}

const struct service *registry_at(const struct registry *r, size_t i)
{
	return i < r->n ? r->v[i]->svc : NULL;
}

void registry_render_services(const struct registry *r, struct render_service **ret)
{
	struct render_service *rs = xcalloc(r->n ? r->n : 1, sizeof(*rs));

	for (size_t i = 0; i < r->n; i++) {
		rs[i].svc = r->v[i]->svc;
		rs[i].addrs = (const char *const *)r->v[i]->addrs;
		rs[i].n_addrs = r->v[i]->n_addrs;
	}
	render_sort(rs, r->n);
	*ret = rs;
}
