/* SPDX-License-Identifier: MIT */
/*
 * mmk_aspace_dump_layout, line by line, of a known space: populated and
 * lazy pages, the zero page, a guard, a huge page, the table pages; and of
 * a parent and its fork (copy-on-write pages read-only, the leaf tables
 * they share).  The counts of tables agree with mmk_pt_table_pages.
 *
 *   A  BASE             alloc r-x, 4 pages populated
 *   B  BASE + 1 MiB     alloc rw-, 8 pages lazy; page 2 written, 5 read
 *   G  BASE + 2 MiB     guard, 1 page
 *   H  BASE + 4 MiB     huge rw-, 2 x 2 MiB lazy; the first written
 *   E  BASE + 8 MiB     alloc rw-, 4 MiB populated (whole leaf tables)
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#define BASE  0x40000000ull
#define SPACE (1024 * MMK_MIB)
#define PG    4096ull

static struct mmk_frames *fa;
static struct mmk_aspace sp[2];

struct lay_lines {
	size_t n;
	char l[64][160];
};
static struct lay_lines got;

static void take(void *ctx, const char *line)
{
	struct lay_lines *d = ctx;
	assert_true(d->n < 64);
	assert_true(strlen(line) < sizeof(d->l[0]));
	strcpy(d->l[d->n++], line);
}

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_log_reset(true);
	mmk_hosted_fail_off();
	fa = mmk_hosted_frames_new();
	for (int i = 0; i < 2; i++)
		assert_int_equal(mmk_aspace_create(&sp[i], BASE, SPACE,
						   MMK_PT_X86_64_4L, 0, fa),
				 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		mmk_aspace_destroy(&sp[i]);
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static void build(struct mmk_aspace *as)
{
	uint64_t v = 7;
	assert_int_equal(mmk_aspace_map_alloc(as, BASE, 4 * PG,
					      MMK_PT_RX | MMK_PT_USER, true),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(as, BASE + MMK_MIB, 8 * PG,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	assert_int_equal(mmk_aspace_write(as, BASE + MMK_MIB + 2 * PG, &v, 8),
			 0);
	assert_int_equal(mmk_aspace_read(as, BASE + MMK_MIB + 5 * PG, &v, 8),
			 0);
	assert_int_equal(mmk_aspace_map_guard(as, BASE + 2 * MMK_MIB, PG), 0);
	assert_int_equal(mmk_aspace_map_huge(as, BASE + 4 * MMK_MIB,
					     4 * MMK_MIB, MMK_PT_RW,
					     2 * MMK_MIB, false),
			 0);
	assert_int_equal(
		mmk_aspace_write_kernel(as, BASE + 4 * MMK_MIB + 8, &v, 8), 0);
	assert_int_equal(mmk_aspace_map_alloc(as, BASE + 8 * MMK_MIB,
					      4 * MMK_MIB, MMK_PT_RW, true),
			 0);
}

static void dump(struct mmk_aspace *as, const char *name)
{
	got.n = 0;
	assert_int_equal(mmk_aspace_dump_layout(as, name, take, &got), 0);
}

static void expect(const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	for (size_t i = 0; i < got.n || i < n; i++) {
		const char *g = i < got.n ? got.l[i] : "(none)";
		const char *w = i < n ? want[i] : "(none)";
		if (strcmp(g, w))
			fail_msg("line %zu:\n got  %s\n want %s", i, g, w);
	}
}

/* The sum of the counts of the "tables" line. */
static long tables_sum(void)
{
	for (size_t i = 0; i < got.n; i++) {
		if (strncmp(got.l[i], "tables ", 7))
			continue;
		long sum = 0;
		const char *p = got.l[i] + 7;
		unsigned levels = (unsigned)strtoul(p, (char **)&p, 10);
		for (unsigned l = 0; l < levels; l++)
			sum += strtol(p, (char **)&p, 10), p = strchr(p, ' ');
		return sum;
	}
	fail_msg("no tables line");
	return -1;
}

