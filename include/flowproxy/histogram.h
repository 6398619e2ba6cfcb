/* SPDX-License-Identifier: MIT */
/*
 * histogram: a sliding-window histogram of response times in whole milliseconds (HAProxy's
 * timers are whole ms). Pure: no I/O, no clock of its own; the caller passes "now" in ms of a
 * monotonic clock.
 *
 * Layout: log-linear buckets (exact below 128 ms, then 64 sub-buckets per power of two: relative
 * error at most 1/64 ~ 1.6 %) from 0 ms to at least 120 s, values above the range in one
 * overflow bucket. The window is a ring of n_slices time slices of slice_ms each, plus a running
 * total over the whole window, so that record is O(1) and a query over the whole window is
 * O(buckets). Closed slices are kept sparse (only the buckets they touched), so memory follows
 * the traffic, not slices x buckets. See docs/telemetry.md for the figures.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct histogram;

/*
 * Creates an empty histogram over a window of n_slices * slice_ms. Rejects slice_ms == 0,
 * n_slices == 0 or n_slices > 100000 (-EINVAL). Caller frees with histogram_free.
 */
int histogram_new(uint32_t slice_ms, uint32_t n_slices, struct histogram **ret);
void histogram_free(struct histogram *h);

/*
 * Records one request that took value_ms and answered status (HTTP status, or -1/0 when there
 * was none), at now_ms. A now_ms older than the current slice is counted in the current slice.
 */
void histogram_record(struct histogram *h, uint64_t now_ms, uint32_t value_ms, int status);

/* Expires slices older than the window at now_ms. Queries call it themselves. */
void histogram_advance(struct histogram *h, uint64_t now_ms);

/*
 * Queries over the last window_ms (rounded up to whole slices; 0 or more than the window means
 * the whole window). They advance h to now_ms first, hence non-const.
 */
uint64_t histogram_count(struct histogram *h, uint64_t now_ms, uint32_t window_ms);
/* Requests with value <= threshold_ms: exact when threshold_ms is a bucket's upper bound. */
uint64_t histogram_count_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			    uint32_t threshold_ms);
/* count_le / count; 1.0 when there were no requests (no request was slow). */
double histogram_fraction_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			     uint32_t threshold_ms);
/* The q-quantile (0 < q <= 1) in ms, within the relative error; 0 when empty. */
double histogram_quantile(struct histogram *h, uint64_t now_ms, uint32_t window_ms, double q);
/* Requests answered 5xx (status >= 500), and those with no answer (status <= 0). */
uint64_t histogram_count_5xx(struct histogram *h, uint64_t now_ms, uint32_t window_ms);
/* Sum of all recorded values in ms (for a Prometheus _sum). */
uint64_t histogram_sum(struct histogram *h, uint64_t now_ms, uint32_t window_ms);

/*
 * Adds src into dst: every slice that is in both windows. Both must have the same slice_ms and
 * n_slices (-EINVAL otherwise). The sum of two histograms is exact.
 */
int histogram_merge(struct histogram *dst, const struct histogram *src);

/* Bytes of memory h uses now. */
size_t histogram_memory(const struct histogram *h);

/* Bucket layout, for exporting `le` buckets: number of buckets, and bucket i's upper bound. */
size_t histogram_buckets(void);
uint32_t histogram_bucket_upper(size_t i);
