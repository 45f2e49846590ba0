/* SPDX-License-Identifier: MIT */
/*
 * Slab / kmalloc benchmarks against glibc malloc, jemalloc and mimalloc,
 * all doing the same work in the same run.
 *
 *  slab.alloc_free_64, slab.alloc_free_512: ns per alloc+free pair on one
 *    thread, through mmk_kmalloc / mmk_kfree (the general allocator, free
 *    without a size, like malloc/free):
 *      n = 1        LIFO: allocate one object, free it, repeat;
 *      n = 1000000  allocate 1,000,000 objects, then free all of them in a
 *                   random order; (time of both phases) / 1,000,000.
 *    Objects are not written by the benchmark, so the figure is the
 *    allocator's own cost.  The bound is the fastest peer; the goal is
 *    value/bound <= 1 (faster than all three).  Peers are extra fields
 *    peer.glibc, peer.jemalloc, peer.mimalloc (absent when the library
 *    cannot be loaded), plus slab.cache: the same work through a 64- or
 *    512-byte mmk_slab_cache (mmk_slab_alloc / mmk_slab_free).
 *  slab.overhead: bytes of frames taken from the buddy allocator (slabs
 *    and every kmalloc descriptor) per byte of live objects, with
 *    1,000,000 live 64-byte kmalloc objects.  Goal <= 1.1.
 *
 * jemalloc and mimalloc are loaded with dlopen(RTLD_LOCAL) and called
 * through their prefixed entry points (mallocx/dallocx, mi_malloc/mi_free),
 * so neither replaces glibc's malloc in this process.  Debian's jemalloc
 * uses initial-exec TLS, more than glibc keeps spare for dlopen, so the
 * benchmark re-executes itself once, at start-up, with the tunable
 * glibc.rtld.optional_static_tls raised (set MMK_BENCH_NO_REEXEC=1 to
 * skip that, e.g. under valgrind; jemalloc is then reported absent).
 */
#include "bench.h"

#include <mmk_hosted.h>
#include <mmkit/slab.h>

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIFO_ITERS  5000000L
#define RANDOM_LIVE 1000000L

static void *(*je_mallocx)(size_t, int);
static void (*je_dallocx)(void *, int);
static void *(*mi_malloc_p)(size_t);
static void (*mi_free_p)(void *);
static struct mmk_slab_cache *cur_cache;

/*
 * Runs before main (glibc passes argc/argv to ELF constructors).  Nothing
 * has run yet, so re-executing loses nothing.
 */
__attribute__((constructor)) static void reexec_for_static_tls(int argc,
							       char **argv)
{
	const char *t = getenv("GLIBC_TUNABLES");
	if (argc < 1 || getenv("MMK_BENCH_NO_REEXEC") ||
	    (t && strstr(t, "optional_static_tls")))
		return;
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s%sglibc.rtld.optional_static_tls=65536",
		 t ? t : "", t ? ":" : "");
	setenv("GLIBC_TUNABLES", buf, 1);
	setenv("MMK_BENCH_NO_REEXEC", "1", 1); /* once, whatever happens */
	execv("/proc/self/exe", argv);
	/* exec failed: carry on; jemalloc may then be reported absent */
}

static void load_peers(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	void *h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
	if (h) {
		je_mallocx = (void *(*)(size_t, int))dlsym(h, "mallocx");
		je_dallocx = (void (*)(void *, int))dlsym(h, "dallocx");
		if (!je_mallocx || !je_dallocx)
			je_mallocx = NULL;
	} else {
		fprintf(stderr, "bench_slab: no jemalloc: %s\n", dlerror());
	}
	h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
	if (h) {
		mi_malloc_p = (void *(*)(size_t))dlsym(h, "mi_malloc");
		mi_free_p = (void (*)(void *))dlsym(h, "mi_free");
		if (!mi_malloc_p || !mi_free_p)
			mi_malloc_p = NULL;
	} else {
		fprintf(stderr, "bench_slab: no mimalloc: %s\n", dlerror());
	}
	/* Keep glibc from giving its heap back between repetitions: every
	 * allocator then works on memory it already holds, like ours. */
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	mallopt(M_TOP_PAD, 64 << 20);
}

