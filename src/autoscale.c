// SPDX-License-Identifier: MIT
/*
 * autoscale: Docker Flow Monitor's alert parameters read natively (reference
 * swarm-listener-monitor-docker-api.md §2.2–§2.5), and the decision engine (§5: the complaints
 * of other autoscalers it is built against: flapping, no cooldown, acting on stale data).
 */
#include "flowproxy/autoscale.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define DURATION_MAX_MS (30ull * 24 * 3600 * 1000) /* 30 days: fits uint32 ms */

int autoscale_parse_duration(const char *s, uint32_t *ret_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{"y", 365ull * 24 * 3600 * 1000},
		{"w", 7ull * 24 * 3600 * 1000},
		{"d", 24ull * 3600 * 1000},
		{"h", 3600ull * 1000},
		{"ms", 1}, /* before "m": the longest unit that matches */
		{"m", 60ull * 1000},
		{"s", 1000},
	};
	/* Prometheus' order of units in one duration (y w d h m s ms), as ranks. */
	static const int rank[] = {0, 1, 2, 3, 6, 4, 5};
	uint64_t total = 0;
	int last_rank = -1;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		uint64_t n = 0;
		const char *start = s;

		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (uint64_t)(*s++ - '0');
			if (n > DURATION_MAX_MS)
				return -EINVAL;
		}
		if (s == start)
			return -EINVAL;
		size_t u;
		for (u = 0; u < ARRAY_SIZE(units); u++)
			if (strncmp(s, units[u].unit, strlen(units[u].unit)) == 0)
				break;
		if (u == ARRAY_SIZE(units) || rank[u] <= last_rank)
			return -EINVAL;
		last_rank = rank[u];
		s += strlen(units[u].unit);
		total += n * units[u].ms;
		if (total > DURATION_MAX_MS)
			return -EINVAL;
	}
	*ret_ms = (uint32_t)total;
	return 0;
}

/* A whole duration for messages: "500ms", "30s", "5m", "1h30m". */
static void format_duration(char *buf, size_t size, uint64_t ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	size_t off = 0;

	if (ms == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(units) && off < size; i++)
		if (ms >= units[i].ms) {
			int w = snprintf(buf + off, size - off, "%llu%s",
					 (unsigned long long)(ms / units[i].ms), units[i].unit);
			off += w > 0 ? (size_t)w : 0;
			ms %= units[i].ms;
		}
}

/* ---- parsing ----------------------------------------------------------------------------- */

static const struct {
	const char *name;
	enum autoscale_term_kind kind;
} evaluable[] = {
	{"resp_time_above", AUTOSCALE_RESP_TIME_ABOVE},
	{"resp_time_below", AUTOSCALE_RESP_TIME_BELOW},
	{"resp_time_quantile_above", AUTOSCALE_RESP_TIME_QUANTILE_ABOVE},
	{"resp_time_quantile_below", AUTOSCALE_RESP_TIME_QUANTILE_BELOW},
	{"resp_time_server_error", AUTOSCALE_RESP_TIME_SERVER_ERROR},
};

/* Docker Flow Monitor's other shortcuts (§2.3): they need metrics HAProxy does not see. */
static const char *const not_evaluable[] = {
	"service_mem_limit",	      "service_mem_limit_nobuff",   "node_mem_limit",
	"node_mem_limit_total_above", "node_mem_limit_total_below", "node_fs_limit",
	"replicas_running",	      "replicas_less_than",	    "replicas_more_than",
};

const char *autoscale_term_name(enum autoscale_term_kind k)
{
	for (size_t i = 0; i < ARRAY_SIZE(evaluable); i++)
		if (evaluable[i].kind == k)
			return evaluable[i].name;
	return "?";
}

