// SPDX-License-Identifier: MIT
/*
 * acting: the choice of the one replica of flowproxy's own service that acts (see acting.h). The
 * Docker Engine API gives each task its Slot, Status.State, DesiredState and
 * Status.ContainerStatus.ContainerID (reference swarm-listener-monitor-docker-api.md §4.4);
 * Docker names a task's container "<service>.<slot>.<task ID>" and sets its hostname to the
 * first 12 digits of the container ID unless the service sets --hostname.
 */
#include "flowproxy/acting.h"

#include "flowproxy/util.h"

#include <errno.h>
#include <string.h>

static bool is_running(const struct docker_task *t)
{
	return streq(t->state, "running") && streq(t->desired_state, "running");
}

/* self is id, or a prefix of it long enough not to be a coincidence. */
static bool id_match(const char *id, const char *self)
{
	size_t n = strlen(self);

	if (!id)
		return false;
	return streq(id, self) || (n >= ACTING_HOSTNAME_MIN && strncmp(id, self, n) == 0);
}

char *acting_task_name(const struct docker_task *t, const char *service_name)
{
	if (t->slot == 0 && t->node_id)
		return xasprintf("%s.%s.%s", service_name, t->node_id, t->id);
	return xasprintf("%s.%ld.%s", service_name, t->slot, t->id);
}

static bool self_match(const struct docker_task *t, const char *service_name, const char *self)
{
	_cleanup_free_ char *name = NULL;

	if (id_match(t->container_id, self) || id_match(t->id, self))
		return true;
	name = acting_task_name(t, service_name);
	return streq(name, self);
}

/* Lower slot first, then lower task ID, so that every replica picks the same task. */
static bool before(const struct docker_task *a, const struct docker_task *b)
{
	if (a->slot != b->slot)
		return a->slot < b->slot;
	return strcmp(a->id, b->id) < 0;
}

int acting_choose(const struct docker_task *tasks, size_t n, const char *service_id,
		  const char *service_name, const char *self, bool was_task, bool *ret_acting,
		  char **ret_who)
{
	const struct docker_task *chosen = NULL, *me = NULL;
	bool acting;

	if (!ret_acting || !service_name)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct docker_task *t = &tasks[i];

		if (service_id && !streq(t->service_id, service_id))
			continue;
		if (!me && str_set(self) && self_match(t, service_name, self))
			me = t;
		if (is_running(t) && (!chosen || before(t, chosen)))
			chosen = t;
	}
	if (!me)
		acting = !was_task;
	else if (!streq(me->desired_state, "running"))
		acting = false;
	else
		acting = !chosen || chosen == me;
	*ret_acting = acting;
	if (ret_who)
		*ret_who = !acting && chosen ? acting_task_name(chosen, service_name) : NULL;
	return me ? 1 : 0;
}
