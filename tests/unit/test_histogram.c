// SPDX-License-Identifier: MIT
/*
 * Unit tests for histogram: every answer is checked against the exact answer computed from the
 * raw samples, which the test keeps alongside (a "model" that applies the same slice rules:
 * slice = now / slice_ms, a late record goes to the current slice, a query over k slices sees
 * the current slice and the k - 1 before it). Counts, sums, 5xx and count_le at bucket bounds
 * must be equal; quantiles must be exact below 128 ms and within 1/128 above (the header promises
 * 1/64; the bucket midpoint does twice better). Random data comes from a fixed-seed PRNG, so runs
 * are reproducible. No timing here (see bench/).
 */
#include "flowproxy/histogram.h"

#include "tap.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>

/* A bucket's midpoint, when the bucket is at most 1/64 of its lower bound wide. */
#define REL_ERR	      (1.0 / 128)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999, 0.0001, 1.0};

/* ---- fixed-seed PRNG (splitmix64) and distributions ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = s;
}

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double rng_unit(void)
{
	return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(void)
{
	return sqrt(-2 * log(rng_unit())) * cos(2 * M_PI * rng_unit());
}

static uint32_t clamp_ms(double x)
{
	if (x < 0)
		return 0;
	if (x > 4e9)
		return 4000000000u;
	return (uint32_t)x; /* HAProxy's timers truncate to whole ms */
}

static uint32_t gen_uniform(void)
{
	return (uint32_t)(rng_next() % 10000);
}

static uint32_t gen_small(void)
{
	return (uint32_t)(rng_next() % 128);
}

static uint32_t gen_bimodal(void)
{
	if (rng_unit() < 0.9)
		return clamp_ms(20 + 3 * rng_normal());
	return clamp_ms(800 + 100 * rng_normal());
}

static uint32_t gen_pareto(void)
{
	/* x_m = 5 ms, alpha = 1.2, capped at 120 s (inside the bucket range). */
	double x = 5 / pow(rng_unit(), 1 / 1.2);

	return x > 120000 ? 120000 : clamp_ms(x);
}

static uint32_t gen_lognormal_40(void)
{
	return clamp_ms(exp(log(40) + 0.8 * rng_normal()));
}

static uint32_t gen_lognormal_8(void)
{
	return clamp_ms(exp(log(8) + 1.5 * rng_normal()));
}

/* Mostly in range, with a few overflows (> 131 s) to exercise the overflow bucket. */
static uint32_t gen_wide(void)
{
	return clamp_ms(exp(log(2000) + 2.5 * rng_normal()));
}

static int status_of(uint64_t i)
{
	if (i % 101 == 0)
		return -1;
	if (i % 17 == 0)
		return 503;
	return i % 5 ? 200 : 404;
}

/* ---- the model: raw samples with the slice they belong to ---- */

struct sample {
	uint64_t slice;
	uint32_t v;
	int status;
};

struct model {
	uint32_t slice_ms, n_slices;
	uint64_t cur;
	struct sample *s;
	size_t n, cap;
};

static void model_init(struct model *m, uint32_t slice_ms, uint32_t n_slices)
{
	*m = (struct model){.slice_ms = slice_ms, .n_slices = n_slices};
}

static void model_done(struct model *m)
{
	free(m->s);
}

static void model_advance(struct model *m, uint64_t now)
{
	if (now / m->slice_ms > m->cur)
		m->cur = now / m->slice_ms;
}

static void model_record(struct model *m, uint64_t now, uint32_t v, int status)
{
	model_advance(m, now);
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->s = realloc(m->s, m->cap * sizeof(*m->s));
		if (!m->s)
			abort();
	}
	m->s[m->n++] = (struct sample){m->cur, v, status};
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact answers over the last k slices (1 <= k <= n_slices). */
struct exact {
	uint32_t *v; /* sorted */
	size_t n;
	uint64_t sum, n5xx;
};

static struct exact model_exact(const struct model *m, uint32_t k)
{
	struct exact e = {.v = malloc((m->n ? m->n : 1) * sizeof(uint32_t))};

