/* SPDX-License-Identifier: MIT */
/*
 * The address-space calls the system calls stand on: map_replace, move,
 * zap, protect_opts(NO_HOLES), access_forced.  Each is all or nothing
 * under every injected allocation failure (the snapshot of
 * tests/aspace/aspace_test.h: areas, leaves, reference counts, live
 * frames and objects, table pages).
 */
#include "../aspace/aspace_test.h"

#include <mmkit/backend.h>

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    MMK_PAGE_SIZE

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;

static void space_up(void)
{
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
}

static uint64_t pa_at(mmk_vaddr_t va)
{
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), va, &pa, NULL, NULL),
			 0);
	return pa.v;
}

static bool mapped(mmk_vaddr_t va)
{
	return mmk_pt_query(mmk_aspace_pt(&as), va, NULL, NULL, NULL) == 0;
}

/*  BASE: A rw 16 pages (pages 0..7 there) | B r 8 pages populated | hole
 *  | +40: C rw 8 pages populated */
static void start(void)
{
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE, 16 * PG,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 8 * PG, MMK_ACCESS_WRITE), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 16 * PG, 8 * PG,
					      MMK_PT_READ | MMK_PT_USER, true),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 40 * PG, 8 * PG,
					      MMK_PT_RW | MMK_PT_USER, true),
			 0);
	char msg[] = "moved, not copied";
	assert_int_equal(
		mmk_aspace_write(&as, BASE + 3 * PG + 5, msg, sizeof(msg)), 0);
}

typedef int (*op_fn)(void);

static int op_replace_middle(void)
{
	return mmk_aspace_map_replace(&as, BASE + 4 * PG, 16 * PG,
				      MMK_PT_READ | MMK_PT_USER,
				      &mmk_backend_alloc, BASE + 4 * PG, NULL);
}
static int op_move_middle(void)
{
	return mmk_aspace_move(&as, BASE + 2 * PG, 4 * PG, BASE + 100 * PG, 0);
}
static int op_move_keep(void)
{
	return mmk_aspace_move(&as, BASE, 8 * PG, BASE + 1024 * PG,
			       MMK_ASPACE_MOVE_KEEP);
}
static int op_move_far(void)
{
	/* a new page-table branch at the target: tables to reserve */
	return mmk_aspace_move(&as, BASE + 40 * PG, 8 * PG, BASE + 48 * MMK_MIB,
			       0);
}
static int op_zap_middle(void)
{
	return mmk_aspace_zap(&as, BASE + 2 * PG, 20 * PG);
}
static int op_protect_strict(void)
{
	return mmk_aspace_protect_opts(&as, BASE + 2 * PG, 20 * PG,
				       MMK_PT_READ | MMK_PT_USER,
				       MMK_ASPACE_NO_HOLES);
}

/* Fail the n-th allocation at each site, for n = 1, 2, ... until the call
 * succeeds; every failure must leave the snapshot as it was. */
static void sweep(const char *name, op_fn fn)
{
	long failed = 0;
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++) {
			mmk_aspace_clear(&as);
			start();
			as_snapshot(&as, fa, &s0);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = fn();
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(&as, fa, &s1);
			char what[80];
			snprintf(what, sizeof(what), "%s site %d n %ld", name,
				 site, n);
			as_snap_equal(&s0, &s1, what);
			assert_int_equal(mmk_mset_check(&as.areas), 0);
			failed++;
			assert_true(n < 10000);
		}
	}
	printf("sweep %-16s %ld failures, each undone\n", name, failed);
}

static void every_new_call_is_all_or_nothing_out_of_memory(void **state)
{
	(void)state;
	space_up();
	sweep("replace middle", op_replace_middle);
	sweep("move middle", op_move_middle);
	sweep("move keep", op_move_keep);
	sweep("move far", op_move_far);
	sweep("zap middle", op_zap_middle);
	sweep("protect strict", op_protect_strict);
	mmk_aspace_destroy(&as);
}

static void replace_maps_over_areas_in_one_call(void **state)
{
	(void)state;
	space_up();
	start();
	long frames = mmk_hosted_live_frames();
	assert_int_equal(op_replace_middle(), 0);
	/* A cut at 4, B's head gone, the new area [4, 20) empty (its pages
	 * put) and merged with B's tail [20, 24) (same flags, offsets go on) */
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 4 * PG, &a));
	assert_int_equal(a.start, BASE + 4 * PG);
	assert_int_equal(a.end, BASE + 24 * PG);
	assert_int_equal(a.flags, MMK_PT_READ | MMK_PT_USER);
	assert_true(mmk_aspace_find_area(&as, BASE, &a));
	assert_int_equal(a.end, BASE + 4 * PG);
	assert_false(mapped(BASE + 4 * PG));
	assert_false(mapped(BASE + 16 * PG));
	assert_true(mapped(BASE + 3 * PG));
	assert_true(mapped(BASE + 20 * PG));
	assert_int_equal(mmk_hosted_live_frames(), frames - 4 - 4);
	/* bad input changes nothing */
	assert_int_equal(mmk_aspace_map_replace(&as, BASE + 1, PG, 0,
						&mmk_backend_alloc, 0, NULL),
			 MMK_EALIGN);
	assert_int_equal(
		mmk_aspace_map_replace(&as, BASE, PG, 0, NULL, 0, NULL),
		MMK_EINVAL);
	mmk_aspace_destroy(&as);
}