static int parse_number(const char *s, double lo, double hi, bool lo_open, double *ret)
{
	char *end;

	if (!*s || strchr(" \t\n+", *s))
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi || (lo_open && v <= lo))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_window(const char *v, const struct autoscale_limits *lim, uint32_t *ret,
			char **reterr)
{
	char buf[32], max[32];

	if (autoscale_parse_duration(v, ret) < 0 || *ret == 0)
		return errmsg_set(reterr, -EINVAL,
				  "window '%s' is not a duration (like 30s, 5m, 1h)", v);
	if (lim && lim->slice_ms && *ret < lim->slice_ms) {
		format_duration(buf, sizeof(buf), lim->slice_ms);
		return errmsg_set(reterr, -EINVAL, "window '%s' is shorter than a slice (%s)", v,
				  buf);
	}
	if (lim && lim->max_window_ms && *ret > lim->max_window_ms) {
		format_duration(max, sizeof(max), lim->max_window_ms);
		return errmsg_set(reterr, -EINVAL,
				  "window '%s' is longer than the telemetry window (%s, "
				  "TELEMETRY_WINDOW)",
				  v, max);
	}
	return 0;
}

/* One "@name:v1,v2,..." (len bytes of s). */
static int parse_term(const char *s, size_t len, const struct autoscale_limits *lim,
		      struct autoscale_term *ret, char **reterr)
{
	_cleanup_free_ char *copy = xstrndup(s, len);
	char *vals[4] = {0};
	size_t n_vals = 0;
	char *colon;
	int r;

	if (copy[0] != '@')
		return errmsg_set(reterr, -EINVAL,
				  "'%s' is not evaluable: raw PromQL needs Prometheus; use the "
				  "@resp_time_* shortcuts",
				  copy);
	colon = strchr(copy, ':');
	if (colon)
		*colon = '\0';
	const char *name = copy + 1;
	size_t k;
	for (k = 0; k < ARRAY_SIZE(evaluable); k++)
		if (strcmp(name, evaluable[k].name) == 0)
			break;
	if (k == ARRAY_SIZE(evaluable)) {
		for (size_t i = 0; i < ARRAY_SIZE(not_evaluable); i++)
			if (strcmp(name, not_evaluable[i]) == 0)
				return errmsg_set(
					reterr, -EINVAL,
					"'@%s' is not evaluable: it needs metrics HAProxy "
					"does not see (memory, nodes, tasks)",
					name);
		return errmsg_set(reterr, -EINVAL, "'@%s' is not a known shortcut", name);
	}
	if (colon) {
		char *p = colon + 1;
		for (;;) {
			if (n_vals == ARRAY_SIZE(vals))
				return errmsg_set(reterr, -EINVAL, "'@%s' has too many values",
						  name);
			vals[n_vals++] = p;
			char *comma = strchr(p, ',');
			if (!comma)
				break;
			*comma = '\0';
			p = comma + 1;
		}
	}
	memset(ret, 0, sizeof(*ret));
	ret->kind = evaluable[k].kind;
	switch (ret->kind) {
	case AUTOSCALE_RESP_TIME_ABOVE:
	case AUTOSCALE_RESP_TIME_BELOW:
		if (n_vals != 3)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s' needs 3 values: seconds,window,fraction (like "
					  "@%s:0.1,5m,0.99)",
					  name, name);
		if (parse_number(vals[0], 0, 3600, true, &ret->threshold_s) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s': '%s' is not a response time in seconds (0 < T <= "
					  "3600)",
					  name, vals[0]);
		if ((r = parse_window(vals[1], lim, &ret->window_ms, reterr)) < 0)
			return r;
		if (parse_number(vals[2], 0, 1, false, &ret->fraction) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s': '%s' is not a fraction between 0 and 1", name,
					  vals[2]);
		break;
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		if (n_vals != 3)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s' needs 3 values: quantile,seconds,window (like "
					  "@%s:0.9,0.25,1m)",
					  name, name);
		if (parse_number(vals[0], 0, 1, true, &ret->fraction) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s': '%s' is not a quantile (0 < Q <= 1)", name,
					  vals[0]);
		if (parse_number(vals[1], 0, 3600, true, &ret->threshold_s) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s': '%s' is not a response time in seconds (0 < T <= "
					  "3600)",
					  name, vals[1]);
		if ((r = parse_window(vals[2], lim, &ret->window_ms, reterr)) < 0)
			return r;
		break;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		if (n_vals != 2)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s' needs 2 values: window,fraction (like "
					  "@%s:5m,0.001)",
					  name, name);
		if ((r = parse_window(vals[0], lim, &ret->window_ms, reterr)) < 0)
			return r;
		if (parse_number(vals[1], 0, 1, false, &ret->fraction) < 0)
			return errmsg_set(reterr, -EINVAL,
					  "'@%s': '%s' is not a fraction between 0 and 1", name,
					  vals[1]);
		break;
	}
	return 0;
}

