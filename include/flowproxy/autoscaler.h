/* SPDX-License-Identifier: MIT */
/*
 * autoscaler: the autoscaling edge (docs/autoscaling.md). Every AUTOSCALE_INTERVAL it walks the
 * daemon's services, reads each one's policies from its parameters (autoscale.h), measures them
 * on the histograms of the backends the render plan lists for it, asks the engine for a
 * decision and carries it out through the scaler that knows the service (scaler.h): one log
 * line per action, a notification per scale, at-limit episode, failure and alert. It also serves
 * the manual entry points (the scale endpoint, the Alertmanager receiver) with the same limits,
 * and reports its state (the autoscale endpoint, /metrics).
 */
#pragma once

#include "flowproxy/autoscale.h"
#include "flowproxy/scaler.h"
#include "flowproxy/util.h"

#include <stdbool.h>
#include <stdint.h>

struct cJSON;
struct daemon;
struct loop;

enum autoscaler_mode {
	AUTOSCALER_ON = 0,  /* decide and scale */
	AUTOSCALER_DRY_RUN, /* decide, report and notify, never call a scaler */
	AUTOSCALER_OFF,	    /* no ticks; the manual entry points still work */
};

/* "on", "dry-run", "off" (also true/false). -EINVAL otherwise. */
int autoscaler_parse_mode(const char *s, enum autoscaler_mode *ret);
const char *autoscaler_mode_name(enum autoscaler_mode m);

/* Sends text to the notification receivers (borrowed for the call). */
typedef void (*autoscaler_notify_fn)(void *userdata, const char *text);

struct autoscaler_options {
	enum autoscaler_mode mode;
	long interval_ms;	     /* AUTOSCALE_INTERVAL */
	uint64_t min_requests;	     /* AUTOSCALE_MIN_REQUESTS */
	autoscaler_notify_fn notify; /* NULL: none */
	void *notify_userdata;
};

struct autoscaler;

/*
 * Starts ticking on loop (unless mode is off). d and scalers are borrowed for a's life (the
 * scalers' implementations too). Caller frees with autoscaler_free, before d and the scalers.
 */
int autoscaler_new(struct loop *loop, struct daemon *d, const struct scaler_set *scalers,
		   const struct autoscaler_options *o, struct autoscaler **ret, char **reterr);
/* Cancels the scales in flight (their requesters are answered 503) and frees a. NULL ok. */
void autoscaler_free(struct autoscaler *a);

/*
 * Whether this flowproxy acts on services (with several replicas of flowproxy's own service,
 * exactly one does); who names the one that acts (copied; NULL or "" when it is this one).
 * While not acting, policies are evaluated and reported but nothing is carried out.
 */
void autoscaler_set_acting(struct autoscaler *a, bool acting, const char *who);

/* Runs one tick now (the timer does it every interval). */
void autoscaler_tick(struct autoscaler *a);

/*
 * The end of a manual scale: status 200 (scaled, or "would scale" in dry-run), 400, 404 (no such
 * service, or no scaler for it), 409 (at a limit: nothing done), 502 (the scaler failed), 503
 * (flowproxy stopping); message says what happened, naming the service. Borrowed for the call.
 */
typedef void (*autoscaler_done_fn)(void *userdata, int status, const char *message, long from,
				   long to);

/*
 * Scales service by delta (non-zero) within its scaleMin/scaleMax, as the Jenkins job did but
 * clamped: cb is called on the loop (never inside this call). source names the caller in logs
 * ("scale endpoint", "alertmanager"). Returns 0, or < 0 when cb will not be called (-EINVAL).
 */
int autoscaler_scale(struct autoscaler *a, const char *service, long delta, const char *source,
		     autoscaler_done_fn cb, void *userdata);
/* The step of a direction from service's labels: +scaleUpBy or -scaleDownBy; 0 if unknown. */
long autoscaler_step_of(struct autoscaler *a, const char *service, enum autoscale_dir dir);

/* GET /v1/flowproxy/autoscale: per service, its replicas, limits, policies and decisions. */
struct cJSON *autoscaler_json(struct autoscaler *a);
/* Gauges of replicas and policy values, counters of actions, in Prometheus' text format. */
void autoscaler_prometheus(struct autoscaler *a, struct strbuf *out);
