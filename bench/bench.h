/* SPDX-License-Identifier: MIT */
/*
 * mmkit-bench harness.  Each file in bench/ registers its benchmarks with
 * MMK_BENCH(name, order); main runs them in order, prints a table for
 * people and writes one JSON object per line to build/bench.json.
 *
 * Rules every benchmark follows:
 *  - the value is the median of several repetitions (mmk_bench_median);
 *  - its bound is the same work done by its physical bound, measured in the
 *    same run, right beside it;
 *  - nothing timed takes a host page fault: the arena is faulted in first
 *    (mmk_hosted_prefault) and cold buffers come from mmk_bench_cold().
 */
#ifndef MMK_BENCH_H
#define MMK_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef void (*mmk_bench_fn)(void);
void mmk_bench_register(const char *name, mmk_bench_fn fn, int order);

#define MMK_BENCH(fn, order)                                                   \
	static void fn(void);                                                  \
	__attribute__((constructor)) static void fn##_register(void)           \
	{                                                                      \
		mmk_bench_register(#fn, fn, order);                            \
	}                                                                      \
	static void fn(void)

struct mmk_bench_extra {
	const char *key;
	double value;
};

struct mmk_bench_result {
	const char *metric; /* "frame.alloc_free" */
	const char *arch;   /* NULL if not architecture specific */
	long n;		    /* 0 if not applicable */
	double value;
	const char *unit; /* "ns/op", "ns/page", "GB/s", ... */
	double bound;	  /* 0 if none */
	double goal;	  /* goal as a ratio value/bound (or absolute if
			     goal_abs), 0 if none */
	int goal_dir;	  /* -1: value <= goal wanted, +1: >= wanted */
	int goal_abs;	  /* goal compares value itself, not value/bound */
	struct mmk_bench_extra extra[4]; /* more JSON fields (peer.glibc) */
};

void mmk_bench_report(const struct mmk_bench_result *r);

/** A progress line on stderr (overwritten by the next). */
void mmk_bench_progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

uint64_t mmk_bench_now_ns(void);
/** Median of @n values (reorders @v). */
double mmk_bench_median(double *v, int n);
/** Repetitions each benchmark does (5; 3 with MMK_BENCH_QUICK=1). */
int mmk_bench_reps(void);

/**
 * A 1 GiB buffer faulted in once, for cache-cold bounds: callers walk it
 * page after page so every bound touches memory as cold as the real work.
 */
void *mmk_bench_cold(size_t *size);

/**
 * ns per 4 KiB memset over the cold buffer, page after page (the bound for
 * "zero a page"); median of the repetitions.
 */
double mmk_bench_memset4k_ns(void);
/** ns per 4 KiB memcpy between halves of the cold buffer. */
double mmk_bench_memcpy4k_ns(void);

/** Keep the optimiser from deleting a computation. */
#define MMK_BENCH_SINK(x) __asm__ volatile("" : : "r"(x) : "memory")

#endif
