// SPDX-License-Identifier: MIT
/*
 * Histogram costs on one core: records per second, whole-window and partial-window query costs
 * (quantile, fraction_le, count), slice rotation, and memory per backend for a 5-minute window of
 * 1-second slices under several traffic levels and in the worst case. Latencies are a fixed-seed
 * lognormal mix, so runs are comparable. Usage: bench_histogram [million records] (default 50)
 */
#include "flowproxy/histogram.h"
#include "flowproxy/util.h"

#include <math.h>
#include <time.h>

#define N_VALUES (1u << 20)

static uint32_t values_ln40[N_VALUES]; /* lognormal, median 40 ms, sigma 0.8 */
static uint32_t values_mix[N_VALUES];  /* 80 % ~30 ms, 15 % ~150 ms, 5 % ~1.5 s, wide tails */
static volatile double sink;

static uint64_t rng_state = 12345;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double rng_unit(void)
{
	return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53;
}

static uint32_t lognormal(double median, double sigma)
{
	double x =
		exp(log(median) + sigma * sqrt(-2 * log(rng_unit())) * cos(2 * M_PI * rng_unit()));

	return x > 4e9 ? 4000000000u : (uint32_t)x;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct histogram *new_or_die(uint32_t slice_ms, uint32_t n_slices)
{
	struct histogram *h = NULL;

	if (histogram_new(slice_ms, n_slices, &h) < 0) {
		fprintf(stderr, "bench_histogram: histogram_new failed\n");
		exit(1);
	}
	return h;
}

/* Records rate req/s for secs seconds starting at t0_ms, evenly spread. */
static void fill(struct histogram *h, uint64_t t0_ms, uint32_t secs, uint32_t rate,
		 const uint32_t *vals)
{
	uint64_t n = (uint64_t)secs * rate;

	for (uint64_t i = 0; i < n; i++)
		histogram_record(h, t0_ms + i * 1000 / rate, vals[i % N_VALUES], 200);
}

static void bench_record(uint64_t n)
{
	struct histogram *h = new_or_die(1000, 300);
	uint64_t t0, t1;

	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		histogram_record(h, 1000, values_ln40[i & (N_VALUES - 1)], 200);
	t1 = now_ns();
	printf("record, same slice:          %6.2f ns/record, %6.1f M records/s\n",
	       (double)(t1 - t0) / (double)n, (double)n * 1e3 / (double)(t1 - t0));
	histogram_free(h);

	/* 1000 req/s of simulated time: a rotation every 1000 records, included. */
	h = new_or_die(1000, 300);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		histogram_record(h, i, values_ln40[i & (N_VALUES - 1)], 200);
	t1 = now_ns();
	printf("record, 1000 req/s timeline: %6.2f ns/record, %6.1f M records/s (with rotations)\n",
	       (double)(t1 - t0) / (double)n, (double)n * 1e3 / (double)(t1 - t0));
	histogram_free(h);
}

static void bench_queries(void)
{
	static const struct {
		const char *name;
		int kind; /* 0 quantile, 1 fraction_le, 2 count */
		uint32_t window_ms, threshold_ms;
	} q[] = {
		{"p99, whole 5 min window", 0, 0, 0},
		{"fraction_le(100 ms), whole window", 1, 0, 100},
		{"fraction_le(2000 ms), whole window", 1, 0, 2000},
		{"count, whole window", 2, 0, 0},
		{"p99, last 10 s", 0, 10000, 0},
		{"p99, last 60 s", 0, 60000, 0},
		{"p99, last 240 s (total minus 60 s)", 0, 240000, 0},
		{"fraction_le(100 ms), last 60 s", 1, 60000, 100},
		{"count, last 60 s", 2, 60000, 0},
	};
	struct histogram *h = new_or_die(1000, 300);
	const uint64_t now = 300999;

	fill(h, 1000, 300, 1000, values_mix);
	printf("queries on 5 min x 1000 req/s (lognormal mix, %llu requests):\n",
	       (unsigned long long)histogram_count(h, now, 0));
	for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
		uint32_t reps = q[i].window_ms ? 20000 : 200000;
		uint64_t t0 = now_ns(), t1;
		double acc = 0;

		for (uint32_t r = 0; r < reps; r++) {
			if (q[i].kind == 0)
				acc += histogram_quantile(h, now, q[i].window_ms, 0.99);
			else if (q[i].kind == 1)
				acc += histogram_fraction_le(h, now, q[i].window_ms,
							     q[i].threshold_ms);
			else
				acc += (double)histogram_count(h, now, q[i].window_ms);
		}
		t1 = now_ns();
		sink = acc;
		printf("  %-36s %9.1f ns\n", q[i].name, (double)(t1 - t0) / reps);
	}
	histogram_free(h);
}

