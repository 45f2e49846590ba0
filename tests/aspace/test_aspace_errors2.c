/* SPDX-License-Identifier: MIT */
/*
 * The documented errors of the address-space calls added after
 * test_aspace_errors.c (the POSIX additions map_replace, protect_opts,
 * zap, move and sync, shared and file mappings, the backend helpers a
 * fault hook calls), each provoked and the space checked to be as it was
 * (aspace_test.h's snapshot: areas, every leaf, reference counts, live
 * frames and objects, table pages).  docs/ERRORS.md names the test of
 * each (function, code) pair.
 *
 * The space (x86_64 4-level, [BASE, BASE + 64 MiB)), as in
 * test_aspace_errors.c, one character per page:
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

#include <mmk_hosted_pager.h>
#include <mmkit/backend.h>
#include <mmkit/pager.h>
#include <mmkit/shm.h>

#include "aspace_errors_fixture.h"

#define DEV (MMK_PT_RW | MMK_PT_MT_DEVICE)

/* ------------------------------------------------------- map_replace */
static int replace(mmk_vaddr_t va, uint64_t size, uint32_t flags,
		   const struct mmk_backend *b)
{
	return mmk_aspace_map_replace(&as, va, size, flags, b, 0, NULL);
}

static void map_replace_errors_change_nothing(void **state)
{
	(void)state;
	const struct mmk_backend *al = &mmk_backend_alloc;
	FAILS(MMK_EWRAP, replace(A, 0, URW, al));
	FAILS(MMK_EWRAP, replace(-PG, 2 * PG, URW, al));
	FAILS(MMK_EALIGN, replace(A + 8, PG, URW, al));
	FAILS(MMK_EALIGN, replace(A, PG + 8, URW, al));
	FAILS(MMK_ERANGE, replace(BASE - PG, 2 * PG, URW, al));
	FAILS(MMK_EINVAL, replace(A, PG, URW, NULL));
	FAILS(MMK_EINVAL, replace(A, PG, MMK_PT_RW | MMK_PT_DIRTY, al));
	/* a piece of A in the middle: A is split, an area object each */
	FAILS_NOMEM(MMK_FAIL_OBJ, replace(A + 4 * PG, PG, URW, al));
	/* one page over L's huge page: it is cut, a table page */
	FAILS_NOMEM(MMK_FAIL_FRAME, replace(L + 8 * PG, PG, URW, al));
	struct mmk_aspace rv;
	if (rv_new(&rv)) {
		assert_int_equal(mmk_aspace_map_alloc(&rv, A, PG, URW, false),
				 0);
		FAILS_ON(&rv, MMK_ENOTSUP,
			 mmk_aspace_map_replace(&rv, A, PG, DEV,
						&mmk_backend_alloc, 0, NULL));
		mmk_aspace_destroy(&rv);
	}
	/* and what it replaces is still there: the first page's data */
	char buf[4];
	assert_int_equal(mmk_aspace_read(&as, A, buf, 4), 0);
	assert_memory_equal(buf, "abcd", 4);
}

/* ------------------------------------------------------ protect_opts */
static void protect_opts_errors_change_nothing(void **state)
{
	(void)state;
	uint32_t f = MMK_PT_READ;
	unsigned nh = MMK_ASPACE_NO_HOLES;
	FAILS(MMK_EWRAP, mmk_aspace_protect_opts(&as, A, 0, f, nh));
	FAILS(MMK_EWRAP, mmk_aspace_protect_opts(&as, -PG, 2 * PG, f, nh));
	FAILS(MMK_EALIGN, mmk_aspace_protect_opts(&as, A + 8, PG, f, nh));
	FAILS(MMK_ERANGE,
	      mmk_aspace_protect_opts(&as, BASE - PG, 2 * PG, f, nh));
	FAILS(MMK_EINVAL,
	      mmk_aspace_protect_opts(&as, A, PG, MMK_PT_RW | MMK_PT_DIRTY, 0));
	FAILS(MMK_EINVAL, mmk_aspace_protect_opts(&as, A, PG, f, 1u << 7));
	/* A and the hole after it */
	FAILS(MMK_ENOENT, mmk_aspace_protect_opts(&as, A, 17 * PG, f, nh));
	FAILS(MMK_ENOENT, mmk_aspace_protect_opts(&as, HOLE, PG, f, nh));
	FAILS_NOMEM(MMK_FAIL_OBJ,
		    mmk_aspace_protect_opts(&as, A + 4 * PG, PG, f, nh));
	FAILS_NOMEM(MMK_FAIL_FRAME,
		    mmk_aspace_protect_opts(&as, L + 8 * PG, PG, f, nh));
	struct mmk_aspace rv;
	if (rv_new(&rv)) {
		assert_int_equal(mmk_aspace_map_alloc(&rv, A, PG, URW, false),
				 0);
		FAILS_ON(&rv, MMK_ENOTSUP,
			 mmk_aspace_protect_opts(&rv, A, PG, DEV, nh));
		mmk_aspace_destroy(&rv);
	}
}

