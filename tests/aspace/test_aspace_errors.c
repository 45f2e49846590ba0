/* SPDX-License-Identifier: MIT */
/*
 * Address spaces and the backend helpers: every error code aspace.h and
 * backend.h document, provoked for each function, and each time the space
 * checked to be as it was (areas, every leaf, reference counts, live
 * frames and objects, table pages: aspace_test.h's snapshot).
 * docs/ERRORS.md names the test of each (function, code) pair.
 *
 * The space of every test (x86_64 4-level, [BASE, BASE + 64 MiB)), one
 * character per page:
 *
 *   BASE + page   0        16      32   36      64   68
 *                 [A.......]......[R..]........[K..]....
 *   BASE + 2 MiB  [L: one 2 MiB huge page, linear]
 *
 *   A  alloc, RW | USER, page 0 faulted in and holding "abcd"
 *   R  alloc, READ | USER, populated
 *   K  alloc, RW (kernel only), populated
 *   L  linear, RW, one huge page
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#include "aspace_errors_fixture.h"

#define DEVICE (MMK_PT_RW | MMK_PT_MT_DEVICE)

/* ------------------------------------------------------------- create */
static void aspace_create_errors_allocate_nothing(void **state)
{
	(void)state;
	struct mmk_aspace x;
	long frames = mmk_hosted_live_frames(), objs = mmk_hosted_live_objs();
	enum mmk_pt_format_id f = MMK_PT_X86_64_4L;
	assert_int_equal(mmk_aspace_create(NULL, BASE, SPACE, f, 0, fa),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_create(&x, BASE, SPACE, f, 0, NULL),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_aspace_create(&x, BASE, SPACE, MMK_PT_FORMAT_COUNT, 0, fa),
		MMK_EINVAL);
	assert_int_equal(mmk_aspace_create(&x, BASE, 0, f, 0, fa), MMK_EWRAP);
	/* up to 2^64 exactly: an area's end would not be representable */
	assert_int_equal(mmk_aspace_create(&x, -PG, PG, f, 0, fa), MMK_EWRAP);
	assert_int_equal(mmk_aspace_create(&x, BASE + 8, SPACE, f, 0, fa),
			 MMK_EALIGN);
	assert_int_equal(mmk_aspace_create(&x, BASE, SPACE + 8, f, 0, fa),
			 MMK_EALIGN);
	assert_int_equal(
		mmk_aspace_create(&x, 0x0000800000000000ull, PG, f, 0, fa),
		MMK_ENONCANON);
	/* from the lower half into the upper one, over the hole */
	assert_int_equal(
		mmk_aspace_create(&x, 0x00007ffffffff000ull,
				  0xffff800000001000ull - 0x00007ffffffff000ull,
				  f, 0, fa),
		MMK_ERANGE);
	assert_int_equal(
		mmk_aspace_create(&x, BASE, SPACE, f, MMK_PT_OPT_SVPBMT, fa),
		MMK_ENOTSUP);
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_aspace_create(&x, BASE, SPACE, f, 0, fa),
			 MMK_ENOMEM);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_int_equal(mmk_hosted_live_objs(), objs);
}

