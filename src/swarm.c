// SPDX-License-Identifier: MIT
/*
 * swarm: the pure half of the Swarm watcher (see swarm.h). Builds DFSL's reconfigure parameters
 * from a Docker service (reference swarm-listener-monitor-docker-api.md §1.2), selects task
 * addresses (§4.4) and diffs snapshots so that only parameter changes cost a reload (§6).
 */
#include "flowproxy/swarm.h"

#include "flowproxy/labels.h"

#include <arpa/inet.h>
#include <strings.h>

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : strcmp(x->value, y->value);
}

static void params_sort(struct params *p)
{
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), param_cmp);
}

/* Lookup by exact key: Docker labels are case-sensitive, unlike params_get's fallback. */
static const char *label_get(const struct params *labels, const char *key)
{
	for (size_t i = 0; i < labels->n; i++)
		if (streq(labels->v[i].key, key))
			return labels->v[i].value;
	return NULL;
}

int swarm_service_params(const struct docker_service *s, struct params *ret, char **reterr)
{
	struct params stripped, out;
	const char *notify, *shortname, *stack;
	const char *name;
	size_t stack_len;

	if (!str_set(s->name))
		return errmsg_set(reterr, -EINVAL, "service '%s' has no name", s->id ? s->id : "");
	/* The event path of DFSL needs the value "true" (case-insensitive), §1.1 step 1. */
	notify = label_get(&s->labels, "com.df.notify");
	if (!notify || strcasecmp(notify, "true") != 0)
		return errmsg_set(reterr, -ENOENT, "service '%s' has no com.df.notify=true label",
				  s->name);

	params_init(&stripped);
	params_init(&out);
	labels_strip_prefix(&s->labels, &stripped);
	/* Minify drops the notify label itself (§1.1 step 4). */
	for (size_t i = 0; i < stripped.n; i++)
		if (!streq(stripped.v[i].key, "notify"))
			params_set(&out, stripped.v[i].key, stripped.v[i].value);
	params_done(&stripped);

	name = s->name;
	shortname = label_get(&s->labels, "com.df.shortName");
	stack = label_get(&s->labels, "com.docker.stack.namespace");
	if (shortname && strcasecmp(shortname, "true") == 0 && str_set(stack)) {
		/* strings.TrimPrefix(name, stack + "_"): only when it is really the prefix. */
		stack_len = strlen(stack);
		if (strncmp(name, stack, stack_len) == 0 && name[stack_len] == '_')
			name += stack_len + 1;
	}
	/* Spec.Name wins over a com.df.serviceName label (LabelsTakeSecondPriority test). */
	params_set(&out, "serviceName", name);
	if (s->mode == DOCKER_MODE_REPLICATED) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%ld", s->replicas);
		params_set(&out, "replicas", buf);
	}
	if (!label_get(&out, "distribute"))
		params_add(&out, "distribute", "true");
	params_sort(&out);
	*ret = out;
	return 0;
}

/* The order slots_plan sorts endpoints in: IPv4 before IPv6, by bytes; anything else last, by
 * text (docker.c only hands out valid IPs, but hand-built tasks may not). */
static int addr_rank(const char *a, unsigned char *buf)
{
	if (inet_pton(AF_INET, a, buf) == 1)
		return 0;
	if (inet_pton(AF_INET6, a, buf) == 1)
		return 1;
	return 2;
}

static int addr_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	unsigned char bx[16] = {0}, by[16] = {0};
	int rx = addr_rank(x, bx), ry = addr_rank(y, by), r;

	if (rx != ry)
		return rx - ry;
	if (rx < 2 && (r = memcmp(bx, by, rx == 0 ? 4 : 16)) != 0)
		return r;
	return strcmp(x, y);
}

/* Sorts v and drops duplicates (freeing them); returns the new count. */
static size_t addrs_sort_unique(char **v, size_t n)
{
	size_t k = 0;

	if (n > 1)
		qsort(v, n, sizeof(*v), addr_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && streq(v[k - 1], v[i]))
			free(v[i]);
		else
			v[k++] = v[i];
	}
	return k;
}

static const char *task_addr(const struct docker_task *t, const char *const *networks,
			     size_t n_networks)
{
	if (n_networks == 0) {
		/* The ingress network carries the routing mesh, not per-task traffic. */
		for (size_t i = 0; i < t->n_addrs; i++)
			if (t->addrs[i].network && !streq(t->addrs[i].network, "ingress"))
				return t->addrs[i].addr;
		return NULL;
	}
	for (size_t j = 0; j < n_networks; j++)
		for (size_t i = 0; i < t->n_addrs; i++)
			if (t->addrs[i].network && streq(t->addrs[i].network, networks[j]))
				return t->addrs[i].addr;
	return NULL;
}

