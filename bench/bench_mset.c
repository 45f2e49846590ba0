/* SPDX-License-Identifier: MIT */
/*
 * mset benchmarks: find, insert, unmap_split, protect_split, find_free at
 * n = 1,000 .. 1,000,000 areas, ns/op.
 *
 * The set is built by inserting the areas in address order (as a loader or
 * a growing heap does): areas of 3..6 pages, separated by free gaps of
 * 3..10 pages scattered through the space.  Every figure's bound is a
 * binary search (upper bound) over a sorted array of the same n area
 * starts, run over the same random addresses, right after it in the same
 * repetition.  Modifying operations are timed in batches on distinct areas
 * or gaps, through the transaction calls (prepare, commit, free what left);
 * each batch is undone untimed (the hole re-inserted and merged back, the
 * flags protected back), so n stays the same.
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/mset.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG   4096ull
#define BASE 0x100000000ull

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

/* The layout: area i is [st[i], st[i] + sz[i]); gap after it. */
struct layout {
	long n;
	uint64_t *st, *sz;
};

static struct layout make_layout(long n)
{
	struct layout L = {n, malloc(sizeof(uint64_t) * (size_t)n),
			   malloc(sizeof(uint64_t) * (size_t)n)};
	uint64_t at = BASE;
	for (long i = 0; i < n; i++) {
		L.st[i] = at;
		L.sz[i] = (3 + rnd() % 4) * PG;
		at += L.sz[i] + (3 + rnd() % 8) * PG;
	}
	return L;
}

static void build(struct mmk_mset *s, const struct layout *L)
{
	mmk_mset_init(s);
	for (long i = 0; i < L->n; i++) {
		struct mmk_mset_area t = {0};
		t.start = L->st[i];
		t.end = L->st[i] + L->sz[i];
		t.offset = t.start;
		t.flags = 1;
		if (mmk_mset_insert(s, &t, 0, NULL) != 0) {
			fprintf(stderr, "bench_mset: build failed\n");
			exit(1);
		}
	}
}

/* The bound: index of the last start <= a (or -1). */
static inline long upper(const uint64_t *st, long n, uint64_t a)
{
	long lo = 0, len = n;
	while (len > 1) {
		long half = len / 2;
		lo = st[lo + half] <= a ? lo + half : lo;
		len -= half;
	}
	return lo + (st[lo] <= a) - 1;
}

static double bound_ns(const struct layout *L, const uint64_t *addr, long m)
{
	uint64_t t0 = mmk_bench_now_ns();
	long acc = 0;
	for (long i = 0; i < m; i++)
		acc += upper(L->st, L->n, addr[i]);
	MMK_BENCH_SINK(acc);
	return (double)(mmk_bench_now_ns() - t0) / (double)m;
}

static void report(const char *metric, long n, double v, double b, double goal)
{
	struct mmk_bench_result r = {0};
	r.metric = metric;
	r.n = n;
	r.value = v;
	r.unit = "ns/op";
	r.bound = b;
	if (n == 1000000) {
		r.goal = goal;
		r.goal_dir = -1;
	}
	mmk_bench_report(&r);
}

/* A random permutation prefix: @k distinct indexes below @n. */
static void pick(long *out, long k, long n)
{
	static long *perm;
	static long permn;
	if (permn != n) {
		free(perm);
		perm = malloc(sizeof(long) * (size_t)n);
		for (long i = 0; i < n; i++)
			perm[i] = i;
		permn = n;
	}
	for (long i = 0; i < k; i++) {
		long j = i + (long)(rnd() % (uint64_t)(n - i));
		long t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
		out[i] = perm[i];
	}
}

/*
 * The timed changes go through a transaction as the address space drives
 * it: prepare, commit, free the dead objects (no backend work between).
 */
static void txn_finish(struct mmk_mset *s, struct mmk_mset_txn *t)
{
	mmk_mset_commit(s, t);
	for (struct mmk_mset_area *a = t->dead, *next; a; a = next) {
		next = a->link;
		mmk_mset_area_free(s, a);
	}
}

static int txn_insert(struct mmk_mset *s, const struct mmk_mset_area *tmpl)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_insert(s, tmpl, 0, &t);
	if (!rc)
		txn_finish(s, &t);
	return rc;
}

static int txn_unmap(struct mmk_mset *s, uint64_t start, uint64_t size)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_unmap(s, start, size, &t);
	if (!rc)
		txn_finish(s, &t);
	return rc;
}

static int txn_protect(struct mmk_mset *s, uint64_t start, uint64_t size,
		       uint32_t flags)
{
	struct mmk_mset_txn t;
	int rc = mmk_mset_prepare_protect(s, start, size, flags, &t);
	if (!rc)
		txn_finish(s, &t);
	return rc;
}

enum op { OP_FIND, OP_INSERT, OP_UNMAP, OP_PROTECT, OP_FREE, OP_COUNT };

