// SPDX-License-Identifier: MIT
/*
 * Unit tests for autoscale: Prometheus durations, the alertIf parser (every shortcut, compounds,
 * indexed forms, labels, limits, what is refused or not evaluable), and the decision engine as
 * tables of ticks (holding time, cooldowns, up beats down, converging and the cut window, too few
 * requests, clamps, compound policies, at-limit and alert notifications once per episode).
 */
#include "flowproxy/autoscale.h"
#include "tap.h"

#include <math.h>

/* ---- durations --------------------------------------------------------------------------- */

static void test_durations(void)
{
	static const struct {
		const char *in;
		long long want; /* -1: refused */
	} cases[] = {
		{"500ms", 500},
		{"30s", 30000},
		{"5m", 300000},
		{"1h", 3600000},
		{"1h30m", 5400000},
		{"2d", 172800000},
		{"1w", 604800000},
		{"0s", 0},
		{"1m30s500ms", 90500},
		{"90s", 90000},
		{"", -1},
		{"5", -1},
		{"m", -1},
		{"5x", -1},
		{"1m1h", -1},
		{"1s1s", -1},
		{"-1s", -1},
		{"1.5s", -1},
		{"31d", -1},
		{"5m ", -1},
		{" 5m", -1},
		{"5M", -1},
		{"30d", 2592000000},
		{"99999999999999s", -1},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t ms = 0;
		int r = autoscale_parse_duration(cases[i].in, &ms);
		char name[64];
		snprintf(name, sizeof(name), "duration '%s'", cases[i].in);
		tap_is_int(r < 0 ? -1 : (long long)ms, cases[i].want, name);
	}
}

/* ---- the parser -------------------------------------------------------------------------- */

static const char *kind_short(enum autoscale_term_kind k)
{
	static const char *const n[] = {"above", "below", "qabove", "qbelow", "errors"};
	return n[k];
}

/* The parsed spec as text: "min..max +up -down cool up/down; key dir for [terms] ...; !rejected". */
static char *show(const char *const *kv, size_t n)
{
	struct params p;
	struct autoscale_spec s = {0};
	struct autoscale_limits lim = {300000, 1000};
	struct strbuf b;
	char *err = NULL;

	params_init(&p);
	for (size_t i = 0; i + 1 < n; i += 2)
		params_add(&p, kv[i], kv[i + 1]);
	strbuf_init(&b);
	if (autoscale_parse(&p, &lim, &s, &err) < 0) {
		strbuf_printf(&b, "ERR %s", err);
	} else {
		strbuf_printf(&b, "%ld..%ld +%ld -%ld %u/%u", s.min, s.max, s.up_by, s.down_by,
			      s.up_cooldown_ms, s.down_cooldown_ms);
		for (size_t i = 0; i < s.n_policies; i++) {
			const struct autoscale_policy *pol = &s.policies[i];
			strbuf_printf(&b, "; %s%s%s %s %u", pol->key, pol->name[0] ? "=" : "",
				      pol->name, autoscale_dir_name(pol->dir), pol->for_ms);
			for (size_t j = 0; j < pol->n_terms; j++) {
				static const char *const ops[] = {"and", "or", "unless"};
				const struct autoscale_term *t = &pol->terms[j];
				if (j)
					strbuf_printf(&b, " %s", ops[pol->ops[j - 1]]);
				strbuf_printf(&b, " %s(%g,%u,%g)", kind_short(t->kind),
					      t->threshold_s, t->window_ms, t->fraction);
			}
		}
		for (size_t i = 0; i < s.rejected.n; i++)
			strbuf_printf(&b, "; !%s", s.rejected.v[i]);
	}
	autoscale_spec_done(&s);
	params_done(&p);
	free(err);
	return strbuf_steal(&b);
}

#define KV(...) \
	((const char *const[]){__VA_ARGS__}), ARRAY_SIZE(((const char *const[]){__VA_ARGS__}))

static void check(const char *name, const char *want, const char *const *kv, size_t n)
{
	char *got = show(kv, n);
	tap_is_str(got, want, name);
	free(got);
}

