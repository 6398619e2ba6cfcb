// SPDX-License-Identifier: MIT
/*
 * metrics: backends by name (open-addressing hash), each with its window histogram, its
 * cumulative Prometheus counters per status code, and the last `show stat` rows of its servers.
 *
 * Exported `le` bounds are Prometheus' defaults plus the thresholds services' labels mention
 * (Docker Flow Monitor's @resp_time_above:0.1,... needs le="0.1" to exist). Bounds only grow
 * (at most METRICS_BOUNDS_MAX): a new bound starts at the count of the bound below it, so every
 * series stays monotonic and ordered; rates over it are right once a window has passed.
 */
#include "flowproxy/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>

#define METRICS_BOUNDS_MAX 32
#define METRICS_CODES_MAX  32 /* distinct status codes per backend; more go to code "other" */

struct code_counters {
	int code;
	uint64_t count;
	uint64_t sum_ms;
	uint64_t le[METRICS_BOUNDS_MAX]; /* non-cumulative: requests in (bound[i-1], bound[i]] */
};

struct mbackend {
	char *name;
	char *service;
	uint64_t hash;
	struct histogram *h;
	struct code_counters *codes;
	size_t n_codes;
	bool seen; /* still declared by the last metrics_set_backends */
};

struct metrics {
	uint32_t slice_ms, n_slices;
	struct mbackend **table; /* open addressing, NULL = empty */
	size_t cap;		 /* power of two */
	size_t n;
	uint32_t bounds[METRICS_BOUNDS_MAX];
	size_t n_bounds;
	uint32_t *thresholds;
	size_t n_thresholds;
	uint64_t unmatched;
	struct stats_table stats;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

int metrics_new(uint32_t slice_ms, uint32_t n_slices, struct metrics **ret)
{
	static const uint32_t defaults[] = METRICS_DEFAULT_BOUNDS;
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->slice_ms = slice_ms;
	m->n_slices = n_slices;
	m->cap = 64;
	m->table = xcalloc(m->cap, sizeof(*m->table));
	memcpy(m->bounds, defaults, sizeof(defaults));
	m->n_bounds = ARRAY_SIZE(defaults);
	*ret = m;
	return 0;
}

static void backend_free(struct mbackend *b)
{
	if (!b)
		return;
	free(b->name);
	free(b->service);
	histogram_free(b->h);
	free(b->codes);
	free(b);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		backend_free(m->table[i]);
	free(m->table);
	free(m->thresholds);
	stats_table_done(&m->stats);
	free(m);
}

static struct mbackend *lookup(const struct metrics *m, const char *name)
{
	uint64_t h = hash_str(name);

	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct mbackend *b = m->table[i];
		if (!b)
			return NULL;
		if (b->hash == h && streq(b->name, name))
			return b;
	}
}

static void insert(struct mbackend **table, size_t cap, struct mbackend *b)
{
	size_t i = b->hash & (cap - 1);

	while (table[i])
		i = (i + 1) & (cap - 1);
	table[i] = b;
}

/* Adds bound (ms) to the exported bounds, keeping them sorted; counters are remapped. */
static void add_bound(struct metrics *m, uint32_t bound)
{
	size_t pos = 0;

	if (bound == 0 || m->n_bounds >= METRICS_BOUNDS_MAX)
		return;
	while (pos < m->n_bounds && m->bounds[pos] < bound)
		pos++;
	if (pos < m->n_bounds && m->bounds[pos] == bound)
		return;
	memmove(&m->bounds[pos + 1], &m->bounds[pos], (m->n_bounds - pos) * sizeof(uint32_t));
	m->bounds[pos] = bound;
	m->n_bounds++;
	/* The new interval (bounds[pos-1], bound] starts empty; the one above keeps its count. */
	for (size_t i = 0; i < m->cap; i++) {
		struct mbackend *b = m->table[i];
		for (size_t c = 0; b && c < b->n_codes; c++) {
			uint64_t *le = b->codes[c].le;
			memmove(&le[pos + 1], &le[pos], (m->n_bounds - 1 - pos) * sizeof(uint64_t));
			le[pos] = 0;
		}
	}
}