static enum autoscale_dir term_dir(enum autoscale_term_kind k)
{
	switch (k) {
	case AUTOSCALE_RESP_TIME_ABOVE:
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
		return AUTOSCALE_UP;
	case AUTOSCALE_RESP_TIME_BELOW:
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		return AUTOSCALE_DOWN;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		break;
	}
	return AUTOSCALE_NONE;
}

/*
 * Splits an alertIf as Docker Flow Monitor does (formatCompoundAlert: the earliest of _and_,
 * _or_, _unless_ first, left to right) into its shortcuts and operators.
 */
static int parse_expr(const char *expr, const struct autoscale_limits *lim,
		      struct autoscale_policy *pol, char **reterr)
{
	static const struct {
		const char *text;
		enum autoscale_op op;
	} ops[] = {{"_and_@", AUTOSCALE_AND},
		   {"_or_@", AUTOSCALE_OR},
		   {"_unless_@", AUTOSCALE_UNLESS}};
	const char *p = expr;

	pol->n_terms = 0;
	for (;;) {
		const char *next = NULL;
		size_t which = 0;
		for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
			const char *q = strstr(p, ops[i].text);
			if (q && (!next || q < next)) {
				next = q;
				which = i;
			}
		}
		size_t len = next ? (size_t)(next - p) : strlen(p);
		if (pol->n_terms == AUTOSCALE_MAX_TERMS)
			return errmsg_set(reterr, -EINVAL, "more than %d shortcuts in one alertIf",
					  AUTOSCALE_MAX_TERMS);
		int r = parse_term(p, len, lim, &pol->terms[pol->n_terms], reterr);
		if (r < 0)
			return r;
		pol->n_terms++;
		if (!next)
			return 0;
		pol->ops[pol->n_terms - 1] = ops[which].op;
		p = next + strlen(ops[which].text) - 1; /* keep the '@' */
	}
}

/* alertLabels "k=v,k=v" (§2.5): the value of scale, if any. */
static enum autoscale_dir labels_dir(const char *labels, enum autoscale_dir dflt)
{
	const char *p = labels;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 6 && strncmp(p, "scale=", 6) == 0) {
			if (len == 8 && strncmp(p + 6, "up", 2) == 0)
				return AUTOSCALE_UP;
			if (len == 10 && strncmp(p + 6, "down", 4) == 0)
				return AUTOSCALE_DOWN;
			return AUTOSCALE_NONE;
		}
		p = end ? end + 1 : NULL;
	}
	return dflt;
}

static void policy_done(struct autoscale_policy *pol)
{
	free(pol->key);
	free(pol->name);
	free(pol->expr);
}

void autoscale_spec_done(struct autoscale_spec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_policies; i++)
		policy_done(&s->policies[i]);
	free(s->policies);
	strv_done(&s->rejected);
	memset(s, 0, sizeof(*s));
}

/* The value of key, or of key.N when index > 0. */
static const char *param_at(const struct params *p, const char *key, int index)
{
	char k[64];

	if (index == 0)
		return params_get(p, key);
	snprintf(k, sizeof(k), "%s.%d", key, index);
	return params_get(p, k);
}

static int parse_count(const struct params *p, const char *key, long lo, long dflt, long *ret,
		       char **reterr)
{
	const char *v = params_get(p, key);

	*ret = dflt;
	if (!v || !*v)
		return 0;
	if (parse_long(v, lo, AUTOSCALE_MAX_REPLICAS, ret) < 0)
		return errmsg_set(reterr, -EINVAL, "%s '%s' must be a whole number from %ld to %d",
				  key, v, lo, AUTOSCALE_MAX_REPLICAS);
	return 0;
}

