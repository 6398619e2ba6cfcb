// SPDX-License-Identifier: MIT
/*
 * certsync: the certificates of the peers, taken at start-up (certsync.h). A timer waits for the
 * daemon to be initialized, one fan-out of GET /certs follows, then the certificates this
 * replica lacks go through certload_put one at a time.
 */
#include "flowproxy/certsync.h"
#include "flowproxy/certload.h"
#include "flowproxy/certs.h"
#include "flowproxy/pem.h"
#include "flowproxy/distribute.h"
#include "flowproxy/log.h"
#include "flowproxy/loop.h"

#include <cjson/cJSON.h>

#define CERTSYNC_POLL_MS 200

struct certsync {
	struct loop *loop;
	struct daemon *d;
	struct distribute *dist;
	struct distribute_call *call;
	struct loop_timer *timer;
	struct certsync_cert *certs;
	size_t n_certs, next, loaded;
	bool paused; /* DNS_LOOKUP_PAUSE_MS waited */
};

void certsync_certs_free(struct certsync_cert *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].pem);
	}
	free(v);
}

/* The acceptable certificates of one GET /certs answer. */
static size_t parse_answer(const char *body, struct certsync_cert **ret)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *certs = cJSON_GetObjectItemCaseSensitive(j, "Certs");
	const cJSON *c;
	struct certsync_cert *v = NULL;
	size_t n = 0;

	cJSON_ArrayForEach(c, certs)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "ProxyServiceName");
		const cJSON *pem = cJSON_GetObjectItemCaseSensitive(c, "CertContent");
		_cleanup_free_ char *err = NULL;

		if (!cJSON_IsString(name) || !cJSON_IsString(pem) ||
		    pem_name_check(name->valuestring, &err) < 0 ||
		    pem_check(pem->valuestring, strlen(pem->valuestring), &err) < 0)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n].name = xstrdup(name->valuestring);
		v[n].pem = xstrdup(pem->valuestring);
		n++;
	}
	cJSON_Delete(j);
	*ret = v;
	return n;
}

size_t certsync_pick(const char *const *bodies, size_t n, struct certsync_cert **ret)
{
	struct certsync_cert *best = NULL;
	size_t n_best = 0;

	for (size_t i = 0; i < n; i++) {
		struct certsync_cert *v = NULL;
		size_t k = bodies[i] && *bodies[i] ? parse_answer(bodies[i], &v) : 0;
		if (k > n_best) {
			certsync_certs_free(best, n_best);
			best = v;
			n_best = k;
		} else {
			certsync_certs_free(v, k);
		}
	}
	*ret = best;
	return n_best;
}

static void put_next(struct certsync *cs);

static void on_put(void *userdata, int status, const char *message, bool found)
{
	struct certsync *cs = userdata;
	const struct certsync_cert *c = &cs->certs[cs->next];

	if (status == 200) {
		cs->loaded++;
		log_info("certificates: took %s from a peer", c->name);
	} else {
		log_warn("certificates: %s from a peer not taken: %s", c->name, message);
	}
	cs->next++;
	put_next(cs);
}

/* The next certificate this replica does not hold yet. */
static void put_next(struct certsync *cs)
{
	const struct config *cfg = daemon_config(cs->d);

	for (; cs->next < cs->n_certs; cs->next++) {
		const struct certsync_cert *c = &cs->certs[cs->next];
		_cleanup_free_ char *path = xasprintf("%s/%s", cfg->certs_dir, c->name);
		_cleanup_free_ char *err = NULL;

		if (access(path, F_OK) == 0)
			continue; /* ours wins: a replica never overwrites its own */
		if (certload_put(cs->d, c->name, c->pem, strlen(c->pem), on_put, cs, &err) < 0) {
			log_warn("certificates: %s from a peer not taken: %s", c->name, err);
			continue;
		}
		return;
	}
	if (cs->n_certs)
		log_info("certificates: %zu of the %zu a peer serves taken", cs->loaded,
			 cs->n_certs);
}

static void on_certs(void *userdata, const struct distribute_result *res)
{
	struct certsync *cs = userdata;

	cs->call = NULL;
	if (res->r == -ENXIO) {
		log_debug("certificates: no peers to take certificates from (%s)", res->message);
		return;
	}
	if (res->r < 0 && res->r != -EREMOTEIO) {
		log_warn("certificates: cannot ask the peers: %s", res->message);
		return;
	}
	cs->n_certs = certsync_pick(res->bodies, res->n_addrs, &cs->certs);
	put_next(cs);
}

static void on_timer(void *userdata)
{
	struct certsync *cs = userdata;
	struct params none;

	if (!daemon_initialized(cs->d)) {
		loop_timer_after(cs->timer, CERTSYNC_POLL_MS);
		return;
	}
	/* DFP's DNS_LOOKUP_PAUSE_MS: time for the swarm's DNS to list a task that just started. */
	long pause = daemon_config(cs->d)->dns_lookup_pause_ms;
	if (!cs->paused && pause > 0) {
		cs->paused = true;
		loop_timer_after(cs->timer, pause);
		return;
	}
	params_init(&none);
	cs->call = distribute_send(cs->dist, "GET", "/v1/docker-flow-proxy/certs", &none, NULL, 0,
				   on_certs, cs);
	params_done(&none);
}

int certsync_start(struct loop *loop, struct daemon *d, struct certsync **ret, char **reterr)
{
	const struct config *cfg = daemon_config(d);
	struct distribute_options o = {cfg->service_name, cfg->port, cfg->api_token};
	struct certsync *cs = xcalloc(1, sizeof(*cs));
	int r = distribute_new(loop, &o, &cs->dist, reterr);

	if (r < 0) {
		free(cs);
		return r;
	}
	cs->loop = loop;
	cs->d = d;
	cs->timer = loop_timer_new(loop, on_timer, cs);
	loop_timer_after(cs->timer, 0);
	*ret = cs;
	return 0;
}

void certsync_free(struct certsync *cs)
{
	if (!cs)
		return;
	distribute_cancel(cs->call);
	loop_timer_free(cs->timer);
	distribute_free(cs->dist);
	certsync_certs_free(cs->certs, cs->n_certs);
	free(cs);
}