void metrics_set_backends(struct metrics *m, const char *const *backends,
			  const char *const *services, size_t n, const uint32_t *thresholds_ms,
			  size_t n_thresholds)
{
	size_t cap = 64;
	struct mbackend **table;

	while (cap < 2 * (n + 1))
		cap *= 2;
	table = xcalloc(cap, sizeof(*table));
	for (size_t i = 0; i < m->cap; i++)
		if (m->table[i])
			m->table[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct mbackend *b = lookup(m, backends[i]);
		if (b && b->seen)
			continue; /* listed twice */
		if (!b) {
			b = xcalloc(1, sizeof(*b));
			b->name = xstrdup(backends[i]);
			b->hash = hash_str(b->name);
			/* The histogram comes with the first request: idle backends cost no window. */
		}
		free(b->service);
		b->service = xstrdup(services[i]);
		b->seen = true;
		insert(table, cap, b);
	}
	/* Entries still declared moved to the new table; the others go. */
	for (size_t i = 0; i < m->cap; i++)
		if (m->table[i] && !m->table[i]->seen)
			backend_free(m->table[i]);
	free(m->table);
	m->table = table;
	m->cap = cap;
	m->n = n;

	free(m->thresholds);
	m->thresholds = xcalloc(n_thresholds ? n_thresholds : 1, sizeof(uint32_t));
	m->n_thresholds = 0;
	for (size_t i = 0; i < n_thresholds; i++) {
		bool dup = false;
		for (size_t k = 0; k < m->n_thresholds; k++)
			dup |= m->thresholds[k] == thresholds_ms[i];
		if (!dup)
			m->thresholds[m->n_thresholds++] = thresholds_ms[i];
		add_bound(m, thresholds_ms[i]);
	}
}

static struct code_counters *code_slot(struct mbackend *b, int code)
{
	for (size_t i = 0; i < b->n_codes; i++)
		if (b->codes[i].code == code)
			return &b->codes[i];
	if (b->n_codes >= METRICS_CODES_MAX)
		code = 0; /* "other" */
	for (size_t i = 0; i < b->n_codes; i++)
		if (b->codes[i].code == code)
			return &b->codes[i];
	b->codes = xrealloc(b->codes, (b->n_codes + 1) * sizeof(*b->codes));
	memset(&b->codes[b->n_codes], 0, sizeof(*b->codes));
	b->codes[b->n_codes].code = code;
	return &b->codes[b->n_codes++];
}

/* The response time that counts: time to the response headers (Tw + Tc + Tr); Ta if no Tr. */
static uint32_t line_value_ms(const struct telemetry_line *l)
{
	if (l->tr >= 0)
		return (uint32_t)((l->tw > 0 ? l->tw : 0) + (l->tc > 0 ? l->tc : 0) + l->tr);
	return l->ta > 0 ? (uint32_t)l->ta : 0;
}

void metrics_record(struct metrics *m, const struct telemetry_line *l, uint64_t now_ms)
{
	struct mbackend *b;

	if (l->kind != TELEMETRY_REQUEST)
		return;
	b = lookup(m, l->backend);
	if (!b) {
		m->unmatched++;
		return;
	}
	if (!b->h && histogram_new(m->slice_ms, m->n_slices, &b->h) < 0)
		return;
	uint32_t v = line_value_ms(l);
	histogram_record(b->h, now_ms, v, l->status);
	struct code_counters *c = code_slot(b, l->status > 0 ? l->status : 0);
	c->count++;
	c->sum_ms += v;
	size_t i = 0;
	while (i < m->n_bounds && v > m->bounds[i])
		i++;
	if (i < m->n_bounds)
		c->le[i]++;
}

void metrics_set_stats(struct metrics *m, struct stats_table *t)
{
	stats_table_done(&m->stats);
	m->stats = *t;
	t->rows = NULL;
	t->n = 0;
}

uint64_t metrics_unmatched(const struct metrics *m)
{
	return m->unmatched;
}

struct histogram *metrics_histogram(struct metrics *m, const char *backend)
{
	struct mbackend *b = lookup(m, backend);

	return b ? b->h : NULL;
}

static int cmp_backends(const void *a, const void *b)
{
	const struct mbackend *x = *(const struct mbackend *const *)a;
	const struct mbackend *y = *(const struct mbackend *const *)b;
	int c = strcmp(x->service, y->service);

	return c ? c : strcmp(x->name, y->name);
}

/* The backends sorted by service then name (caller frees the array). */
static struct mbackend **sorted(const struct metrics *m, size_t *ret_n)
{
	struct mbackend **v = xcalloc(m->n ? m->n : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->table[i])
			v[n++] = m->table[i];
	qsort(v, n, sizeof(*v), cmp_backends);
	*ret_n = n;
	return v;
}

static double quantile(struct mbackend *b, uint64_t now_ms, uint32_t win, double q)
{
	return b->h ? histogram_quantile(b->h, now_ms, win, q) : 0;
}

static double round3(double x)
{
	return round(x * 1000.0) / 1000.0;
}

