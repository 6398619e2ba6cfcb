/* SPDX-License-Identifier: MIT */
/*
 * metrics: per-backend request telemetry. Each backend HAProxy serves gets a sliding-window
 * histogram (histogram.h) for the stats API and the autoscaler, and cumulative counters (per
 * exported `le` bucket and per status code) for the Prometheus endpoint. Pure: lines and "now"
 * come from the caller. Lookup by backend name is a hash, so recording a line is O(1).
 */
#pragma once

#include "flowproxy/histogram.h"
#include "flowproxy/stats_parse.h"
#include "flowproxy/telemetry_parse.h"
#include "flowproxy/util.h"

struct cJSON;
struct metrics;

/* Bucket bounds exported to Prometheus, in ms: Prometheus' defaults (5 ms ... 10 s). */
#define METRICS_DEFAULT_BOUNDS                                        \
	{                                                             \
		5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 \
	}

int metrics_new(uint32_t slice_ms, uint32_t n_slices, struct metrics **ret);
void metrics_free(struct metrics *m);

/*
 * Declares the backends that exist now (after a configuration was applied): backend i belongs
 * to service services[i]. thresholds_ms (n_thresholds, may be 0) are extra response-time bounds
 * that services' labels mention (they become exported `le` buckets and fractions of the stats).
 * Backends not listed any more are dropped; the others keep their data.
 */
void metrics_set_backends(struct metrics *m, const char *const *backends,
			  const char *const *services, size_t n, const uint32_t *thresholds_ms,
			  size_t n_thresholds);

/* Records a request line at now_ms. Lines of unknown backends are counted as unmatched. */
void metrics_record(struct metrics *m, const struct telemetry_line *l, uint64_t now_ms);

/* Keeps the latest `show stat` table (taken over: *t is emptied). */
void metrics_set_stats(struct metrics *m, struct stats_table *t);

/*
 * The stats API's JSON over window_ms (0: the whole window): per service, per backend: count,
 * rate (req/s), p50/p90/p99/p99.9 (ms), 5xx, fraction at or under each threshold, servers with
 * their state. Caller frees with cJSON_Delete.
 */
struct cJSON *metrics_json(struct metrics *m, uint64_t now_ms, uint32_t window_ms);

/* Prometheus text exposition (version 0.0.4) appended to out. */
void metrics_prometheus(struct metrics *m, uint64_t now_ms, struct strbuf *out);

uint64_t metrics_unmatched(const struct metrics *m);
/* The window's histogram of a backend, NULL if unknown (borrowed). */
struct histogram *metrics_histogram(struct metrics *m, const char *backend);