/* --------------------------------------------------------------- zap */
static void zap_errors_change_nothing(void **state)
{
	(void)state;
	FAILS(MMK_EWRAP, mmk_aspace_zap(&as, A, 0));
	FAILS(MMK_EWRAP, mmk_aspace_zap(&as, -PG, 2 * PG));
	FAILS(MMK_EALIGN, mmk_aspace_zap(&as, A + 8, PG));
	FAILS(MMK_EALIGN, mmk_aspace_zap(&as, A, PG + 8));
	FAILS(MMK_ERANGE, mmk_aspace_zap(&as, BASE - PG, 2 * PG));
	/* a part of L's huge page: it must be cut, a table page */
	FAILS_NOMEM(MMK_FAIL_FRAME, mmk_aspace_zap(&as, L + 8 * PG, PG));
	/* a hole and whole pages need nothing: the data goes */
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	assert_int_equal(mmk_aspace_zap(&as, A, 32 * PG), 0);
	mmk_hosted_fail_off();
	char buf[4];
	assert_int_equal(mmk_aspace_read(&as, A, buf, 4), 0);
	assert_memory_equal(buf, "\0\0\0\0", 4);
}

/* -------------------------------------------------------------- move */
static void move_errors_change_nothing(void **state)
{
	(void)state;
	FAILS(MMK_EWRAP, mmk_aspace_move(&as, A, 0, HOLE, 0));
	FAILS(MMK_EWRAP, mmk_aspace_move(&as, A, PG, -PG, 0));
	FAILS(MMK_EALIGN, mmk_aspace_move(&as, A + 8, PG, HOLE, 0));
	FAILS(MMK_EALIGN, mmk_aspace_move(&as, A, PG, HOLE + 8, 0));
	FAILS(MMK_ERANGE, mmk_aspace_move(&as, A, PG, BASE + SPACE, 0));
	FAILS(MMK_ERANGE, mmk_aspace_move(&as, BASE - PG, PG, HOLE, 0));
	/* overlapping ranges, unknown options */
	FAILS(MMK_EINVAL, mmk_aspace_move(&as, A, 4 * PG, A + 2 * PG, 0));
	FAILS(MMK_EINVAL, mmk_aspace_move(&as, A, PG, HOLE, 1u << 5));
	/* not inside one area; the destination taken; linear memory */
	FAILS(MMK_ENOENT, mmk_aspace_move(&as, A + 12 * PG, 8 * PG, HOLE, 0));
	FAILS(MMK_ENOENT, mmk_aspace_move(&as, HOLE, PG, HOLE + 8 * PG, 0));
	FAILS(MMK_EEXIST, mmk_aspace_move(&as, A, PG, R + PG, 0));
	FAILS(MMK_ENOTSUP, mmk_aspace_move(&as, L, PG, HOLE, 0));
	/* a new area object, a table page */
	FAILS_NOMEM(MMK_FAIL_OBJ, mmk_aspace_move(&as, A, PG, HOLE, 0));
	FAILS_NOMEM(MMK_FAIL_FRAME,
		    mmk_aspace_move(&as, A, PG, BASE + 40 * MMK_MIB, 0));
	char buf[4];
	assert_int_equal(mmk_aspace_read(&as, A, buf, 4), 0);
	assert_memory_equal(buf, "abcd", 4);
}

