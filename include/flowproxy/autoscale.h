/* SPDX-License-Identifier: MIT */
/*
 * autoscale: scaling policies and the decision engine (docs/autoscaling.md). Pure: no I/O, no
 * clock, no log. Policies are parsed from a service's parameters in Docker Flow Monitor's syntax
 * (alertName/alertIf/alertFor and their .N forms, alertLabels, scaleMin/scaleMax/scaleUpBy/
 * scaleDownBy, and flowproxy's scaleUpCooldown/scaleDownCooldown); the shortcuts that speak of
 * response times are evaluated natively, from measurements the caller provides through a
 * callback (the edge asks the service's histograms). autoscale_step is called once per tick and
 * per service: it updates each policy's state (ok, pending since, firing) and decides up, down
 * or nothing with a reason; the caller carries the decision out and reports back.
 */
#pragma once

#include "flowproxy/service.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of the limits and steps (docker-scaler's) and of the cooldowns (flowproxy's). */
#define AUTOSCALE_DEFAULT_MIN		   1
#define AUTOSCALE_DEFAULT_MAX		   5
#define AUTOSCALE_DEFAULT_STEP		   1
#define AUTOSCALE_DEFAULT_UP_COOLDOWN_MS   60000u
#define AUTOSCALE_DEFAULT_DOWN_COOLDOWN_MS 300000u
#define AUTOSCALE_MAX_POLICIES		   11 /* alertIf and alertIf.1 .. alertIf.10 */
#define AUTOSCALE_MAX_TERMS		   8  /* shortcuts in one compound alertIf */
#define AUTOSCALE_MAX_REPLICAS		   100000
#define AUTOSCALE_EXPECT_MS		   30000u

/* One shortcut of an alertIf. */
enum autoscale_term_kind {
	AUTOSCALE_RESP_TIME_ABOVE = 0,	    /* fraction of requests <= T over W is below F */
	AUTOSCALE_RESP_TIME_BELOW,	    /* fraction of requests <= T over W is above F */
	AUTOSCALE_RESP_TIME_QUANTILE_ABOVE, /* the Q-quantile over W is above T */
	AUTOSCALE_RESP_TIME_QUANTILE_BELOW, /* the Q-quantile over W is below T */
	AUTOSCALE_RESP_TIME_SERVER_ERROR,   /* fraction of 5xx (or no answer) over W is above F */
};

struct autoscale_term {
	enum autoscale_term_kind kind;
	double threshold_s; /* T in seconds (0 for SERVER_ERROR) */
	double fraction;    /* F, or Q for the quantile kinds */
	uint32_t window_ms; /* W */
};

/* How a compound alertIf joins its shortcuts (PromQL: and/unless bind tighter than or). */
enum autoscale_op {
	AUTOSCALE_AND = 0,
	AUTOSCALE_OR,
	AUTOSCALE_UNLESS,
};

enum autoscale_dir {
	AUTOSCALE_NONE = 0, /* notify only (server errors, or no scale label) */
	AUTOSCALE_UP,
	AUTOSCALE_DOWN,
};

struct autoscale_policy {
	char *key;  /* "alertIf" or "alertIf.N" (the parameter it came from) */
	char *name; /* alertName[.N], "" when not given */
	char *expr; /* alertIf[.N] as given */
	uint32_t for_ms;
	enum autoscale_dir dir;
	struct autoscale_term terms[AUTOSCALE_MAX_TERMS];
	enum autoscale_op ops[AUTOSCALE_MAX_TERMS - 1]; /* ops[i] joins terms[i] and terms[i+1] */
	size_t n_terms;
};

/* A service's policies, limits and steps. Embedded: autoscale_spec_done releases it. */
struct autoscale_spec {
	long min, max, up_by, down_by;
	uint32_t up_cooldown_ms, down_cooldown_ms;
	struct autoscale_policy *policies;
	size_t n_policies;
	/* What cannot be evaluated: "alertIf.2: '@node_mem_limit:0.8' is not evaluable: ..." */
	struct strv rejected;
};

/* Bounds the parser checks windows against (the telemetry window's length and slice). */
struct autoscale_limits {
	uint32_t max_window_ms;
	uint32_t slice_ms;
};

/*
 * Parses a Prometheus duration: one or more <number><unit> with units y, w, d, h, m, s, ms in
 * that order (`500ms`, `30s`, `5m`, `1h30m`), at most 1 year. -EINVAL otherwise.
 */
int autoscale_parse_duration(const char *s, uint32_t *ret_ms);

/*
 * Reads the policies of a service from its parameters p (the com.df.* labels without their
 * prefix, the reconfigure query, a services-file entry: the keys are matched case-insensitively).
 * Policies that cannot be evaluated (raw PromQL, @service_mem_limit, @node_*, @replicas_*, a
 * malformed shortcut, a window longer than lim->max_window_ms or shorter than a slice) go into
 * ret->rejected with a message and are left out; they never fail the call. Fails with -EINVAL
 * and a message naming the parameter only for limits and steps that are not valid (scaleMin
 * above scaleMax, a step of 0, a bad cooldown): then *ret is empty. A service without any
 * alertIf gives n_policies == 0. Caller releases *ret with autoscale_spec_done.
 */
int autoscale_parse(const struct params *p, const struct autoscale_limits *lim,
		    struct autoscale_spec *ret, char **reterr);
void autoscale_spec_done(struct autoscale_spec *s);

/* What the engine asks the caller to measure: the requests of the last window_ms. */
struct autoscale_query {
	enum autoscale_term_kind kind;
	uint32_t window_ms; /* already cut to the moment the current replica count served */
	double threshold_s;
	double fraction; /* Q for the quantile kinds */
};

