// SPDX-License-Identifier: MIT
/*
 * histogram: sliding-window log-linear histograms of response times, one per backend. Pure: no
 * I/O, no clock; the caller passes "now".
 *
 * Buckets (HdrHistogram-like log-linear layout, unit 1 ms): values 0..127 have a bucket each;
 * then each power of two [2^e, 2^(e+1)), 7 <= e <= 16, is cut into 64 sub-buckets of width
 * 2^(e-6); values >= 2^17 ms (131 s) share one overflow bucket. 128 + 10 * 64 + 1 = 769 buckets.
 * A bucket [lo, hi] above 127 has (hi - lo + 1) / lo <= 1/64, and its midpoint is within 1/128
 * of any value in it.
 *
 * Time: slice number k covers [k * slice_ms, (k + 1) * slice_ms). The window is the current slice
 * plus the n_slices - 1 closed slices before it. State:
 *  - total[]: a dense u64 count per bucket over the whole window (current slice included), plus
 *    its request count, sum and 5xx. Record adds to it, expiry subtracts from it, so a
 *    whole-window query reads it directly: O(buckets).
 *  - scratch[]: a dense count per bucket for the current slice only, with a bitmap of the
 *    buckets it touched, so that closing a slice costs O(words + touched), not O(buckets).
 *  - ring[]: for every closed slice in the window, a sparse list of (bucket, count) in bucket
 *    order with the slice's count/sum/5xx, built when the slice closes; NULL for a slice
 *    without requests. Slice k lives in ring[k % n_slices]; the current slice's slot is always
 *    NULL (its data is in scratch).
 * Advancing over a gap of g slices expires min(g, n_slices) slots, so an idle gap of any length
 * costs O(n_slices) at most.
 *
 * Sparse lists are varint-encoded (LEB128): each entry is the distance to the previous touched
 * bucket and the count, usually one byte each, so a closed slice costs about 2 bytes per touched
 * bucket. Varints hold any u64, so every count stays exact.
 */
#include "flowproxy/histogram.h"
#include "flowproxy/util.h"

#include <malloc.h>
#include <math.h>

#define HIST_EXACT	128u /* values below are exact */
#define HIST_SUB_BITS	6u   /* 64 sub-buckets per power of two */
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_MIN_EXP	7u  /* 2^7 = HIST_EXACT */
#define HIST_MAX_EXP	17u /* values >= 2^17 overflow */
#define HIST_OVERFLOW	(HIST_EXACT + (HIST_MAX_EXP - HIST_MIN_EXP) * HIST_SUB)
#define HIST_NB		(HIST_OVERFLOW + 1)
#define HIST_WORDS	((HIST_NB + 63) / 64)
#define HIST_MAX_SLICES 100000u

/* Request count, sum of values and 5xx-or-no-answer count of a slice or window. */
struct totals {
	uint64_t count, sum, n5xx;
};

/*
 * A closed slice, encoded: varints count, sum, n5xx, then for each touched bucket in increasing
 * order the distance from the previous touched bucket (from 0 for the first) and its count.
 */
struct hist_slice {
	uint32_t len; /* bytes in data */
	uint8_t data[];
};

struct histogram {
	uint32_t slice_ms, n_slices;
	uint64_t id;	/* unique per histogram made: a view knows whether it still looks at h */
	uint64_t epoch; /* bumped whenever closed slices change (merge, a gap past the window) */
	uint64_t cur;	/* absolute number of the current slice */
	struct totals cur_tot;	      /* the current slice */
	struct totals tot;	      /* the whole window, current slice included */
	uint64_t touched[HIST_WORDS]; /* buckets of the current slice with a count */
	uint64_t scratch[HIST_NB];    /* the current slice */
	uint64_t total[HIST_NB];      /* the whole window, current slice included */
	struct hist_slice *ring[];    /* n_slices slots; NULL for no request */
};

size_t histogram_buckets(void)
{
	return HIST_NB;
}