	if (!e.v)
		abort();
	for (size_t i = 0; i < m->n; i++) {
		if (m->cur - m->s[i].slice >= k)
			continue;
		e.v[e.n++] = m->s[i].v;
		e.sum += m->s[i].v;
		e.n5xx += m->s[i].status >= 500 || m->s[i].status <= 0;
	}
	qsort(e.v, e.n, sizeof(uint32_t), cmp_u32);
	return e;
}

static uint32_t exact_quantile(const struct exact *e, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)e->n);

	if (rank < 1)
		rank = 1;
	if (rank > e->n)
		rank = e->n;
	return e->v[rank - 1];
}

/* Is got an acceptable estimate of the exact value want? Also tracks the worst relative error. */
static bool quantile_ok(double got, uint32_t want, double *max_err)
{
	double err;

	if (want >= histogram_bucket_lower(histogram_buckets() - 1))
		return got == histogram_bucket_lower(histogram_buckets() - 1);
	if (want < 128)
		return got == want;
	err = fabs(got - want) / want;
	if (err > *max_err)
		*max_err = err;
	return err <= REL_ERR;
}

/*
 * Compares h with the model over the last k slices at now: count, sum, 5xx, count_le and
 * fraction_le at every bucket bound, and the quantiles. Returns the number of mismatches and
 * describes the first one.
 */
static int compare_window(struct histogram *h, const struct model *m, uint64_t now, uint32_t k,
			  double *max_err, const char *what)
{
	struct exact e = model_exact(m, k);
	uint32_t wms = k * m->slice_ms;
	int bad = 0;
	size_t j = 0;
	uint64_t got;

#define MISMATCH(fmt, ...)                                                                       \
	do {                                                                                     \
		if (!bad++)                                                                      \
			tap_diag("%s, now %llu, %u slices: " fmt, what, (unsigned long long)now, \
				 k, __VA_ARGS__);                                                \
	} while (0)

	if ((got = histogram_count(h, now, wms)) != e.n)
		MISMATCH("count %llu, want %zu", (unsigned long long)got, e.n);
	if ((got = histogram_sum(h, now, wms)) != e.sum)
		MISMATCH("sum %llu, want %llu", (unsigned long long)got, (unsigned long long)e.sum);
	if ((got = histogram_count_5xx(h, now, wms)) != e.n5xx)
		MISMATCH("5xx %llu, want %llu", (unsigned long long)got,
			 (unsigned long long)e.n5xx);
	for (size_t b = 0; b < histogram_buckets(); b++) {
		uint32_t t = histogram_bucket_upper(b);
		double f, want_f;

		while (j < e.n && e.v[j] <= t)
			j++;
		if ((got = histogram_count_le(h, now, wms, t)) != j)
			MISMATCH("count_le(%u) %llu, want %zu", t, (unsigned long long)got, j);
		f = histogram_fraction_le(h, now, wms, t);
		want_f = e.n ? (double)j / (double)e.n : 1.0;
		if (fabs(f - want_f) > 1e-12)
			MISMATCH("fraction_le(%u) %.15g, want %.15g", t, f, want_f);
	}
	for (size_t i = 0; i < ARRAY_SIZE(quantiles); i++) {
		double q = histogram_quantile(h, now, wms, quantiles[i]);

		if (e.n == 0 && q != 0)
			MISMATCH("quantile(%g) %g on an empty window", quantiles[i], q);
		if (e.n && !quantile_ok(q, exact_quantile(&e, quantiles[i]), max_err))
			MISMATCH("quantile(%g) %g, want %u", quantiles[i], q,
				 exact_quantile(&e, quantiles[i]));
	}
#undef MISMATCH
	free(e.v);
	return bad;
}

/* Every window length worth checking for n slices. */
static int compare_all(struct histogram *h, const struct model *m, uint64_t now, double *max_err,
		       const char *what)
{
	uint32_t n = m->n_slices;
	uint32_t ks[] = {1, 2, n / 2, n / 2 + 1, n - 1, n};
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ks); i++)
		if (ks[i] >= 1 && ks[i] <= n)
			bad += compare_window(h, m, now, ks[i], max_err, what);
	return bad;
}

/* ---- tests ---- */