static void test_parser(void)
{
	check("no policies: the defaults", "1..5 +1 -1 60000/300000", KV("port", "8080"));
	check("limits, steps and cooldowns", "2..4 +2 -1 10000/90000",
	      KV("scaleMin", "2", "scaleMax", "4", "scaleUpBy", "2", "scaleDownBy", "1",
		 "scaleUpCooldown", "10s", "scaleDownCooldown", "1m30s"));
	check("keys are case-insensitive", "2..3 +1 -1 60000/300000",
	      KV("scalemin", "2", "SCALEMAX", "3"));
	check("resp_time_above: up",
	      "1..5 +1 -1 60000/300000; alertIf.2=resptimeabove up 30000 above(0.1,300000,0.99)",
	      KV("alertName.2", "resptimeabove", "alertIf.2", "@resp_time_above:0.1,5m,0.99",
		 "alertFor.2", "30s"));
	check("resp_time_below: down",
	      "1..5 +1 -1 60000/300000; alertIf.3 down 0 below(0.025,300000,0.75)",
	      KV("alertIf.3", "@resp_time_below:0.025,5m,0.75"));
	check("quantile above and below",
	      "1..5 +1 -1 60000/300000; alertIf up 0 qabove(0.25,60000,0.9); alertIf.1 down 0 "
	      "qbelow(0.05,60000,0.5)",
	      KV("alertIf", "@resp_time_quantile_above:0.9,0.25,1m", "alertIf.1",
		 "@resp_time_quantile_below:0.5,0.05,1m"));
	check("server errors: notify only",
	      "1..5 +1 -1 60000/300000; alertIf.1 none 0 errors(0,300000,0.001)",
	      KV("alertIf.1", "@resp_time_server_error:5m,0.001"));
	check("compound unless: first shortcut's direction",
	      "1..5 +1 -1 60000/300000; alertIf.3 down 0 below(0.025,300000,0.75) unless "
	      "above(0.1,300000,0.99)",
	      KV("alertIf.3",
		 "@resp_time_below:0.025,5m,0.75_unless_@resp_time_above:0.1,5m,0.99"));
	check("compound: alertLabels scale wins",
	      "1..5 +1 -1 60000/300000; alertIf.1 up 0 below(0.025,300000,0.75) and "
	      "errors(0,60000,0.5) or above(0.1,60000,0.9)",
	      KV("alertIf.1",
		 "@resp_time_below:0.025,5m,0.75_and_@resp_time_server_error:1m,0.5_or_@resp_time_"
		 "above:0.1,1m,0.9",
		 "alertLabels.1", "receiver=system,scale=up,service=x"));
	check("alertLabels without scale: the shortcut's direction",
	      "1..5 +1 -1 60000/300000; alertIf up 0 above(0.1,60000,0.9)",
	      KV("alertIf", "@resp_time_above:0.1,1m,0.9", "alertLabels", "receiver=system"));
	check("alertLabels scale=other: notify only",
	      "1..5 +1 -1 60000/300000; alertIf none 0 above(0.1,60000,0.9)",
	      KV("alertIf", "@resp_time_above:0.1,1m,0.9", "alertLabels", "scale=sideways"));
	check("all eleven indexes",
	      "1..5 +1 -1 60000/300000; alertIf up 0 above(0.1,60000,0.9); alertIf.10 down 0 "
	      "below(0.01,60000,0.9)",
	      KV("alertIf.10", "@resp_time_below:0.01,1m,0.9", "alertIf",
		 "@resp_time_above:0.1,1m,0.9", "alertIf.11", "@resp_time_above:0.1,1m,0.9"));
	check("T need not be a bucket bound",
	      "1..5 +1 -1 60000/300000; alertIf up 0 above(0.0375,60000,0.9)",
	      KV("alertIf", "@resp_time_above:0.0375,1m,0.9"));

	/* Not evaluable: reported, never an error. */
	check("raw PromQL is not evaluable",
	      "1..5 +1 -1 60000/300000; !alertIf.1: 'rate(x[5m]) > 1' is not evaluable: raw "
	      "PromQL needs Prometheus; use the @resp_time_* shortcuts",
	      KV("alertIf.1", "rate(x[5m]) > 1"));
	check("@service_mem_limit is not evaluable",
	      "1..5 +1 -1 60000/300000; !alertIf: '@service_mem_limit' is not evaluable: it needs "
	      "metrics HAProxy does not see (memory, nodes, tasks)",
	      KV("alertIf", "@service_mem_limit:0.8"));
	check("@node_fs_limit in a compound rejects the policy",
	      "1..5 +1 -1 60000/300000; !alertIf: '@node_fs_limit' is not evaluable: it needs "
	      "metrics HAProxy does not see (memory, nodes, tasks)",
	      KV("alertIf", "@resp_time_above:0.1,1m,0.9_and_@node_fs_limit:0.8"));
	check("an unknown shortcut",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_sideways' is not a known shortcut",
	      KV("alertIf", "@resp_time_sideways:1,2"));
	check("a bad policy does not hide a good one",
	      "1..5 +1 -1 60000/300000; alertIf.2 up 0 above(0.1,60000,0.9); !alertIf.1: "
	      "'@replicas_running' is not evaluable: it needs metrics HAProxy does not see "
	      "(memory, nodes, tasks)",
	      KV("alertIf.1", "@replicas_running", "alertIf.2", "@resp_time_above:0.1,1m,0.9"));
	check("too few values",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_above' needs 3 values: "
	      "seconds,window,fraction (like @resp_time_above:0.1,5m,0.99)",
	      KV("alertIf", "@resp_time_above:0.1,5m"));
	check("no values at all",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_server_error' needs 2 values: "
	      "window,fraction (like @resp_time_server_error:5m,0.001)",
	      KV("alertIf", "@resp_time_server_error"));
	check("a fraction above 1",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_above': '1.5' is not a fraction "
	      "between 0 and 1",
	      KV("alertIf", "@resp_time_above:0.1,5m,1.5"));
	check("a zero response time",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_below': '0' is not a response time "
	      "in seconds (0 < T <= 3600)",
	      KV("alertIf", "@resp_time_below:0,5m,0.5"));
	check("a quantile of 0",
	      "1..5 +1 -1 60000/300000; !alertIf: '@resp_time_quantile_above': '0' is not a "
	      "quantile (0 < Q <= 1)",
	      KV("alertIf", "@resp_time_quantile_above:0,0.1,1m"));
	check("a window that is not a duration",
	      "1..5 +1 -1 60000/300000; !alertIf: window '5' is not a duration (like 30s, 5m, 1h)",
	      KV("alertIf", "@resp_time_above:0.1,5,0.9"));
	check("a window longer than the telemetry window",
	      "1..5 +1 -1 60000/300000; !alertIf: window '10m' is longer than the telemetry "
	      "window (5m, TELEMETRY_WINDOW)",
	      KV("alertIf", "@resp_time_above:0.1,10m,0.9"));
	check("a window shorter than a slice",
	      "1..5 +1 -1 60000/300000; !alertIf: window '500ms' is shorter than a slice (1s)",
	      KV("alertIf", "@resp_time_above:0.1,500ms,0.9"));
	check("a bad alertFor",
	      "1..5 +1 -1 60000/300000; !alertIf: alertFor '5 minutes' is not a duration (like "
	      "30s, 5m)",
	      KV("alertIf", "@resp_time_above:0.1,1m,0.9", "alertFor", "5 minutes"));

	/* Limits and steps that are wrong fail the parse, naming the parameter. */
	check("scaleMin above scaleMax", "ERR scaleMin 5 is above scaleMax 4",
	      KV("scaleMin", "5", "scaleMax", "4"));
	check("scaleMin 0", "ERR scaleMin '0' must be a whole number from 1 to 100000",
	      KV("scaleMin", "0"));
	check("scaleMax not a number",
	      "ERR scaleMax 'many' must be a whole number from 1 to 100000",
	      KV("scaleMax", "many"));
	check("scaleUpBy 0", "ERR scaleUpBy '0' must be a whole number from 1 to 100000",
	      KV("scaleUpBy", "0"));
	check("a bad cooldown",
	      "ERR scaleDownCooldown '10' is not a duration (like 30s, 5m, 1h; at most 30d)",
	      KV("scaleDownCooldown", "10"));
}