/* ------------------------------------------------------- copy_mappings */
static void aspace_copy_mappings_from_errors_change_nothing(void **state)
{
	(void)state;
	const uint64_t KB = 0xffff800000000000ull;
	struct mmk_aspace k, k1;
	assert_int_equal(mmk_aspace_create(&k, KB, 512 * MMK_GIB,
					   MMK_PT_X86_64_4L, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(&k, KB, PG, MMK_PT_RW, true), 0);
	long ktables = mmk_pt_table_pages(mmk_aspace_pt(&k));
	FAILS(MMK_ERANGE, mmk_aspace_copy_mappings_from(&as, &as));
	/* a kernel space smaller than a root slot (512 GiB) */
	assert_int_equal(
		mmk_aspace_create(&k1, KB, MMK_GIB, MMK_PT_X86_64_4L, 0, fa),
		0);
	FAILS(MMK_EALIGN, mmk_aspace_copy_mappings_from(&as, &k1));
	mmk_aspace_destroy(&k1);
	/* another format */
	struct mmk_pt_info in;
	if (mmk_pt_format_info(MMK_PT_X86_64_5L, &in) == 0) {
		assert_int_equal(mmk_aspace_create(&k1, 0xff00000000000000ull,
						   MMK_GIB, MMK_PT_X86_64_5L, 0,
						   fa),
				 0);
		FAILS(MMK_EINVAL, mmk_aspace_copy_mappings_from(&as, &k1));
		mmk_aspace_destroy(&k1);
	}
	assert_int_equal(mmk_aspace_copy_mappings_from(&as, &k), 0);
	FAILS(MMK_EEXIST, mmk_aspace_copy_mappings_from(&as, &k));
	assert_int_equal(mmk_pt_table_pages(mmk_aspace_pt(&k)), ktables);
	mmk_aspace_destroy(&as); /* the borrower first */
	mmk_aspace_destroy(&k);
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
}

/* -------------------------------------------------------- find_free */
static void aspace_find_free_area_errors(void **state)
{
	(void)state;
	mmk_vaddr_t out = 0x1234;
	uint64_t lo = BASE, hi = BASE + SPACE;
	FAILS(MMK_EALIGN,
	      mmk_aspace_find_free_area(&as, 0, PG, lo, hi, 3 * PG, &out));
	FAILS(MMK_EALIGN,
	      mmk_aspace_find_free_area(&as, 0, PG, lo, hi, PG / 2, &out));
	FAILS(MMK_EALIGN,
	      mmk_aspace_find_free_area(&as, 0, PG + 8, lo, hi, 0, &out));
	FAILS(MMK_EWRAP, mmk_aspace_find_free_area(&as, 0, 0, lo, hi, 0, &out));
	FAILS(MMK_ENOMEM,
	      mmk_aspace_find_free_area(&as, 0, SPACE, lo, hi, 0, &out));
	FAILS(MMK_ENOMEM,
	      mmk_aspace_find_free_area(&as, 0, PG, hi, UINT64_MAX, 0, &out));
	FAILS(MMK_ENOMEM, mmk_aspace_find_free_area(&as, 0, 2 * PG, R,
						    R + 4 * PG, 0, &out));
	assert_int_equal(out, 0x1234);
}

/* ---------------------------------------------------------------- maps */
/* Which map call the shared checks go through. */
enum map_kind { MAP_GENERAL, MAP_ALLOC, MAP_LINEAR, MAP_GUARD };

static int map_as(struct mmk_aspace *sp, enum map_kind k, mmk_vaddr_t va,
		  uint64_t size, uint32_t flags)
{
	switch (k) {
	case MAP_GENERAL:
		return mmk_aspace_map(sp, va, size, flags, false,
				      &mmk_backend_alloc, va, NULL);
	case MAP_ALLOC:
		return mmk_aspace_map_alloc(sp, va, size, flags, true);
	case MAP_LINEAR:
		return mmk_aspace_map_linear(sp, va, mmk_pa(0x90000000ull),
					     size, flags);
	default:
		return mmk_aspace_map_guard(sp, va, size);
	}
}

static void map_errors(enum map_kind k)
{
	bool prot = k != MAP_GUARD;
	FAILS(MMK_EWRAP, map_as(&as, k, HOLE, 0, MMK_PT_RW));
	FAILS(MMK_EWRAP, map_as(&as, k, -PG, 2 * PG, MMK_PT_RW));
	FAILS(MMK_EALIGN, map_as(&as, k, HOLE + 8, PG, MMK_PT_RW));
	FAILS(MMK_EALIGN, map_as(&as, k, HOLE, PG + 8, MMK_PT_RW));
	FAILS(MMK_ERANGE, map_as(&as, k, BASE - PG, 2 * PG, MMK_PT_RW));
	FAILS(MMK_ERANGE, map_as(&as, k, BASE + SPACE, PG, MMK_PT_RW));
	if (prot) {
		FAILS(MMK_EINVAL,
		      map_as(&as, k, HOLE, PG, MMK_PT_RW | MMK_PT_ACCESSED));
		FAILS(MMK_EINVAL, map_as(&as, k, HOLE, PG, 1u << 20));
		struct mmk_aspace rv;
		if (rv_new(&rv)) {
			FAILS_ON(&rv, MMK_ENOTSUP,
				 map_as(&rv, k, HOLE, PG, DEVICE));
			mmk_aspace_destroy(&rv);
		}
	}
	FAILS(MMK_EEXIST, map_as(&as, k, A + 15 * PG, 2 * PG, MMK_PT_RW));
	FAILS(MMK_EEXIST, map_as(&as, k, L + PG, PG, MMK_PT_RW));
	/* the area object */
	FAILS_NOMEM(MMK_FAIL_OBJ, map_as(&as, k, HOLE, PG, MMK_PT_RW));
	/* the pages or table pages of a populated map */
	if (k == MAP_ALLOC || k == MAP_LINEAR)
		FAILS_NOMEM(MMK_FAIL_FRAME, map_as(&as, k, BASE + 48 * MMK_MIB,
						   4 * PG, MMK_PT_RW));
}

static void aspace_map_errors_change_nothing(void **state)
{
	(void)state;
	map_errors(MAP_GENERAL);
	FAILS(MMK_EINVAL,
	      mmk_aspace_map(&as, HOLE, PG, MMK_PT_RW, false, NULL, 0, NULL));
	/* a populate hook that refuses: its error, nothing changed */
	FAILS_NOMEM(MMK_FAIL_FRAME,
		    mmk_aspace_map(&as, HOLE, 4 * PG, MMK_PT_RW, true,
				   &mmk_backend_alloc, HOLE, NULL));
}

static void aspace_map_alloc_errors_change_nothing(void **state)
{
	(void)state;
	map_errors(MAP_ALLOC);
}

static void aspace_map_linear_errors_change_nothing(void **state)
{
	(void)state;
	map_errors(MAP_LINEAR);
	FAILS(MMK_EALIGN,
	      mmk_aspace_map_linear(&as, HOLE, mmk_pa(8), PG, MMK_PT_RW));
	/* pa + size wraps; pa beyond what the format encodes (52 bits) */
	FAILS(MMK_ERANGE,
	      mmk_aspace_map_linear(&as, HOLE, mmk_pa(-PG), 2 * PG, MMK_PT_RW));
	FAILS(MMK_ERANGE, mmk_aspace_map_linear(&as, HOLE, mmk_pa(1ull << 52),
						PG, MMK_PT_RW));
}

static void aspace_map_guard_errors_change_nothing(void **state)
{
	(void)state;
	map_errors(MAP_GUARD);
}

/* ------------------------------------------------------------ populate */
static void aspace_populate_errors_change_nothing(void **state)
{
	(void)state;
	uint32_t rd = MMK_ACCESS_READ, wr = MMK_ACCESS_WRITE;
	FAILS(MMK_EWRAP, mmk_aspace_populate(&as, A, 0, rd));
	FAILS(MMK_EALIGN, mmk_aspace_populate(&as, A + 8, PG, rd));
	FAILS(MMK_ERANGE, mmk_aspace_populate(&as, BASE - PG, 2 * PG, rd));
	FAILS(MMK_EINVAL, mmk_aspace_populate(&as, A, PG, 0));
	FAILS(MMK_EINVAL, mmk_aspace_populate(&as, A, PG, 1u << 5));
	/* a hole in the range, and memory running out */
	FAILS(MMK_ENOMEM, mmk_aspace_populate(&as, A, 17 * PG, rd));
	FAILS_NOMEM(MMK_FAIL_FRAME, mmk_aspace_populate(&as, A, 16 * PG, wr));
	FAILS(MMK_EACCES, mmk_aspace_populate(&as, R, 4 * PG, wr));
}

/* ------------------------------------------------------ unmap, protect */
static void edit_errors(bool unmap)
{
	uint32_t f = MMK_PT_READ;
#define EDIT(sp, va, size, flags)                                              \
	(unmap ? mmk_aspace_unmap((sp), (va), (size))                          \
	       : mmk_aspace_protect((sp), (va), (size), (flags)))
	FAILS(MMK_EWRAP, EDIT(&as, A, 0, f));
	FAILS(MMK_EWRAP, EDIT(&as, -PG, 2 * PG, f));
	FAILS(MMK_EALIGN, EDIT(&as, A + 8, PG, f));
	FAILS(MMK_EALIGN, EDIT(&as, A, PG + 8, f));
	FAILS(MMK_ERANGE, EDIT(&as, BASE - PG, 2 * PG, f));
	/* splitting A in three needs an area object */
	FAILS_NOMEM(MMK_FAIL_OBJ, EDIT(&as, A + 4 * PG, PG, f));
	/* one page out of L's huge page needs a table page */
	FAILS_NOMEM(MMK_FAIL_FRAME, EDIT(&as, L + 8 * PG, PG, f));
	if (!unmap) {
		FAILS(MMK_EINVAL, EDIT(&as, A, PG, MMK_PT_RW | MMK_PT_DIRTY));
		struct mmk_aspace rv;
		if (rv_new(&rv)) {
			assert_int_equal(
				mmk_aspace_map_alloc(&rv, A, PG, URW, false),
				0);
			FAILS_ON(&rv, MMK_ENOTSUP, EDIT(&rv, A, PG, DEVICE));
			mmk_aspace_destroy(&rv);
		}
	}
#undef EDIT
}

static void aspace_unmap_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(true);
}