size_t histogram_bucket_of(uint32_t value_ms)
{
	uint32_t e;

	if (value_ms < HIST_EXACT)
		return value_ms;
	e = 31u - (uint32_t)__builtin_clz(value_ms);
	if (e >= HIST_MAX_EXP)
		return HIST_OVERFLOW;
	return HIST_EXACT + (e - HIST_MIN_EXP) * HIST_SUB +
	       ((value_ms >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

uint32_t histogram_bucket_lower(size_t i)
{
	size_t g, sub;

	if (i < HIST_EXACT)
		return (uint32_t)i;
	if (i >= HIST_OVERFLOW)
		return UINT32_C(1) << HIST_MAX_EXP;
	g = (i - HIST_EXACT) / HIST_SUB;
	sub = (i - HIST_EXACT) % HIST_SUB;
	return (uint32_t)((HIST_SUB + sub) << (g + 1));
}

uint32_t histogram_bucket_upper(size_t i)
{
	if (i < HIST_EXACT)
		return (uint32_t)i;
	if (i >= HIST_OVERFLOW)
		return UINT32_MAX;
	return histogram_bucket_lower(i + 1) - 1;
}

int histogram_new(uint32_t slice_ms, uint32_t n_slices, struct histogram **ret)
{
	struct histogram *h;

	if (!ret || slice_ms == 0 || n_slices == 0 || n_slices > HIST_MAX_SLICES)
		return -EINVAL;
	h = calloc(1, sizeof(*h) + (size_t)n_slices * sizeof(h->ring[0]));
	if (!h)
		return -ENOMEM;
	static uint64_t next_id;
	h->slice_ms = slice_ms;
	h->n_slices = n_slices;
	h->id = ++next_id;
	*ret = h;
	return 0;
}

void histogram_free(struct histogram *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < h->n_slices; i++)
		free(h->ring[i]);
	free(h);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Reads a varint that varint_put wrote (slices are ours: no outside input reaches this). */
static uint64_t varint_get(const uint8_t **pp)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t byte;

	do {
		byte = *p++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	*pp = p;
	return v;
}

/* Iterates b over the set bits of bits[HIST_WORDS], in increasing order. */
#define FOR_EACH_BIT(bits, b)                                                            \
	for (size_t w_ = 0; w_ < HIST_WORDS; w_++)                                       \
		for (uint64_t x_ = (bits)[w_];                                           \
		     x_ && ((b) = (uint32_t)(w_ * 64 + (size_t)__builtin_ctzll(x_)), 1); \
		     x_ &= x_ - 1)

/* Reads a slice's totals; returns where its (bucket delta, count) pairs start. */
static const uint8_t *slice_totals(const struct hist_slice *s, struct totals *t)
{
	const uint8_t *p = s->data;

	t->count = varint_get(&p);
	t->sum = varint_get(&p);
	t->n5xx = varint_get(&p);
	return p;
}

/* Adds the slice's counts to c (or subtracts them), and marks its buckets in bits if not NULL. */
static void slice_apply(const struct hist_slice *s, uint64_t *c, bool subtract, uint64_t *bits)
{
	struct totals t;
	const uint8_t *p = slice_totals(s, &t), *end = s->data + s->len;
	uint32_t b = 0;

	while (p < end) {
		uint64_t n;

		b += (uint32_t)varint_get(&p);
		n = varint_get(&p);
		if (subtract)
			c[b] -= n;
		else
			c[b] += n;
		if (bits)
			bits[b / 64] |= UINT64_C(1) << (b % 64);
	}
}

/*
 * Encodes the buckets marked in bits with their counts c[], and totals t, into a new slice of
 * exactly the size needed; clears those c[] and bits. O(words + touched buckets).
 */
static struct hist_slice *slice_encode(uint64_t *c, uint64_t *bits, struct totals t)
{
	size_t len = varint_len(t.count) + varint_len(t.sum) + varint_len(t.n5xx);
	uint32_t b, prev = 0;
	struct hist_slice *s;
	uint8_t *p;

	FOR_EACH_BIT(bits, b)
	{
		len += varint_len(b - prev) + varint_len(c[b]);
		prev = b;
	}
	s = xmalloc(sizeof(*s) + len);
	s->len = (uint32_t)len;
	p = varint_put(s->data, t.count);
	p = varint_put(p, t.sum);
	p = varint_put(p, t.n5xx);
	prev = 0;
	FOR_EACH_BIT(bits, b)
	{
		p = varint_put(p, b - prev);
		p = varint_put(p, c[b]);
		c[b] = 0;
		prev = b;
	}
	memset(bits, 0, HIST_WORDS * sizeof(bits[0]));
	return s;
}

static void slot_expire(struct histogram *h, uint32_t slot)
{
	struct hist_slice *s = h->ring[slot];
	struct totals t;

	if (!s)
		return;
	slice_totals(s, &t);
	slice_apply(s, h->total, true, NULL);
	h->tot.count -= t.count;
	h->tot.sum -= t.sum;
	h->tot.n5xx -= t.n5xx;
	free(s);
	h->ring[slot] = NULL;
}

/* Moves the current slice into its ring slot, encoded, and clears the scratch. */
static void current_close(struct histogram *h)
{
	if (h->cur_tot.count == 0)
		return;
	h->ring[h->cur % h->n_slices] = slice_encode(h->scratch, h->touched, h->cur_tot);
	h->cur_tot = (struct totals){0, 0, 0};
}

/* Makes slice number idx current (no-op when it is not newer than the current one). */
static void advance_to(struct histogram *h, uint64_t idx)
{
	uint64_t gap;

	if (idx <= h->cur)
		return;
	gap = idx - h->cur;
	if (gap >= h->n_slices) {
		/* Everything expires: drop it all instead of building slices to free them. */
		h->epoch++;
		for (uint32_t i = 0; i < h->n_slices; i++) {
			free(h->ring[i]);
			h->ring[i] = NULL;
		}
		if (h->tot.count) {
			memset(h->total, 0, sizeof(h->total));
			memset(h->scratch, 0, sizeof(h->scratch));
			memset(h->touched, 0, sizeof(h->touched));
		}
		h->cur_tot = h->tot = (struct totals){0, 0, 0};
		h->cur = idx;
		return;
	}
	current_close(h);
	/* Slice cur + s takes the slot of cur + s - n_slices, which leaves the window. */
	for (uint64_t s = 1; s <= gap; s++)
		slot_expire(h, (uint32_t)((h->cur + s) % h->n_slices));
	h->cur = idx;
}

void histogram_advance(struct histogram *h, uint64_t now_ms)
{
	advance_to(h, now_ms / h->slice_ms);
}

void histogram_record(struct histogram *h, uint64_t now_ms, uint32_t value_ms, int status)
{
	uint64_t idx = now_ms / h->slice_ms;
	size_t b = histogram_bucket_of(value_ms);
	uint64_t bad = status >= 500 || status <= 0;

	if (idx > h->cur)
		advance_to(h, idx);
	h->scratch[b]++;
	h->total[b]++;
	h->touched[b / 64] |= UINT64_C(1) << (b % 64);
	h->cur_tot.count++;
	h->cur_tot.sum += value_ms;
	h->cur_tot.n5xx += bad;
	h->tot.count++;
	h->tot.sum += value_ms;
	h->tot.n5xx += bad;
}

/* Number of slices a query over window_ms covers, current slice included: 1..n_slices. */
static uint32_t window_slices(const struct histogram *h, uint32_t window_ms)
{
	uint64_t k;

	if (window_ms == 0)
		return h->n_slices;
	k = ((uint64_t)window_ms + h->slice_ms - 1) / h->slice_ms;
	return k >= h->n_slices ? h->n_slices : (uint32_t)k;
}

/* The closed slice s slices before the current one (1 <= s < n_slices), or NULL. */
static const struct hist_slice *slice_before(const struct histogram *h, uint32_t s)
{
	if (s > h->cur)
		return NULL;
	return h->ring[(h->cur - s) % h->n_slices];
}

static struct totals window_totals(const struct histogram *h, uint32_t k)
{
	struct totals t, st;

	if (k >= h->n_slices)
		return h->tot;
	t = h->cur_tot;
	for (uint32_t s = 1; s < k; s++) {
		const struct hist_slice *sl = slice_before(h, s);

		if (sl) {
			slice_totals(sl, &st);
			t.count += st.count;
			t.sum += st.sum;
			t.n5xx += st.n5xx;
		}
	}
	return t;
}

/*
 * The per-bucket counts over the last k slices: h->total itself for the whole window, otherwise
 * buf filled either from the current slice plus the k - 1 newest closed slices, or from the
 * total minus the n_slices - k oldest ones, whichever decodes fewer slices.
 * O(buckets + entries of the slices read).
 */
static const uint64_t *window_counts(const struct histogram *h, uint32_t k, uint64_t *buf)
{
	if (k >= h->n_slices)
		return h->total;
	if (k <= h->n_slices - k) {
		memcpy(buf, h->scratch, sizeof(h->scratch));
		for (uint32_t s = 1; s < k; s++)
			if (slice_before(h, s))
				slice_apply(slice_before(h, s), buf, false, NULL);
	} else {
		memcpy(buf, h->total, sizeof(h->total));
		for (uint32_t s = k; s < h->n_slices; s++)
			if (slice_before(h, s))
				slice_apply(slice_before(h, s), buf, true, NULL);
	}
	return buf;
}

uint64_t histogram_count(struct histogram *h, uint64_t now_ms, uint32_t window_ms)
{
	histogram_advance(h, now_ms);
	return window_totals(h, window_slices(h, window_ms)).count;
}

uint64_t histogram_count_5xx(struct histogram *h, uint64_t now_ms, uint32_t window_ms)
{
	histogram_advance(h, now_ms);
	return window_totals(h, window_slices(h, window_ms)).n5xx;
}

uint64_t histogram_sum(struct histogram *h, uint64_t now_ms, uint32_t window_ms)
{
	histogram_advance(h, now_ms);
	return window_totals(h, window_slices(h, window_ms)).sum;
}

/*
 * Requests <= threshold: whole buckets below threshold's bucket, plus, when threshold is inside
 * its bucket [lo, hi], the share (threshold - lo + 1) / (hi - lo + 1) of that bucket (values
 * assumed spread evenly). Exact when threshold is a bucket's upper bound.
 */
static double count_le2(const uint64_t *c, const uint64_t *c2, uint32_t threshold_ms)
{
	size_t tb = histogram_bucket_of(threshold_ms);
	uint32_t lo = histogram_bucket_lower(tb), hi = histogram_bucket_upper(tb);
	uint64_t n = 0, in;

	for (size_t i = 0; i < tb; i++)
		n += c[i];
	if (c2)
		for (size_t i = 0; i < tb; i++)
			n += c2[i];
	in = c[tb] + (c2 ? c2[tb] : 0);
	if (threshold_ms == hi || in == 0)
		return (double)(n + (threshold_ms == hi ? in : 0));
	return (double)n + (double)in * ((double)threshold_ms - lo + 1) / ((double)hi - lo + 1);
}

static double count_le(const uint64_t *c, uint32_t threshold_ms)
{
	return count_le2(c, NULL, threshold_ms);
}

uint64_t histogram_count_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			    uint32_t threshold_ms)
{
	uint64_t buf[HIST_NB];

	histogram_advance(h, now_ms);
	return (uint64_t)count_le(window_counts(h, window_slices(h, window_ms), buf), threshold_ms);
}

double histogram_fraction_le(struct histogram *h, uint64_t now_ms, uint32_t window_ms,
			     uint32_t threshold_ms)
{
	uint64_t buf[HIST_NB];
	uint32_t k;
	uint64_t n;

	histogram_advance(h, now_ms);
	k = window_slices(h, window_ms);
	n = window_totals(h, k).count;
	if (n == 0)
		return 1.0;
	return count_le(window_counts(h, k, buf), threshold_ms) / (double)n;
}

/* The q-quantile of n requests counted in c (plus c2 when not NULL), as histogram_quantile. */
static double quantile_of(const uint64_t *c, const uint64_t *c2, uint64_t n, double q)
{
	uint64_t rank, seen = 0;

	if (n == 0 || isnan(q))
		return 0;
	/* The smallest value with at least ceil(q * n) requests <= it (the "nearest rank"). */
	rank = q <= 0 ? 1 : q >= 1 ? n : (uint64_t)ceil(q * (double)n);
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	for (size_t i = 0; i < HIST_NB; i++) {
		seen += c[i] + (c2 ? c2[i] : 0);
		if (seen >= rank) {
			if (i == HIST_OVERFLOW)
				return histogram_bucket_lower(i);
			return ((double)histogram_bucket_lower(i) + histogram_bucket_upper(i)) / 2;
		}
	}
	return histogram_bucket_lower(HIST_OVERFLOW); /* not reached: counts add up to n */
}

double histogram_quantile(struct histogram *h, uint64_t now_ms, uint32_t window_ms, double q)
{
	uint64_t buf[HIST_NB];
	uint64_t n;
	uint32_t k;

	histogram_advance(h, now_ms);
	k = window_slices(h, window_ms);
	n = window_totals(h, k).count;
	if (n == 0 || isnan(q))
		return 0;
	return quantile_of(window_counts(h, k, buf), NULL, n, q);
}

int histogram_merge(struct histogram *dst, const struct histogram *src)
{
	uint64_t add[HIST_NB], bits[HIST_WORDS];
	uint32_t b;

	if (!dst || !src || dst == src || dst->slice_ms != src->slice_ms ||
	    dst->n_slices != src->n_slices)
		return -EINVAL;
	/* Like recording src's requests into dst: dst moves forward to src's current slice. */
	advance_to(dst, src->cur);
	dst->epoch++;
	/* add[]/bits[] hold one slice at a time; slice_encode and the loops below clear them. */
	memset(add, 0, sizeof(add));
	memset(bits, 0, sizeof(bits));
	for (uint32_t s = 0; s < src->n_slices && s <= src->cur; s++) {
		uint64_t j = src->cur - s;
		struct totals t;

		if (dst->cur - j >= dst->n_slices)
			break; /* older than dst's window, and so are the rest */
		if (s == 0) {
			if (src->cur_tot.count == 0)
				continue;
			t = src->cur_tot;
			memcpy(bits, src->touched, sizeof(bits));
			FOR_EACH_BIT(bits, b)
			add[b] = src->scratch[b];
		} else {
			const struct hist_slice *sl = slice_before(src, s);

			if (!sl)
				continue;
			slice_totals(sl, &t);
			slice_apply(sl, add, false, bits);
		}
		FOR_EACH_BIT(bits, b)
		dst->total[b] += add[b];
		dst->tot.count += t.count;
		dst->tot.sum += t.sum;
		dst->tot.n5xx += t.n5xx;
		if (j == dst->cur) {
			FOR_EACH_BIT(bits, b)
			{
				dst->scratch[b] += add[b];
				add[b] = 0;
			}
			for (size_t w = 0; w < HIST_WORDS; w++) {
				dst->touched[w] |= bits[w];
				bits[w] = 0;
			}
			dst->cur_tot.count += t.count;
			dst->cur_tot.sum += t.sum;
			dst->cur_tot.n5xx += t.n5xx;
		} else {
			uint32_t slot = (uint32_t)(j % dst->n_slices);
			struct hist_slice *old = dst->ring[slot];

			if (old) {
				struct totals ot;

				slice_totals(old, &ot);
				slice_apply(old, add, false, bits);
				t.count += ot.count;
				t.sum += ot.sum;
				t.n5xx += ot.n5xx;
				free(old);
			}
			dst->ring[slot] = slice_encode(add, bits, t);
		}
	}
	return 0;
}

/* ---- views ------------------------------------------------------------------------------- */

/*
 * A view holds the sum of a range [lo, hi] of h's closed slices (absolute numbers; empty when
 * lo > hi), made for (id, epoch). Moving it to another range decodes only the slices that enter
 * or leave it, or the whole new range when that is fewer; the current slice is read live.
 */
struct histogram_view {
	struct histogram *h;
	uint64_t id, epoch;
	bool valid;
	uint64_t lo, hi;
	struct totals tot;
	uint64_t c[HIST_NB];
};

struct histogram_view *histogram_view_new(void)
{
	return xcalloc(1, sizeof(struct histogram_view));
}

void histogram_view_free(struct histogram_view *v)
{
	free(v);
}

/* Adds (or subtracts) closed slice j of h to v. j must be in h's ring (cur - j < n_slices). */
static void view_apply(struct histogram_view *v, const struct histogram *h, uint64_t j,
		       bool subtract)
{
	const struct hist_slice *sl = h->ring[j % h->n_slices];
	struct totals t;

	if (!sl)
		return;
	slice_totals(sl, &t);
	slice_apply(sl, v->c, subtract, NULL);
	if (subtract) {
		v->tot.count -= t.count;
		v->tot.sum -= t.sum;
		v->tot.n5xx -= t.n5xx;
	} else {
		v->tot.count += t.count;
		v->tot.sum += t.sum;
		v->tot.n5xx += t.n5xx;
	}
}

/* Whether closed slice j is still in h's ring. */
static bool in_ring(const struct histogram *h, uint64_t j)
{
	return j < h->cur && h->cur - j < h->n_slices;
}

void histogram_view_set(struct histogram_view *v, struct histogram *h, uint64_t now_ms,
			uint32_t window_ms)
{
	uint32_t k;
	uint64_t t0, t1; /* the closed slices wanted: [t0, t1], empty when t0 > t1 */

	histogram_advance(h, now_ms);
	k = window_slices(h, window_ms);
	t1 = h->cur ? h->cur - 1 : 0;
	t0 = h->cur + 1 >= k ? h->cur + 1 - k : 0;
	if (h->cur == 0)
		t0 = 1; /* no closed slice yet */
	bool same = v->valid && v->h == h && v->id == h->id && v->epoch == h->epoch;
	bool v_empty = !same || v->lo > v->hi;
	uint64_t want = t0 <= t1 ? t1 - t0 + 1 : 0;
	uint64_t moves = UINT64_MAX;
	if (same && !v_empty && t0 <= t1 && t1 >= v->hi && t0 <= v->hi + 1 && in_ring(h, v->lo) &&
	    (t0 >= v->lo || in_ring(h, t0)))
		moves = (t1 - v->hi) + (t0 > v->lo ? t0 - v->lo : v->lo - t0);
	if (moves <= want) {
		/* The ranges overlap or touch (t0 <= hi + 1): add what entered, drop what left. */
		for (uint64_t j = v->hi + 1; j <= t1; j++)
			view_apply(v, h, j, false);
		for (uint64_t j = v->lo; j < t0; j++)
			view_apply(v, h, j, true);
		for (uint64_t j = t0; j < v->lo; j++)
			view_apply(v, h, j, false);
	} else {
		memset(v->c, 0, sizeof(v->c));
		v->tot = (struct totals){0, 0, 0};
		for (uint64_t j = t0; j <= t1 && want; j++)
			view_apply(v, h, j, false);
	}
	v->h = h;
	v->id = h->id;
	v->epoch = h->epoch;
	v->valid = true;
	v->lo = t0;
	v->hi = t1;
	if (t0 > t1) {
		v->lo = 1;
		v->hi = 0;
	}
}

uint64_t histogram_view_count(const struct histogram_view *v)
{
	return v->valid ? v->tot.count + v->h->cur_tot.count : 0;
}

uint64_t histogram_view_count_5xx(const struct histogram_view *v)
{
	return v->valid ? v->tot.n5xx + v->h->cur_tot.n5xx : 0;
}

uint64_t histogram_view_count_le(const struct histogram_view *v, uint32_t threshold_ms)
{
	return v->valid ? (uint64_t)count_le2(v->c, v->h->scratch, threshold_ms) : 0;
}

double histogram_view_quantile(const struct histogram_view *v, double q)
{
	return v->valid ? quantile_of(v->c, v->h->scratch, histogram_view_count(v), q) : 0;
}

size_t histogram_memory(const struct histogram *h)
{
	size_t n;

	if (!h)
		return 0;
	/*
	 * What the allocator really set aside (malloc_usable_size, not what was asked for), plus
	 * the word of header glibc's malloc keeps in front of each block.
	 */
	n = malloc_usable_size((void *)h) + sizeof(size_t);
	for (uint32_t i = 0; i < h->n_slices; i++)
		if (h->ring[i])
			n += malloc_usable_size(h->ring[i]) + sizeof(size_t);
	return n;
}