/* ---- the engine -------------------------------------------------------------------------- */

/* What the measurement callback answers: a value and a count per kind. */
struct world {
	double value[5];
	uint64_t count;
	uint32_t last_window; /* the window of the last query */
	int calls;
};

static int measure(void *userdata, const struct autoscale_query *q, struct autoscale_sample *ret)
{
	struct world *w = userdata;

	w->calls++;
	w->last_window = q->window_ms;
	ret->count = w->count;
	ret->value = w->value[q->kind];
	return 0;
}

static struct autoscale_spec spec_of(const char *const *kv, size_t n)
{
	struct params p;
	struct autoscale_spec s = {0};
	char *err = NULL;

	params_init(&p);
	for (size_t i = 0; i + 1 < n; i += 2)
		params_add(&p, kv[i], kv[i + 1]);
	if (autoscale_parse(&p, NULL, &s, &err) < 0)
		tap_diag("spec: %s", err);
	params_done(&p);
	free(err);
	return s;
}

/* The tutorial's service: 2..4, up when < 0.99 within 0.1 s, down when > 0.75 within 0.025 s. */
#define TUTORIAL                                                                                 \
	KV("scaleMin", "2", "scaleMax", "4", "alertIf.2", "@resp_time_above:0.1,30s,0.99",       \
	   "alertFor.2", "10s", "alertIf.3",                                                     \
	   "@resp_time_below:0.025,30s,0.75_unless_@resp_time_above:0.1,30s,0.99", "alertFor.3", \
	   "10s", "scaleUpCooldown", "20s", "scaleDownCooldown", "60s")

