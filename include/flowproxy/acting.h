/* SPDX-License-Identifier: MIT */
/*
 * acting: which replica of flowproxy's own swarm service acts (scales services) when several run.
 * Among the service's tasks whose Status.State and DesiredState are "running", the one with the
 * lowest Slot acts (ties, as between the slot-less tasks of a global service: the lowest task
 * ID); the others evaluate and report which one acts. A flowproxy knows which task it is by its
 * hostname, which Docker sets to the first 12 hex digits of the task container's ID. One that is
 * not one of the tasks (run on a host, or under another service) acts alone. Pure: no I/O, no
 * logging.
 */
#pragma once

#include "flowproxy/docker_parse.h"

#include <stdbool.h>
#include <stddef.h>

#define ACTING_HOSTNAME_MIN 12 /* hex digits of a container ID Docker puts in the hostname */

/*
 * Decides for the replica whose hostname is self, from tasks[0..n) (as GET /tasks gives them,
 * any state, any order; when service_id is not NULL, only the tasks with that ServiceID count;
 * NULL takes all of them as the service's). self names a task when it equals the task's
 * container ID or a prefix of it of at least ACTING_HOSTNAME_MIN characters (the hostname
 * Docker gives a task container), its task ID or such a prefix of it, or its task name.
 *
 * *ret_acting gets:
 *   - true when self is the chosen task, or is one of the tasks and none runs (it is running:
 *     this code is executing);
 *   - false when self is one of the tasks but not the chosen one, or is one whose DesiredState is
 *     no longer "running" (it is going);
 *   - was_task ? false : true when self is not among the tasks. was_task says an earlier call
 *     found it: a list filtered by desired-state=running drops a task that is being stopped, and
 *     the replica in it must not then take itself for a lone instance.
 * *ret_who (may be NULL) gets the chosen task's container name, "<service_name>.<slot>.<task
 * ID>" ("<service_name>.<node ID>.<task ID>" for a task without a slot), when self does not act
 * and a task runs, else NULL; caller frees.
 *
 * Returns 1 when self is one of the tasks, 0 when it is not (self NULL or empty matches
 * nothing), -EINVAL when ret_acting or service_name is NULL.
 */
int acting_choose(const struct docker_task *tasks, size_t n, const char *service_id,
		  const char *service_name, const char *self, bool was_task, bool *ret_acting,
		  char **ret_who);

/* The container name Docker gives task t of service_name (see acting_choose); caller frees. */
char *acting_task_name(const struct docker_task *t, const char *service_name);
