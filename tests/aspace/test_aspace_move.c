/* SPDX-License-Identifier: MIT */
/*
 * mmk_aspace_move with whole leaf tables: a populated area moved by a
 * multiple of a leaf table's span keeps its frames and bytes, its middle
 * leaf tables move whole (no leaf table is copied: the table-page count
 * barely moves), its unaligned edges move leaf by leaf, and the call is
 * all or nothing under every injected allocation failure (the snapshot
 * of aspace_test.h: areas, leaves, reference counts, live frames and
 * objects, table pages).
 */
#include "aspace_test.h"

#include <stdio.h>

#define BASE  0x40000000ull
#define SPACE (512 * MMK_MIB)
#define PG    MMK_PAGE_SIZE

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;

static uint64_t pa_at(mmk_vaddr_t va)
{
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), va, &pa, NULL, NULL),
			 0);
	return pa.v;
}

/* BASE: A rw 8 MiB, populated, two marks (in a middle table, in an edge) */
static void start(void)
{
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE, 8 * MMK_MIB,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 8 * MMK_MIB, MMK_ACCESS_WRITE),
		0);
	char m1[] = "whole table", m2[] = "edge leaf";
	assert_int_equal(
		mmk_aspace_write(&as, BASE + 3 * MMK_MIB + 5, m1, sizeof(m1)),
		0);
	assert_int_equal(
		mmk_aspace_write(&as, BASE + MMK_MIB + 7, m2, sizeof(m2)), 0);
}

/* [1 MiB, 7 MiB) to 64 MiB higher: [2, 6) is two whole leaf tables. */
static int op_move(void)
{
	return mmk_aspace_move(&as, BASE + MMK_MIB, 6 * MMK_MIB,
			       BASE + 65 * MMK_MIB, 0);
}

static void move_takes_whole_tables(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	start();
	uint64_t pa_mid = pa_at(BASE + 3 * MMK_MIB),
		 pa_edge = pa_at(BASE + MMK_MIB);
	uint64_t dir2 = 0, dir4 = 0, e = 0;
	assert_int_equal(mmk_pt_raw_entry(mmk_aspace_pt(&as),
					  BASE + 2 * MMK_MIB, 1, &dir2),
			 0);
	assert_int_equal(mmk_pt_raw_entry(mmk_aspace_pt(&as),
					  BASE + 4 * MMK_MIB, 1, &dir4),
			 0);
	long frames = mmk_hosted_live_frames();
	long tables = mmk_pt_table_pages(mmk_aspace_pt(&as));
	assert_int_equal(op_move(), 0);
	assert_int_equal(pa_at(BASE + 67 * MMK_MIB), pa_mid);
	assert_int_equal(pa_at(BASE + 65 * MMK_MIB), pa_edge);
	/* the middle's directory entries moved: the same leaf tables */
	assert_int_equal(mmk_pt_raw_entry(mmk_aspace_pt(&as),
					  BASE + 66 * MMK_MIB, 1, &e),
			 0);
	assert_int_equal(e, dir2);
	assert_int_equal(mmk_pt_raw_entry(mmk_aspace_pt(&as),
					  BASE + 68 * MMK_MIB, 1, &e),
			 0);
	assert_int_equal(e, dir4);
	/* the two target edge leaf tables are new, nothing else */
	long now = mmk_pt_table_pages(mmk_aspace_pt(&as));
	assert_true(now - tables <= 2);
	assert_int_equal(mmk_hosted_live_frames(), frames + (now - tables));
	char b1[12], b2[10];
	assert_int_equal(
		mmk_aspace_read(&as, BASE + 67 * MMK_MIB + 5, b1, sizeof(b1)),
		0);
	assert_string_equal(b1, "whole table");
	assert_int_equal(
		mmk_aspace_read(&as, BASE + 65 * MMK_MIB + 7, b2, sizeof(b2)),
		0);
	assert_string_equal(b2, "edge leaf");
	for (mmk_vaddr_t va = BASE + MMK_MIB; va < BASE + 7 * MMK_MIB; va += PG)
		assert_int_not_equal(
			mmk_pt_query(mmk_aspace_pt(&as), va, NULL, NULL, NULL),
			0);
	assert_int_equal(mmk_mset_check(&as.areas), 0);
	mmk_aspace_destroy(&as);
}

static void move_is_all_or_nothing_out_of_memory(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	long failed = 0;
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++) {
			mmk_aspace_clear(&as);
			start();
			as_snapshot(&as, fa, &s0);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = op_move();
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			assert_int_equal(err, MMK_ENOMEM);
			as_snapshot(&as, fa, &s1);
			char what[80];
			snprintf(what, sizeof(what), "move site %d n %ld", site,
				 n);
			as_snap_equal(&s0, &s1, what);
			assert_int_equal(mmk_mset_check(&as.areas), 0);
			failed++;
			assert_true(n < 10000);
		}
	}
	assert_true(failed > 0);
	printf("move: %ld failures, each undone\n", failed);
	mmk_aspace_destroy(&as);
}

int main(void)
{
	mmk_hosted_init(256 * MMK_MIB);
	fa = mmk_hosted_frames_new();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(move_takes_whole_tables),
		cmocka_unit_test(move_is_all_or_nothing_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