static const char *names[OP_COUNT] = {"mset.find", "mset.insert",
				      "mset.unmap_split", "mset.protect_split",
				      "mset.find_free_area"};
static const double goals[OP_COUNT] = {1.5, 4, 4, 4, 2};

/* One repetition of @op: ns/op of the set and of the bound. */
static void run(enum op op, struct mmk_mset *s, const struct layout *L,
		long total, double *v, double *b)
{
	long batch = L->n / 2 < 20000 ? L->n / 2 : 20000;
	long *idx = malloc(sizeof(long) * (size_t)batch);
	uint64_t *addr = malloc(sizeof(uint64_t) * (size_t)batch);
	uint64_t *sz = malloc(sizeof(uint64_t) * (size_t)batch);
	uint64_t *al = malloc(sizeof(uint64_t) * (size_t)batch);
	uint64_t tset = 0;
	double tb = 0;
	long done = 0, sink = 0;
	uint64_t span = L->st[L->n - 1] + L->sz[L->n - 1] - BASE;
	while (done < total) {
		pick(idx, batch, L->n);
		for (long i = 0; i < batch; i++) {
			long k = idx[i];
			switch (op) {
			case OP_FIND:
				addr[i] = BASE + rnd() % span;
				break;
			case OP_INSERT: /* one page inside the gap after k */
				addr[i] = L->st[k] + L->sz[k] + PG;
				break;
			default: /* one page inside area k */
				addr[i] = L->st[k] + PG;
				break;
			case OP_FREE:
				addr[i] = BASE + rnd() % span;
				sz[i] = (1 + rnd() % 8) * PG;
				al[i] = PG << (rnd() % 5);
				break;
			}
		}
		uint64_t t0 = mmk_bench_now_ns();
		switch (op) {
		case OP_FIND:
			for (long i = 0; i < batch; i++)
				sink += (long)(uintptr_t)mmk_mset_find(s,
								       addr[i]);
			break;
		case OP_INSERT:
			for (long i = 0; i < batch; i++) {
				struct mmk_mset_area t = {0};
				t.start = addr[i];
				t.end = addr[i] + PG;
				t.offset = t.start;
				t.flags = 2;
				sink += txn_insert(s, &t);
			}
			break;
		case OP_UNMAP:
			for (long i = 0; i < batch; i++)
				sink += txn_unmap(s, addr[i], PG);
			break;
		case OP_PROTECT:
			for (long i = 0; i < batch; i++)
				sink += txn_protect(s, addr[i], PG, 2);
			break;
		case OP_FREE:
			for (long i = 0; i < batch; i++) {
				mmk_vaddr_t x = 0;
				sink += mmk_mset_find_free(
					s, addr[i], sz[i], 0, UINT64_MAX, al[i],
					(unsigned)(i & 1) ? MMK_MSET_TOP_DOWN
							  : MMK_MSET_BOTTOM_UP,
					&x);
				sink += (long)x;
			}
			break;
		default:
			break;
		}
		tset += mmk_bench_now_ns() - t0;
		tb += bound_ns(L, addr, batch) * (double)batch;
		/* Undo, untimed. */
		for (long i = 0; i < batch; i++) {
			if (op == OP_INSERT) {
				mmk_mset_unmap(s, addr[i], PG);
			} else if (op == OP_UNMAP) {
				struct mmk_mset_area t = {0};
				t.start = addr[i];
				t.end = addr[i] + PG;
				t.offset = t.start;
				t.flags = 1;
				mmk_mset_insert(s, &t, 0, NULL);
			} else if (op == OP_PROTECT) {
				mmk_mset_protect(s, addr[i], PG, 1);
			}
		}
		done += batch;
	}
	MMK_BENCH_SINK(sink);
	if ((size_t)L->n != mmk_mset_count(s)) {
		fprintf(stderr, "bench_mset: %s changed n\n", names[op]);
		exit(1);
	}
	*v = (double)tset / (double)done;
	*b = tb / (double)done;
	free(idx);
	free(addr);
	free(sz);
	free(al);
}

MMK_BENCH(bench_mset, 40)
{
	static const long ns[] = {1000, 10000, 100000, 1000000};
	int reps = mmk_bench_reps();
	for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
		long n = ns[ni];
		mmk_bench_progress("mset: building %ld areas", n);
		struct layout L = make_layout(n);
		struct mmk_mset s;
		build(&s, &L);
		for (int op = 0; op < OP_COUNT; op++) {
			double v[16], b[16];
			long total = op == OP_FIND || op == OP_FREE ? 200000
								    : 100000;
			for (int r = 0; r < reps; r++)
				run((enum op)op, &s, &L, total, &v[r], &b[r]);
			report(names[op], n, mmk_bench_median(v, reps),
			       mmk_bench_median(b, reps), goals[op]);
		}
		mmk_mset_destroy(&s);
		free(L.st);
		free(L.sz);
	}
}
