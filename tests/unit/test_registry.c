// SPDX-License-Identifier: MIT
/* Unit tests for registry: put/replace/remove, sorted lookup, copies sharing entries. */
#include "flowproxy/registry.h"
#include "tap.h"

static struct service *mk(const char *name, const char *acl, const char *path)
{
	struct service *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(name);
	s->acl_name = xstrdup(acl);
	s->domain_algo = xstrdup("hdr_beg(host)");
	s->dests = xcalloc(1, sizeof(*s->dests));
	s->n_dests = 1;
	s->dests[0].port = xstrdup("80");
	strv_add(&s->dests[0].paths, path);
	return s;
}

int main(void)
{
	struct registry r, copy;
	const char *addrs[] = {"10.0.0.1", "10.0.0.2"};

	registry_init(&r);
	registry_init(&copy);
	tap_is_int(registry_put(&r, mk("b", "b", "/b"), NULL, 0), 0, "put adds");
	tap_is_int(registry_put(&r, mk("a", "a", "/"), addrs, 2), 0, "put adds a second");
	tap_is_int(registry_put(&r, mk("c", "c", "/.well-known/acme"), NULL, 0), 0, "third");
	tap_is_int((long long)registry_count(&r), 3, "three services");
	tap_is_str(registry_at(&r, 0)->name, "a", "kept sorted by name");
	tap_ok(registry_get(&r, "b") != NULL, "get finds b");
	tap_ok(registry_get(&r, "zz") == NULL, "get misses an absent name");

	registry_copy(&copy, &r);
	tap_is_int(registry_put(&r, mk("b", "b2", "/b2"), NULL, 0), 1, "put replaces");
	tap_is_str(registry_get(&r, "b")->acl_name, "b2", "replacement visible");
	tap_is_str(registry_get(&copy, "b")->acl_name, "b", "the copy keeps the old entry");
	tap_is_int(registry_remove(&r, "a"), 1, "remove finds a");
	tap_is_int(registry_remove(&r, "a"), 0, "remove twice reports absence");
	tap_ok(registry_get(&copy, "a") != NULL, "the copy still has a");

	struct render_service *rs = NULL;
	registry_render_services(&copy, &rs);
	tap_is_str(rs[0].svc->name, "c", "/.well-known sorts first");
	tap_is_str(rs[1].svc->name, "b", "then by aclName");
	tap_is_str(rs[2].svc->name, "a", "a path '/' sorts last");
	tap_is_int((long long)rs[2].n_addrs, 2, "addresses carried");
	tap_is_str(rs[2].addrs[1], "10.0.0.2", "addresses copied");
	free(rs);
	registry_done(&r);
	registry_done(&copy);
	return tap_done();
}