static int parse_cooldown(const struct params *p, const char *key, uint32_t dflt, uint32_t *ret,
			  char **reterr)
{
	const char *v = params_get(p, key);

	*ret = dflt;
	if (!v || !*v)
		return 0;
	if (autoscale_parse_duration(v, ret) < 0)
		return errmsg_set(reterr, -EINVAL,
				  "%s '%s' is not a duration (like 30s, 5m, 1h; at most 30d)", key,
				  v);
	return 0;
}

int autoscale_parse(const struct params *p, const struct autoscale_limits *lim,
		    struct autoscale_spec *ret, char **reterr)
{
	struct autoscale_spec s = {0};
	int r;

	if ((r = parse_count(p, "scaleMin", 1, AUTOSCALE_DEFAULT_MIN, &s.min, reterr)) < 0 ||
	    (r = parse_count(p, "scaleMax", 1, AUTOSCALE_DEFAULT_MAX, &s.max, reterr)) < 0 ||
	    (r = parse_count(p, "scaleUpBy", 1, AUTOSCALE_DEFAULT_STEP, &s.up_by, reterr)) < 0 ||
	    (r = parse_count(p, "scaleDownBy", 1, AUTOSCALE_DEFAULT_STEP, &s.down_by, reterr)) <
		    0 ||
	    (r = parse_cooldown(p, "scaleUpCooldown", AUTOSCALE_DEFAULT_UP_COOLDOWN_MS,
				&s.up_cooldown_ms, reterr)) < 0 ||
	    (r = parse_cooldown(p, "scaleDownCooldown", AUTOSCALE_DEFAULT_DOWN_COOLDOWN_MS,
				&s.down_cooldown_ms, reterr)) < 0)
		return r;
	if (s.min > s.max)
		return errmsg_set(reterr, -EINVAL, "scaleMin %ld is above scaleMax %ld", s.min,
				  s.max);

	for (int i = 0; i < AUTOSCALE_MAX_POLICIES; i++) {
		const char *expr = param_at(p, "alertIf", i);
		char key[32];
		if (!expr || !*expr)
			continue;
		snprintf(key, sizeof(key), i ? "alertIf.%d" : "alertIf", i);
		struct autoscale_policy pol = {0};
		_cleanup_free_ char *err = NULL;
		r = parse_expr(expr, lim, &pol, &err);
		const char *for_v = param_at(p, "alertFor", i);
		if (r >= 0 && for_v && *for_v && autoscale_parse_duration(for_v, &pol.for_ms) < 0) {
			free(err);
			err = xasprintf("alertFor '%s' is not a duration (like 30s, 5m)", for_v);
			r = -EINVAL;
		}
		if (r < 0) {
			char *msg = xasprintf("%s: %s", key, err);
			strv_add(&s.rejected, msg);
			free(msg);
			continue;
		}
		pol.key = xstrdup(key);
		const char *name = param_at(p, "alertName", i);
		pol.name = xstrdup(name ? name : "");
		pol.expr = xstrdup(expr);
		/* A compound alert has no shortcut labels in DFM: alertLabels' scale decides;
		 * without it, its first shortcut's direction. */
		pol.dir = labels_dir(param_at(p, "alertLabels", i), term_dir(pol.terms[0].kind));
		s.policies = xrealloc(s.policies, (s.n_policies + 1) * sizeof(*s.policies));
		s.policies[s.n_policies++] = pol;
	}
	*ret = s;
	return 0;
}

/* ---- the engine -------------------------------------------------------------------------- */

const char *autoscale_state_name(enum autoscale_state_kind k)
{
	switch (k) {
	case AUTOSCALE_OK:
		return "ok";
	case AUTOSCALE_NO_DATA:
		return "no data";
	case AUTOSCALE_PENDING:
		return "pending";
	case AUTOSCALE_FIRING:
		return "firing";
	}
	return "?";
}

const char *autoscale_dir_name(enum autoscale_dir d)
{
	switch (d) {
	case AUTOSCALE_NONE:
		return "none";
	case AUTOSCALE_UP:
		return "up";
	case AUTOSCALE_DOWN:
		return "down";
	}
	return "?";
}