/* Huge pages move by whole pages: to - from a multiple of 2 MiB. */
static void move_of_huge_pages_keeps_their_alignment(void **state)
{
	(void)state;
	mmk_vaddr_t h = BASE + 8 * MMK_MIB;
	assert_int_equal(mmk_aspace_map_huge(&as, h, 2 * MMK_MIB, URW,
					     2 * MMK_MIB, true),
			 0);
	FAILS(MMK_EALIGN, mmk_aspace_move(&as, h, 2 * MMK_MIB,
					  BASE + 16 * MMK_MIB + PG, 0));
	assert_int_equal(mmk_aspace_unmap(&as, h, 2 * MMK_MIB), 0);
}

/* -------------------------------------------------------------- sync */
static void sync_errors_change_nothing(void **state)
{
	(void)state;
	FAILS(MMK_EWRAP, mmk_aspace_sync(&as, A, 0));
	FAILS(MMK_EWRAP, mmk_aspace_sync(&as, -PG, 2 * PG));
	FAILS(MMK_EALIGN, mmk_aspace_sync(&as, A + 8, PG));
	FAILS(MMK_EALIGN, mmk_aspace_sync(&as, A, PG + 8));
	FAILS(MMK_ERANGE, mmk_aspace_sync(&as, BASE - PG, 2 * PG));
	/* no area with a sync hook, holes: nothing to do, no memory */
	mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	FAILS(0, mmk_aspace_sync(&as, BASE, SPACE));
}

/* ------------------------------------------- walk_pages, find_free_down */
static int count_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	(void)l;
	++*(long *)ctx;
	return 0;
}

static void walk_pages_errors_call_nothing(void **state)
{
	(void)state;
	long n = 0;
	FAILS(MMK_EWRAP,
	      mmk_aspace_walk_pages(&as, -PG, 2 * PG, count_leaf, &n));
	/* x86_64 4-level: past the lower half, and across the hole */
	FAILS(MMK_ENONCANON, mmk_aspace_walk_pages(&as, 0x0000800000000000ull,
						   PG, count_leaf, &n));
	FAILS(MMK_ERANGE, mmk_aspace_walk_pages(&as, 0x00007ffffffff000ull,
						0xffff800000001000ull -
							0x00007ffffffff000ull,
						count_leaf, &n));
	assert_int_equal(n, 0);
	assert_int_equal(mmk_aspace_walk_pages(&as, A, PG, count_leaf, &n), 0);
	assert_int_equal(n, 1);
}

static void find_free_area_down_errors(void **state)
{
	(void)state;
	mmk_vaddr_t out = 0x1234;
	uint64_t top = BASE + SPACE;
	FAILS(MMK_EALIGN, mmk_aspace_find_free_area_down(&as, top, PG, 0, top,
							 3 * PG, &out));
	FAILS(MMK_EALIGN, mmk_aspace_find_free_area_down(&as, top, PG, 0, top,
							 PG / 2, &out));
	FAILS(MMK_EALIGN, mmk_aspace_find_free_area_down(&as, top, PG + 8, 0,
							 top, 0, &out));
	FAILS(MMK_EWRAP,
	      mmk_aspace_find_free_area_down(&as, top, 0, 0, top, 0, &out));
	/* [lo, hi) misses the space; nothing that large is free */
	FAILS(MMK_ENOMEM,
	      mmk_aspace_find_free_area_down(&as, top, PG, 0, BASE, 0, &out));
	FAILS(MMK_ENOMEM,
	      mmk_aspace_find_free_area_down(&as, top, SPACE, 0, top, 0, &out));
	assert_int_equal(out, 0x1234);
	assert_int_equal(
		mmk_aspace_find_free_area_down(&as, top, PG, 0, top, 0, &out),
		0);
	assert_int_equal(out, top - PG);
}