/*
 * One body per allocator, with direct calls, so no allocator pays for an
 * extra indirection the others do not.  Not inlined, so that callgrind
 * can count each one's instructions:
 *   MMK_BENCH_QUICK=1 MMK_BENCH_NO_REEXEC=1 valgrind --tool=callgrind \
 *     --toggle-collect=lifo_mmk --toggle-collect=lifo_glibc \
 *     --toggle-collect=lifo_mi mmkit-bench -f slab_alloc_free_64_lifo
 *   callgrind_annotate --inclusive=yes callgrind.out.* | grep lifo_
 * gives each body's total over 4 rounds (warm-up + 3) of LIFO_ITERS pairs.
 */
#define DEFINE_RUNS(tag, ALLOC, FREE)                                          \
	static __attribute__((noinline)) double lifo_##tag(size_t size)        \
	{                                                                      \
		uint64_t t0 = mmk_bench_now_ns();                              \
		for (long i = 0; i < LIFO_ITERS; i++) {                        \
			void *p = ALLOC(size);                                 \
			MMK_BENCH_SINK(p);                                     \
			FREE(p);                                               \
		}                                                              \
		return (double)(mmk_bench_now_ns() - t0) / LIFO_ITERS;         \
	}                                                                      \
	static __attribute__((noinline)) double random_##tag(                  \
		size_t size, void **v, uint64_t seed)                          \
	{                                                                      \
		uint64_t t0 = mmk_bench_now_ns();                              \
		for (long i = 0; i < RANDOM_LIVE; i++) {                       \
			v[i] = ALLOC(size);                                    \
			MMK_BENCH_SINK(v[i]);                                  \
		}                                                              \
		uint64_t t1 = mmk_bench_now_ns();                              \
		shuffle(v, RANDOM_LIVE, seed);                                 \
		uint64_t t2 = mmk_bench_now_ns();                              \
		for (long i = 0; i < RANDOM_LIVE; i++)                         \
			FREE(v[i]);                                            \
		uint64_t t3 = mmk_bench_now_ns();                              \
		return (double)((t1 - t0) + (t3 - t2)) / RANDOM_LIVE;          \
	}