static void move_moves_entries_not_bytes(void **state)
{
	(void)state;
	space_up();
	start();
	uint64_t pa3 = pa_at(BASE + 3 * PG);
	long frames = mmk_hosted_live_frames();
	assert_int_equal(op_move_middle(), 0);
	/* A is [0, 2) and [6, 16); the moved part [100, 104) keeps its
	 * frames and an offset continuing A's */
	assert_int_equal(pa_at(BASE + 101 * PG), pa3);
	assert_false(mapped(BASE + 3 * PG));
	assert_int_equal(mmk_hosted_live_frames(), frames);
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 100 * PG, &a));
	assert_int_equal(a.start, BASE + 100 * PG);
	assert_int_equal(a.end, BASE + 104 * PG);
	assert_int_equal(a.offset, BASE + 2 * PG);
	assert_false(mmk_aspace_find_area(&as, BASE + 2 * PG, NULL));
	char back[18];
	assert_int_equal(
		mmk_aspace_read(&as, BASE + 101 * PG + 5, back, sizeof(back)),
		0);
	assert_string_equal(back, "moved, not copied");
	/* moving it back merges it with A again (offsets continue) */
	assert_int_equal(
		mmk_aspace_move(&as, BASE + 100 * PG, 4 * PG, BASE + 2 * PG, 0),
		0);
	assert_true(mmk_aspace_find_area(&as, BASE + 5 * PG, &a));
	assert_int_equal(a.start, BASE);
	assert_int_equal(a.end, BASE + 16 * PG);
	/* KEEP: the old range stays, without pages */
	assert_int_equal(op_move_keep(), 0);
	assert_true(mmk_aspace_find_area(&as, BASE, NULL));
	assert_false(mapped(BASE));
	assert_int_equal(pa_at(BASE + 1027 * PG), pa3);
	mmk_aspace_destroy(&as);
}

static void move_refuses_bad_input_changing_nothing(void **state)
{
	(void)state;
	space_up();
	start();
	as_snapshot(&as, fa, &s0);
	/* not inside one area, target taken, overlap, not private, options */
	assert_int_equal(mmk_aspace_move(&as, BASE + 14 * PG, 4 * PG,
					 BASE + 200 * PG, 0),
			 MMK_ENOENT);
	assert_int_equal(
		mmk_aspace_move(&as, BASE + 30 * PG, PG, BASE + 200 * PG, 0),
		MMK_ENOENT);
	assert_int_equal(mmk_aspace_move(&as, BASE, 4 * PG, BASE + 40 * PG, 0),
			 MMK_EEXIST);
	assert_int_equal(mmk_aspace_move(&as, BASE, 4 * PG, BASE + 2 * PG, 0),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_aspace_move(&as, BASE, 4 * PG, BASE + 200 * PG, 0x80),
		MMK_EINVAL);
	assert_int_equal(mmk_aspace_move(&as, BASE + 1, PG, BASE + 200 * PG, 0),
			 MMK_EALIGN);
	assert_int_equal(mmk_aspace_move(&as, BASE, PG, BASE + SPACE, 0),
			 MMK_ERANGE);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "refused moves");
	mmk_paddr_t lpa;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &lpa), 0);
	assert_int_equal(
		mmk_aspace_map_linear(&as, BASE + 300 * PG, lpa, PG, MMK_PT_RW),
		0);
	assert_int_equal(
		mmk_aspace_move(&as, BASE + 300 * PG, PG, BASE + 400 * PG, 0),
		MMK_ENOTSUP);
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 300 * PG, PG), 0);
	assert_int_equal(mmk_frame_free(fa, lpa), 0);
	mmk_aspace_destroy(&as);
}

static void protect_no_holes_reports_a_hole_changing_nothing(void **state)
{
	(void)state;
	space_up();
	start();
	as_snapshot(&as, fa, &s0);
	assert_int_equal(mmk_aspace_protect_opts(&as, BASE, 41 * PG,
						 MMK_PT_READ,
						 MMK_ASPACE_NO_HOLES),
			 MMK_ENOENT);
	assert_int_equal(
		mmk_aspace_protect_opts(&as, BASE, PG, MMK_PT_READ, 0x8),
		MMK_EINVAL);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "protect over a hole");
	/* without the option the hole is skipped, as before */
	assert_int_equal(mmk_aspace_protect_opts(&as, BASE, 41 * PG,
						 MMK_PT_READ | MMK_PT_USER, 0),
			 0);
	mmk_aspace_destroy(&as);
}