/* Mean and max cost of histogram_advance by one slice in steady state. */
static void bench_rotation(const char *name, uint32_t rate, bool all_buckets)
{
	struct histogram *h = new_or_die(1000, 300);
	uint64_t total = 0, worst = 0;
	const uint32_t rounds = 3000;

	for (uint32_t s = 0; s < rounds; s++) {
		uint64_t t0, dt;

		if (all_buckets)
			for (size_t b = 0; b < histogram_buckets(); b++)
				histogram_record(h, (uint64_t)s * 1000, histogram_bucket_lower(b),
						 200);
		else
			fill(h, (uint64_t)s * 1000, 1, rate,
			     values_mix + (s * rate) % (N_VALUES / 2));
		t0 = now_ns();
		histogram_advance(h, (uint64_t)(s + 1) * 1000);
		dt = now_ns() - t0;
		if (s >= 300) { /* steady state: one slice closes, one expires */
			total += dt;
			worst = dt > worst ? dt : worst;
		}
	}
	printf("  %-36s mean %7.0f ns, max %7llu ns\n", name, (double)total / (rounds - 300),
	       (unsigned long long)worst);
	{
		uint64_t t0 = now_ns(), dt;

		histogram_advance(h, UINT64_C(1) << 40);
		dt = now_ns() - t0;
		printf("  %-36s %7llu ns\n", "  then an idle gap of 2^40 ms",
		       (unsigned long long)dt);
	}
	histogram_free(h);
}

static void bench_memory(uint32_t slice_ms, uint32_t n_slices)
{
	static const struct {
		const char *name;
		uint32_t rate;
		const uint32_t *vals;
	} t[] = {
		{"idle", 0, NULL},
		{"10 req/s, lognormal 40 ms", 10, values_ln40},
		{"100 req/s, lognormal 40 ms", 100, values_ln40},
		{"100 req/s, lognormal mix", 100, values_mix},
		{"1000 req/s, lognormal 40 ms", 1000, values_ln40},
		{"1000 req/s, lognormal mix", 1000, values_mix},
		{"10000 req/s, lognormal mix", 10000, values_mix},
		{"worst: 769 buckets x 200 per slice", 0, NULL},
	};
	uint32_t secs = slice_ms / 1000 * n_slices + 30;

	printf("memory per backend, %u x %u s slices (window %u s):\n", n_slices, slice_ms / 1000,
	       slice_ms / 1000 * n_slices);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct histogram *h = new_or_die(slice_ms, n_slices);
		size_t m;

		if (t[i].vals)
			fill(h, 0, secs, t[i].rate, t[i].vals);
		else if (i == ARRAY_SIZE(t) - 1)
			for (uint64_t s = 0; s < secs * 1000 / slice_ms; s++)
				for (size_t b = 0; b < histogram_buckets(); b++)
					for (int r = 0; r < 200; r++)
						histogram_record(h, s * slice_ms,
								 histogram_bucket_lower(b), 200);
		m = histogram_memory(h);
		printf("  %-36s %9zu bytes (%7.1f KiB)\n", t[i].name, m, (double)m / 1024);
		histogram_free(h);
	}
}

int main(int argc, char **argv)
{
	long millions = 50;

	if (argc > 1 && parse_long(argv[1], 1, 100000, &millions) < 0) {
		fprintf(stderr, "usage: bench_histogram [million records]\n");
		return 2;
	}
	for (uint32_t i = 0; i < N_VALUES; i++) {
		double r;

		values_ln40[i] = lognormal(40, 0.8);
		r = rng_unit();
		values_mix[i] = r < 0.80   ? lognormal(30, 0.6)
				: r < 0.95 ? lognormal(150, 0.8)
					   : lognormal(1500, 1.0);
	}
	printf("histogram: %zu buckets, 5 min window = 300 x 1 s slices\n", histogram_buckets());
	bench_record((uint64_t)millions * 1000000);
	bench_queries();
	printf("slice rotation (close the current slice, expire the oldest), steady state:\n");
	bench_rotation("100 req/s, lognormal mix", 100, false);
	bench_rotation("1000 req/s, lognormal mix", 1000, false);
	bench_rotation("10000 req/s, lognormal mix", 10000, false);
	bench_rotation("worst: all 769 buckets touched", 0, true);
	bench_memory(1000, 300);
	bench_memory(10000, 30);
	return 0;
}