static void aspace_protect_errors_change_nothing(void **state)
{
	(void)state;
	edit_errors(false);
}

/* -------------------------------------------------------------- copies */
typedef int (*copy_fn)(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
		       size_t len);

static int write_user(struct mmk_aspace *sp, mmk_vaddr_t va, void *buf,
		      size_t len)
{
	return mmk_aspace_write(sp, va, buf, len);
}

static int write_kern(struct mmk_aspace *sp, mmk_vaddr_t va, void *buf,
		      size_t len)
{
	return mmk_aspace_write_kernel(sp, va, buf, len);
}

/* EFAULT copying nothing (@buf unchanged too), ENOMEM on a lazy page. */
static void copy_errors(copy_fn copy, bool write, bool user)
{
	char buf[16], keep[16];
	memset(buf, 'x', sizeof(buf));
	memcpy(keep, buf, sizeof(buf));
	FAILS(MMK_EFAULT, copy(&as, HOLE, buf, 8));
	FAILS(MMK_EFAULT, copy(&as, A + 16 * PG - 4, buf, 8)); /* runs out */
	FAILS(MMK_EFAULT, copy(&as, BASE - 4, buf, 8));
	if (user) /* K has no USER */
		FAILS(MMK_EFAULT, copy(&as, K, buf, 8));
	if (write) /* R has no WRITE */
		FAILS(MMK_EFAULT, copy(&as, R, buf, 8));
	assert_int_equal(mmk_aspace_map_guard(&as, BASE + 40 * PG, PG),
			 0); /* no READ */
	FAILS(MMK_EFAULT, copy(&as, BASE + 40 * PG, buf, 8));
	assert_memory_equal(buf, keep, sizeof(buf));
	FAILS_NOMEM(MMK_FAIL_FRAME, copy(&as, A + 5 * PG, buf, 8));
}

