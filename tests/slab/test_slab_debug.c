/* SPDX-License-Identifier: MIT */
/*
 * Debug mode (the slab sources compiled into this test with
 * MMK_CFG_SLAB_DEBUG=1): a one-byte overrun, a write after free and a
 * double free are each reported, naming the cache and the object.
 */
#include "mmk_test.h"

#include <mmkit/slab.h>

#include <stdio.h>
#include <string.h>

static struct mmk_frames *fa;
static long frames0;

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
	mmk_hosted_frames_destroy(fa);
	mmk_hosted_discard();
	return 0;
}

/* Exactly @n errors so far, the last naming @what, @cache and @p. */
static void assert_reported(long n, const char *what, const char *cache,
			    const void *p)
{
	char buf[32];
	const char *line = mmk_hosted_last_log();
	snprintf(buf, sizeof(buf), "%p", p);
	if (mmk_hosted_log_errors() != n || !strstr(line, what) ||
	    !strstr(line, cache) || !strstr(line, buf))
		fail_msg("want %ld errors, last \"%s\" %s %s; got %ld, \"%s\"",
			 n, what, cache, buf, mmk_hosted_log_errors(), line);
}

static void one_byte_overrun_is_reported(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "dbg40", 40, 8, NULL);
	unsigned char *p = mmk_slab_alloc(c);
	memset(p, 1, 40); /* all of it: fine */
	mmk_slab_free(c, p);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	p = mmk_slab_alloc(c);
	p[40] = 1; /* one past */
	mmk_slab_free(c, p);
	assert_reported(1, "overrun", "dbg40", p);
	assert_int_equal(mmk_slab_destroy(c), 0);

	/* kmalloc: one byte past what was asked, inside the size class */
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	unsigned char *k = mmk_kmalloc(60);
	assert_int_equal(mmk_ksize(k), 60);
	k[60] = 0;
	mmk_kfree(k);
	assert_reported(2, "overrun", "kmalloc-64", k);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
}

static void write_after_free_is_reported(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "dbguaf", 128, 0, NULL);
	unsigned char *p = mmk_slab_alloc(c);
	mmk_slab_free(c, p);
	p[77] = 0;			      /* too late */
	unsigned char *q = mmk_slab_alloc(c); /* the same object, LIFO */
	assert_ptr_equal(p, q);
	assert_reported(1, "write after free", "dbguaf", p);
	mmk_slab_free(c, q);
	assert_int_equal(mmk_slab_destroy(c), 0);

	assert_int_equal(mmk_kmalloc_init(fa), 0);
	unsigned char *k = mmk_kmalloc(200);
	mmk_kfree(k);
	k[0] = 9;
	unsigned char *k2 = mmk_kmalloc(200);
	assert_ptr_equal(k, k2);
	assert_reported(2, "write after free", "kmalloc-256", k);
	mmk_kfree(k2);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
}

static void double_free_is_reported(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "dbg2x", 24, 0, NULL);
	void *p = mmk_slab_alloc(c);
	void *q = mmk_slab_alloc(c);
	mmk_slab_free(c, p);
	mmk_slab_free(c, q);
	mmk_slab_free(c, p); /* not on top of the magazine: trailer says */
	assert_reported(1, "double free", "dbg2x", p);
	assert_int_equal(mmk_slab_check(c), 0);
	assert_int_equal(mmk_slab_destroy(c), 0);

	assert_int_equal(mmk_kmalloc_init(fa), 0);
	void *k = mmk_kmalloc(1000);
	void *k2 = mmk_kmalloc(1000);
	mmk_kfree(k);
	mmk_kfree(k2);
	mmk_kfree(k);
	assert_reported(2, "double free", "kmalloc-1024", k);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
}

static void clean_use_reports_nothing(void **state)
{
	(void)state;
	assert_int_equal(mmk_kmalloc_init(fa), 0);
	uint64_t seed = mmk_test_seed(3);
	enum { N = 2000 };
	static unsigned char *live[N];
	static size_t sz[N];
	int n = 0;
	for (int step = 0; step < 50000; step++) {
		uint64_t r = mmk_test_rand(&seed);
		if (n < N && (n == 0 || r % 2)) {
			size_t size = 1 + (r >> 8) % 9000;
			unsigned char *p = mmk_kmalloc(size);
			assert_non_null(p);
			if (size <= MMK_KMALLOC_MAX_CLASS)
				assert_int_equal(mmk_ksize(p), size);
			memset(p, 0xee, size); /* every byte asked for */
			live[n] = p;
			sz[n++] = size;
		} else {
			int i = (int)((r >> 8) % (unsigned)n);
			mmk_kfree(live[i]);
			live[i] = live[--n];
			sz[i] = sz[n];
		}
	}
	while (n)
		mmk_kfree(live[--n]);
	void *a = mmk_kmalloc_aligned(100, 256);
	assert_true(((uintptr_t)a & 255) == 0);
	mmk_kfree(a);
	assert_int_equal(mmk_hosted_log_errors(), 0);
	assert_int_equal(mmk_kmalloc_fini(), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames0);
}

static int ctor_calls;
static void ctor(void *p)
{
	ctor_calls++;
	memset(p, 0x42, 16);
}

static void constructed_objects_are_not_poisoned(void **state)
{
	(void)state;
	struct mmk_slab_cache *c = mmk_slab_create(fa, "dbgctor", 16, 0, ctor);
	unsigned char *p = mmk_slab_alloc(c);
	for (int i = 0; i < 16; i++)
		assert_int_equal(p[i], 0x42);
	mmk_slab_free(c, p);
	p = mmk_slab_alloc(c);
	assert_int_equal(p[5], 0x42);
	p[16] = 0; /* still red-zoned */
	mmk_slab_free(c, p);
	assert_reported(1, "overrun", "dbgctor", p);
	assert_int_equal(mmk_slab_destroy(c), 0);
	assert_true(ctor_calls > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(one_byte_overrun_is_reported,
						setup, teardown),
		cmocka_unit_test_setup_teardown(write_after_free_is_reported,
						setup, teardown),
		cmocka_unit_test_setup_teardown(double_free_is_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(clean_use_reports_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			constructed_objects_are_not_poisoned, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