cJSON *metrics_json(struct metrics *m, uint64_t now_ms, uint32_t window_ms)
{
	uint32_t win = window_ms && window_ms < m->slice_ms * m->n_slices
			       ? window_ms
			       : m->slice_ms * m->n_slices;
	cJSON *root = cJSON_CreateObject();
	cJSON *services = cJSON_AddArrayToObject(root, "services");
	cJSON *svc = NULL, *backends = NULL;
	const char *cur = NULL;
	size_t n;
	struct mbackend **v = sorted(m, &n);

	cJSON_AddNumberToObject(root, "window_s", win / 1000.0);
	cJSON_AddNumberToObject(root, "unmatched_lines", (double)m->unmatched);
	for (size_t i = 0; i < n; i++) {
		struct mbackend *b = v[i];
		if (!cur || !streq(cur, b->service)) {
			cur = b->service;
			svc = cJSON_CreateObject();
			cJSON_AddStringToObject(svc, "name", b->service);
			backends = cJSON_AddArrayToObject(svc, "backends");
			cJSON_AddItemToArray(services, svc);
		}
		cJSON *o = cJSON_CreateObject();
		uint64_t count = b->h ? histogram_count(b->h, now_ms, win) : 0;
		cJSON_AddStringToObject(o, "name", b->name);
		cJSON_AddNumberToObject(o, "count", (double)count);
		cJSON_AddNumberToObject(o, "rate", round3(count * 1000.0 / win));
		cJSON_AddNumberToObject(o, "p50_ms", round3(quantile(b, now_ms, win, 0.5)));
		cJSON_AddNumberToObject(o, "p90_ms", round3(quantile(b, now_ms, win, 0.9)));
		cJSON_AddNumberToObject(o, "p99_ms", round3(quantile(b, now_ms, win, 0.99)));
		cJSON_AddNumberToObject(o, "p999_ms", round3(quantile(b, now_ms, win, 0.999)));
		cJSON_AddNumberToObject(o, "errors_5xx",
					b->h ? (double)histogram_count_5xx(b->h, now_ms, win) : 0);
		cJSON *fr = cJSON_AddArrayToObject(o, "fractions");
		for (size_t k = 0; k < m->n_thresholds; k++) {
			cJSON *f = cJSON_CreateObject();
			cJSON_AddNumberToObject(f, "le_s", m->thresholds[k] / 1000.0);
			cJSON_AddNumberToObject(f, "fraction",
						b->h ? round3(histogram_fraction_le(
							       b->h, now_ms, win, m->thresholds[k]))
						     : 1.0);
			cJSON_AddItemToArray(fr, f);
		}
		cJSON *servers = cJSON_AddArrayToObject(o, "servers");
		int up = 0, down = 0;
		for (size_t k = 0; k < m->stats.n; k++) {
			const struct stats_row *r = &m->stats.rows[k];
			if (!streq(r->proxy, b->name))
				continue;
			if (r->is_backend) {
				cJSON_AddNumberToObject(o, "sessions", (double)r->scur);
				cJSON_AddNumberToObject(o, "queue", (double)r->qcur);
				continue;
			}
			cJSON *s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "name", r->server);
			cJSON_AddStringToObject(s, "addr", r->addr);
			cJSON_AddStringToObject(s, "status", r->status);
			cJSON_AddNumberToObject(s, "sessions", (double)r->scur);
			cJSON_AddItemToArray(servers, s);
			if (str_startswith(r->status, "UP") || streq(r->status, "no check"))
				up++;
			else
				down++;
		}
		cJSON_AddNumberToObject(o, "servers_up", up);
		cJSON_AddNumberToObject(o, "servers_down", down);
		cJSON_AddItemToArray(backends, o);
	}
	free(v);
	return root;
}

/* Label values are service and backend names: checked tokens, but escape as the format says. */
static void prom_label(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			strbuf_putc(out, '\\');
		if (*s == '\n') {
			strbuf_puts(out, "\\n");
			continue;
		}
		strbuf_putc(out, *s);
	}
}