/* A tick: at now, wanted/running, the world; expect an action (and a target). */
struct tick {
	uint64_t now;
	long wanted, running;
	double above, below; /* fraction within 0.1 s and within 0.025 s (both kinds read theirs) */
	uint64_t count;
	enum autoscale_action want;
	long to;
};

static const char *act(enum autoscale_action a)
{
	return autoscale_action_name(a);
}

/*
 * Runs ticks against spec, carrying out every UP/DOWN (autoscale_scaled) the way the edge does.
 * The world's ABOVE kind answers `above`, BELOW answers `below`.
 */
static void run(const char *name, const struct autoscale_spec *spec, const struct tick *t, size_t n,
		uint64_t min_requests)
{
	struct autoscale_state st;
	struct world w = {{0}, 0, 0, 0};
	bool ok = true;

	autoscale_state_init(&st);
	for (size_t i = 0; i < n; i++) {
		struct autoscale_decision d[4];
		w.value[AUTOSCALE_RESP_TIME_ABOVE] = t[i].above;
		w.value[AUTOSCALE_RESP_TIME_BELOW] = t[i].below;
		w.count = t[i].count;
		struct autoscale_input in = {t[i].wanted,  t[i].running, t[i].now,
					     min_requests, measure,	 &w};
		size_t k = autoscale_step(spec, &st, &in, d, ARRAY_SIZE(d));
		enum autoscale_action got = k ? d[0].action : AUTOSCALE_ACT_NOTHING;
		long to = k ? d[0].to : t[i].wanted;
		if (got != t[i].want || (t[i].want != AUTOSCALE_ACT_NOTHING && to != t[i].to)) {
			tap_diag("%s: tick %zu (t=%llu): got %s -> %ld, want %s -> %ld%s%s", name,
				 i, (unsigned long long)t[i].now, act(got), to, act(t[i].want),
				 t[i].to, k ? ": " : "", k ? d[0].reason : "");
			ok = false;
		}
		if (k && (got == AUTOSCALE_ACT_UP || got == AUTOSCALE_ACT_DOWN))
			autoscale_scaled(&st, &d[0], t[i].now, false);
	}
	tap_ok(ok, "%s", name);
	autoscale_state_done(&st);
}

#define NOTHING AUTOSCALE_ACT_NOTHING
#define UP	AUTOSCALE_ACT_UP
#define DOWN	AUTOSCALE_ACT_DOWN
#define LIMIT	AUTOSCALE_ACT_AT_LIMIT