static void zap_drops_pages_and_keeps_areas(void **state)
{
	(void)state;
	space_up();
	start();
	long frames = mmk_hosted_live_frames();
	size_t areas = mmk_aspace_area_count(&as);
	assert_int_equal(op_zap_middle(), 0);
	assert_int_equal(mmk_aspace_area_count(&as), areas);
	assert_int_equal(mmk_hosted_live_frames(), frames - 6 - 6);
	char c = 1;
	assert_int_equal(mmk_aspace_read(&as, BASE + 3 * PG + 5, &c, 1), 0);
	assert_int_equal(c, 0); /* zero again */
	assert_true(mapped(BASE + PG));
	mmk_aspace_destroy(&as);
}

static void forced_access_ignores_protection_in_private_memory(void **state)
{
	(void)state;
	space_up();
	start();
	/* PROT_NONE: no read, no write -- but the kernel's forced ones */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_USER),
			 0);
	char buf[18];
	assert_int_equal(mmk_aspace_read(&as, BASE + 3 * PG + 5, buf, 1),
			 MMK_EFAULT);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE + 3 * PG + 5, buf,
						  sizeof(buf), false),
			 0);
	assert_string_equal(buf, "moved, not copied");
	/* a page not there yet is faulted in (mapped without access) */
	assert_false(mapped(BASE + 12 * PG));
	assert_int_equal(
		mmk_aspace_access_forced(&as, BASE + 12 * PG, buf, 4, false),
		0);
	assert_true(mapped(BASE + 12 * PG));
	/* a write to a read-only page only here: in place, still read-only */
	uint64_t pa = pa_at(BASE + 16 * PG);
	assert_int_equal(
		mmk_aspace_access_forced(&as, BASE + 16 * PG, "poke", 5, true),
		0);
	assert_int_equal(pa_at(BASE + 16 * PG), pa);
	uint32_t fl;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 16 * PG, NULL,
				      &fl, NULL),
			 0);
	assert_false(fl & MMK_PT_WRITE);
	/* a frame mapped elsewhere too (copy-on-write): a copy replaces it */
	mmk_paddr_t shared = mmk_pa(pa);
	assert_int_equal(mmk_frame_get(fa, shared), 0);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE + 16 * PG + 1, "OK",
						  2, true),
			 0);
	assert_true(pa_at(BASE + 16 * PG) != pa);
	assert_int_equal(
		mmk_aspace_access_forced(&as, BASE + 16 * PG, buf, 5, false),
		0);
	assert_memory_equal(buf, "pOKe", 5);
	assert_memory_equal(mmk_phys_to_virt(shared), "poke", 5);
	assert_true(mmk_frame_put(fa, shared) >= 0);
	/* holes and wrapping ranges: EFAULT */
	assert_int_equal(
		mmk_aspace_access_forced(&as, BASE + 30 * PG, buf, 1, false),
		MMK_EFAULT);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE + 23 * PG, buf,
						  2 * PG, false),
			 MMK_EFAULT);
	assert_int_equal(
		mmk_aspace_access_forced(&as, ~0ull - 2, buf, 8, false),
		MMK_EFAULT);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE, NULL, 8, false),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE, buf, 0, true), 0);
	mmk_aspace_destroy(&as);
}

static void forced_write_to_shared_memory_is_refused(void **state)
{
	(void)state;
	space_up();
	mmk_paddr_t lpa;
	assert_int_equal(mmk_frame_alloc(fa, 0, MMK_FRAME_ZERO, &lpa), 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE, lpa, PG, MMK_PT_READ),
			 0);
	char c;
	assert_int_equal(mmk_aspace_access_forced(&as, BASE, &c, 1, false), 0);
	assert_int_equal(mmk_aspace_access_forced(&as, BASE, "x", 1, true),
			 MMK_EFAULT);
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_frame_free(fa, lpa), 0);
}

static void forced_access_out_of_memory_copies_nothing(void **state)
{
	(void)state;
	space_up();
	start();
	assert_int_equal(mmk_aspace_protect(&as, BASE, 16 * PG, MMK_PT_USER),
			 0);
	long frames = mmk_hosted_live_frames();
	mmk_hosted_fail_nth(MMK_FAIL_FRAME, 1);
	char buf[4];
	assert_int_equal(
		mmk_aspace_access_forced(&as, BASE + 12 * PG, buf, 4, false),
		MMK_ENOMEM);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), frames);
	assert_false(mapped(BASE + 12 * PG));
	mmk_aspace_destroy(&as);
}

int main(void)
{
	mmk_hosted_init(256 * MMK_MIB);
	fa = mmk_hosted_frames_new();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(replace_maps_over_areas_in_one_call),
		cmocka_unit_test(move_moves_entries_not_bytes),
		cmocka_unit_test(move_refuses_bad_input_changing_nothing),
		cmocka_unit_test(
			protect_no_holes_reports_a_hole_changing_nothing),
		cmocka_unit_test(zap_drops_pages_and_keeps_areas),
		cmocka_unit_test(
			forced_access_ignores_protection_in_private_memory),
		cmocka_unit_test(forced_write_to_shared_memory_is_refused),
		cmocka_unit_test(forced_access_out_of_memory_copies_nothing),
		cmocka_unit_test(
			every_new_call_is_all_or_nothing_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
