/* SPDX-License-Identifier: MIT */
/*
 * The memory set: every error code mset.h documents, provoked for each
 * function, and each time the set is checked to be as it was (every area
 * with its fields, the structure's invariants, the live objects).
 * docs/ERRORS.md names the test of each (function, code) pair.
 *
 * The set of every test, one character per page (PG):
 *
 *   page  0    4    8   12   16   20
 *         ....[aaaaaaaa]....[bbbb]....
 */
#include "mmk_test.h"

#include <mmkit/mset.h>

#include <string.h>

#define PG 4096ull

static struct mmk_mset set;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	mmk_mset_init(&set);
	struct mmk_mset_area a = {.start = 4 * PG, .end = 12 * PG, .flags = 1};
	struct mmk_mset_area b = {.start = 16 * PG, .end = 20 * PG, .flags = 2};
	a.offset = a.start;
	b.offset = b.start;
	assert_int_equal(mmk_mset_insert(&set, &a, 0, NULL), 0);
	assert_int_equal(mmk_mset_insert(&set, &b, 0, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_hosted_fail_off();
	mmk_mset_destroy(&set);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	return 0;
}

#define MAXA 16
struct before {
	struct mmk_mset_area a[MAXA];
	size_t n;
	long objs;
};

static int grab(struct mmk_mset_area *a, void *arg)
{
	struct before *b = arg;
	assert_true(b->n < MAXA);
	b->a[b->n++] = *a;
	return 0;
}

static void take(struct before *b)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(mmk_mset_foreach(&set, 0, grab, b), 0);
	assert_int_equal(mmk_mset_count(&set), b->n);
	b->objs = mmk_hosted_live_objs();
}

static void unchanged(const struct before *b)
{
	struct before now;
	mmk_hosted_fail_off();
	assert_int_equal(mmk_mset_check(&set), 0);
	take(&now);
	assert_int_equal(now.n, b->n);
	for (size_t i = 0; i < b->n; i++) {
		assert_int_equal(now.a[i].start, b->a[i].start);
		assert_int_equal(now.a[i].end, b->a[i].end);
		assert_int_equal(now.a[i].offset, b->a[i].offset);
		assert_int_equal(now.a[i].flags, b->a[i].flags);
		assert_ptr_equal(now.a[i].kind, b->a[i].kind);
		assert_ptr_equal(now.a[i].priv, b->a[i].priv);
	}
	assert_int_equal(now.objs, b->objs);
}

#define FAILS(code, call)                                                      \
	do {                                                                   \
		struct before b_;                                              \
		take(&b_);                                                     \
		assert_int_equal((call), (code));                              \
		unchanged(&b_);                                                \
	} while (0)

/* Every object allocation from now on fails. */
#define FAILS_NOMEM(call)                                                      \
	do {                                                                   \
		struct before b_;                                              \
		take(&b_);                                                     \
		mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);                        \
		assert_int_equal((call), MMK_ENOMEM);                          \
		unchanged(&b_);                                                \
	} while (0)

static struct mmk_mset_area area(uint64_t first, uint64_t pages)
{
	struct mmk_mset_area a = {.start = first * PG,
				  .end = (first + pages) * PG,
				  .offset = first * PG,
				  .flags = 7};
	return a;
}

/* ---------------------------------------------------------------- insert */
typedef int (*insert_fn)(const struct mmk_mset_area *tmpl, unsigned mode);

static int insert_prepared(const struct mmk_mset_area *tmpl, unsigned mode)
{
	struct mmk_mset_txn t;
	return mmk_mset_prepare_insert(&set, tmpl, mode, &t);
}

static int insert_direct(const struct mmk_mset_area *tmpl, unsigned mode)
{
	struct mmk_mset_area *out = (struct mmk_mset_area *)&set;
	int err = mmk_mset_insert(&set, tmpl, mode, &out);
	assert_ptr_equal(out, (struct mmk_mset_area *)&set); /* untouched */
	return err;
}

static void insert_errors(insert_fn ins)
{
	struct mmk_mset_area t = area(0, 2), empty = area(0, 0);
	struct mmk_mset_area back = area(8, 0);
	back.end = 6 * PG; /* end below start */
	FAILS(MMK_EINVAL, ins(NULL, 0));
	FAILS(MMK_EINVAL, ins(&t, 0x4)); /* no such mode */
	FAILS(MMK_EWRAP, ins(&empty, 0));
	FAILS(MMK_EWRAP, ins(&back, 0));
	struct mmk_mset_area over = area(10, 4); /* across a's end */
	FAILS(MMK_EEXIST, ins(&over, 0));
	FAILS(MMK_EEXIST, ins(&over, MMK_MSET_NOMERGE));
	FAILS_NOMEM(ins(&t, 0));
	/* a replace that splits a in two needs more */
	struct mmk_mset_area mid = area(6, 2);
	FAILS_NOMEM(ins(&mid, MMK_MSET_REPLACE));
}