static void test_engine(void)
{
	struct autoscale_spec tut = spec_of(TUTORIAL);
	/* Slow: 0.9 within 0.1 s (< 0.99: up), 0.1 within 0.025 s. Fast: 1.0 and 0.9 (down). */
	const double SA = 0.9, SB = 0.1, FA = 1.0, FB = 0.9, MA = 0.995, MB = 0.5;

	{
		const struct tick t[] = {
			{1000, 3, 3, SA, SB, 100, NOTHING, 0},	/* starts to hold */
			{6000, 3, 3, SA, SB, 100, NOTHING, 0},	/* pending 5 s */
			{10999, 3, 3, SA, SB, 100, NOTHING, 0}, /* 9.999 s */
			{11000, 3, 3, SA, SB, 100, UP, 4},	/* held 10 s: fires */
		};
		run("up fires after alertFor, not before", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, SA, SB, 100, NOTHING, 0},
			{6000, 3, 3, MA, MB, 100, NOTHING, 0}, /* stops holding: starts again */
			{7000, 3, 3, SA, SB, 100, NOTHING, 0},
			{16000, 3, 3, SA, SB, 100, NOTHING, 0},
			{17000, 3, 3, SA, SB, 100, UP, 4},
		};
		run("a break in the condition restarts alertFor", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, SA, SB, 5, NOTHING, 0}, /* 5 requests: too few */
			{20000, 3, 3, SA, SB, 9, NOTHING, 0},
			{21000, 3, 3, SA, SB, 10, NOTHING, 0}, /* enough: pending from here */
			{30999, 3, 3, SA, SB, 10, NOTHING, 0},
			{31000, 3, 3, SA, SB, 10, UP, 4},
		};
		run("a window with too few requests decides nothing", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 2, 2, SA, SB, 100, NOTHING, 0},
			{11000, 2, 2, SA, SB, 100, UP, 3},
			{12000, 2, 2, SA, SB, 100, NOTHING, 0}, /* the count not seen yet */
			{13000, 3, 2, SA, SB, 100, NOTHING, 0}, /* converging */
			{14000, 3, 3, SA, SB, 100, NOTHING, 0}, /* serves: the cut */
			{15000, 3, 3, SA, SB, 100, NOTHING, 0}, /* pending again */
			{25000, 3, 3, SA, SB, 100, NOTHING, 0}, /* fired, cooling until 31 s */
			{30999, 3, 3, SA, SB, 100, NOTHING, 0},
			{31000, 3, 3, SA, SB, 100, UP, 4},
			{41000, 4, 4, SA, SB, 100, NOTHING, 0}, /* cut */
			{51000, 4, 4, SA, SB, 100, NOTHING, 0}, /* pending from here */
			{60999, 4, 4, SA, SB, 100, NOTHING, 0},
			{61000, 4, 4, SA, SB, 100, LIMIT, 4}, /* at scaleMax: once */
			{62000, 4, 4, SA, SB, 100, NOTHING, 0},
			{80000, 4, 4, SA, SB, 100, NOTHING, 0},
			{81000, 4, 4, MA, MB, 100, NOTHING, 0}, /* the episode ends */
			{82000, 4, 4, SA, SB, 100, NOTHING, 0},
			{92000, 4, 4, SA, SB, 100, LIMIT, 4}, /* a new episode: once more */
			{99000, 4, 4, SA, SB, 100, NOTHING, 0},
		};
		run("cooldown, converging, cut window, scaleMax and one at-limit per episode", &tut,
		    t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, FA, FB, 100, NOTHING, 0},
			{11000, 3, 3, FA, FB, 100, DOWN, 2},
			{12000, 2, 2, FA, FB, 100, NOTHING, 0}, /* cut */
			{30000, 2, 2, FA, FB, 100, NOTHING, 0},
			{72000, 2, 2, FA, FB, 100, LIMIT, 2}, /* cooldown over: at scaleMin */
			{73000, 2, 2, FA, FB, 100, NOTHING, 0},
			{200000, 2, 2, FA, FB, 100, NOTHING, 0},
		};
		run("fast responses scale down to scaleMin and never below", &tut, t, ARRAY_SIZE(t),
		    10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, MA, MB, 100, NOTHING, 0},
			{100000, 3, 3, MA, MB, 100, NOTHING, 0},
			{200000, 3, 3, 0.991, 0.74, 100, NOTHING, 0},
			{300000, 3, 3, 0.999, 0.70, 100, NOTHING, 0},
		};
		run("between the thresholds nothing happens", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		/* Fast (down holds) but with a slow tail (up holds): the unless keeps down off. */
		const struct tick t[] = {
			{1000, 3, 3, SA, FB, 100, NOTHING, 0},
			{11000, 3, 3, SA, FB, 100, UP, 4},
		};
		run("compound unless: a slow tail blocks the down, the up fires", &tut, t,
		    ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, SA, SB, 100, NOTHING, 0},	{11000, 3, 3, SA, SB, 100, UP, 4},
			{12000, 4, 4, FA, FB, 100, NOTHING, 0}, /* cut */
			{13000, 4, 4, FA, FB, 100, NOTHING, 0}, /* down pending */
			{23000, 4, 4, FA, FB, 100, NOTHING, 0}, /* fires; cooling until 71 s */
			{70999, 4, 4, FA, FB, 100, NOTHING, 0}, {71000, 4, 4, FA, FB, 100, DOWN, 3},
		};
		run("a down waits scaleDownCooldown after an up", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, FA, FB, 100, NOTHING, 0},
			{11000, 3, 2, FA, FB, 100, NOTHING, 0}, /* a task died: converging */
			{12000, 3, 2, FA, FB, 100, NOTHING, 0},
			{13000, 3, 3, FA, FB, 100, NOTHING, 0}, /* cut */
			{14000, 3, 3, FA, FB, 100, NOTHING, 0},
			{23999, 3, 3, FA, FB, 100, NOTHING, 0},
			{24000, 3, 3, FA, FB, 100, DOWN, 2},
		};
		run("no decision while running != wanted", &tut, t, ARRAY_SIZE(t), 10);
	}
	{
		const struct tick t[] = {
			{1000, 3, 3, FA, FB, 100, NOTHING, 0},
			{5000, 5, 5, FA, FB, 100, NOTHING, 0}, /* an outside change to 5 */
			{6000, 5, 5, FA, FB, 100, NOTHING, 0},
			{16000, 5, 5, FA, FB, 100, DOWN, 4}, /* clamped to scaleMax */
		};
		run("an outside change is a new start; above scaleMax a down lands on it", &tut, t,
		    ARRAY_SIZE(t), 10);
	}
	autoscale_spec_done(&tut);

	/* Up beats down: two plain policies that disagree. */
	struct autoscale_spec both = spec_of(
		KV("scaleMin", "1", "scaleMax", "10", "alertIf.1", "@resp_time_above:0.1,30s,0.99",
		   "alertFor.1", "20s", "alertIf.2", "@resp_time_below:0.025,30s,0.5",
		   "scaleUpCooldown", "0s", "scaleDownCooldown", "0s"));
	{
		const struct tick t[] = {
			{1000, 3, 3, SA, FB, 100, NOTHING, 0}, /* down fires at once, up pending */
			{2000, 3, 3, SA, FB, 100, NOTHING, 0},
			{20999, 3, 3, SA, FB, 100, NOTHING, 0},
			{21000, 3, 3, SA, FB, 100, UP, 4}, /* up fires: up, never down */
			{22000, 4, 4, SA, FB, 100, NOTHING, 0},
			{23000, 4, 4, SA, FB, 100, NOTHING, 0},
			{43000, 4, 4, SA, FB, 100, UP, 5},
		};
		run("up beats down: no down while an up is pending", &both, t, ARRAY_SIZE(t), 10);
	}
	autoscale_spec_done(&both);

	struct autoscale_spec steps = spec_of(KV(
		"scaleMin", "2", "scaleMax", "7", "scaleUpBy", "3", "scaleDownBy", "4", "alertIf",
		"@resp_time_above:0.1,30s,0.99", "alertIf.1", "@resp_time_below:0.025,30s,0.75",
		"scaleUpCooldown", "0s", "scaleDownCooldown", "0s"));
	{
		const struct tick t[] = {
			{1000, 3, 3, SA, SB, 100, UP, 6},
			{2000, 6, 6, SA, SB, 100, NOTHING, 0},
			{3000, 6, 6, SA, SB, 100, UP, 7}, /* +3 clamped to 7 */
			{4000, 7, 7, FA, FB, 100, NOTHING, 0},
			{5000, 7, 7, FA, FB, 100, DOWN, 3},
			{6000, 3, 3, FA, FB, 100, NOTHING, 0},
			{7000, 3, 3, FA, FB, 100, DOWN, 2}, /* -4 clamped to 2 */
			{8000, 2, 2, FA, FB, 100, NOTHING, 0},
			{9000, 1, 1, FA, FB, 100, NOTHING, 0}, /* an outside change below the min */
			{10000, 1, 1, SA, SB, 100, UP, 4},     /* up from below the min: +3 */
		};
		run("steps are clamped to the limits", &steps, t, ARRAY_SIZE(t), 10);
	}
	autoscale_spec_done(&steps);
}