int swarm_task_addrs(const struct docker_task *tasks, size_t n, const char *service_id,
		     const char *const *networks, size_t n_networks, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct docker_task *t = &tasks[i];
		const char *a;

		if (!t->service_id || !streq(t->service_id, service_id))
			continue;
		/* Desired "running" includes tasks still pending or starting (§4.4). */
		if (!t->state || !streq(t->state, "running") || !t->desired_state ||
		    !streq(t->desired_state, "running"))
			continue;
		a = task_addr(t, networks, n_networks);
		if (!str_set(a))
			continue;
		if (!v)
			v = xcalloc(n, sizeof(*v));
		v[k++] = xstrdup(a);
	}
	k = addrs_sort_unique(v, k);
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

void swarm_addrs_free(char **addrs, size_t n)
{
	if (!addrs)
		return;
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

void swarm_snapshot_init(struct swarm_snapshot *s)
{
	s->v = NULL;
	s->n = 0;
}

static void entry_done(struct swarm_entry *e)
{
	free(e->name);
	params_done(&e->params);
	swarm_addrs_free(e->addrs, e->n_addrs);
}

void swarm_snapshot_done(struct swarm_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		entry_done(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* Index of name, or of where it would go (*found false). */
static size_t snapshot_find(const struct swarm_snapshot *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(s->v[mid].name, name);

		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int swarm_snapshot_put(struct swarm_snapshot *s, const char *name, const struct params *params,
		       const char *const *addrs, size_t n_addrs)
{
	struct swarm_entry e = {0};
	bool found;
	size_t i;

	if (!str_set(name))
		return -EINVAL;
	i = snapshot_find(s, name, &found);
	if (!found && s->n >= SWARM_SERVICES_MAX)
		return -EMSGSIZE;

	e.name = xstrdup(name);
	params_init(&e.params);
	if (params)
		params_copy(&e.params, params);
	params_sort(&e.params);
	if (n_addrs > 0) {
		e.addrs = xcalloc(n_addrs, sizeof(*e.addrs));
		for (size_t j = 0; j < n_addrs; j++)
			e.addrs[j] = xstrdup(addrs[j]);
		e.n_addrs = addrs_sort_unique(e.addrs, n_addrs);
	}

	if (found) {
		entry_done(&s->v[i]);
	} else {
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->n++;
	}
	s->v[i] = e;
	return 0;
}

const struct swarm_entry *swarm_snapshot_get(const struct swarm_snapshot *s, const char *name)
{
	bool found;
	size_t i = snapshot_find(s, name, &found);

	return found ? &s->v[i] : NULL;
}

/* Both sides are normalised by swarm_snapshot_put, so element-wise equality is set equality. */
static bool params_equal(const struct params *a, const struct params *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!streq(a->v[i].key, b->v[i].key) || !streq(a->v[i].value, b->v[i].value))
			return false;
	return true;
}

static bool addrs_equal(const struct swarm_entry *a, const struct swarm_entry *b)
{
	if (a->n_addrs != b->n_addrs)
		return false;
	for (size_t i = 0; i < a->n_addrs; i++)
		if (!streq(a->addrs[i], b->addrs[i]))
			return false;
	return true;
}

int swarm_diff(const struct swarm_snapshot *old, const struct swarm_snapshot *cur,
	       struct swarm_diff_entry **ret, size_t *ret_n)
{
	struct swarm_diff_entry *v = NULL;
	size_t i = 0, j = 0, k = 0;

	if (old->n + cur->n > 0)
		v = xcalloc(old->n + cur->n, sizeof(*v));
	/* Merge walk: both snapshots are sorted by name. */
	while (i < old->n || j < cur->n) {
		struct swarm_diff_entry *d = &v[k++];
		int r;

		if (i == old->n)
			r = 1;
		else if (j == cur->n)
			r = -1;
		else
			r = strcmp(old->v[i].name, cur->v[j].name);
		if (r < 0) {
			d->old = &old->v[i++];
			d->name = d->old->name;
			d->change = SWARM_REMOVED;
		} else if (r > 0) {
			d->cur = &cur->v[j++];
			d->name = d->cur->name;
			d->change = SWARM_ADDED;
		} else {
			d->old = &old->v[i++];
			d->cur = &cur->v[j++];
			d->name = d->cur->name;
			if (!params_equal(&d->old->params, &d->cur->params))
				d->change = SWARM_CONFIG_CHANGED;
			else if (!addrs_equal(d->old, d->cur))
				d->change = SWARM_ADDRS_CHANGED;
			else
				d->change = SWARM_UNCHANGED;
		}
	}
	*ret = v;
	*ret_n = k;
	return 0;
}

const char *swarm_change_name(enum swarm_change c)
{
	switch (c) {
	case SWARM_UNCHANGED:
		return "unchanged";
	case SWARM_ADDED:
		return "added";
	case SWARM_REMOVED:
		return "removed";
	case SWARM_CONFIG_CHANGED:
		return "config-changed";
	case SWARM_ADDRS_CHANGED:
		return "addrs-changed";
	}
	return "unknown";
}
