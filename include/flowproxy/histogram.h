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
/*
 * Requests with value <= threshold_ms: exact when threshold_ms is a bucket's upper bound;
 * otherwise the bucket holding threshold_ms counts in proportion to its part <= threshold_ms.
 */
uint64_t histogram_count_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			    uint32_t threshold_ms);
/* count_le / count; 1.0 when there were no requests (no request was slow). */
double histogram_fraction_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			     uint32_t threshold_ms);
/*
 * The q-quantile (0 < q <= 1) in ms, within the relative error; 0 when empty. It is the midpoint
 * of the bucket holding the ceil(q * count)-th smallest value: exact below 128 ms, within 1/128
 * above, 131072 (the overflow bucket's lower bound) for values past the range. q <= 0 gives the
 * smallest value's bucket, q > 1 the largest's, NaN 0.
 */
double histogram_quantile(struct histogram *h, uint64_t now_ms, uint32_t window_ms, double q);
/* Requests answered 5xx (status >= 500), and those with no answer (status <= 0). */
uint64_t histogram_count_5xx(struct histogram *h, uint64_t now_ms, uint32_t window_ms);
/* Sum of all recorded values in ms (for a Prometheus _sum). */
uint64_t histogram_sum(struct histogram *h, uint64_t now_ms, uint32_t window_ms);

/*
 * Adds src into dst: every slice that is in both windows, aligned by absolute slice number. When
 * src's current slice is newer than dst's, dst first advances to it (as if src's requests had
 * been recorded into dst), so nothing recent is lost; src's slices older than dst's window are
 * ignored. Both must have the same slice_ms and n_slices, and dst != src (-EINVAL otherwise).
 * src is not changed. The sum of two histograms is exact.
 */
int histogram_merge(struct histogram *dst, const struct histogram *src);

/*
 * A view: the same queries over the last window_ms of one histogram, made cheap when they are
 * asked again and again as time goes by (the autoscaler's every tick). It keeps the sum of the
 * window's closed slices and, when set again later, decodes only the slices that entered or
 * left the window since (the whole window again only after a gap, a merge into h, or another
 * histogram); the current slice is read live. Queries are O(buckets at or under the threshold),
 * never O(slices). About 6 KiB each.
 */
struct histogram_view;
struct histogram_view *histogram_view_new(void);
void histogram_view_free(struct histogram_view *v);
/*
 * Points v at the last window_ms of h at now_ms (advancing h, as the queries above do). The
 * answers below hold until h records, advances or is freed; set the view again then.
 */
void histogram_view_set(struct histogram_view *v, struct histogram *h, uint64_t now_ms,
			uint32_t window_ms);
/* As histogram_count, _count_5xx, _count_le, _quantile over the view's window. */
uint64_t histogram_view_count(const struct histogram_view *v);
uint64_t histogram_view_count_5xx(const struct histogram_view *v);
uint64_t histogram_view_count_le(const struct histogram_view *v, uint32_t threshold_ms);
double histogram_view_quantile(const struct histogram_view *v, double q);

/* Bytes of memory h uses now. */
size_t histogram_memory(const struct histogram *h);

/*
 * Bucket layout, for exporting `le` buckets: number of buckets, and bucket i's upper bound
 * (inclusive; UINT32_MAX for the overflow bucket and any i past the end).
 */
size_t histogram_buckets(void);
uint32_t histogram_bucket_upper(size_t i);
/* Bucket i's lower bound (inclusive); 2^17 for the overflow bucket and any i past the end. */
uint32_t histogram_bucket_lower(size_t i);
/* The bucket value_ms falls in: 0 .. histogram_buckets() - 1. */
size_t histogram_bucket_of(uint32_t value_ms);