void metrics_prometheus(struct metrics *m, uint64_t now_ms, struct strbuf *out)
{
	size_t n;
	struct mbackend **v = sorted(m, &n);

	strbuf_puts(out,
		    "# HELP http_server_resp_time Time from request to response headers through "
		    "HAProxy (queue + connect + server), in seconds.\n"
		    "# TYPE http_server_resp_time histogram\n");
	for (size_t i = 0; i < n; i++) {
		struct mbackend *b = v[i];
		for (size_t c = 0; c < b->n_codes; c++) {
			const struct code_counters *cc = &b->codes[c];
			char code[16];
			uint64_t cum = 0;

			if (cc->code > 0)
				snprintf(code, sizeof(code), "%d", cc->code);
			else
				snprintf(code, sizeof(code), "other");
			for (size_t k = 0; k < m->n_bounds; k++) {
				cum += cc->le[k];
				strbuf_puts(out, "http_server_resp_time_bucket{job=\"");
				prom_label(out, b->service);
				strbuf_puts(out, "\",backend=\"");
				prom_label(out, b->name);
				strbuf_printf(out, "\",code=\"%s\",le=\"%g\"} %llu\n", code,
					      m->bounds[k] / 1000.0, (unsigned long long)cum);
			}
			strbuf_puts(out, "http_server_resp_time_bucket{job=\"");
			prom_label(out, b->service);
			strbuf_puts(out, "\",backend=\"");
			prom_label(out, b->name);
			strbuf_printf(out, "\",code=\"%s\",le=\"+Inf\"} %llu\n", code,
				      (unsigned long long)cc->count);
			strbuf_puts(out, "http_server_resp_time_sum{job=\"");
			prom_label(out, b->service);
			strbuf_puts(out, "\",backend=\"");
			prom_label(out, b->name);
			strbuf_printf(out, "\",code=\"%s\"} %.3f\n", code, cc->sum_ms / 1000.0);
			strbuf_puts(out, "http_server_resp_time_count{job=\"");
			prom_label(out, b->service);
			strbuf_puts(out, "\",backend=\"");
			prom_label(out, b->name);
			strbuf_printf(out, "\",code=\"%s\"} %llu\n", code,
				      (unsigned long long)cc->count);
		}
	}

	strbuf_puts(out, "# HELP flowproxy_backend_window_quantile_seconds Response time quantiles "
			 "over flowproxy's sliding window.\n"
			 "# TYPE flowproxy_backend_window_quantile_seconds gauge\n");
	for (size_t i = 0; i < n; i++) {
		static const double qs[] = {0.5, 0.9, 0.99, 0.999};
		for (size_t k = 0; k < ARRAY_SIZE(qs); k++) {
			strbuf_puts(out, "flowproxy_backend_window_quantile_seconds{job=\"");
			prom_label(out, v[i]->service);
			strbuf_puts(out, "\",backend=\"");
			prom_label(out, v[i]->name);
			strbuf_printf(out, "\",quantile=\"%g\"} %.4f\n", qs[k],
				      quantile(v[i], now_ms, 0, qs[k]) / 1000.0);
		}
	}

	strbuf_puts(out,
		    "# HELP haproxy_server_up Whether HAProxy sees the server up (show stat).\n"
		    "# TYPE haproxy_server_up gauge\n");
	for (size_t k = 0; k < m->stats.n; k++) {
		const struct stats_row *r = &m->stats.rows[k];
		if (r->is_backend)
			continue;
		strbuf_puts(out, "haproxy_server_up{backend=\"");
		prom_label(out, r->proxy);
		strbuf_puts(out, "\",server=\"");
		prom_label(out, r->server);
		strbuf_printf(out, "\"} %d\n",
			      str_startswith(r->status, "UP") || streq(r->status, "no check"));
	}
	strbuf_puts(out,
		    "# HELP haproxy_backend_current_sessions Current sessions (show stat scur).\n"
		    "# TYPE haproxy_backend_current_sessions gauge\n");
	for (size_t k = 0; k < m->stats.n; k++) {
		const struct stats_row *r = &m->stats.rows[k];
		if (!r->is_backend)
			continue;
		strbuf_puts(out, "haproxy_backend_current_sessions{backend=\"");
		prom_label(out, r->proxy);
		strbuf_printf(out, "\"} %llu\n", (unsigned long long)r->scur);
	}
	strbuf_puts(out, "# HELP haproxy_backend_current_queue Requests queued (show stat qcur).\n"
			 "# TYPE haproxy_backend_current_queue gauge\n");
	for (size_t k = 0; k < m->stats.n; k++) {
		const struct stats_row *r = &m->stats.rows[k];
		if (!r->is_backend)
			continue;
		strbuf_puts(out, "haproxy_backend_current_queue{backend=\"");
		prom_label(out, r->proxy);
		strbuf_printf(out, "\"} %llu\n", (unsigned long long)r->qcur);
	}
	strbuf_printf(out,
		      "# HELP flowproxy_telemetry_unmatched_lines_total Request lines of backends "
		      "flowproxy does not know.\n"
		      "# TYPE flowproxy_telemetry_unmatched_lines_total counter\n"
		      "flowproxy_telemetry_unmatched_lines_total %llu\n",
		      (unsigned long long)m->unmatched);
	free(v);
}
