/* SPDX-License-Identifier: MIT */
/*
 * Slab caches and kmalloc, normal build: randomized sequences against a
 * model, leak reports, frames coming back, injected frame-allocation
 * failure at every point, bad and double frees.
 */
#include "mmk_test.h"

#include <mmkit/slab.h>

#include <stdio.h>
#include <string.h>

static struct mmk_frames *fa;
static long frames0; /* live frames when the test started */

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	frames0 = mmk_hosted_live_frames();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	mmk_hosted_frames_destroy(fa);
	fa = NULL;
	mmk_hosted_discard();
	return 0;
}

static void assert_frames_back(void)
{
	assert_int_equal(mmk_hosted_live_frames(), frames0);
	assert_int_equal(mmk_frames_check(fa), 0);
}

static void assert_log_names(const char *a, const void *p)
{
	char buf[32];
	const char *line = mmk_hosted_last_log();
	if (!strstr(line, a))
		fail_msg("last log line \"%s\" lacks \"%s\"", line, a);
	if (p) {
		snprintf(buf, sizeof(buf), "%p", p);
		if (!strstr(line, buf))
			fail_msg("last log line \"%s\" lacks %s", line, buf);
	}
}

/* ------------------------------------------------------------- model */

struct live {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static int cmp_live(const void *a, const void *b)
{
	const struct live *x = a, *y = b;
	return x->p < y->p ? -1 : x->p > y->p;
}

static void fill(struct live *l)
{
	for (size_t i = 0; i < l->size; i++)
		l->p[i] = (unsigned char)(l->tag + i * 7);
}

static void verify(const struct live *l)
{
	for (size_t i = 0; i < l->size; i++)
		if (l->p[i] != (unsigned char)(l->tag + i * 7))
			fail_msg("object %p (size %zu) byte %zu changed",
				 (void *)l->p, l->size, i);
}

/* No two live objects overlap: sort by address, compare neighbours. */
static void assert_disjoint(struct live *v, size_t n, size_t (*span)(void *))
{
	struct live *s = malloc(n * sizeof(*s) + 1);
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_live);
	for (size_t i = 1; i < n; i++)
		if (s[i - 1].p + span(s[i - 1].p) > s[i].p)
			fail_msg("objects %p and %p overlap",
				 (void *)s[i - 1].p, (void *)s[i].p);
	free(s);
}

static size_t ksize_span(void *p)
{
	return mmk_ksize(p);
}

/* The alignment kmalloc promises for @size. */
static size_t kmalloc_align(size_t size)
{
	if (size > MMK_KMALLOC_MAX_CLASS)
		return 4096;
	struct mmk_slab_stats st;
	mmk_slab_stats(mmk_kmalloc_cache(size), &st);
	size_t cls = st.obj_size;
	return cls & -cls;
}

/*
 * Random kmalloc/kfree over sizes drawn by @pick, against a model: bytes
 * preserved, no overlap, alignment, usable size.
 */
static void kmalloc_model_run(uint64_t seed, size_t (*pick)(uint64_t *),
			      int steps, size_t maxlive)
{
	struct live *v = calloc(maxlive, sizeof(*v));
	size_t n = 0;
	for (int step = 0; step < steps; step++) {
		uint64_t r = mmk_test_rand(&seed);
		if (n < maxlive && (n == 0 || r % 100 < 55)) {
			size_t size = pick(&seed);
			unsigned char *p = mmk_kmalloc(size);
			assert_non_null(p);
			assert_true(((uintptr_t)p &
				     (kmalloc_align(size) - 1)) == 0);
			assert_true(mmk_ksize(p) >= size);
			v[n] = (struct live){p, size, (unsigned char)r};
			fill(&v[n]);
			n++;
		} else {
			size_t i = (r >> 8) % n;
			verify(&v[i]);
			mmk_kfree(v[i].p);
			v[i] = v[--n];
		}
		if (step % 4096 == 0)
			assert_disjoint(v, n, ksize_span);
	}
	assert_disjoint(v, n, ksize_span);
	while (n) {
		verify(&v[n - 1]);
		mmk_kfree(v[--n].p);
	}
	free(v);
}

static const size_t classes[] = {8,    16,   32,   48,	 64,  96,   128,
				 192,  256,  384,  512,	 768, 1024, 1536,
				 2048, 3072, 4096, 6144, 8192};
static size_t cur_class;

