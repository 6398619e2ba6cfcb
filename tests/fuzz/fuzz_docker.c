// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the Docker Engine reply parsers (docker_parse.h): the first byte picks
 * the parser, the rest is the reply. Invariants: what is accepted has its required fields set
 * (IDs and names non-empty, addresses that inet_pton reads), counts within their caps, and a
 * refusal always comes with a message.
 */
#include "flowproxy/docker_parse.h"

#include <arpa/inet.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const char *a)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, a, buf) != 1 && inet_pton(AF_INET6, a, buf) != 1)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	char *err = NULL;
	int r = 0, api = 0, min = 0;

	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct docker_service_list l = {0};
		r = docker_parse_services(body, len, &l, &err);
		for (size_t i = 0; r == 0 && i < l.n; i++) {
			if (!l.v[i].id[0] || !l.v[i].name[0] ||
			    l.v[i].labels.n > DOCKER_LABELS_MAX || l.v[i].replicas < 0)
				__builtin_trap();
		}
		docker_service_list_done(&l);
		break;
	}
	case 1: {
		struct docker_task_list l = {0};
		r = docker_parse_tasks(body, len, &l, &err);
		for (size_t i = 0; r == 0 && i < l.n; i++) {
			if (!l.v[i].id[0] || !l.v[i].service_id ||
			    l.v[i].n_addrs > DOCKER_ADDRS_MAX)
				__builtin_trap();
			for (size_t k = 0; k < l.v[i].n_addrs; k++)
				check_addr(l.v[i].addrs[k].addr);
		}
		docker_task_list_done(&l);
		break;
	}
	case 2: {
		struct docker_event e = {0};
		r = docker_parse_event(body, len, &e, &err);
		if (r == 0 && (!e.type[0] || !e.action[0] || !e.actor_id || e.time_nano < 0))
			__builtin_trap();
		docker_event_done(&e);
		break;
	}
	case 3:
		r = docker_parse_version(body, len, &api, &min, &err);
		/* The version used is the daemon's, capped, and never below its minimum. */
		if (r == 0 && (api <= 0 || min < 0 ||
			       docker_negotiate_version(api, min) <
				       (min > api || min > DOCKER_API_MAX ? min : 0)))
			__builtin_trap();
		break;
	case 4: {
		struct strv v = {0};
		r = docker_parse_container_networks(body, len, &v, &err);
		if (r == 0 && v.n > DOCKER_ADDRS_MAX)
			__builtin_trap();
		strv_done(&v);
		break;
	}
	case 5: {
		struct docker_service s = {0};
		r = docker_parse_service(body, len, &s, &err);
		if (r == 0 && (!s.id[0] || !s.name[0]))
			__builtin_trap();
		docker_service_done(&s);
		break;
	}
	}
	if (r < 0 && !err)
		__builtin_trap();
	free(err);
	return 0;
}
