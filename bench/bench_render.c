// SPDX-License-Identifier: MIT
/*
 * Render time: parses N services (default 1000) of the usual shape (path, port, a header, a
 * rewrite) and times render_config over repeated runs; prints median and max in ms and the size
 * of the output. Usage: bench_render [N] [runs]
 */
#include "flowproxy/config.h"
#include "flowproxy/labels.h"
#include "flowproxy/registry.h"
#include "flowproxy/render.h"

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = 1000, runs = 50;
	struct config cfg;
	struct render *r = NULL;
	struct registry reg;
	struct render_service *rs = NULL;
	char *err = NULL;
	char *env[] = {"DEFAULT_PORTS=8000", NULL};

	if ((argc > 1 && parse_long(argv[1], 1, 1000000, &n) < 0) ||
	    (argc > 2 && parse_long(argv[2], 1, 100000, &runs) < 0)) {
		fprintf(stderr, "usage: bench_render [services] [runs]\n");
		return 2;
	}

	if (config_load(&cfg, 0, NULL, env, &err) < 0 ||
	    render_new(cfg.templates_path, cfg.cfg_template_path, &r, &err) < 0) {
		fprintf(stderr, "bench_render: %s\n", err);
		return 1;
	}
	registry_init(&reg);
	struct labels_ctx ctx = {cfg.separator, cfg.service_domain_algo, cfg.https_only, cfg.users,
				 cfg.users_pass_encrypted};
	for (long i = 0; i < n; i++) {
		struct params p;
		struct service *svc = NULL;
		char name[32], path[32];
		snprintf(name, sizeof(name), "svc%ld", i);
		snprintf(path, sizeof(path), "/svc%ld", i);
		params_init(&p);
		params_add(&p, "serviceName", name);
		params_add(&p, "servicePath", path);
		params_add(&p, "port", "8080");
		params_add(&p, "addReqHeader", "X-Service svc");
		params_add(&p, "reqPathSearchReplace", "/svc,/");
		if (labels_parse(&p, &ctx, &svc, NULL, &err) < 0) {
			fprintf(stderr, "bench_render: %s\n", err);
			return 1;
		}
		registry_put(&reg, svc, NULL, 0);
		params_done(&p);
	}
	long long *t = xcalloc((size_t)runs, sizeof(*t));
	size_t bytes = 0;
	for (long i = 0; i < runs; i++) {
		struct strbuf out;
		strbuf_init(&out);
		long long t0 = now_usec();
		registry_render_services(&reg, &rs);
		if (render_config(r, &cfg, rs, registry_count(&reg), &out, NULL, &err) < 0) {
			fprintf(stderr, "bench_render: %s\n", err);
			return 1;
		}
		t[i] = now_usec() - t0;
		bytes = out.len;
		free(rs);
		strbuf_done(&out);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp_ll);
	printf("render %ld services: median %.2f ms, max %.2f ms over %ld runs (%zu bytes)\n", n,
	       t[runs / 2] / 1000.0, t[runs - 1] / 1000.0, runs, bytes);
	free(t);
	registry_done(&reg);
	render_free(r);
	config_done(&cfg);
	free(err);
	return 0;
}