/* ------------------------------------------------ map_file, map_shared */
static void map_file_errors_change_nothing(void **state)
{
	(void)state;
	struct mmk_hosted_file *hf = mmk_hosted_file_new(fa, 8);
	struct mmk_file *f = mmk_hosted_file_file(hf);
	long refs = atomic_load(&f->refs);
	const unsigned sh = MMK_MAP_FILE_SHARED;
#define MAPF(sp, va, size, prot, file, off, fl)                                \
	mmk_aspace_map_file((sp), (va), (size), (prot), (file), (off), (fl))
	FAILS(MMK_EWRAP, MAPF(&as, HOLE, 0, URW, f, 0, 0));
	FAILS(MMK_EWRAP, MAPF(&as, -PG, 2 * PG, URW, f, 0, 0));
	FAILS(MMK_EWRAP, MAPF(&as, HOLE, PG, URW, f, -PG, sh));
	FAILS(MMK_EALIGN, MAPF(&as, HOLE + 8, PG, URW, f, 0, 0));
	FAILS(MMK_EALIGN, MAPF(&as, HOLE, PG, URW, f, 8, sh));
	FAILS(MMK_ERANGE, MAPF(&as, BASE - PG, 2 * PG, URW, f, 0, 0));
	FAILS(MMK_EINVAL, MAPF(&as, HOLE, PG, URW, NULL, 0, 0));
	FAILS(MMK_EINVAL, MAPF(&as, HOLE, PG, URW, f, 0, 1u << 4));
	FAILS(MMK_EINVAL,
	      MAPF(&as, HOLE, PG, MMK_PT_RW | MMK_PT_DIRTY, f, 0, sh));
	FAILS(MMK_EEXIST, MAPF(&as, A + 8 * PG, 16 * PG, URW, f, 0, sh));
	/* an area object */
	FAILS_NOMEM(MMK_FAIL_OBJ, MAPF(&as, HOLE, PG, URW, f, 0, sh));
	struct mmk_aspace rv;
	if (rv_new(&rv)) {
		FAILS_ON(&rv, MMK_ENOTSUP, MAPF(&rv, HOLE, PG, DEV, f, 0, sh));
		mmk_aspace_destroy(&rv);
	}
#undef MAPF
	/* another page size than the space's */
	struct mmk_hosted_file *ho = mmk_hosted_file_new_ps(fa, 8, 14);
	FAILS(MMK_EINVAL, mmk_aspace_map_file(&as, HOLE, 4 * PG, URW,
					      mmk_hosted_file_file(ho), 0, 0));
	mmk_hosted_file_destroy(ho);
	/* no reference kept by any failure */
	assert_int_equal(atomic_load(&f->refs), refs);
	mmk_hosted_file_destroy(hf);
}

static void map_shared_errors_change_nothing(void **state)
{
	(void)state;
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 8 * PG, 12, &o), 0);
	FAILS_NOMEM(MMK_FAIL_OBJ,
		    mmk_aspace_map_shared(&as, HOLE, PG, URW, o, 0));
	struct mmk_aspace rv;
	if (rv_new(&rv)) {
		FAILS_ON(&rv, MMK_ENOTSUP,
			 mmk_aspace_map_shared(&rv, HOLE, PG, DEV, o, 0));
		mmk_aspace_destroy(&rv);
	}
	assert_int_equal(mmk_shm_refs(o), 1);
	mmk_shm_put(o);
}

/* ------------------------------------------------- backend helpers */
/*
 * A private backend whose fault hook calls the helpers itself: a write
 * to a present page goes to mmk_backend_cow_fault; a read of an absent
 * page maps the zero page (mmk_backend_zero_page, a reference for the
 * leaf) or, with @fm_va set, a fresh frame at fm_va with
 * mmk_backend_fault_map and asks the core to look again.
 */
static mmk_vaddr_t fm_va;
static int fm_err;

static int helper_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	if (f->present)
		return mmk_backend_cow_fault(f, out);
	if (fm_va) {
		mmk_paddr_t pa;
		int err = mmk_frame_alloc(fa, 0, MMK_FRAME_ZERO, &pa);
		if (err)
			return err;
		fm_err = mmk_backend_fault_map(f, NULL, fm_va, pa, f->prot);
		if (fm_err) {
			assert_int_equal(mmk_frame_put(fa, pa), 1);
			return fm_err;
		}
		return MMK_FAULT_RETRY;
	}
	if (f->access & MMK_ACCESS_WRITE)
		return mmk_backend_anon_fault(f, out);
	mmk_paddr_t z;
	int err = mmk_backend_zero_page(f->as, &z);
	if (err)
		return err;
	err = mmk_frame_get(fa, z);
	if (err)
		return err;
	out->pa = z;
	out->flags = f->prot & ~(uint32_t)MMK_PT_WRITE;
	out->owned = true;
	out->put_old = false;
	return 0;
}