const char *autoscale_action_name(enum autoscale_action a)
{
	switch (a) {
	case AUTOSCALE_ACT_NOTHING:
		return "nothing";
	case AUTOSCALE_ACT_UP:
		return "up";
	case AUTOSCALE_ACT_DOWN:
		return "down";
	case AUTOSCALE_ACT_AT_LIMIT:
		return "at-limit";
	case AUTOSCALE_ACT_ALERT:
		return "alert";
	}
	return "?";
}

bool autoscale_term_holds(const struct autoscale_term *t, double v)
{
	if (isnan(v))
		return false;
	switch (t->kind) {
	case AUTOSCALE_RESP_TIME_ABOVE:
		return v < t->fraction;
	case AUTOSCALE_RESP_TIME_BELOW:
		return v > t->fraction;
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
		return v > t->threshold_s;
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		return v < t->threshold_s;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		return v > t->fraction;
	}
	return false;
}

void autoscale_state_init(struct autoscale_state *st)
{
	memset(st, 0, sizeof(*st));
	st->last_wanted = -1;
	st->expect_wanted = -1;
}

void autoscale_state_done(struct autoscale_state *st)
{
	if (!st)
		return;
	free(st->policies);
	st->policies = NULL;
	st->n_policies = 0;
}

static void reset_policies(struct autoscale_state *st)
{
	for (size_t i = 0; i < st->n_policies; i++) {
		struct autoscale_policy_state *ps = &st->policies[i];
		ps->state = AUTOSCALE_OK;
		ps->since_ms = 0;
		for (size_t j = 0; j < AUTOSCALE_MAX_TERMS; j++) {
			ps->values[j] = NAN;
			ps->counts[j] = 0;
		}
	}
}

/* Measures each term of pol (window cut at st->cut_ms) into ps; returns whether pol holds, and
 * in *ret_data whether its first term had enough requests. */
static bool evaluate(const struct autoscale_policy *pol, const struct autoscale_state *st,
		     const struct autoscale_input *in, struct autoscale_policy_state *ps,
		     bool *ret_data)
{
	bool holds[AUTOSCALE_MAX_TERMS] = {false};

	for (size_t j = 0; j < pol->n_terms; j++) {
		const struct autoscale_term *t = &pol->terms[j];
		struct autoscale_query q = {t->kind, t->window_ms, t->threshold_s, t->fraction};
		struct autoscale_sample smp = {0, NAN};
		if (st->cut_ms && in->now_ms - st->cut_ms < q.window_ms)
			q.window_ms = (uint32_t)(in->now_ms - st->cut_ms);
		if (q.window_ms == 0 || in->measure(in->userdata, &q, &smp) < 0)
			smp.count = 0;
		ps->counts[j] = smp.count;
		ps->values[j] = smp.count && smp.count >= in->min_requests ? smp.value : NAN;
		holds[j] = autoscale_term_holds(t, ps->values[j]);
	}
	*ret_data = !isnan(ps->values[0]);
	/* PromQL precedence: and/unless bind tighter than or, left to right. */
	bool result = false, product = holds[0];
	for (size_t j = 1; j < pol->n_terms; j++) {
		switch (pol->ops[j - 1]) {
		case AUTOSCALE_AND:
			product = product && holds[j];
			break;
		case AUTOSCALE_UNLESS:
			product = product && !holds[j];
			break;
		case AUTOSCALE_OR:
			result = result || product;
			product = holds[j];
			break;
		}
	}
	return result || product;
}