static void test_invalid(void)
{
	struct histogram *h = NULL, *g = NULL;

	tap_is_int(histogram_new(0, 10, &h), -EINVAL, "new: slice_ms 0");
	tap_is_int(histogram_new(1000, 0, &h), -EINVAL, "new: 0 slices");
	tap_is_int(histogram_new(1000, 100001, &h), -EINVAL, "new: 100001 slices");
	tap_is_int(histogram_new(1000, 100000, &h), 0, "new: 100000 slices");
	histogram_free(h);
	h = NULL;
	histogram_free(NULL);
	tap_is_int(histogram_new(1000, 10, &h), 0, "new: 10 x 1 s");
	tap_is_int(histogram_new(500, 10, &g), 0, "new: 10 x 0.5 s");
	tap_is_int(histogram_merge(h, g), -EINVAL, "merge: different slice_ms");
	histogram_free(g);
	tap_is_int(histogram_new(1000, 11, &g), 0, "new: 11 x 1 s");
	tap_is_int(histogram_merge(h, g), -EINVAL, "merge: different n_slices");
	tap_is_int(histogram_merge(h, h), -EINVAL, "merge: into itself");
	histogram_free(g);

	tap_is_int((long long)histogram_count(h, 0, 0), 0, "empty: count");
	tap_ok(histogram_fraction_le(h, 0, 0, 100) == 1.0, "empty: fraction_le is 1");
	tap_ok(histogram_quantile(h, 0, 0, 0.99) == 0, "empty: quantile is 0");
	histogram_record(h, 0, 10, 200);
	tap_ok(histogram_quantile(h, 0, 0, NAN) == 0, "quantile(NaN) is 0");
	tap_ok(histogram_quantile(h, 0, 0, -1) == 10, "quantile(q <= 0) is the minimum");
	tap_ok(histogram_quantile(h, 0, 0, 2) == 10, "quantile(q > 1) is the maximum");
	histogram_free(h);
}

static void test_layout(void)
{
	size_t nb = histogram_buckets();
	int bad = 0;

	tap_is_int((long long)nb, 769, "769 buckets: 128 exact, 10 x 64, overflow");
	tap_is_int(histogram_bucket_upper(127), 127, "upper(127)");
	tap_is_int(histogram_bucket_lower(128), 128, "lower(128)");
	tap_is_int(histogram_bucket_upper(128), 129, "upper(128)");
	tap_is_int(histogram_bucket_upper(nb - 2), 131071, "last bucket ends at 2^17 - 1");
	tap_is_int(histogram_bucket_lower(nb - 1), 131072, "overflow starts at 2^17");
	tap_is_int(histogram_bucket_upper(nb - 1), UINT32_MAX, "overflow ends at UINT32_MAX");
	tap_is_int(histogram_bucket_upper(nb + 5), UINT32_MAX, "upper past the end");
	tap_ok(histogram_bucket_upper(nb - 2) >= 120000, "range covers 120 s");

	for (size_t i = 0; i < nb; i++) {
		uint32_t lo = histogram_bucket_lower(i), hi = histogram_bucket_upper(i);

		if (lo > hi || (i + 1 < nb && histogram_bucket_lower(i + 1) != hi + 1) ||
		    (i < 128 && lo != i) ||
		    (i >= 128 && i + 1 < nb && (uint64_t)(hi - lo + 1) * 64 > lo) ||
		    histogram_bucket_of(lo) != i || histogram_bucket_of(hi) != i) {
			if (!bad++)
				tap_diag("bucket %zu: [%u, %u]", i, lo, hi);
		}
	}
	tap_ok(!bad, "buckets are contiguous, exact below 128, width <= lower/64 above");

	bad = 0;
	for (uint32_t v = 0; v < (1u << 18); v++) {
		size_t b = histogram_bucket_of(v);

		if (b >= nb || histogram_bucket_lower(b) > v || histogram_bucket_upper(b) < v)
			if (!bad++)
				tap_diag("value %u in bucket %zu", v, b);
	}
	tap_ok(!bad, "every value 0 .. 2^18 falls in its bucket");
	tap_is_int((long long)histogram_bucket_of(UINT32_MAX), (long long)nb - 1,
		   "UINT32_MAX overflows");
}