struct autoscale_sample {
	uint64_t count; /* requests in the window */
	double value;	/* fraction <= T, quantile in seconds, or fraction of errors */
};

/* Fills *ret for q. Returns 0, or < 0 when nothing can be measured (the term is then "no data"). */
typedef int (*autoscale_measure_fn)(void *userdata, const struct autoscale_query *q,
				    struct autoscale_sample *ret);

enum autoscale_state_kind {
	AUTOSCALE_OK = 0,  /* the condition does not hold */
	AUTOSCALE_NO_DATA, /* too few requests: decides nothing (Prometheus' 0/0) */
	AUTOSCALE_PENDING, /* holds, not yet for alertFor */
	AUTOSCALE_FIRING,  /* has held for alertFor */
};

/* Per policy, what the last step saw. */
struct autoscale_policy_state {
	enum autoscale_state_kind state;
	uint64_t since_ms; /* when it started to hold (PENDING, FIRING) */
	/* Each term's last measurement: value (NAN without data) and request count. */
	double values[AUTOSCALE_MAX_TERMS];
	uint64_t counts[AUTOSCALE_MAX_TERMS];
	bool notified; /* a NONE policy's firing was reported (once per episode) */
};

enum autoscale_action {
	AUTOSCALE_ACT_NOTHING = 0,
	AUTOSCALE_ACT_UP,
	AUTOSCALE_ACT_DOWN,
	AUTOSCALE_ACT_AT_LIMIT, /* would scale, but the service is at scaleMax/scaleMin: notify */
	AUTOSCALE_ACT_ALERT,	/* a notify-only policy started firing: notify */
};

struct autoscale_decision {
	enum autoscale_action action;
	long from, to; /* replicas (UP, DOWN, AT_LIMIT: to == from) */
	size_t policy; /* index of the policy that decided (not NOTHING) */
	char reason
		[512]; /* "resp_time_above: 0.93 of 1204 requests within 0.1s over 30s < 0.99 for 10s" */
};

/* A service's engine state. Embedded: zero it (or autoscale_state_init) before the first step. */
struct autoscale_state {
	struct autoscale_policy_state
		*policies; /* n_policies of the spec it was last stepped with */
	size_t n_policies;
	uint64_t last_up_ms, last_down_ms; /* 0: never */
	bool scaled_up, scaled_down;	   /* last_*_ms is meaningful */
	uint64_t cut_ms;		   /* measurements start here (0: no cut) */
	long last_wanted;		   /* -1: not seen yet */
	bool converging;		   /* the replica count changed and not all serve yet */
	long expect_wanted;		   /* the count a scale asked for, until seen (-1: none) */
	uint64_t expect_until_ms;	   /* ... or until then (the change was overridden) */
	bool at_limit_up, at_limit_down;   /* an at-limit episode was notified */
};

void autoscale_state_init(struct autoscale_state *st);
void autoscale_state_done(struct autoscale_state *st);

struct autoscale_input {
	long wanted;  /* replicas the scaler wants now */
	long running; /* replicas serving now */
	uint64_t now_ms;
	uint64_t min_requests; /* a window with fewer requests decides nothing */
	autoscale_measure_fn measure;
	void *userdata;
};

/*
 * One tick for one service. Rules (docs/autoscaling.md "How it decides"): while running !=
 * wanted nothing is decided (and when they meet again the window is cut there: measurements
 * start then, every policy starts again from ok); a policy fires once its condition has held for
 * alertFor; up beats down (no down while an up policy holds, firing or pending); an up waits
 * scaleUpCooldown after the last up, a down scaleDownCooldown after the last scale either way;
 * the target is clamped to [scaleMin, scaleMax], and at a limit the decision is AT_LIMIT once
 * per episode (until that direction stops firing or the count changes). A notify-only policy
 * gives ALERT when it starts firing. Fills up to max decisions into ret (UP, DOWN or AT_LIMIT
 * first, then ALERTs) and returns how many; 0 is "nothing to do". The caller carries out UP/DOWN
 * and then calls autoscale_scaled (or autoscale_failed). A scale asked for is "converging" until
 * the count it set is seen (AUTOSCALE_EXPECT_MS at most: an outside change may override it).
 */
size_t autoscale_step(const struct autoscale_spec *spec, struct autoscale_state *st,
		      const struct autoscale_input *in, struct autoscale_decision *ret, size_t max);

/*
 * Records that an UP or DOWN of d was carried out at now_ms (the cooldown starts; the count is
 * converging until running == wanted). dry_run: it was only reported (the cooldown starts, the
 * count does not change).
 */
void autoscale_scaled(struct autoscale_state *st, const struct autoscale_decision *d,
		      uint64_t now_ms, bool dry_run);
/* Records that an UP or DOWN failed at now_ms: it is tried again after its cooldown. */
void autoscale_failed(struct autoscale_state *st, const struct autoscale_decision *d,
		      uint64_t now_ms);

/* Names for reports: "ok", "no data", "pending", "firing"; "up", "down", "none"; shortcut names. */
const char *autoscale_state_name(enum autoscale_state_kind k);
const char *autoscale_dir_name(enum autoscale_dir d);
const char *autoscale_action_name(enum autoscale_action a);
const char *autoscale_term_name(enum autoscale_term_kind k);
/* Whether a term "holds" when its value is v (the comparison of the shortcut's PromQL). */
bool autoscale_term_holds(const struct autoscale_term *t, double v);