/* The window the engine asks for is cut at the moment the new count served. */
static void test_cut_window(void)
{
	struct autoscale_spec s =
		spec_of(KV("alertIf", "@resp_time_above:0.1,30s,0.99", "scaleUpCooldown", "0s"));
	struct autoscale_state st;
	struct world w = {{0}, 100, 0, 0};
	struct autoscale_decision d[2];

	autoscale_state_init(&st);
	w.value[AUTOSCALE_RESP_TIME_ABOVE] = 0.5;
	struct autoscale_input in = {2, 2, 100000, 10, measure, &w};
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 1, "cut: fires at once");
	tap_is_int(w.last_window, 30000, "cut: the whole window before any scale");
	autoscale_scaled(&st, &d[0], in.now_ms, false);
	in.wanted = 3;
	in.running = 3;
	in.now_ms = 101000;
	w.calls = 0;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 0, "cut: the tick it converges");
	tap_is_int(w.calls, 0, "cut: nothing measured while converging");
	in.now_ms = 105000;
	autoscale_step(&s, &st, &in, d, 2);
	tap_is_int(w.last_window, 4000, "cut: 4 s after the count served, a 4 s window");
	in.now_ms = 200000;
	autoscale_step(&s, &st, &in, d, 2);
	tap_is_int(w.last_window, 30000, "cut: once refilled, the whole window again");
	autoscale_state_done(&st);
	autoscale_spec_done(&s);
}