/* "93.02% of 1204 requests within 0.1s over 30s < 99%" for term j of pol. */
static void describe_term(char *buf, size_t size, const struct autoscale_term *t, double v,
			  uint64_t count, uint32_t window_ms)
{
	char w[32];
	unsigned long long n = (unsigned long long)count;

	format_duration(w, sizeof(w), window_ms);
	if (isnan(v)) {
		snprintf(buf, size, "%s: %llu requests over %s, too few to decide",
			 autoscale_term_name(t->kind), n, w);
		return;
	}
	switch (t->kind) {
	case AUTOSCALE_RESP_TIME_ABOVE:
	case AUTOSCALE_RESP_TIME_BELOW:
		snprintf(buf, size, "%s: %.4g%% of %llu requests within %gs over %s %s %g%%",
			 autoscale_term_name(t->kind), v * 100, n, t->threshold_s, w,
			 t->kind == AUTOSCALE_RESP_TIME_ABOVE ? "<" : ">", t->fraction * 100);
		break;
	case AUTOSCALE_RESP_TIME_QUANTILE_ABOVE:
	case AUTOSCALE_RESP_TIME_QUANTILE_BELOW:
		snprintf(buf, size, "%s: p%g of %llu requests over %s is %.4gs %s %gs",
			 autoscale_term_name(t->kind), t->fraction * 100, n, w, v,
			 t->kind == AUTOSCALE_RESP_TIME_QUANTILE_ABOVE ? ">" : "<", t->threshold_s);
		break;
	case AUTOSCALE_RESP_TIME_SERVER_ERROR:
		snprintf(buf, size, "%s: %.4g%% of %llu requests failed over %s > %g%%",
			 autoscale_term_name(t->kind), v * 100, n, w, t->fraction * 100);
		break;
	}
}

static void describe(struct autoscale_decision *d, const struct autoscale_spec *spec,
		     const struct autoscale_state *st, size_t i, const char *prefix)
{
	const struct autoscale_policy *pol = &spec->policies[i];
	const struct autoscale_policy_state *ps = &st->policies[i];
	char fr[32];
	size_t off;

	if (pol->name[0])
		off = (size_t)snprintf(d->reason, sizeof(d->reason), "%s%s (%s): ", prefix,
				       pol->name, pol->key);
	else
		off = (size_t)snprintf(d->reason, sizeof(d->reason), "%s%s: ", prefix, pol->key);
	for (size_t j = 0; j < pol->n_terms && off < sizeof(d->reason); j++) {
		char t[200];
		describe_term(t, sizeof(t), &pol->terms[j], ps->values[j], ps->counts[j],
			      pol->terms[j].window_ms);
		static const char *const opname[] = {" and ", " or ", " unless "};
		off += (size_t)snprintf(d->reason + off, sizeof(d->reason) - off, "%s%s",
					j ? opname[pol->ops[j - 1]] : "", t);
	}
	if (pol->for_ms && off < sizeof(d->reason)) {
		format_duration(fr, sizeof(fr), pol->for_ms);
		snprintf(d->reason + off, sizeof(d->reason) - off, ", for %s", fr);
	}
}

static bool cooling(bool scaled, uint64_t last, uint32_t cooldown, uint64_t now)
{
	return scaled && now < last + cooldown;
}