static void test_edges(void)
{
	static const struct {
		uint32_t v;
		double want_lo, want_hi; /* acceptable quantile estimates */
	} cases[] = {
		{0, 0, 0},
		{1, 1, 1},
		{127, 127, 127},
		{128, 128, 129},
		{129, 128, 129},
		{255, 254, 255},
		{256, 256, 259},
		{1000, 1000 * (1 - 1.0 / 128), 1000 * (1 + 1.0 / 128)},
		{120000, 120000 * (1 - 1.0 / 128), 120000 * (1 + 1.0 / 128)},
		{131071, 131071 * (1 - 1.0 / 128), 131071},
		{131072, 131072, 131072},
		{UINT32_MAX, 131072, 131072},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct histogram *h = NULL;
		uint32_t v = cases[i].v;
		size_t b = histogram_bucket_of(v);
		double q;
		bool ok;

		if (histogram_new(1000, 10, &h) < 0)
			abort();
		histogram_record(h, 5000, v, 200);
		q = histogram_quantile(h, 5000, 0, 0.5);
		ok = histogram_count(h, 5000, 0) == 1 && histogram_sum(h, 5000, 0) == v &&
		     q >= cases[i].want_lo && q <= cases[i].want_hi &&
		     histogram_count_le(h, 5000, 0, histogram_bucket_upper(b)) == 1 &&
		     (b == 0 ||
		      histogram_count_le(h, 5000, 0, histogram_bucket_lower(b) - 1) == 0) &&
		     histogram_fraction_le(h, 5000, 0, histogram_bucket_upper(b)) == 1.0;
		tap_ok(ok, "edge value %u: count, sum, count_le at its bounds, quantile %g", v, q);
		histogram_free(h);
	}
}

static const struct {
	const char *name;
	uint32_t (*gen)(void);
} distributions[] = {
	{"uniform 0-10 s", gen_uniform},
	{"uniform 0-127 ms (exact)", gen_small},
	{"bimodal 20 ms / 800 ms", gen_bimodal},
	{"Pareto x_m 5 ms alpha 1.2", gen_pareto},
	{"lognormal median 40 ms sigma 0.8", gen_lognormal_40},
	{"lognormal median 8 ms sigma 1.5", gen_lognormal_8},
	{"lognormal median 2 s sigma 2.5 (overflows)", gen_wide},
};

/* 5 min of 1 s slices; samples spread over the whole window, so most are in closed slices. */
static void test_distributions(void)
{
	const uint32_t slice_ms = 1000, n_slices = 300, n = 200000;

	for (size_t d = 0; d < ARRAY_SIZE(distributions); d++) {
		struct histogram *h = NULL;
		struct model m;
		double max_err = 0;
		uint64_t now = 0;
		int bad;

		rng_seed(1000 + d);
		model_init(&m, slice_ms, n_slices);
		if (histogram_new(slice_ms, n_slices, &h) < 0)
			abort();
		for (uint32_t i = 0; i < n; i++) {
			uint32_t v = distributions[d].gen();

			now = (uint64_t)i * slice_ms * n_slices / n;
			histogram_record(h, now, v, status_of(i));
			model_record(&m, now, v, status_of(i));
		}
		bad = compare_all(h, &m, now, &max_err, distributions[d].name);
		tap_ok(!bad, "%s: %u samples, exact counts, quantiles within 1/128 (worst %.3f %%)",
		       distributions[d].name, n, 100 * max_err);
		{
			struct exact e = model_exact(&m, n_slices);

			tap_diag("%s: p50 %u -> %g, p90 %u -> %g, p99 %u -> %g, p99.9 %u -> %g",
				 distributions[d].name, exact_quantile(&e, 0.5),
				 histogram_quantile(h, now, 0, 0.5), exact_quantile(&e, 0.9),
				 histogram_quantile(h, now, 0, 0.9), exact_quantile(&e, 0.99),
				 histogram_quantile(h, now, 0, 0.99), exact_quantile(&e, 0.999),
				 histogram_quantile(h, now, 0, 0.999));
			free(e.v);
		}
		histogram_free(h);
		model_done(&m);
	}
}