/* Sizes that land in the class cur_class: anything above the previous. */
static size_t pick_in_class(uint64_t *s)
{
	size_t lo = cur_class ? classes[cur_class - 1] + 1 : 1;
	return lo + mmk_test_rand(s) % (classes[cur_class] - lo + 1);
}

static void kmalloc_every_size_class_matches_model(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	for (cur_class = 0; cur_class < MMK_ARRAY_SIZE(classes); cur_class++) {
		size_t maxlive = classes[cur_class] <= 512 ? 3000 : 300;
		kmalloc_model_run(mmk_test_seed(77) + cur_class, pick_in_class,
				  20000, maxlive);
		struct mmk_slab_cache *c =
			mmk_kmalloc_cache(classes[cur_class]);
		assert_int_equal(mmk_slab_check(c), 0);
		struct mmk_slab_stats st;
		mmk_slab_stats(c, &st);
		assert_int_equal(st.obj_size, classes[cur_class]);
		assert_int_equal(st.live, 0);
	}
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

static size_t pick_any(uint64_t *s)
{
	uint64_t r = mmk_test_rand(s);
	switch (r % 8) {
	case 0:
		return 1 + (r >> 8) % 40000; /* sometimes large */
	case 1:
	case 2:
		return 1 + (r >> 8) % 8192;
	default:
		return 1 + (r >> 8) % 256;
	}
}

static void kmalloc_mixed_sizes_match_model(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	kmalloc_model_run(mmk_test_seed(5), pick_any, 60000, 2000);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

static void kmalloc_aligned_honours_alignment(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	void *keep[64];
	int n = 0;
	/* beyond a page only as far as the arena's own alignment goes */
	size_t max_align = 4096;
	while (max_align < 65536 &&
	       !((uintptr_t)mmk_hosted_arena() & (2 * max_align - 1)))
		max_align *= 2;
	for (size_t align = 1; align <= max_align; align *= 2) {
		for (size_t size = 1; size <= 20000; size = size * 3 + 1) {
			unsigned char *p = mmk_kmalloc_aligned(size, align);
			assert_non_null(p);
			assert_true(((uintptr_t)p & (align - 1)) == 0);
			assert_true(mmk_ksize(p) >= size);
			memset(p, 0x5a, size);
			if (n < 64)
				keep[n++] = p;
			else
				mmk_kfree(p);
		}
	}
	while (n)
		mmk_kfree(keep[--n]);
	assert_null(mmk_kmalloc_aligned(64, 3));
	assert_null(mmk_kmalloc_aligned(0, 8));
	assert_null(mmk_kmalloc(0));
	mmk_kfree(NULL);
	assert_int_equal(mmk_ksize(NULL), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

/*
 * Virtual addresses that do not keep the page offsets of physical ones
 * (mmk_hal_pv_offset not page-aligned) would make slab alignment a
 * physical fact only: kmalloc and slab caches refuse them, with nothing
 * kept.  With a page-aligned offset, mmk_kmalloc_aligned(8192, 4096) and
 * the other classes up to a page hold in virtual addresses.
 */
static void unaligned_linear_map_offset_is_refused(void **state)
{
	(void)state;
	uintptr_t pv = mmk_hal_pv_offset;
	long before = mmk_hosted_live_frames();
	for (uintptr_t skew = 8; skew < MMK_PAGE_SIZE; skew *= 4) {
		mmk_hal_pv_offset = pv + skew;
		assert_int_equal(mmk_kmalloc_init(fa), MMK_EINVAL);
		assert_null(mmk_slab_create(fa, "skewed", 64, 0, NULL));
		assert_null(mmk_slab_create(fa, "skewed", 64, 4096, NULL));
		mmk_hal_pv_offset = pv;
		assert_int_equal(mmk_hosted_live_frames(), before);
		assert_int_equal(mmk_frames_check(fa), 0);
	}
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	assert_null(mmk_kmalloc_cache(0));
	for (size_t size = 4096; size <= 3 * 8192; size += 2048) {
		void *p = mmk_kmalloc_aligned(size, 4096);
		assert_non_null(p);
		assert_true(((uintptr_t)p & 4095) == 0);
		assert_true(mmk_ksize(p) >= size);
		mmk_kfree(p);
	}
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

static void kzalloc_zeroes_and_large_blocks_are_page_aligned(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	for (size_t size = 1; size < 200000; size = size * 2 + 3) {
		unsigned char *p = mmk_kmalloc(size);
		memset(p, 0xff, size);
		mmk_kfree(p);
		p = mmk_kzalloc(size);
		assert_non_null(p);
		for (size_t i = 0; i < size; i++)
			assert_int_equal(p[i], 0);
		if (size > MMK_KMALLOC_MAX_CLASS) {
			assert_true(((uintptr_t)p & 4095) == 0);
			assert_true(mmk_ksize(p) >= size &&
				    mmk_ksize(p) < 2 * size + 4096);
		}
		mmk_kfree(p);
	}
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

/* ------------------------------------------------------- user caches */

static int ctor_calls;

static void ctor_stamp(void *obj)
{
	ctor_calls++;
	memcpy(obj, "CONSTRUCTED", 12);
}

static void caches_of_odd_sizes_and_alignments_match_model(void **state)
{
	(void)state;
	static const size_t sizes[] = {1,    3,	   7,	  8,	12,
				       24,   40,   100,	  264,	1000,
				       3000, 5000, 12000, 70000};
	static const size_t aligns[] = {0, 1, 4, 16, 64, 256, 4096};
	uint64_t seed = mmk_test_seed(9);
	for (size_t si = 0; si < MMK_ARRAY_SIZE(sizes); si++) {
		size_t size = sizes[si];
		size_t align =
			aligns[mmk_test_rand(&seed) % MMK_ARRAY_SIZE(aligns)];
		struct mmk_slab_cache *c =
			mmk_slab_create(fa, "odd", size, align, NULL);
		assert_non_null(c);
		size_t maxlive = size < 1000 ? 2000 : 100;
		struct live *v = calloc(maxlive, sizeof(*v));
		size_t n = 0;
		for (int step = 0; step < 10000; step++) {
			uint64_t r = mmk_test_rand(&seed);
			if (n < maxlive && (n == 0 || r % 100 < 55)) {
				unsigned char *p = mmk_slab_alloc(c);
				assert_non_null(p);
				if (align)
					assert_true(((uintptr_t)p &
						     (align - 1)) == 0);
				v[n] = (struct live){p, size, (unsigned char)r};
				fill(&v[n++]);
			} else {
				size_t i = (r >> 8) % n;
				verify(&v[i]);
				mmk_slab_free(c, v[i].p);
				v[i] = v[--n];
			}
		}
		struct mmk_slab_stats st;
		mmk_slab_stats(c, &st);
		assert_int_equal(st.live, n);
		assert_true(st.stride >= size);
		struct live *s = v;
		qsort(s, n, sizeof(*s), cmp_live);
		for (size_t i = 1; i < n; i++)
			assert_true(s[i - 1].p + size <= s[i].p);
		assert_int_equal(mmk_slab_check(c), 0);
		while (n) {
			verify(&v[n - 1]);
			mmk_slab_free(c, v[--n].p);
		}
		free(v);
		assert_int_equal(mmk_slab_destroy(c), 0);
	}
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_frames_back();
}

static void constructor_runs_once_per_object_not_per_alloc(void **state)
{
	(void)state;
	ctor_calls = 0;
	struct mmk_slab_cache *c =
		mmk_slab_create(fa, "ctor", 32, 8, ctor_stamp);
	assert_non_null(c);
	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = mmk_slab_alloc(c);
		assert_memory_equal(p[i], "CONSTRUCTED", 12);
	}
	int calls = ctor_calls;
	struct mmk_slab_stats st;
	mmk_slab_stats(c, &st);
	assert_int_equal(calls, (int)(st.slabs * st.objs_per_slab));
	for (int i = 0; i < 100; i++)
		mmk_slab_free(c, p[i]);
	for (int i = 0; i < 100; i++)
		p[i] = mmk_slab_alloc(c);
	assert_int_equal(ctor_calls, calls);
	for (int i = 0; i < 100; i++)
		mmk_slab_free(c, p[i]);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_frames_back();
}

static void create_rejects_bad_arguments(void **state)
{
	(void)state;
	assert_null(mmk_slab_create(fa, "x", 0, 8, NULL));
	assert_null(mmk_slab_create(fa, "x", 8, 3, NULL));
	assert_null(mmk_slab_create(fa, "x", 8, 8192, NULL));
	assert_null(mmk_slab_create(fa, "x", MMK_SLAB_MAX_OBJ + 1, 8, NULL));
	assert_null(mmk_slab_create(NULL, "x", 8, 8, NULL));
	struct mmk_slab_cache *c = mmk_slab_create(fa, NULL, 8, 0, NULL);
	assert_non_null(c);
	assert_string_equal(mmk_slab_name(c), "?");
	assert_int_equal(mmk_slab_destroy(c), 0);
	c = mmk_slab_create(fa, "a-very-long-cache-name-indeed", 8, 0, NULL);
	assert_string_equal(mmk_slab_name(c), "a-very-long-cache-name-");
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_frames_back();
}

static void destroy_reports_live_objects_and_keeps_the_cache(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "leaky", 64, 0, NULL);
	void *p[200];
	for (int i = 0; i < 200; i++)
		p[i] = mmk_slab_alloc(c);
	for (int i = 0; i < 197; i++)
		mmk_slab_free(c, p[i]);
	assert_int_equal(mmk_slab_destroy(c), MMK_EBUSY);
	/* 3 leaked objects, each named, then the summary. */
	assert_int_equal(mmk_hosted_log_errors(), 4);
	assert_log_names("leaky", NULL);
	assert_log_names("3 live", NULL);
	assert_int_equal(mmk_slab_check(c), 0);
	/* still usable */
	void *q = mmk_slab_alloc(c);
	assert_non_null(q);
	mmk_slab_free(c, q);
	for (int i = 197; i < 200; i++)
		mmk_slab_free(c, p[i]);
	mmk_hosted_log_reset(true);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_frames_back();
}

static void kmalloc_fini_reports_leaks(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	assert_int_equal(mmk_kmalloc_init(fa), MMK_EBUSY);
	void *a = mmk_kmalloc(100);
	void *b = mmk_kmalloc(100000);
	assert_int_equal(mmk_kmalloc_fini(), MMK_EBUSY);
	assert_true(mmk_hosted_log_errors() >= 2);
	mmk_kfree(a);
	assert_int_equal(mmk_kmalloc_fini(), MMK_EBUSY); /* b still live */
	mmk_kfree(b);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

static void empty_slabs_go_back_beyond_a_reserve(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "reserve", 256, 0, NULL);
	enum { N = 5000 };
	void **p = malloc(N * sizeof(*p));
	long before = mmk_hosted_live_frames();
	for (int i = 0; i < N; i++)
		p[i] = mmk_slab_alloc(c);
	struct mmk_slab_stats st;
	mmk_slab_stats(c, &st);
	assert_true(st.slabs >= N / st.objs_per_slab);
	for (int i = 0; i < N; i++)
		mmk_slab_free(c, p[i]);
	mmk_slab_stats(c, &st);
	/* what the magazine holds, plus at most the reserve */
	assert_true(st.slabs <= 2);
	assert_true(mmk_hosted_live_frames() - before <=
		    (long)(2 * st.slab_bytes / 4096));
	mmk_slab_shrink(c);
	mmk_slab_stats(c, &st);
	assert_int_equal(st.slabs, 0);
	assert_int_equal(st.cached, 0);
	assert_int_equal(mmk_slab_check(c), 0);
	free(p);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_frames_back();
}

/* --------------------------------------------------------- bad frees */

static void double_free_is_reported_in_normal_mode(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "twice", 64, 0, NULL);
	void *p = mmk_slab_alloc(c);
	void *q = mmk_slab_alloc(c);
	/* the last object freed on this CPU: caught at once */
	mmk_slab_free(c, p);
	mmk_slab_free(c, p);
	assert_int_equal(mmk_hosted_log_errors(), 1);
	assert_log_names("double free", p);
	assert_log_names("twice", NULL);
	/* further down the magazine: caught when it reaches its slab */
	mmk_slab_free(c, q);
	mmk_slab_free(c, p);
	mmk_slab_shrink(c);
	assert_int_equal(mmk_hosted_log_errors(), 2);
	assert_log_names("double free", p);
	assert_int_equal(mmk_slab_check(c), 0);
	/* the cache is whole: every object once */
	struct mmk_slab_stats st;
	mmk_slab_stats(c, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(mmk_slab_destroy(c), 0);

	assert_int_equal(mmk_kmalloc_init(fa), 0);
	void *big = mmk_kmalloc(50000);
	mmk_kfree(big);
	mmk_kfree(big);
	assert_int_equal(mmk_hosted_log_errors(), 3);
	assert_log_names("kmalloc", big);
	void *s = mmk_kmalloc(24);
	mmk_kfree(s);
	mmk_kfree(s);
	assert_int_equal(mmk_hosted_log_errors(), 4);
	assert_log_names("kmalloc-32", s);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

static void bad_pointers_are_reported_not_freed(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	char *p = mmk_kmalloc(64);
	mmk_kfree(p + 8);
	assert_int_equal(mmk_hosted_log_errors(), 1);
	assert_log_names("kmalloc", p + 8);
	struct mmk_slab_cache *c = mmk_slab_create(fa, "other", 64, 0, NULL);
	mmk_slab_free(c, p); /* p is kmalloc-64's, not other's */
	assert_int_equal(mmk_hosted_log_errors(), 2);
	assert_log_names("other", p);
	char *big = mmk_kmalloc(3 * 4096);
	mmk_kfree(big + 4096); /* inside a large block */
	assert_int_equal(mmk_hosted_log_errors(), 3);
	assert_int_equal(mmk_ksize(big + 4096), 0);
	assert_int_equal(mmk_ksize(p + 8), 0);
	mmk_kfree(big);
	mmk_kfree(p);
	assert_int_equal(mmk_hosted_log_errors(), 3);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

/* ------------------------------------------------- injected failures */

/*
 * Allocate a mix from two caches and kmalloc with the @nth frame
 * allocation failing: every NULL is clean, the caches stay consistent,
 * and once everything is freed every frame is back.  Returns whether the
 * failure point was reached.
 */
static long last_attempts;

static bool run_with_failure_at(long nth)
{
	enum { N = 3000 };
	static void *objs[N];
	static int kind[N];
	if (mmk_kmalloc_init(fa) != 0) { /* failed inside: nothing kept */
		mmk_hosted_fail_off();
		assert_frames_back();
		return true;
	}
	struct mmk_slab_cache *c1 = mmk_slab_create(fa, "f1", 200, 0, NULL);
	struct mmk_slab_cache *c2 = mmk_slab_create(fa, "f2", 5000, 64, NULL);
	bool failed = false;
	if (!c1 || !c2) {
		failed = true;
		goto out;
	}
	uint64_t seed = 42;
	int n = 0;
	for (int i = 0; i < N; i++) {
		uint64_t r = mmk_test_rand(&seed);
		void *p;
		int k = (int)(r % 4);
		if (k == 0)
			p = mmk_slab_alloc(c1);
		else if (k == 1)
			p = mmk_slab_alloc(c2);
		else if (k == 2)
			p = mmk_kmalloc(1 + (r >> 8) % 8192);
		else
			p = mmk_kmalloc(1 + (r >> 8) % 30000);
		if (!p) {
			failed = true;
			continue;
		}
		memset(p, 0x33, 1);
		objs[n] = p;
		kind[n++] = k;
		if (r % 5 == 0) { /* free one at random */
			int j = (int)((r >> 20) % (unsigned)n);
			if (kind[j] == 0)
				mmk_slab_free(c1, objs[j]);
			else if (kind[j] == 1)
				mmk_slab_free(c2, objs[j]);
			else
				mmk_kfree(objs[j]);
			objs[j] = objs[--n];
			kind[j] = kind[n];
		}
	}
	assert_int_equal(mmk_slab_check(c1), 0);
	assert_int_equal(mmk_slab_check(c2), 0);
	for (int i = 0; i < n; i++) {
		if (kind[i] == 0)
			mmk_slab_free(c1, objs[i]);
		else if (kind[i] == 1)
			mmk_slab_free(c2, objs[i]);
		else
			mmk_kfree(objs[i]);
	}
out:
	last_attempts = mmk_hosted_attempts(MMK_FAIL_FRAME);
	failed = failed || mmk_hosted_injected(MMK_FAIL_FRAME) > 0;
	mmk_hosted_fail_off();
	if (c1)
		assert_int_equal(mmk_slab_destroy(c1), 0);
	if (c2)
		assert_int_equal(mmk_slab_destroy(c2), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_frames_back();
	(void)nth;
	return failed;
}

static void frame_failure_at_every_point_leaves_caches_consistent(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	run_with_failure_at(0);
	long total = last_attempts;
	assert_true(total > 50);
	for (long nth = 1; nth <= total; nth++) {
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, nth);
		assert_true(run_with_failure_at(nth));
	}
	/* and with every allocation failing from some point on */
	for (long after = 0; after <= total; after += 7) {
		mmk_hosted_fail_after(MMK_FAIL_FRAME, after);
		run_with_failure_at(after);
	}
}

static void out_of_memory_returns_null_then_recovers(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	struct mmk_slab_cache *c = mmk_kmalloc_cache(64);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	int got = 0;
	void *p[MMK_CFG_SLAB_MAG * 2];
	/* a new allocator has no slab: nothing at all */
	assert_null(mmk_kmalloc(64));
	assert_null(mmk_kmalloc(100000));
	assert_int_equal(mmk_slab_check(c), 0);
	mmk_hosted_fail_off();
	p[got++] = mmk_kmalloc(64);
	assert_non_null(p[0]);
	/* with one slab, allocation goes on until the slab is used up */
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	struct mmk_slab_stats st;
	mmk_slab_stats(c, &st);
	size_t limit = st.objs_per_slab;
	void **all = malloc(limit * sizeof(*all));
	size_t n = 0;
	all[n++] = p[0];
	void *q;
	while ((q = mmk_kmalloc(64)) != NULL) {
		assert_true(n < limit);
		all[n++] = q;
	}
	assert_int_equal(n, limit);
	assert_int_equal(mmk_slab_check(c), 0);
	mmk_hosted_fail_off();
	q = mmk_kmalloc(64);
	assert_non_null(q);
	mmk_kfree(q);
	while (n)
		mmk_kfree(all[--n]);
	free(all);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_frames_back();
}

/*
 * mmk_kfree pushes through the cache it last freed to when the slab header
 * names that one (a hint): frees that alternate between classes, and the
 * first free after a fini and a new init (the caches made again, perhaps
 * at the same addresses), must each land in the object's own cache.
 */
static void kfree_alternating_classes_land_in_their_caches(void **state)
{
	(void)state;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(mmk_kmalloc_init(fa), 0);
		struct mmk_slab_cache *c64 = mmk_kmalloc_cache(64);
		struct mmk_slab_cache *c512 = mmk_kmalloc_cache(512);
		struct mmk_slab_stats s64, s512;
		enum { N = 300 };
		void *a[N], *b[N];
		for (int i = 0; i < N; i++) {
			a[i] = mmk_kmalloc(64);
			b[i] = mmk_kmalloc(512);
			assert_non_null(a[i]);
			assert_non_null(b[i]);
		}
		for (int i = 0; i < N; i++) {
			mmk_kfree(b[i]);
			mmk_kfree(a[i]);
			mmk_slab_stats(c64, &s64);
			mmk_slab_stats(c512, &s512);
			assert_int_equal(s64.live, (size_t)(N - 1 - i));
			assert_int_equal(s512.live, (size_t)(N - 1 - i));
		}
		/* LIFO per class: the last freed of each comes back first. */
		void *x = mmk_kmalloc(64), *y = mmk_kmalloc(512);
		assert_ptr_equal(x, a[N - 1]);
		assert_ptr_equal(y, b[N - 1]);
		mmk_kfree(y);
		mmk_kfree(x);
		assert_int_equal(mmk_slab_check(c64), MMK_OK);
		assert_int_equal(mmk_slab_check(c512), MMK_OK);
		assert_int_equal(mmk_kmalloc_fini(), 0);
	}
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_frames_back();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			kmalloc_every_size_class_matches_model, setup,
			teardown),
		cmocka_unit_test_setup_teardown(kmalloc_mixed_sizes_match_model,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			kmalloc_aligned_honours_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(
			unaligned_linear_map_offset_is_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			kzalloc_zeroes_and_large_blocks_are_page_aligned, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			caches_of_odd_sizes_and_alignments_match_model, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			constructor_runs_once_per_object_not_per_alloc, setup,
			teardown),
		cmocka_unit_test_setup_teardown(create_rejects_bad_arguments,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			destroy_reports_live_objects_and_keeps_the_cache, setup,
			teardown),
		cmocka_unit_test_setup_teardown(kmalloc_fini_reports_leaks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			kfree_alternating_classes_land_in_their_caches, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			empty_slabs_go_back_beyond_a_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(
			double_free_is_reported_in_normal_mode, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			bad_pointers_are_reported_not_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			frame_failure_at_every_point_leaves_caches_consistent,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			out_of_memory_returns_null_then_recovers, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