size_t autoscale_step(const struct autoscale_spec *spec, struct autoscale_state *st,
		      const struct autoscale_input *in, struct autoscale_decision *ret, size_t max)
{
	uint64_t now = in->now_ms;
	size_t n = 0;

	if (st->n_policies != spec->n_policies) {
		free(st->policies);
		st->n_policies = spec->n_policies;
		st->policies = xcalloc(st->n_policies ? st->n_policies : 1, sizeof(*st->policies));
		reset_policies(st);
	}
	/* A scale we asked for counts as converging until its count shows. */
	if (st->expect_wanted >= 0 &&
	    (in->wanted == st->expect_wanted || now >= st->expect_until_ms))
		st->expect_wanted = -1;
	if (st->last_wanted >= 0 && in->wanted != st->last_wanted) {
		st->converging = true;
		st->at_limit_up = st->at_limit_down = false;
	}
	st->last_wanted = in->wanted;
	if (in->running != in->wanted || st->expect_wanted >= 0) {
		st->converging = true;
		return 0;
	}
	if (st->converging) {
		/* The new count serves from now on: measure only what it served. */
		st->converging = false;
		st->cut_ms = now;
		reset_policies(st);
		return 0;
	}

	ssize_t up = -1, down = -1;
	bool up_holds = false, up_fires = false, down_fires = false;
	for (size_t i = 0; i < spec->n_policies; i++) {
		const struct autoscale_policy *pol = &spec->policies[i];
		struct autoscale_policy_state *ps = &st->policies[i];
		bool data;
		bool holds = evaluate(pol, st, in, ps, &data);
		if (!holds) {
			ps->state = data ? AUTOSCALE_OK : AUTOSCALE_NO_DATA;
			ps->since_ms = 0;
			ps->notified = false;
			continue;
		}
		if (ps->state != AUTOSCALE_PENDING && ps->state != AUTOSCALE_FIRING)
			ps->since_ms = now;
		ps->state =
			now - ps->since_ms >= pol->for_ms ? AUTOSCALE_FIRING : AUTOSCALE_PENDING;
		bool fires = ps->state == AUTOSCALE_FIRING;
		switch (pol->dir) {
		case AUTOSCALE_UP:
			up_holds = true;
			if (fires && !up_fires) {
				up_fires = true;
				up = (ssize_t)i;
			}
			break;
		case AUTOSCALE_DOWN:
			if (fires && !down_fires) {
				down_fires = true;
				down = (ssize_t)i;
			}
			break;
		case AUTOSCALE_NONE:
			if (fires && !ps->notified && n < max) {
				struct autoscale_decision *d = &ret[n++];
				memset(d, 0, sizeof(*d));
				d->action = AUTOSCALE_ACT_ALERT;
				d->from = d->to = in->wanted;
				d->policy = i;
				describe(d, spec, st, i, "");
				ps->notified = true;
			}
			break;
		}
	}
	if (!up_fires)
		st->at_limit_up = false;
	if (!down_fires)
		st->at_limit_down = false;

	struct autoscale_decision d = {0};
	d.from = d.to = in->wanted;
	if (up_fires) {
		if (cooling(st->scaled_up, st->last_up_ms, spec->up_cooldown_ms, now))
			return n;
		d.policy = (size_t)up;
		if (in->wanted >= spec->max) {
			if (st->at_limit_up)
				return n;
			st->at_limit_up = true;
			d.action = AUTOSCALE_ACT_AT_LIMIT;
			describe(&d, spec, st, d.policy, "");
		} else {
			d.action = AUTOSCALE_ACT_UP;
			d.to = in->wanted + spec->up_by;
			if (d.to > spec->max)
				d.to = spec->max;
			if (d.to < spec->min)
				d.to = spec->min;
			describe(&d, spec, st, d.policy, "");
		}
	} else if (down_fires && !up_holds) {
		uint64_t last = 0;
		bool scaled = st->scaled_up || st->scaled_down;
		if (st->scaled_up)
			last = st->last_up_ms;
		if (st->scaled_down && st->last_down_ms > last)
			last = st->last_down_ms;
		if (cooling(scaled, last, spec->down_cooldown_ms, now))
			return n;
		d.policy = (size_t)down;
		if (in->wanted <= spec->min) {
			if (st->at_limit_down)
				return n;
			st->at_limit_down = true;
			d.action = AUTOSCALE_ACT_AT_LIMIT;
			describe(&d, spec, st, d.policy, "");
		} else {
			d.action = AUTOSCALE_ACT_DOWN;
			d.to = in->wanted - spec->down_by;
			if (d.to < spec->min)
				d.to = spec->min;
			if (d.to > spec->max)
				d.to = spec->max;
			describe(&d, spec, st, d.policy, "");
		}
	} else {
		return n;
	}
	if (n < max) {
		/* The scale decision goes first. */
		memmove(&ret[1], &ret[0], n * sizeof(*ret));
		ret[0] = d;
		n++;
	}
	return n;
}

void autoscale_scaled(struct autoscale_state *st, const struct autoscale_decision *d,
		      uint64_t now_ms, bool dry_run)
{
	if (d->action == AUTOSCALE_ACT_UP) {
		st->last_up_ms = now_ms;
		st->scaled_up = true;
	} else if (d->action == AUTOSCALE_ACT_DOWN) {
		st->last_down_ms = now_ms;
		st->scaled_down = true;
	} else {
		return;
	}
	if (!dry_run) {
		st->expect_wanted = d->to;
		st->expect_until_ms = now_ms + AUTOSCALE_EXPECT_MS;
		st->converging = true;
	}
}

void autoscale_failed(struct autoscale_state *st, const struct autoscale_decision *d,
		      uint64_t now_ms)
{
	autoscale_scaled(st, d, now_ms, true);
}