/* Counts that need multi-byte varints, checked against the model, and merging them. */
static void test_big_counts(void)
{
	struct histogram *h = NULL, *g = NULL;
	struct model m;
	double max_err = 0;
	int bad = 0;

	if (histogram_new(1000, 4, &h) < 0 || histogram_new(1000, 4, &g) < 0)
		abort();
	model_init(&m, 1000, 4);
	for (uint32_t i = 0; i < 300000; i++) {
		uint32_t v = i % 10 ? 5 : (i % 20 ? 100000 : 3000000000u);

		histogram_record(h, 500, v, i % 3 ? 200 : 502);
		model_record(&m, 500, v, i % 3 ? 200 : 502);
		histogram_record(g, 1500, v, 200);
	}
	for (uint32_t i = 0; i < 1000; i++) {
		histogram_record(h, 1200, 7 + i % 300, 200);
		model_record(&m, 1200, 7 + i % 300, 200);
	}
	for (uint64_t now = 1500; now < 6000; now += 1000) {
		model_advance(&m, now);
		bad += compare_all(h, &m, now, &max_err, "big counts");
	}
	tap_ok(!bad, "300,000 requests in 3 buckets of one slice: exact against the model");
	histogram_free(h);

	if (histogram_new(1000, 4, &h) < 0)
		abort();
	for (uint32_t i = 0; i < 300000; i++)
		histogram_record(h, 500, i % 10 ? 5 : 100000, 200);
	histogram_record(h, 1200, 7, 200);
	tap_is_int(histogram_merge(h, g), 0, "merge big counts");
	tap_ok(histogram_count(h, 1500, 0) == 600001 &&
		       histogram_count_le(h, 1500, 0, 5) == 540000 &&
		       histogram_count(h, 1500, 1000) == 300001 &&
		       histogram_count_le(h, 1500, 2000, 5) == 540000,
	       "merged big counts are exact");
	tap_ok(histogram_count(h, 4000, 0) == 300001 && histogram_count(h, 5000, 0) == 0,
	       "big slices expire");
	histogram_free(h);
	histogram_free(g);
	model_done(&m);
}

/* count_le inside a bucket assumes the bucket's values spread evenly. */
static void test_interpolation(void)
{
	static const struct {
		uint32_t value, n, threshold;
		uint64_t want;
	} cases[] = {
		{128, 10, 128, 5},    /* [128, 129]: half */
		{128, 10, 129, 10},   /* upper bound: all */
		{128, 10, 127, 0},    /* below the bucket */
		{1000, 64, 1000, 8},  /* [1000, 1007]: 1 of 8 */
		{1000, 64, 1003, 32}, /* 4 of 8 */
		{1000, 64, 1007, 64}, {1000, 64, 999, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct histogram *h = NULL;
		uint64_t got;
		double f;

		if (histogram_new(1000, 2, &h) < 0)
			abort();
		for (uint32_t j = 0; j < cases[i].n; j++)
			histogram_record(h, 0, cases[i].value, 200);
		got = histogram_count_le(h, 0, 0, cases[i].threshold);
		f = histogram_fraction_le(h, 0, 0, cases[i].threshold);
		tap_ok(got == cases[i].want && fabs(f - (double)cases[i].want / cases[i].n) < 1e-12,
		       "%u x %u ms: count_le(%u) = %llu, fraction %g", cases[i].n, cases[i].value,
		       cases[i].threshold, (unsigned long long)got, f);
		histogram_free(h);
	}
}

/* One request per second, value = the second; 10 slices of 1 s. */
static void test_expiry(void)
{
	static const struct {
		uint64_t now;
		uint32_t window_ms;
		uint64_t count, sum;
		double p50;
	} cases[] = {
		{29500, 0, 10, 245, 24},	/* slices 20..29 */
		{29999, 10000, 10, 245, 24},	/* the window itself */
		{29500, 99999999, 10, 245, 24}, /* more than the window */
		{29500, 1000, 1, 29, 29},	/* current slice only */
		{29500, 1, 1, 29, 29},		/* rounded up to one slice */
		{29500, 1001, 2, 57, 28},	/* rounded up to two slices */
		{29500, 3000, 3, 84, 28},
		{29500, 9000, 9, 225, 25},
		{30000, 0, 9, 225, 25}, /* slice 20 expired */
		{35000, 0, 4, 110, 27}, /* slices 26..35 */
		{35000, 5000, 0, 0, 0}, /* slices 31..35 are empty */
		{39000, 0, 0, 0, 0},	/* all expired */
	};
	struct histogram *h = NULL;

	if (histogram_new(1000, 10, &h) < 0)
		abort();
	for (uint32_t t = 0; t < 30; t++)
		histogram_record(h, t * 1000 + 300, t, t % 2 ? 200 : 500);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t now = cases[i].now;
		uint32_t w = cases[i].window_ms;
		uint64_t c = histogram_count(h, now, w), s = histogram_sum(h, now, w);
		double p = histogram_quantile(h, now, w, 0.5);

		tap_ok(c == cases[i].count && s == cases[i].sum && p == cases[i].p50,
		       "expiry at %llu over %u ms: count %llu sum %llu p50 %g",
		       (unsigned long long)now, w, (unsigned long long)c, (unsigned long long)s, p);
	}
	/* A record older than the current slice counts in the current slice. */
	histogram_record(h, 1000, 7, 200);
	tap_ok(histogram_count(h, 39000, 1000) == 1 && histogram_sum(h, 39000, 1000) == 7,
	       "late record goes to the current slice");
	/* Idle for ~31,700 years of slices: costs n_slices at most, and empties the window. */
	histogram_record(h, UINT64_C(1) << 50, 9, 200);
	tap_ok(histogram_count(h, (UINT64_C(1) << 50) + 5000, 0) == 1 &&
		       histogram_count(h, (UINT64_C(1) << 50) + 10000, 0) == 0,
	       "idle gap of 2^50 ms");
	histogram_free(h);
}