static void test_expect_and_dry_run(void)
{
	struct autoscale_spec s =
		spec_of(KV("alertIf", "@resp_time_above:0.1,30s,0.99", "scaleUpCooldown", "10s"));
	struct autoscale_state st;
	struct world w = {{0}, 100, 0, 0};
	struct autoscale_decision d[2];

	autoscale_state_init(&st);
	w.value[AUTOSCALE_RESP_TIME_ABOVE] = 0.5;
	struct autoscale_input in = {2, 2, 1000, 10, measure, &w};
	autoscale_step(&s, &st, &in, d, 2);
	autoscale_scaled(&st, &d[0], in.now_ms, true);
	tap_ok(!st.converging, "dry run: the count does not converge");
	in.now_ms = 5000;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 0, "dry run: cooling");
	in.now_ms = 11000;
	tap_ok(autoscale_step(&s, &st, &in, d, 2) == 1 && d[0].action == UP && d[0].to == 3,
	       "dry run: after the cooldown the same decision again");

	/* A real scale whose count never shows (overridden from outside): 30 s at most. */
	autoscale_scaled(&st, &d[0], in.now_ms, false);
	in.now_ms = 40999;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 0, "expect: waits for its count");
	in.now_ms = 41000;
	autoscale_step(&s, &st, &in, d, 2); /* the wait is over: converged, cut */
	in.now_ms = 52000;
	tap_ok(autoscale_step(&s, &st, &in, d, 2) == 1 && d[0].action == UP,
	       "expect: decides again after AUTOSCALE_EXPECT_MS");
	autoscale_failed(&st, &d[0], in.now_ms);
	in.now_ms = 55000;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 0,
		   "failed: tried again only after the cooldown");
	in.now_ms = 62000;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 2), 1, "failed: then again");
	autoscale_state_done(&st);
	autoscale_spec_done(&s);
}