static void aspace_read_errors_copy_nothing(void **state)
{
	(void)state;
	copy_errors(mmk_aspace_read, false, true);
}

static void aspace_write_errors_copy_nothing(void **state)
{
	(void)state;
	copy_errors(write_user, true, true);
}

static void aspace_read_kernel_errors_copy_nothing(void **state)
{
	(void)state;
	copy_errors(mmk_aspace_read_kernel, false, false);
}

static void aspace_write_kernel_errors_copy_nothing(void **state)
{
	(void)state;
	copy_errors(write_kern, true, false);
}

static void aspace_read_string_errors(void **state)
{
	(void)state;
	char buf[16];
	size_t len = 77;
	FAILS(MMK_EINVAL, mmk_aspace_read_string(&as, A, NULL, 8, &len));
	FAILS(MMK_EINVAL, mmk_aspace_read_string(&as, A, buf, 8, NULL));
	FAILS(MMK_EINVAL, mmk_aspace_read_string(&as, A, buf, 0, &len));
	/* "abcd" then zeros: no NUL within 3 bytes */
	FAILS(MMK_ERANGE, mmk_aspace_read_string(&as, A, buf, 3, &len));
	assert_memory_equal(buf, "abc", 3);
	FAILS(MMK_EFAULT, mmk_aspace_read_string(&as, HOLE, buf, 8, &len));
	FAILS(MMK_EFAULT, mmk_aspace_read_string(&as, K, buf, 8, &len));
	/* the string runs off the end of A */
	memset(buf, 'y', sizeof(buf));
	assert_int_equal(mmk_aspace_write(&as, A + 16 * PG - 8, buf, 8), 0);
	FAILS(MMK_EFAULT,
	      mmk_aspace_read_string(&as, A + 16 * PG - 8, buf, 16, &len));
	FAILS_NOMEM(MMK_FAIL_FRAME,
		    mmk_aspace_read_string(&as, A + 5 * PG, buf, 8, &len));
	assert_int_equal(len, 77);
}