/*
 * A random walk over time (late records, sub-slice steps, gaps of about the window, huge idle
 * gaps) with random values, checked against the model at random points.
 */
static void test_random_walk(void)
{
	static const struct {
		uint32_t slice_ms, n_slices;
	} shapes[] = {{1000, 10}, {1000, 1}, {250, 7}, {1000, 300}};

	for (size_t si = 0; si < ARRAY_SIZE(shapes); si++) {
		uint32_t slice_ms = shapes[si].slice_ms, n_slices = shapes[si].n_slices;
		struct histogram *h = NULL;
		struct model m;
		uint64_t now = 12345;
		double max_err = 0;
		int bad = 0, checks = 0;

		rng_seed(42 + si);
		model_init(&m, slice_ms, n_slices);
		if (histogram_new(slice_ms, n_slices, &h) < 0)
			abort();
		for (uint32_t i = 0; i < 20000; i++) {
			uint64_t r = rng_next() % 1000, t;
			uint32_t v = rng_next() % 2 ? gen_lognormal_40() : gen_wide();

			if (r < 700)
				now += rng_next() % 50;
			else if (r < 900)
				now += rng_next() % ((uint64_t)slice_ms * 3);
			else if (r < 990)
				now += (uint64_t)slice_ms * (n_slices - 1 + rng_next() % 3);
			else if (r < 995)
				now += rng_next() % (UINT64_C(1) << 40);
			/* else no step */
			/* Sometimes a record stamped in the past (a late log line). */
			t = rng_next() % 10 == 0 && now > 5000 ? now - rng_next() % 5000 : now;
			histogram_record(h, t, v, status_of(i));
			model_record(&m, t, v, status_of(i));
			if (rng_next() % 500 == 0) {
				uint64_t qnow = now + rng_next() % ((uint64_t)slice_ms * 2);

				model_advance(&m, qnow);
				bad += compare_all(h, &m, qnow, &max_err, "random walk");
				checks++;
			}
		}
		tap_ok(!bad, "random walk, %u x %u ms: %d checks against the model (worst %.3f %%)",
		       n_slices, slice_ms, checks, 100 * max_err);
		histogram_free(h);
		model_done(&m);
	}
}

/*
 * Views against the plain queries, which the model checks above: the same answers, exactly, for
 * windows that move with time, shrink and grow (as after the autoscaler's cut), across gaps past
 * the window, merges into the histogram, and a view moved to another histogram and back.
 */