static void known_space(void **state)
{
	(void)state;
	struct mmk_aspace *as = &sp[0];
	build(as);
	dump(as, "known");
	static const char *const want[] = {
		"MMKIT-MAPS-BEGIN known",
		"format 1 x86_64-4level 1000 40000000-80000000",
		"area 40000000-40004000 r-xp 00000000 0000000d alloc",
		"run 40000000-40004000 pop 1000 r-x own",
		"area 40100000-40108000 rw-p 00000000 0000000b alloc",
		"run 40100000-40102000 lazy 1000 --- own",
		"run 40102000-40103000 pop 1000 rw- own",
		"run 40103000-40105000 lazy 1000 --- own",
		"run 40105000-40106000 pop 1000 r-- own",
		"run 40106000-40108000 lazy 1000 --- own",
		"area 40200000-40201000 ---p 00000000 00000000 guard",
		"run 40200000-40201000 lazy 1000 --- own",
		"area 40400000-40800000 rw-p 00000000 00000003 huge",
		"run 40400000-40600000 pop 200000 rw- own",
		"run 40600000-40800000 lazy 1000 --- own",
		"area 40800000-40c00000 rw-p 00000000 00000003 alloc",
		"run 40800000-40c00000 pop 1000 rw- own",
		"tables 4 3:1000 1:1000 1:1000 1:1000 shared 0",
		"total 5 10",
		"MMKIT-MAPS-END",
		NULL};
	expect(want);
	assert_int_equal(tables_sum(), mmk_pt_table_pages(mmk_aspace_pt(as)));
}

/* After a fork both dump their private pages read-only; the 4 MiB run
 * (the largest copy-on-write run) shares its two leaf tables. */
static void after_fork(void **state)
{
	(void)state;
	struct mmk_aspace *p = &sp[0], *c = &sp[1];
	build(p);
	assert_int_equal(mmk_aspace_clone(p, c), 0);
	static const char *const want[] = {
		"MMKIT-MAPS-BEGIN child",
		"format 1 x86_64-4level 1000 40000000-80000000",
		"area 40000000-40004000 r-xp 00000000 0000000d alloc",
		"run 40000000-40004000 pop 1000 r-x own",
		"area 40100000-40108000 rw-p 00000000 0000000b alloc",
		"run 40100000-40102000 lazy 1000 --- own",
		"run 40102000-40103000 pop 1000 r-- own",
		"run 40103000-40105000 lazy 1000 --- own",
		"run 40105000-40106000 pop 1000 r-- own",
		"run 40106000-40108000 lazy 1000 --- own",
		"area 40200000-40201000 ---p 00000000 00000000 guard",
		"run 40200000-40201000 lazy 1000 --- own",
		"area 40400000-40800000 rw-p 00000000 00000003 huge",
		"run 40400000-40600000 pop 200000 r-- own",
		"run 40600000-40800000 lazy 1000 --- own",
		"area 40800000-40c00000 rw-p 00000000 00000003 alloc",
		"run 40800000-40c00000 pop 1000 r-- shared",
		"tables 4 3:1000 1:1000 1:1000 1:1000 shared 2",
		"total 5 10",
		"MMKIT-MAPS-END",
		NULL};
	dump(c, "child");
	expect(want);
	assert_int_equal(tables_sum(), mmk_pt_table_pages(mmk_aspace_pt(c)));
	dump(p, "child"); /* the parent looks the same */
	expect(want);

	/* A write in the child copies its page and the leaf table under it:
	 * that table is the child's own again, the other still shared. */
	uint64_t v = 1;
	assert_int_equal(mmk_aspace_write(c, BASE + 8 * MMK_MIB, &v, 8),
			 MMK_EFAULT); /* no USER: the kernel's access below */
	assert_int_equal(mmk_aspace_write_kernel(c, BASE + 8 * MMK_MIB, &v, 8),
			 0);
	dump(c, "child");
	assert_string_equal(got.l[16],
			    "run 40800000-40801000 pop 1000 rw- own");
	assert_string_equal(got.l[17],
			    "run 40801000-40a00000 pop 1000 r-- own");
	assert_string_equal(got.l[18],
			    "run 40a00000-40c00000 pop 1000 r-- shared");
	assert_string_equal(got.l[19],
			    "tables 4 3:1000 1:1000 1:1000 1:1000 shared 1");
	assert_string_equal(got.l[20], "total 5 12");
	assert_int_equal(tables_sum(), mmk_pt_table_pages(mmk_aspace_pt(c)));
}

static void empty_space_and_errors(void **state)
{
	(void)state;
	dump(&sp[0], NULL);
	static const char *const want[] = {
		"MMKIT-MAPS-BEGIN -",
		"format 1 x86_64-4level 1000 40000000-80000000",
		"tables 4 0:1000 0:1000 0:1000 1:1000 shared 0",
		"total 0 0",
		"MMKIT-MAPS-END",
		NULL};
	expect(want);
	assert_int_equal(mmk_aspace_dump_layout(NULL, "x", take, &got),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_dump_layout(&sp[0], "x", NULL, NULL),
			 MMK_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(known_space, setup, teardown),
		cmocka_unit_test_setup_teardown(after_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_space_and_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