/* --------------------------------------------------------------- fault */
static void aspace_fault_errors_change_nothing(void **state)
{
	(void)state;
	FAILS(MMK_EINVAL, mmk_aspace_fault(&as, A, 0));
	FAILS(MMK_EINVAL, mmk_aspace_fault(&as, A, 1u << 5));
	FAILS(MMK_EFAULT, mmk_aspace_fault(&as, HOLE, MMK_ACCESS_READ));
	FAILS(MMK_EFAULT, mmk_aspace_fault(&as, BASE - PG, MMK_ACCESS_READ));
	FAILS(MMK_EFAULT, mmk_aspace_fault(&as, BASE + SPACE, MMK_ACCESS_READ));
	FAILS(MMK_EACCES, mmk_aspace_fault(&as, R, MMK_ACCESS_WRITE));
	FAILS(MMK_EACCES, mmk_aspace_fault(&as, A, MMK_ACCESS_EXEC));
	FAILS_NOMEM(MMK_FAIL_FRAME,
		    mmk_aspace_fault(&as, A + 5 * PG, MMK_ACCESS_READ));
	assert_false(mmk_aspace_handle_page_fault(&as, HOLE, MMK_ACCESS_READ));
}

/* ------------------------------------------------------------ backend */
static void backend_page_errors(void **state)
{
	(void)state;
	mmk_paddr_t pa = mmk_pa(0x1234);
	long frames = mmk_hosted_live_frames();
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_backend_alloc_page(&as, &pa), MMK_ENOMEM);
	mmk_hosted_fail_off();
	assert_int_equal(pa.v, 0x1234);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_int_equal(mmk_backend_alloc_page(&as, &pa), 0);
	FAILS(MMK_EBADFREE, mmk_backend_free_page(&as, mmk_pa_add(pa, 8)));
	FAILS(MMK_EBADFREE, mmk_backend_free_page(&as, mmk_pa(0x1000)));
	assert_int_equal(mmk_backend_free_page(&as, pa), 0);
	FAILS(MMK_EDOUBLEFREE, mmk_backend_free_page(&as, pa));
	assert_int_equal(mmk_hosted_live_frames(), frames);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			aspace_create_errors_allocate_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_copy_mappings_from_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(aspace_find_free_area_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_map_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_map_alloc_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			aspace_map_linear_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			aspace_map_guard_errors_change_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			aspace_populate_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_unmap_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_protect_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(aspace_read_errors_copy_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_write_errors_copy_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_read_kernel_errors_copy_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			aspace_write_kernel_errors_copy_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(aspace_read_string_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			aspace_fault_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(backend_page_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("aspace_errors", tests, NULL, NULL);
}