static void test_views(void)
{
	static const struct {
		uint32_t slice_ms, n_slices;
	} shapes[] = {{1000, 10}, {1000, 1}, {250, 7}, {250, 120}};
	static const uint32_t thresholds[] = {0, 5, 25, 100, 127, 128, 200, 1000, 70000};
	static const double qs[] = {0.5, 0.9, 0.99, 1.0};

	for (size_t si = 0; si < ARRAY_SIZE(shapes); si++) {
		uint32_t slice_ms = shapes[si].slice_ms, n_slices = shapes[si].n_slices;
		struct histogram *h = NULL, *other = NULL, *src = NULL;
		struct histogram_view *v[3] = {histogram_view_new(), histogram_view_new(),
					       histogram_view_new()};
		uint64_t now = 777;
		int bad = 0, checks = 0;

		rng_seed(7 + si);
		if (histogram_new(slice_ms, n_slices, &h) < 0 ||
		    histogram_new(slice_ms, n_slices, &other) < 0 ||
		    histogram_new(slice_ms, n_slices, &src) < 0)
			abort();
		for (uint32_t i = 0; i < 30000; i++) {
			uint64_t r = rng_next() % 1000;

			if (r < 800)
				now += rng_next() % 40;
			else if (r < 990)
				now += rng_next() % ((uint64_t)slice_ms * 2);
			else
				now += (uint64_t)slice_ms * (n_slices + rng_next() % 3);
			histogram_record(h, now, gen_lognormal_40(), status_of(i));
			if (rng_next() % 3 == 0)
				histogram_record(other, now, gen_wide(), status_of(i + 1));
			if (rng_next() % 2000 == 0) {
				histogram_record(src, now, gen_wide(), 200);
				histogram_merge(h, src);
			}
			if (rng_next() % 20)
				continue;
			/* Three views: a fixed window, one that shrinks and grows, and one that
			 * jumps between the two histograms. */
			uint32_t win[3] = {slice_ms * (n_slices / 2 + 1),
					   (uint32_t)(slice_ms * (1 + (i / 997) % (n_slices + 1))),
					   slice_ms * 3};
			struct histogram *of[3] = {h, h, rng_next() % 4 ? h : other};
			for (size_t k = 0; k < 3; k++) {
				histogram_view_set(v[k], of[k], now, win[k]);
				uint64_t n = histogram_count(of[k], now, win[k]);
				bad += histogram_view_count(v[k]) != n;
				bad += histogram_view_count_5xx(v[k]) !=
				       histogram_count_5xx(of[k], now, win[k]);
				for (size_t j = 0; j < ARRAY_SIZE(thresholds); j++)
					bad += histogram_view_count_le(v[k], thresholds[j]) !=
					       histogram_count_le(of[k], now, win[k],
								  thresholds[j]);
				for (size_t j = 0; j < ARRAY_SIZE(qs); j++)
					bad += histogram_view_quantile(v[k], qs[j]) !=
					       histogram_quantile(of[k], now, win[k], qs[j]);
				checks++;
			}
		}
		tap_ok(!bad && checks > 1000,
		       "views, %u x %u ms: the plain queries' answers in %d checks (%d differ)",
		       n_slices, slice_ms, checks, bad);
		for (size_t k = 0; k < 3; k++)
			histogram_view_free(v[k]);
		histogram_free(h);
		histogram_free(other);
		histogram_free(src);
	}
}

/* A stream of (time, value) records for the merge tests. */
struct stream {
	uint64_t t[3000];
	uint32_t v[3000];
	int status[3000];
	size_t n;
};

static void stream_fill(struct stream *s, uint64_t start, uint64_t span, size_t n)
{
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		s->t[i] = start + span * i / (n ? n : 1);
		s->v[i] = gen_lognormal_8();
		s->status[i] = status_of(rng_next());
	}
}