static void test_alerts_and_reasons(void)
{
	struct autoscale_spec s =
		spec_of(KV("alertName", "errors", "alertIf", "@resp_time_server_error:1m,0.01",
			   "alertFor", "5s", "alertIf.1", "@resp_time_quantile_above:0.9,0.25,1m"));
	struct autoscale_state st;
	struct world w = {{0}, 200, 0, 0};
	struct autoscale_decision d[3];

	autoscale_state_init(&st);
	w.value[AUTOSCALE_RESP_TIME_SERVER_ERROR] = 0.05;
	w.value[AUTOSCALE_RESP_TIME_QUANTILE_ABOVE] = 0.1;
	struct autoscale_input in = {3, 3, 1000, 10, measure, &w};
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 3), 0, "alert: pending");
	tap_is_str(autoscale_state_name(st.policies[0].state), "pending", "alert: state pending");
	in.now_ms = 6000;
	size_t k = autoscale_step(&s, &st, &in, d, 3);
	tap_ok(k == 1 && d[0].action == AUTOSCALE_ACT_ALERT && d[0].policy == 0,
	       "alert: fires after alertFor, as an alert, no scaling");
	tap_is_str(d[0].reason,
		   "errors (alertIf): resp_time_server_error: 5% of 200 requests failed over 1m "
		   "> 1%, for 5s",
		   "alert: the reason names the policy, the value and the threshold");
	in.now_ms = 7000;
	tap_is_int((long long)autoscale_step(&s, &st, &in, d, 3), 0, "alert: once per episode");
	w.value[AUTOSCALE_RESP_TIME_SERVER_ERROR] = 0.0;
	in.now_ms = 8000;
	autoscale_step(&s, &st, &in, d, 3);
	tap_is_str(autoscale_state_name(st.policies[0].state), "ok", "alert: ends");
	w.value[AUTOSCALE_RESP_TIME_SERVER_ERROR] = 0.5;
	w.value[AUTOSCALE_RESP_TIME_QUANTILE_ABOVE] = 0.4; /* p90 0.4 s > 0.25 s */
	in.now_ms = 9000;
	k = autoscale_step(&s, &st, &in, d, 3);
	tap_ok(k == 1 && d[0].action == UP, "quantile above: up, at once (no alertFor)");
	tap_is_str(d[0].reason,
		   "alertIf.1: resp_time_quantile_above: p90 of 200 requests over 1m is 0.4s > "
		   "0.25s",
		   "quantile: the reason");
	in.now_ms = 14000;
	k = autoscale_step(&s, &st, &in, d, 3);
	tap_ok(k == 2 && d[0].action == UP && d[1].action == AUTOSCALE_ACT_ALERT,
	       "a scale and an alert in one tick: the scale first");
	autoscale_state_done(&st);
	autoscale_spec_done(&s);
}

/* Noisy load between the thresholds for a day of ticks: never an action. */
static void test_stability(void)
{
	struct autoscale_spec s = spec_of(TUTORIAL);
	struct autoscale_state st;
	struct world w = {{0}, 500, 0, 0};
	struct autoscale_decision d[2];
	unsigned seed = 12345;
	int actions = 0;

	autoscale_state_init(&st);
	for (uint64_t t = 1000; t < 86400000; t += 1000) {
		seed = seed * 1103515245 + 12345;
		double r = (double)((seed >> 8) % 1000) / 1000.0;
		w.value[AUTOSCALE_RESP_TIME_ABOVE] = 0.991 + 0.009 * r; /* never < 0.99 */
		w.value[AUTOSCALE_RESP_TIME_BELOW] = 0.30 + 0.45 * r;	/* never > 0.75 */
		struct autoscale_input in = {3, 3, t, 10, measure, &w};
		actions += (int)autoscale_step(&s, &st, &in, d, 2);
	}
	tap_is_int(actions, 0, "stability: noisy load between the thresholds, no action in a day");
	autoscale_state_done(&st);
	autoscale_spec_done(&s);
}

int main(void)
{
	test_durations();
	test_parser();
	test_engine();
	test_cut_window();
	test_expect_and_dry_run();
	test_alerts_and_reasons();
	test_stability();
	return tap_done();
}