static const struct mmk_backend helpers = {
	.name = "helpers",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.fault = helper_fault,
};

#define HB (BASE + 6 * MMK_MIB - 4 * PG) /* 8 pages across a 2 MiB line */

static void backend_helpers_fail_cleanly(void **state)
{
	(void)state;
	struct mmk_aspace *sp = &as;
	fm_va = 0;
	assert_int_equal(
		mmk_aspace_map(sp, HB, 8 * PG, URW, false, &helpers, 0, NULL),
		0);
	/* zero page: the space has none yet (nothing was read unwritten) */
	FAILS_NOMEM(MMK_FAIL_FRAME, mmk_aspace_fault(sp, HB, MMK_ACCESS_READ));
	{
		struct mmk_aspace fresh;
		mmk_paddr_t z;
		assert_int_equal(mmk_aspace_create(&fresh, BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
		long frames = mmk_hosted_live_frames();
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);
		assert_int_equal(mmk_backend_zero_page(&fresh, &z), MMK_ENOMEM);
		mmk_hosted_fail_off();
		assert_int_equal(mmk_hosted_live_frames(), frames);
		assert_int_equal(mmk_backend_zero_page(&fresh, &z), 0);
		mmk_aspace_destroy(&fresh);
	}
	assert_int_equal(mmk_aspace_fault(sp, HB, MMK_ACCESS_READ), 0);
	/* copy on write of the zero page: a fresh frame */
	FAILS_NOMEM(MMK_FAIL_FRAME, mmk_aspace_fault(sp, HB, MMK_ACCESS_WRITE));
	assert_int_equal(mmk_aspace_fault(sp, HB, MMK_ACCESS_WRITE), 0);
	/* fault_map: something mapped at fm_va */
	fm_va = HB;
	FAILS(MMK_EEXIST, mmk_aspace_fault(sp, HB + PG, MMK_ACCESS_READ));
	assert_int_equal(fm_err, MMK_EEXIST);
	/* fault_map of a page whose leaf table is missing, for a fault in
	 * another table: it allocates nothing, MMK_EAGAIN; the core reserves
	 * only the faulting page's tables, so nothing is ever mapped (the
	 * CPU would retry) and nothing changed */
	fm_va = HB + 5 * PG;
	as_snapshot(sp, fa, &s0);
	assert_int_equal(mmk_aspace_fault(sp, HB + 2 * PG, MMK_ACCESS_READ), 0);
	assert_int_equal(fm_err, MMK_EAGAIN);
	as_snapshot(sp, fa, &s1);
	as_snap_equal(&s0, &s1, "fault_map outside the fault's leaf table");
	/* fault_map: the first page past the line needs a leaf table, which
	 * the core reserves before the hook runs (the first allocation; the
	 * hook's frame is the second): either failing changes nothing, and
	 * the hook never maps */
	fm_va = HB + 4 * PG;
	for (long nth = 1; nth <= 2; nth++) {
		as_snapshot(sp, fa, &s0);
		fm_err = 1;
		mmk_hosted_fail_nth(MMK_FAIL_FRAME, nth);
		assert_int_equal(mmk_aspace_fault(sp, fm_va, MMK_ACCESS_READ),
				 MMK_ENOMEM);
		mmk_hosted_fail_off();
		assert_int_equal(fm_err, 1);
		as_snapshot(sp, fa, &s1);
		as_snap_equal(&s0, &s1, "fault_map without a table page");
	}
	assert_int_equal(mmk_aspace_fault(sp, fm_va, MMK_ACCESS_READ), 0);
	assert_int_equal(fm_err, 0);
	fm_va = 0;
	assert_int_equal(mmk_aspace_unmap(sp, HB, 8 * PG), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			map_replace_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			protect_opts_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(zap_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(move_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			move_of_huge_pages_keeps_their_alignment, setup,
			teardown),
		cmocka_unit_test_setup_teardown(sync_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(walk_pages_errors_call_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(find_free_area_down_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(map_file_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			map_shared_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(backend_helpers_fail_cleanly,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