static void test_merge(void)
{
	static const struct {
		const char *name;
		uint64_t a_start, a_span, b_start, b_span;
		size_t a_n, b_n;
	} cases[] = {
		{"same span", 100000, 10000, 100000, 10000, 2000, 2000},
		{"src 3 slices ahead", 100000, 10000, 103000, 10000, 2000, 2000},
		{"dst 3 slices ahead", 103000, 10000, 100000, 10000, 2000, 2000},
		{"src partly older than dst's window", 100000, 10000, 85000, 20000, 2000, 3000},
		{"src all older than dst's window", 200000, 10000, 100000, 10000, 2000, 2000},
		{"src far ahead", 100000, 10000, 500000, 10000, 2000, 2000},
		{"same current slice, one request each", 100000, 1, 100000, 1, 1, 1},
		{"empty src", 100000, 10000, 100000, 10000, 2000, 0},
		{"empty dst", 100000, 10000, 100000, 10000, 0, 2000},
	};
	static struct stream a, b;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct histogram *ha = NULL, *hb = NULL, *hc = NULL;
		struct model m;
		uint64_t now, b_count;
		size_t ia = 0, ib = 0;
		double max_err = 0;
		int bad = 0, rc;

		rng_seed(7 + i);
		stream_fill(&a, cases[i].a_start, cases[i].a_span, cases[i].a_n);
		stream_fill(&b, cases[i].b_start, cases[i].b_span, cases[i].b_n);
		if (histogram_new(1000, 10, &ha) < 0 || histogram_new(1000, 10, &hb) < 0 ||
		    histogram_new(1000, 10, &hc) < 0)
			abort();
		model_init(&m, 1000, 10);
		for (size_t j = 0; j < a.n; j++)
			histogram_record(ha, a.t[j], a.v[j], a.status[j]);
		for (size_t j = 0; j < b.n; j++)
			histogram_record(hb, b.t[j], b.v[j], b.status[j]);
		/* hc and the model get both streams in time order. */
		while (ia < a.n || ib < b.n) {
			bool from_a = ib == b.n || (ia < a.n && a.t[ia] <= b.t[ib]);
			struct stream *s = from_a ? &a : &b;
			size_t j = from_a ? ia++ : ib++;

			histogram_record(hc, s->t[j], s->v[j], s->status[j]);
			model_record(&m, s->t[j], s->v[j], s->status[j]);
		}
		b_count = histogram_count(hb, 0, 0);
		rc = histogram_merge(ha, hb);
		now = (m.cur + 1) * 1000 - 1; /* no further advance: the last slice stays current */
		bad += compare_all(ha, &m, now, &max_err, cases[i].name);
		bad += compare_all(hc, &m, now, &max_err, cases[i].name);
		for (uint32_t k = 1; k <= 10; k++)
			for (size_t q = 0; q < ARRAY_SIZE(quantiles); q++)
				if (histogram_quantile(ha, now, k * 1000, quantiles[q]) !=
				    histogram_quantile(hc, now, k * 1000, quantiles[q]))
					bad++;
		tap_ok(rc == 0 && !bad && histogram_count(hb, 0, 0) == b_count,
		       "merge, %s: equals recording both into one", cases[i].name);
		histogram_free(ha);
		histogram_free(hb);
		histogram_free(hc);
		model_done(&m);
	}
}

static void test_memory(void)
{
	struct histogram *h = NULL;
	size_t m0, m1, m2;

	if (histogram_new(1000, 300, &h) < 0)
		abort();
	m0 = histogram_memory(h);
	tap_ok(m0 >= 2 * 769 * 8 + 300 * 8 && m0 <= 16 * 1024,
	       "empty 300 x 1 s histogram: %zu bytes (two dense u64 arrays and 300 pointers)", m0);
	/* 100 distinct buckets, 10 requests each, in one slice that then closes. */
	for (uint32_t i = 0; i < 1000; i++)
		histogram_record(h, 500, i % 100, 200);
	histogram_advance(h, 1000);
	m1 = histogram_memory(h);
	tap_ok(m1 - m0 >= 100 * 2 && m1 - m0 <= 100 * 2 + 64,
	       "a closed slice of 100 buckets, 10 requests each: %zu bytes (2 per bucket + header)",
	       m1 - m0);
	/* Every bucket in every slice, one request each. */
	for (uint32_t s = 1; s <= 300; s++)
		for (size_t b = 0; b < histogram_buckets(); b++)
			histogram_record(h, s * 1000, histogram_bucket_lower(b), 200);
	m2 = histogram_memory(h);
	tap_ok(m2 - m0 >= 299 * 769 * 2 && m2 - m0 <= 299 * (769 * 2 + 64),
	       "every bucket in every slice: %zu bytes", m2);
	histogram_advance(h, 1000000);
	tap_is_int((long long)histogram_memory(h), (long long)m0, "back to empty after the window");
	histogram_free(h);
}

int main(void)
{
	test_invalid();
	test_layout();
	test_edges();
	test_distributions();
	test_big_counts();
	test_interpolation();
	test_expiry();
	test_random_walk();
	test_merge();
	test_views();
	test_memory();
	return tap_done();
}