static void shuffle(void **v, long n, uint64_t seed)
{
	for (long i = n - 1; i > 0; i--) {
		seed ^= seed >> 12;
		seed ^= seed << 25;
		seed ^= seed >> 27;
		long j = (long)((seed * 0x2545F4914F6CDD1DULL) %
				(uint64_t)(i + 1));
		void *t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

#define JE_ALLOC(n) je_mallocx(n, 0)
#define JE_FREE(p)  je_dallocx(p, 0)
#define MI_ALLOC(n) mi_malloc_p(n)
#define MI_FREE(p)  mi_free_p(p)
#define SC_ALLOC(n) ((void)(n), mmk_slab_alloc(cur_cache))
#define SC_FREE(p)  mmk_slab_free(cur_cache, p)

DEFINE_RUNS(mmk, mmk_kmalloc, mmk_kfree)
DEFINE_RUNS(cache, SC_ALLOC, SC_FREE)
DEFINE_RUNS(glibc, malloc, free)
DEFINE_RUNS(je, JE_ALLOC, JE_FREE)
DEFINE_RUNS(mi, MI_ALLOC, MI_FREE)

enum { A_MMK, A_CACHE, A_GLIBC, A_JE, A_MI, A_COUNT };

static bool available(int a)
{
	return (a != A_JE || je_mallocx) && (a != A_MI || mi_malloc_p);
}

static double run_one(int a, bool lifo, size_t size, void **v, uint64_t seed)
{
	switch (a) {
	case A_MMK:
		return lifo ? lifo_mmk(size) : random_mmk(size, v, seed);
	case A_CACHE:
		return lifo ? lifo_cache(size) : random_cache(size, v, seed);
	case A_GLIBC:
		return lifo ? lifo_glibc(size) : random_glibc(size, v, seed);
	case A_JE:
		return lifo ? lifo_je(size) : random_je(size, v, seed);
	default:
		return lifo ? lifo_mi(size) : random_mi(size, v, seed);
	}
}

static void alloc_free(size_t size, bool lifo)
{
	load_peers();
	struct mmk_frames *fa = mmk_hosted_frames_new();
	if (mmk_kmalloc_init(fa) != 0)
		abort();
	cur_cache = mmk_slab_create(fa, "bench", size, 0, NULL);
	void **v = malloc(RANDOM_LIVE * sizeof(*v));
	memset(v, 0, RANDOM_LIVE * sizeof(*v));
	int reps = mmk_bench_reps();
	double med[A_COUNT], t[A_COUNT][8];
	/*
	 * A warm-up round first (r = -1): each allocator then runs on memory
	 * it already took from the system (or the arena).  Allocators take
	 * turns within each repetition, so a noisy moment on a shared
	 * machine hits all of them alike.
	 */
	for (int r = -1; r < reps; r++)
		for (int a = 0; a < A_COUNT; a++)
			if (available(a)) {
				double x = run_one(a, lifo, size, v,
						   2 + (uint64_t)r);
				if (r >= 0)
					t[a][r] = x;
			}
	for (int a = 0; a < A_COUNT; a++)
		if (available(a))
			med[a] = mmk_bench_median(t[a], reps);
	char metric[64];
	snprintf(metric, sizeof(metric), "slab.alloc_free_%zu", size);
	struct mmk_bench_result res = {
		.metric = metric,
		.n = lifo ? 1 : RANDOM_LIVE,
		.value = med[A_MMK],
		.unit = "ns/op",
		.goal = 1.0,
		.goal_dir = -1,
	};
	static const char *const keys[A_COUNT] = {NULL, "slab.cache",
						  "peer.glibc", "peer.jemalloc",
						  "peer.mimalloc"};
	int k = 0;
	double best = 0;
	for (int a = A_CACHE; a < A_COUNT; a++) {
		if (!available(a))
			continue;
		res.extra[k].key = keys[a];
		res.extra[k++].value = med[a];
		if (a != A_CACHE && (best == 0 || med[a] < best))
			best = med[a];
	}
	res.bound = best;
	mmk_bench_report(&res);
	free(v);
	if (mmk_slab_destroy(cur_cache) != 0 || mmk_kmalloc_fini() != 0)
		abort();
	mmk_hosted_frames_destroy(fa);
}

MMK_BENCH(bench_slab_alloc_free_64_lifo, 20)
{
	alloc_free(64, true);
}

MMK_BENCH(bench_slab_alloc_free_64_random, 21)
{
	alloc_free(64, false);
}

MMK_BENCH(bench_slab_alloc_free_512_lifo, 22)
{
	alloc_free(512, true);
}

MMK_BENCH(bench_slab_alloc_free_512_random, 23)
{
	alloc_free(512, false);
}

MMK_BENCH(bench_slab_overhead, 24)
{
	struct mmk_frames *fa = mmk_hosted_frames_new();
	struct mmk_frame_stats s0, s1;
	mmk_frames_stats(fa, &s0);
	if (mmk_kmalloc_init(fa) != 0)
		abort();
	void **v = malloc(RANDOM_LIVE * sizeof(*v));
	for (long i = 0; i < RANDOM_LIVE; i++)
		if (!(v[i] = mmk_kmalloc(64)))
			abort();
	mmk_frames_stats(fa, &s1);
	double frames = (double)(s1.allocated_pages - s0.allocated_pages) *
			MMK_PAGE_SIZE;
	struct mmk_slab_stats st;
	mmk_slab_stats(mmk_kmalloc_cache(64), &st);
	struct mmk_bench_result res = {
		.metric = "slab.overhead",
		.n = RANDOM_LIVE,
		.value = frames / (64.0 * RANDOM_LIVE),
		.unit = "B/B",
		.goal = 1.1,
		.goal_dir = -1,
		.goal_abs = 1,
		.extra = {{"slabs_only", (double)(st.slabs * st.slab_bytes) /
						 (64.0 * RANDOM_LIVE)}},
	};
	mmk_bench_report(&res);
	for (long i = 0; i < RANDOM_LIVE; i++)
		mmk_kfree(v[i]);
	free(v);
	if (mmk_kmalloc_fini() != 0)
		abort();
	mmk_hosted_frames_destroy(fa);
}