static void mset_prepare_insert_errors_change_nothing(void **state)
{
	(void)state;
	insert_errors(insert_prepared);
}

static void mset_insert_errors_change_nothing(void **state)
{
	(void)state;
	insert_errors(insert_direct);
}

/* --------------------------------------------------------- unmap, protect */
static int unmap_prepared(uint64_t start, uint64_t size)
{
	struct mmk_mset_txn t;
	return mmk_mset_prepare_unmap(&set, start, size, &t);
}

static int unmap_direct(uint64_t start, uint64_t size)
{
	return mmk_mset_unmap(&set, start, size);
}

static int protect_prepared(uint64_t start, uint64_t size)
{
	struct mmk_mset_txn t;
	return mmk_mset_prepare_protect(&set, start, size, 9, &t);
}

static int protect_direct(uint64_t start, uint64_t size)
{
	return mmk_mset_protect(&set, start, size, 9);
}

static void edit_errors(int (*edit)(uint64_t start, uint64_t size))
{
	FAILS(MMK_EWRAP, edit(4 * PG, 0));
	FAILS(MMK_EWRAP, edit(-PG, 2 * PG));
	/* the last byte of the 64-bit space can be in no range */
	FAILS(MMK_EWRAP, edit(-PG, PG));
	/* a hole in the middle of a: a split */
	FAILS_NOMEM(edit(6 * PG, 2 * PG));
}

static void mset_prepare_unmap_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(unmap_prepared);
}

static void mset_unmap_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(unmap_direct);
}

static void mset_prepare_protect_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(protect_prepared);
	/* an edge cut only: one piece */
	FAILS_NOMEM(protect_prepared(2 * PG, 4 * PG));
}

static void mset_protect_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(protect_direct);
	FAILS_NOMEM(protect_direct(2 * PG, 4 * PG));
}

/* -------------------------------------------------------------- find_free */
static void mset_find_free_errors_in_order(void **state)
{
	(void)state;
	mmk_vaddr_t out = 0x1234;
	unsigned up = MMK_MSET_BOTTOM_UP, down = MMK_MSET_TOP_DOWN;
	uint64_t lo = 0, hi = 32 * PG;
	FAILS(MMK_EALIGN,
	      mmk_mset_find_free(&set, 0, PG, lo, hi, 3 * PG, up, &out));
	FAILS(MMK_EALIGN, mmk_mset_find_free(&set, 0, PG, lo, hi, 0, up, &out));
	/* EALIGN comes first, then EWRAP */
	FAILS(MMK_EALIGN, mmk_mset_find_free(&set, 0, 0, lo, hi, 0, up, &out));
	FAILS(MMK_EWRAP, mmk_mset_find_free(&set, 0, 0, lo, hi, PG, up, &out));
	FAILS(MMK_EINVAL,
	      mmk_mset_find_free(&set, hi, PG, hi, hi, PG, up, &out));
	FAILS(MMK_EINVAL,
	      mmk_mset_find_free(&set, hi, PG, hi, lo, PG, up, &out));
	FAILS(MMK_EINVAL, mmk_mset_find_free(&set, 0, PG, lo, hi, PG, 2, &out));
	FAILS(MMK_ERANGE,
	      mmk_mset_find_free(&set, hi + PG, PG, lo, hi, PG, up, &out));
	FAILS(MMK_ERANGE,
	      mmk_mset_find_free(&set, PG, PG, 2 * PG, hi, PG, down, &out));
	/* no fit: too big for the limit, every gap too small, nothing
	 * aligned in the limit, nothing below a top-down hint */
	FAILS(MMK_ENOMEM,
	      mmk_mset_find_free(&set, 0, 33 * PG, lo, hi, PG, up, &out));
	FAILS(MMK_ENOMEM, mmk_mset_find_free(&set, 4 * PG, 5 * PG, 4 * PG,
					     20 * PG, PG, up, &out));
	FAILS(MMK_ENOMEM,
	      mmk_mset_find_free(&set, PG, PG, PG, 4 * PG, 8 * PG, up, &out));
	FAILS(MMK_ENOMEM,
	      mmk_mset_find_free(&set, 4 * PG, 5 * PG, lo, hi, PG, down, &out));
	assert_int_equal(out, 0x1234);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			mset_prepare_insert_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			mset_insert_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			mset_prepare_unmap_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			mset_unmap_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			mset_prepare_protect_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			mset_protect_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(mset_find_free_errors_in_order,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("mset_errors", tests, NULL, NULL);
}
