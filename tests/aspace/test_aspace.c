/* SPDX-License-Identifier: MIT */
/*
 * Address spaces: behaviour, bad input, TLB rules, all-or-nothing sweeps.
 * The model-based randomized test is in test_aspace_model.c, the threads
 * in test_aspace_threads.c.
 *
 * Most tests use one x86_64 4-level space (the format is irrelevant to
 * what they check) over
 *
 *   BASE = 0x4000_0000                                  BASE + 64 MiB
 *   |-------------------------------------------------------------|
 */
#include "aspace_test.h"

#include <mmkit/backend.h>
#include <mmkit/shm.h>

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    4096ull

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_aspace_activate(&as);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmk_aspace_destroy(&as);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

static uint32_t pte_flags(mmk_vaddr_t va)
{
	uint32_t f;
	if (mmk_pt_query(mmk_aspace_pt(&as), va, NULL, &f, NULL) != 0)
		return 0xffffffffu;
	return f & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY);
}

static bool mapped_in(struct mmk_aspace *s, mmk_vaddr_t va)
{
	return mmk_pt_query(mmk_aspace_pt(s), va, NULL, NULL, NULL) == 0;
}

static bool mapped(mmk_vaddr_t va)
{
	return mmk_pt_query(mmk_aspace_pt(&as), va, NULL, NULL, NULL) == 0;
}

/* ------------------------------------------------------------ basics */

static void lazy_area_maps_a_zeroed_page_on_first_touch_only(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 16 * PG, MMK_PT_RW, false), 0);
	assert_false(mapped(BASE + 3 * PG));
	long f0 = mmk_hosted_live_frames();
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 3 * PG + 5,
						 MMK_ACCESS_WRITE));
	assert_true(mapped(BASE + 3 * PG));
	assert_int_equal(pte_flags(BASE + 3 * PG), MMK_PT_RW);
	assert_false(mapped(BASE + 4 * PG));
	assert_true(mmk_hosted_live_frames() > f0);
	/* a second fault on the same page: already there, succeeds, no frame */
	long f1 = mmk_hosted_live_frames();
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 3 * PG,
						 MMK_ACCESS_READ));
	assert_int_equal(mmk_hosted_live_frames(), f1);
	char buf[PG];
	assert_int_equal(mmk_aspace_read_kernel(&as, BASE + 3 * PG, buf, PG),
			 0);
	for (size_t i = 0; i < PG; i++)
		assert_int_equal(buf[i], 0);
}

static void real_faults_are_refused(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 4 * PG, MMK_PT_READ, false), 0);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 8 * PG, MMK_ACCESS_READ),
			 MMK_EFAULT);
	assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_WRITE),
			 MMK_EACCES);
	assert_int_equal(mmk_aspace_fault(&as, BASE - PG, MMK_ACCESS_READ),
			 MMK_EFAULT);
	assert_false(mmk_aspace_handle_page_fault(&as, BASE, MMK_ACCESS_EXEC));
	assert_false(mapped(BASE));
	assert_int_equal(mmk_aspace_fault(&as, BASE, 0), MMK_EINVAL);
}

static void read_write_cross_pages_and_fault_lazily(void **state)
{
	(void)state;
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE, 8 * PG,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	static char in[3 * PG + 100], out[3 * PG + 100];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + 3);
	assert_int_equal(mmk_aspace_write(&as, BASE + PG - 50, in, sizeof(in)),
			 0);
	for (int p = 0; p < 5; p++)
		assert_true(mapped(BASE + p * PG));
	assert_false(mapped(BASE + 5 * PG));
	assert_int_equal(mmk_aspace_read(&as, BASE + PG - 50, out, sizeof(out)),
			 0);
	assert_memory_equal(in, out, sizeof(in));
	/* through a second path: the frame itself */
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 2 * PG, &pa,
				      NULL, NULL),
			 0);
	assert_memory_equal(mmk_phys_to_virt(pa), in + PG + 50, PG);
	/* out of the area: nothing copied */
	memset(out, 0x55, sizeof(out));
	assert_int_equal(mmk_aspace_read(&as, BASE + 7 * PG, out, 2 * PG),
			 MMK_EFAULT);
	assert_int_equal(out[0], 0x55);
	assert_int_equal(mmk_aspace_write(&as, BASE + 7 * PG, in, PG + 1),
			 MMK_EFAULT);
	assert_false(mapped(BASE + 7 * PG));
	/* write needs WRITE */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 8 * PG,
					    MMK_PT_READ | MMK_PT_USER),
			 0);
	assert_int_equal(mmk_aspace_write(&as, BASE, in, 1), MMK_EFAULT);
	assert_int_equal(mmk_aspace_read(&as, BASE + PG - 50, out, 10), 0);
	assert_memory_equal(in, out, 10);
	assert_int_equal(mmk_aspace_read(&as, BASE, out, 0), 0);
	assert_int_equal(mmk_aspace_read(&as, ~0ull - 10, out, 100),
			 MMK_EFAULT);
	/* user copies need USER: a kernel-only area refuses them, whole,
	 * and only the kernel's own calls reach it */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 8 * PG, 2 * PG,
					      MMK_PT_RW, false),
			 0);
	memset(out, 0x55, sizeof(out));
	assert_int_equal(mmk_aspace_read(&as, BASE + 8 * PG, out, 8),
			 MMK_EFAULT);
	assert_int_equal(out[0], 0x55);
	assert_int_equal(mmk_aspace_read(&as, BASE + 8 * PG - 4, out, 8),
			 MMK_EFAULT);
	assert_int_equal(mmk_aspace_write(&as, BASE + 8 * PG, in, 8),
			 MMK_EFAULT);
	assert_false(mapped(BASE + 8 * PG));
	assert_int_equal(mmk_aspace_write_kernel(&as, BASE + 8 * PG, in, 8), 0);
	assert_int_equal(mmk_aspace_read_kernel(&as, BASE + 8 * PG, out, 8), 0);
	assert_memory_equal(in, out, 8);
	/* but the kernel's copies still need READ / WRITE */
	assert_int_equal(mmk_aspace_write_kernel(&as, BASE, in, 1), MMK_EFAULT);
}

static void string_copy_stops_at_the_terminator_and_faults_lazily(void **st)
{
	(void)st;
	/* [BASE, BASE+2P) user, lazy; [BASE+2P, BASE+3P) kernel-only */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE, 2 * PG,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE + 2 * PG, PG, MMK_PT_RW, false),
		0);
	char buf[64];
	size_t len = 99;
	/* an untouched page reads as the empty string and is faulted in */
	assert_int_equal(
		mmk_aspace_read_string(&as, BASE + PG, buf, sizeof(buf), &len),
		0);
	assert_int_equal(len, 0);
	assert_true(mapped(BASE + PG));
	assert_false(mapped(BASE));
	/* a string across the page boundary, ending before a bad page */
	assert_int_equal(mmk_aspace_write(&as, BASE + PG - 3, "abcdef", 7), 0);
	assert_int_equal(mmk_aspace_read_string(&as, BASE + PG - 3, buf,
						sizeof(buf), &len),
			 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "abcdef");
	/* ending exactly at the last user byte, next to kernel-only memory */
	assert_int_equal(mmk_aspace_write(&as, BASE + 2 * PG - 2, "z", 2), 0);
	assert_int_equal(mmk_aspace_read_string(&as, BASE + 2 * PG - 2, buf,
						sizeof(buf), &len),
			 0);
	assert_int_equal(len, 1);
	/* running into it: EFAULT; too long for the buffer: ERANGE */
	memset(buf, 'q', sizeof(buf));
	assert_int_equal(mmk_aspace_write(&as, BASE + 2 * PG - 4, "qqqq", 4),
			 0);
	assert_int_equal(mmk_aspace_read_string(&as, BASE + 2 * PG - 4, buf,
						sizeof(buf), &len),
			 MMK_EFAULT);
	assert_int_equal(
		mmk_aspace_read_string(&as, BASE + 2 * PG - 4, buf, 3, &len),
		MMK_ERANGE);
	assert_int_equal(mmk_aspace_read_string(&as, BASE + 3 * PG, buf,
						sizeof(buf), &len),
			 MMK_EFAULT);
	assert_int_equal(mmk_aspace_read_string(&as, BASE, NULL, 4, &len),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_read_string(&as, BASE, buf, 0, &len),
			 MMK_EINVAL);
}

static void linear_maps_at_once_with_memory_types(void **state)
{
	(void)state;
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, 2, MMK_FRAME_ZERO, &pa), 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 16 * PG, pa, 4 * PG,
					       MMK_PT_RW | MMK_PT_GLOBAL),
			 0);
	/* a UART-like page: device memory */
	assert_int_equal(mmk_aspace_map_linear(&as, BASE, mmk_pa(0x10000000),
					       PG,
					       MMK_PT_RW | MMK_PT_MT_DEVICE),
			 0);
	assert_int_equal(pte_flags(BASE), MMK_PT_RW | MMK_PT_MT_DEVICE);
	for (int i = 0; i < 4; i++) {
		mmk_paddr_t got;
		assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as),
					      BASE + (16 + i) * PG, &got, NULL,
					      NULL),
				 0);
		assert_int_equal(got.v, pa.v + i * PG);
	}
	assert_int_equal(
		mmk_aspace_write_kernel(&as, BASE + 17 * PG + 1, "hi", 2), 0);
	assert_memory_equal((char *)mmk_phys_to_virt(pa) + PG + 1, "hi", 2);
	/* linear pages never fault: a fault on one is a stale TLB entry */
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 16 * PG,
						 MMK_ACCESS_WRITE));
	assert_int_equal(mmk_aspace_fault(&as, BASE + 16 * PG, MMK_ACCESS_EXEC),
			 MMK_EACCES);
	/* unmapping a linear area does not free its memory */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 16 * PG, 4 * PG), 0);
	assert_int_equal(mmk_frame_refcount(fa, pa), 1);
	assert_int_equal(mmk_frame_free(fa, pa), 0);
}

static void linear_huge_pages_split_on_partial_unmap_and_protect(void **state)
{
	(void)state;
	/* 4 MiB at a 2 MiB-aligned va and pa: two 2 MiB leaves */
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, 10, MMK_FRAME_ZERO, &pa), 0);
	mmk_vaddr_t va = BASE + 4 * MMK_MIB;
	assert_int_equal(
		mmk_aspace_map_linear(&as, va, pa, 4 * MMK_MIB, MMK_PT_RW), 0);
	uint64_t psz;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), va, NULL, NULL, &psz),
			 0);
	assert_int_equal(psz, 2 * MMK_MIB);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_protect(&as, va + PG, PG, MMK_PT_READ), 0);
	assert_int_equal(pte_flags(va), MMK_PT_RW);
	assert_int_equal(pte_flags(va + PG), MMK_PT_READ);
	assert_int_equal(pte_flags(va + 2 * PG), MMK_PT_RW);
	assert_true(mmk_hosted_flushed(va + PG));
	assert_int_equal(mmk_aspace_area_count(&as), 3);
	assert_int_equal(mmk_aspace_unmap(&as, va + 3 * MMK_MIB, PG), 0);
	assert_false(mapped(va + 3 * MMK_MIB));
	assert_true(mapped(va + 3 * MMK_MIB - PG));
	assert_true(mapped(va + 3 * MMK_MIB + PG));
	mmk_paddr_t got;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), va + 3 * MMK_MIB + PG,
				      &got, NULL, NULL),
			 0);
	assert_int_equal(got.v, pa.v + 3 * MMK_MIB + PG);
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_frame_free(fa, pa), 0);
}

static void populate_fills_holes_and_needs_areas_everywhere(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 8 * PG, MMK_PT_RW, false), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 8 * PG, 8 * PG,
					      MMK_PT_READ, false),
			 0);
	assert_int_equal(mmk_aspace_write_kernel(&as, BASE + 2 * PG, "x", 1),
			 0);
	mmk_paddr_t keep;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 2 * PG, &keep,
				      NULL, NULL),
			 0);
	/* part of the range has no area: ENOMEM, nothing changed */
	as_snapshot(&as, fa, &s0);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 20 * PG, MMK_ACCESS_READ),
		MMK_ENOMEM);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 16 * PG, MMK_ACCESS_WRITE),
		MMK_EACCES);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "refused populate");
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 16 * PG, MMK_ACCESS_READ), 0);
	for (int p = 0; p < 16; p++)
		assert_true(mapped(BASE + p * PG));
	mmk_paddr_t now;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 2 * PG, &now,
				      NULL, NULL),
			 0);
	assert_int_equal(now.v, keep.v);
	char c;
	assert_int_equal(mmk_aspace_read_kernel(&as, BASE + 2 * PG, &c, 1), 0);
	assert_int_equal(c, 'x');
	/* populated at map time */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 32 * PG, 100 * PG,
					      MMK_PT_RW, true),
			 0);
	for (int p = 0; p < 100; p++)
		assert_true(mapped(BASE + (32 + p) * PG));
}

static void areas_merge_split_find_and_dump(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 4 * PG, MMK_PT_RW, false), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 4 * PG, 4 * PG,
					      MMK_PT_RW, false),
			 0);
	assert_int_equal(mmk_aspace_area_count(&as), 1); /* merged */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 2 * PG, 4 * PG,
					      MMK_PT_RW, false),
			 MMK_EEXIST);
	assert_int_equal(
		mmk_aspace_protect(&as, BASE + 2 * PG, 2 * PG, MMK_PT_READ), 0);
	assert_int_equal(mmk_aspace_area_count(&as), 3);
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 3 * PG, &a));
	assert_int_equal(a.start, BASE + 2 * PG);
	assert_int_equal(a.end, BASE + 4 * PG);
	assert_int_equal(a.flags, MMK_PT_READ);
	assert_ptr_equal(a.backend, &mmk_backend_alloc);
	assert_false(mmk_aspace_find_area(&as, BASE + 8 * PG, &a));
	assert_true(mmk_aspace_can_access_range(&as, BASE, 8 * PG,
						MMK_ACCESS_READ));
	assert_false(mmk_aspace_can_access_range(&as, BASE, 8 * PG,
						 MMK_ACCESS_WRITE));
	assert_false(mmk_aspace_can_access_range(&as, BASE, 9 * PG,
						 MMK_ACCESS_READ));
	assert_true(mmk_aspace_can_access_range(&as, BASE + 4 * PG, 4 * PG,
						MMK_ACCESS_WRITE));
	assert_true(mmk_aspace_can_access_range(&as, BASE + 4 * PG + 1, 1,
						MMK_ACCESS_WRITE));
	/* the hole in the middle: not accessible */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 5 * PG, PG), 0);
	assert_false(mmk_aspace_can_access_range(&as, BASE + 4 * PG, 3 * PG,
						 MMK_ACCESS_READ));
	mmk_vaddr_t got;
	assert_int_equal(
		mmk_aspace_find_free_area(&as, BASE, 2 * PG, 0, ~0ull, 0, &got),
		0);
	assert_int_equal(got, BASE + 8 * PG);
	assert_int_equal(
		mmk_aspace_find_free_area(&as, BASE, PG, 0, ~0ull, 0, &got), 0);
	assert_int_equal(got, BASE + 5 * PG);
	assert_int_equal(mmk_aspace_find_free_area(&as, 0, 4 * PG, 0, ~0ull,
						   4 * PG, &got),
			 0);
	assert_int_equal(got, BASE + 8 * PG);
	assert_int_equal(
		mmk_aspace_find_free_area(&as, 0, SPACE, 0, ~0ull, 0, &got),
		MMK_ENOMEM);
	assert_int_equal(
		mmk_aspace_find_free_area(&as, 0, PG, 0, ~0ull, 3, &got),
		MMK_EALIGN);
}

static void dump_looks_like_proc_maps(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 2 * PG, MMK_PT_RW, false), 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 4 * PG,
					       mmk_pa(0x10000000), PG,
					       MMK_PT_RW | MMK_PT_MT_DEVICE),
			 0);
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE + 8 * PG, PG, MMK_PT_RX, false),
		0);
	struct lines d = {0};
	assert_int_equal(mmk_aspace_dump_maps(&as, take_line, &d), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.l[0],
			    "40000000-40002000 rw-p 00000000 00:00 0 alloc");
	assert_string_equal(d.l[1],
			    "40004000-40005000 rw-s 10000000 00:00 0 linear");
	assert_string_equal(d.l[2],
			    "40008000-40009000 r-xp 00000000 00:00 0 alloc");
}

/* ------------------------------------------------------------ bad input */

static void bad_input_is_refused_and_changes_nothing(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 4 * PG, MMK_PT_RW, true), 0);
	as_snapshot(&as, fa, &s0);
	const uint64_t E = BASE + SPACE;
	struct {
		mmk_vaddr_t start;
		uint64_t size;
		int err;
	} cases[] = {
		{BASE, 0, MMK_EWRAP},
		{BASE + PG, ~0ull - PG, MMK_EWRAP},
		{~0ull - PG + 1, 2 * PG, MMK_EWRAP},
		{BASE + 1, PG, MMK_EALIGN},
		{BASE, PG + 1, MMK_EALIGN},
		{BASE, 100, MMK_EALIGN},
		{BASE - PG, 2 * PG, MMK_ERANGE},
		{E - PG, 2 * PG, MMK_ERANGE},
		{E, PG, MMK_ERANGE},
		{0, PG, MMK_ERANGE},
		{0xffff800000000000ull, PG, MMK_ERANGE},
	};
	for (size_t i = 0; i < MMK_ARRAY_SIZE(cases); i++) {
		mmk_vaddr_t s = cases[i].start;
		uint64_t z = cases[i].size;
		int e = cases[i].err;
		assert_int_equal(
			mmk_aspace_map_alloc(&as, s, z, MMK_PT_RW, false), e);
		assert_int_equal(
			mmk_aspace_map_alloc(&as, s, z, MMK_PT_RW, true), e);
		assert_int_equal(
			mmk_aspace_map_linear(&as, s, mmk_pa(0), z, MMK_PT_RW),
			e);
		assert_int_equal(mmk_aspace_unmap(&as, s, z), e);
		assert_int_equal(mmk_aspace_protect(&as, s, z, MMK_PT_READ), e);
		assert_int_equal(
			mmk_aspace_populate(&as, s, z, MMK_ACCESS_READ), e);
		if (e == MMK_ERANGE)
			assert_false(mmk_aspace_can_access_range(
				&as, s, z, MMK_ACCESS_READ));
	}
	/* flags and access */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 8 * PG, PG,
					      MMK_PT_ACCESSED, false),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE + 8 * PG, PG, 1u << 20, false),
		MMK_EINVAL);
	/* x86_64 cannot map EXEC alone: the pages get READ|EXEC and the area
	 * keeps EXEC (test_aspace_seam.c); memory types a format lacks are
	 * refused (riscv64 without Svpbmt, below). */
	struct mmk_aspace rv;
	assert_int_equal(
		mmk_aspace_create(&rv, BASE, SPACE, MMK_PT_RISCV_SV39, 0, fa),
		0);
	assert_int_equal(mmk_aspace_map_alloc(&rv, BASE + 8 * PG, PG,
					      MMK_PT_RW | MMK_PT_MT_DEVICE,
					      false),
			 MMK_ENOTSUP);
	assert_int_equal(mmk_aspace_area_count(&rv), 0);
	mmk_aspace_destroy(&rv);
	assert_int_equal(mmk_aspace_protect(&as, BASE, PG, MMK_PT_DIRTY),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_populate(&as, BASE, PG, 0), MMK_EINVAL);
	assert_int_equal(mmk_aspace_populate(&as, BASE, PG, MMK_PT_USER),
			 MMK_EINVAL);
	assert_int_equal(mmk_aspace_map(&as, BASE + 8 * PG, PG, MMK_PT_RW,
					false, NULL, 0, NULL),
			 MMK_EINVAL);
	/* linear: unaligned or wrapping physical address */
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 8 * PG,
					       mmk_pa(0x1001), PG, MMK_PT_RW),
			 MMK_EALIGN);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 8 * PG,
					       mmk_pa(~0ull - PG + 1), 2 * PG,
					       MMK_PT_RW),
			 MMK_ERANGE);
	/* overlap */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 3 * PG, 2 * PG,
					      MMK_PT_RW, true),
			 MMK_EEXIST);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "bad input");
	/* create */
	struct mmk_aspace t;
	assert_int_equal(
		mmk_aspace_create(&t, BASE, 0, MMK_PT_X86_64_4L, 0, fa),
		MMK_EWRAP);
	assert_int_equal(mmk_aspace_create(&t, ~0ull - PG + 1, 2 * PG,
					   MMK_PT_X86_64_4L, 0, fa),
			 MMK_EWRAP);
	assert_int_equal(
		mmk_aspace_create(&t, BASE + 1, PG, MMK_PT_X86_64_4L, 0, fa),
		MMK_EALIGN);
	assert_int_equal(mmk_aspace_create(&t, 0x0000800000000000ull, PG,
					   MMK_PT_X86_64_4L, 0, fa),
			 MMK_ENONCANON);
	assert_int_equal(mmk_aspace_create(&t, 0x00007ffffffff000ull, 2 * PG,
					   MMK_PT_X86_64_4L, 0, fa),
			 MMK_ENONCANON);
	assert_int_equal(
		mmk_aspace_create(&t, BASE, PG, MMK_PT_FORMAT_COUNT, 0, fa),
		MMK_EINVAL);
	as_snapshot(&as, fa, &s1);
	as_snap_equal(&s0, &s1, "bad create");
}

/* ------------------------------------------------------------------ TLB */

static bool flush_covers_only(mmk_vaddr_t lo, mmk_vaddr_t hi)
{
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		if (f.kind != MMK_HOSTED_FLUSH_RANGE || f.start < lo ||
		    f.end > hi)
			return false;
	}
	return true;
}

static void unmap_and_protect_flush_exactly_what_lost_permissions(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 32 * PG, MMK_PT_RW, false), 0);
	/* adding mappings flushes nothing */
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 8 * PG, MMK_ACCESS_READ), 0);
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 20 * PG,
						 MMK_ACCESS_WRITE));
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 40 * PG, 8 * PG,
					      MMK_PT_RW, true),
			 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);

	/* protect that only adds permissions: no flush */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 32 * PG, MMK_PT_RWX), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	/* protect that removes WRITE over 32 pages of which 9 are mapped:
	 * exactly those 9, on this CPU */
	assert_int_equal(mmk_aspace_protect(&as, BASE, 32 * PG, MMK_PT_READ),
			 0);
	assert_true(mmk_hosted_flush_count() >= 1);
	for (int p = 0; p < 8; p++)
		assert_true(mmk_hosted_flushed(BASE + p * PG));
	assert_true(mmk_hosted_flushed(BASE + 20 * PG));
	assert_false(mmk_hosted_flushed(BASE + 10 * PG));
	assert_true(flush_covers_only(BASE, BASE + 32 * PG));
	struct mmk_hosted_flush f;
	mmk_hosted_flush_get(0, &f);
	assert_true(mmk_cpumask_test(&f.cpus, mmk_hal_cpu_id()));
	assert_int_equal(f.asid, 0);
	/* flushes carry the space's ASID */
	mmk_aspace_set_asid(&as, 7);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_protect(&as, BASE, PG, 0), 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_RANGE);
	assert_int_equal(f.asid, 7);
	assert_int_equal(f.start, BASE);
	assert_int_equal(f.end, BASE + PG);
	assert_int_equal(mmk_aspace_protect(&as, BASE, PG, MMK_PT_READ), 0);
	/* unmap of a range with holes: exactly the mapped pages */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 4 * PG, 20 * PG), 0);
	for (int p = 4; p < 8; p++)
		assert_true(mmk_hosted_flushed(BASE + p * PG));
	assert_true(mmk_hosted_flushed(BASE + 20 * PG));
	assert_false(mmk_hosted_flushed(BASE + 12 * PG));
	assert_true(flush_covers_only(BASE + 4 * PG, BASE + 24 * PG));
	/* unmapping holes only: nothing to flush */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 10 * PG, 4 * PG), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
}

static void space_active_nowhere_is_never_flushed(void **state)
{
	(void)state;
	mmk_aspace_deactivate(&as);
	assert_false(mmk_aspace_is_active(&as));
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 32 * PG, MMK_PT_RW, true), 0);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_protect(&as, BASE, 32 * PG, MMK_PT_READ),
			 0);
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 32 * PG), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);
	/* and every frame went back anyway */
	mmk_aspace_activate(&as);
	uint32_t asid;
	assert_int_equal(mmk_hosted_current_root(&asid).v,
			 mmk_aspace_pt(&as)->root.v);
}

static void large_unmap_flushes_once_in_full(void **state)
{
	(void)state;
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 512 * PG, MMK_PT_RW, true), 0);
	long before = mmk_hosted_live_frames();
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 512 * PG), 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	struct mmk_hosted_flush f;
	mmk_hosted_flush_get(0, &f);
	assert_int_equal(f.kind, MMK_HOSTED_FLUSH_ALL);
	assert_true(mmk_hosted_live_frames() <= before - 512);
}

/* ------------------------------------------------------- all or nothing */

/*
 * Each case builds the same starting space, then runs one operation with
 * the n-th frame or object allocation failing, n = 1, 2, ... until it
 * succeeds; after each failure the space must be exactly as it was.
 */
static mmk_paddr_t lin_pa;

static void sweep_start(void)
{
	/*
	 *  BASE                                            +64 pages
	 *  | alloc RW lazy, pages 0..3 and 10 touched | hole | alloc R pop |
	 *  +2 MiB: linear RW 4 MiB (huge pages)
	 */
	assert_int_equal(
		mmk_aspace_map_alloc(&as, BASE, 32 * PG, MMK_PT_RW, false), 0);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 4 * PG, MMK_ACCESS_READ), 0);
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 10 * PG,
						 MMK_ACCESS_READ));
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 48 * PG, 16 * PG,
					      MMK_PT_READ, true),
			 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 2 * MMK_MIB, lin_pa,
					       4 * MMK_MIB, MMK_PT_RW),
			 0);
	/*  +6 MiB: alloc RW, 3 pages touched; +8 MiB: linear RW 4 MiB */
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 6 * MMK_MIB, MMK_MIB,
					      MMK_PT_RW, false),
			 0);
	for (int i = 0; i < 3; i++)
		assert_true(mmk_aspace_handle_page_fault(
			&as, BASE + 6 * MMK_MIB + i * 7 * PG, MMK_ACCESS_READ));
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 8 * MMK_MIB,
					       mmk_pa_add(lin_pa, 4 * MMK_MIB),
					       4 * MMK_MIB, MMK_PT_RW),
			 0);
}

typedef int (*sweep_fn)(void);

static int op_map_populate(void)
{
	return mmk_aspace_map_alloc(&as, BASE + 64 * PG, 400 * PG, MMK_PT_RW,
				    true);
}
static int op_map_far(void)
{
	/* far away: new tables at every level */
	return mmk_aspace_map_alloc(&as, BASE + 40 * MMK_MIB, 4 * PG, MMK_PT_RW,
				    true);
}
static int op_map_lazy(void)
{
	return mmk_aspace_map_alloc(&as, BASE + 36 * PG, 4 * PG, MMK_PT_READ,
				    false);
}
static int op_map_linear(void)
{
	return mmk_aspace_map_linear(&as, BASE + 30 * MMK_MIB,
				     mmk_pa(lin_pa.v + PG), 3 * MMK_MIB,
				     MMK_PT_READ);
}
static int op_populate(void)
{
	return mmk_aspace_populate(&as, BASE, 64 * PG, MMK_ACCESS_READ) ==
			       MMK_ENOMEM
		       ? mmk_aspace_populate(&as, BASE + 2 * PG, 28 * PG,
					     MMK_ACCESS_READ)
		       : -100;
}
static int op_unmap_middle(void)
{
	return mmk_aspace_unmap(&as, BASE + 2 * PG, 9 * PG);
}
static int op_protect_middle(void)
{
	return mmk_aspace_protect(&as, BASE + 2 * PG, 9 * PG, MMK_PT_READ);
}
static int op_protect_linear_edge(void)
{
	return mmk_aspace_protect(&as, BASE + 3 * MMK_MIB, 2 * PG, MMK_PT_READ);
}
static int op_unmap_linear_edge(void)
{
	return mmk_aspace_unmap(&as, BASE + 3 * MMK_MIB - PG, 2 * PG);
}
/* both edges inside different huge pages, areas of both backends */
static int op_protect_across_huge(void)
{
	return mmk_aspace_protect(&as, BASE + 5 * MMK_MIB, 4 * MMK_MIB,
				  MMK_PT_READ);
}
static int op_unmap_across_huge(void)
{
	return mmk_aspace_unmap(&as, BASE + 5 * MMK_MIB, 4 * MMK_MIB);
}
static int op_protect_inside_huge(void)
{
	return mmk_aspace_protect(&as, BASE + 3 * MMK_MIB, 2 * MMK_MIB,
				  MMK_PT_READ);
}
static int op_fault(void)
{
	return mmk_aspace_fault(&as, BASE + 20 * PG, MMK_ACCESS_WRITE);
}
static void prep_fault_far(void)
{
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 50 * MMK_MIB, PG,
					      MMK_PT_RW, false),
			 0);
}
static int op_fault_far(void)
{
	/* a lazy page under no table yet: tables and a frame */
	return mmk_aspace_fault(&as, BASE + 50 * MMK_MIB, MMK_ACCESS_WRITE);
}
static int op_write(void)
{
	static const char msg[] = "all or nothing";
	/* one lazy page: the fault is all or nothing (a copy across
	 * several lazy pages may stop after faulting some in) */
	return mmk_aspace_write_kernel(&as, BASE + 12 * PG + 9, msg,
				       sizeof(msg));
}

static void sweep(const char *name, sweep_fn fn, void (*prep)(void))
{
	long failed[2] = {0, 0};
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++, failed[site]++) {
			mmk_aspace_clear(&as);
			sweep_start();
			if (prep)
				prep();
			as_snapshot(&as, fa, &s0);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = fn();
			mmk_hosted_fail_off();
			if (err == 0)
				break;
			if (err == -100)
				fail_msg("%s: setup failed at %ld", name, n);
			if (err != MMK_ENOMEM)
				fail_msg("%s: site %d n %ld: %s", name, site, n,
					 mmk_strerror(err));
			as_snapshot(&as, fa, &s1);
			char what[80];
			snprintf(what, sizeof(what), "%s site %d n %ld", name,
				 site, n);
			as_snap_equal(&s0, &s1, what);
			assert_int_equal(mmk_mset_check(&as.areas), 0);
			assert_true(n < 10000);
		}
	}
	print_message("sweep %-20s %3ld frame and %3ld object failures, "
		      "each undone\n",
		      name, failed[0], failed[1]);
}

static void
every_operation_is_all_or_nothing_under_allocation_failure(void **state)
{
	(void)state;
	assert_int_equal(mmk_frame_alloc(fa, 11, MMK_FRAME_ZERO, &lin_pa), 0);
	sweep("map populate", op_map_populate, NULL);
	sweep("map far", op_map_far, NULL);
	sweep("map lazy", op_map_lazy, NULL);
	sweep("map linear", op_map_linear, NULL);
	sweep("populate", op_populate, NULL);
	sweep("unmap middle", op_unmap_middle, NULL);
	sweep("protect middle", op_protect_middle, NULL);
	sweep("fault", op_fault, NULL);
	sweep("fault far", op_fault_far, prep_fault_far);
	sweep("write", op_write, NULL);
	sweep("protect linear edge", op_protect_linear_edge, NULL);
	sweep("unmap linear edge", op_unmap_linear_edge, NULL);
	sweep("protect across huge", op_protect_across_huge, NULL);
	sweep("unmap across huge", op_unmap_across_huge, NULL);
	sweep("protect inside huge", op_protect_inside_huge, NULL);
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_frame_free(fa, lin_pa), 0);
}

static void unmap_across_two_huge_pages_keeps_the_outside(void **state)
{
	(void)state;
	assert_int_equal(mmk_frame_alloc(fa, 11, MMK_FRAME_ZERO, &lin_pa), 0);
	sweep_start();
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_aspace_protect(&as, BASE + 5 * MMK_MIB,
					    4 * MMK_MIB, MMK_PT_READ),
			 0);
	assert_int_equal(pte_flags(BASE + 5 * MMK_MIB - PG), MMK_PT_RW);
	assert_int_equal(pte_flags(BASE + 5 * MMK_MIB), MMK_PT_READ);
	assert_int_equal(pte_flags(BASE + 6 * MMK_MIB), MMK_PT_READ);
	assert_int_equal(pte_flags(BASE + 9 * MMK_MIB - PG), MMK_PT_READ);
	assert_int_equal(pte_flags(BASE + 9 * MMK_MIB), MMK_PT_RW);
	struct mmk_aspace_area a;
	assert_true(mmk_aspace_find_area(&as, BASE + 6 * MMK_MIB, &a));
	assert_int_equal(a.flags, MMK_PT_READ);
	assert_ptr_equal(a.backend, &mmk_backend_alloc);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 5 * MMK_MIB, 4 * MMK_MIB),
			 0);
	assert_true(mmk_hosted_flushed(BASE + 5 * MMK_MIB));
	for (mmk_vaddr_t va = BASE + 5 * MMK_MIB; va < BASE + 9 * MMK_MIB;
	     va += PG)
		assert_false(mapped(va));
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as),
				      BASE + 5 * MMK_MIB - PG, &pa, NULL, NULL),
			 0);
	assert_int_equal(pa.v, lin_pa.v + 3 * MMK_MIB - PG);
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 9 * MMK_MIB,
				      &pa, NULL, NULL),
			 0);
	assert_int_equal(pa.v, lin_pa.v + 5 * MMK_MIB);
	/* the 3 alloc pages went back; split tables may remain */
	assert_true(mmk_hosted_live_frames() <= frames - 3 + 4);
	assert_false(mmk_aspace_find_area(&as, BASE + 6 * MMK_MIB, &a));
	mmk_aspace_clear(&as);
	assert_int_equal(mmk_frame_free(fa, lin_pa), 0);
}

/*
 * Huge pages on every 4 KiB format: an 8 MiB linear area (2 MiB leaves)
 * cut by random unmaps, protects and re-maps, a quarter of them with an
 * allocation failure injected.  After each call every page's translation
 * is compared with the model, and a failed call with a full snapshot.
 */
#define HUGE_PAGES 2048

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	printf("  %s\n", line);
}

static void debug_dump(struct mmk_aspace *s)
{
	printf("areas:\n");
	mmk_aspace_dump_maps(s, print_line, NULL);
	printf("leaves:\n");
	mmk_pt_dump(mmk_aspace_pt(s), s->base, s->end - s->base,
		    MMK_PT_DUMP_RUNS, print_line, NULL);
	fflush(stdout);
}

static void huge_pages_split_correctly_on_every_format(void **state)
{
	(void)state;
	mmk_aspace_destroy(&as);
	static uint32_t model[HUGE_PAGES]; /* flags + 1, 0 = unmapped */
	mmk_paddr_t pa;
	assert_int_equal(mmk_frame_alloc(fa, 11, 0, &pa), 0);
	uint64_t seed = mmk_test_seed(0x4a9e);
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (!as_format_4k(id, &info))
			continue;
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		mmk_aspace_activate(&as);
		uint32_t fl[16];
		unsigned nfl = as_valid_flags(&as, fl);
		const mmk_vaddr_t va = BASE + 8 * MMK_MIB;
		assert_int_equal(mmk_aspace_map_linear(&as, va, pa, 8 * MMK_MIB,
						       MMK_PT_RW),
				 0);
		uint64_t psz;
		assert_int_equal(
			mmk_pt_query(mmk_aspace_pt(&as), va, NULL, NULL, &psz),
			0);
		assert_int_equal(psz, 2 * MMK_MIB);
		for (unsigned i = 0; i < HUGE_PAGES; i++)
			model[i] = MMK_PT_RW + 1;
		uint64_t rng = seed + (uint64_t)id;
		long failed = 0;
		for (int op = 0; op < 1000; op++) {
			unsigned p =
				(unsigned)(mmk_test_rand(&rng) % HUGE_PAGES);
			unsigned n = 1 + (unsigned)(mmk_test_rand(&rng) %
						    (HUGE_PAGES - p));
			if (mmk_test_rand(&rng) % 2)
				n = 1 + (n - 1) % 700;
			unsigned kind = (unsigned)(mmk_test_rand(&rng) % 3);
			uint32_t f = fl[mmk_test_rand(&rng) % nfl];
			bool inject = mmk_test_rand(&rng) % 4 == 0;
			mmk_vaddr_t at = va + p * PG;
			bool free_ = true;
			for (unsigned i = p; i < p + n; i++)
				free_ &= model[i] == 0;
			if (kind == 2 && !free_)
				kind = 0;
			as_snapshot(&as, fa, &s0);
			/* two draws in a fixed order (not as arguments, whose
			 * order of evaluation differs between compilers) */
			bool frame_site = mmk_test_rand(&rng) % 2;
			long nth = 1 + (long)(mmk_test_rand(&rng) % 3);
			if (getenv("MMK_DEBUG_HUGE"))
				printf("%s op %d: kind %u p %u n %u f %#x%s %d "
				       "%ld\n",
				       info.name, op, kind, p, n, f,
				       inject ? " (inject)" : "", frame_site,
				       nth);
			if (getenv("MMK_DEBUG_HUGE_OP") &&
			    atoi(getenv("MMK_DEBUG_HUGE_OP")) == op)
				debug_dump(&as);
			if (inject)
				mmk_hosted_fail_nth(frame_site ? MMK_FAIL_FRAME
							       : MMK_FAIL_OBJ,
						    nth);
			int err =
				kind == 0
					? mmk_aspace_protect(&as, at, n * PG, f)
				: kind == 1 ? mmk_aspace_unmap(&as, at, n * PG)
					    : mmk_aspace_map_linear(
						      &as, at,
						      mmk_pa_add(pa, p * PG),
						      n * PG, f);
			mmk_hosted_fail_off();
			if (inject && err == MMK_ENOMEM) {
				as_snapshot(&as, fa, &s1);
				as_snap_equal(&s0, &s1, info.name);
				failed++;
				continue;
			}
			assert_int_equal(err, 0);
			for (unsigned i = p; i < p + n; i++)
				if (kind == 1)
					model[i] = 0;
				else if (kind == 2 || model[i])
					model[i] = f + 1;
			for (unsigned i = 0; i < HUGE_PAGES; i++) {
				mmk_paddr_t got;
				uint32_t gf;
				int q = mmk_pt_query(mmk_aspace_pt(&as),
						     va + i * PG, &got, &gf,
						     NULL);
				if (!model[i]) {
					if (q != MMK_ENOENT)
						fail_msg("%s op %d: page %u "
							 "mapped",
							 info.name, op, i);
					continue;
				}
				if ((q || got.v != pa.v + i * PG ||
				     (gf & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY)) !=
					     model[i] - 1) &&
				    getenv("MMK_DEBUG_HUGE"))
					debug_dump(&as);
				if (q || got.v != pa.v + i * PG ||
				    (gf & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY)) !=
					    model[i] - 1)
					fail_msg("%s op %d: page %u: %s pa "
						 "%#llx flags %#x, want %#x",
						 info.name, op, i,
						 mmk_strerror(q),
						 (unsigned long long)got.v, gf,
						 model[i] - 1);
			}
			assert_int_equal(mmk_mset_check(&as.areas), 0);
		}
		print_message("%-14s 1000 cuts of huge pages, %ld failed by "
			      "injection and undone\n",
			      info.name, failed);
		mmk_aspace_destroy(&as);
	}
	assert_int_equal(mmk_frame_free(fa, pa), 0);
	/* teardown destroys a space: give it one */
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
}

/* A kernel's space in the upper half, on every format (aarch64: TTBR1). */
static void upper_half_spaces_work_on_every_format(void **state)
{
	(void)state;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) != 0)
			continue;
		struct mmk_aspace k;
		uint64_t ps = (uint64_t)1 << info.page_shift;
		mmk_vaddr_t base = 0 - ((uint64_t)1 << (info.va_bits - 1));
		int err = mmk_aspace_create(&k, base, MMK_GIB,
					    (enum mmk_pt_format_id)id, 0, fa);
		if (err == MMK_ENONCANON || err == MMK_ERANGE) {
			base = 0 - ((uint64_t)1 << info.va_bits);
			err = mmk_aspace_create(&k, base, MMK_GIB,
						(enum mmk_pt_format_id)id,
						MMK_PT_OPT_HIGH_HALF, fa);
		}
		if (err)
			fail_msg("%s: create in the upper half: %s", info.name,
				 mmk_strerror(err));
		mmk_aspace_activate(&k);
		assert_int_equal(mmk_aspace_map_alloc(&k, base, 16 * ps,
						      MMK_PT_RW | MMK_PT_GLOBAL,
						      false),
				 0);
		assert_true(mmk_aspace_handle_page_fault(&k, base + 3 * ps,
							 MMK_ACCESS_WRITE));
		char in[64], out[64];
		for (int i = 0; i < 64; i++)
			in[i] = (char)(i + 1);
		assert_int_equal(
			mmk_aspace_write_kernel(&k, base + 2 * ps - 32, in, 64),
			0);
		assert_int_equal(
			mmk_aspace_read_kernel(&k, base + 2 * ps - 32, out, 64),
			0);
		assert_memory_equal(in, out, 64);
		mmk_hosted_flush_reset();
		assert_int_equal(
			mmk_aspace_protect(&k, base, 16 * ps,
					   MMK_PT_READ | MMK_PT_GLOBAL),
			0);
		assert_true(mmk_hosted_flushed(base + 3 * ps));
		assert_int_equal(mmk_aspace_write_kernel(&k, base, in, 1),
				 MMK_EFAULT);
		assert_int_equal(mmk_aspace_unmap(&k, base, 16 * ps), 0);
		assert_int_equal(mmk_aspace_area_count(&k), 0);
		mmk_aspace_destroy(&k);
	}
}

static void destroy_returns_every_frame_and_object(void **state)
{
	(void)state;
	long f0 = mmk_hosted_live_frames(), o0 = mmk_hosted_live_objs();
	struct mmk_aspace t;
	assert_int_equal(mmk_aspace_create(&t, 0x1000000000ull, 64 * MMK_GIB,
					   MMK_PT_X86_64_4L, 0, fa),
			 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(mmk_aspace_map_alloc(
					 &t,
					 0x1000000000ull +
						 (uint64_t)i * 3 * MMK_GIB / 16,
					 (i % 7 + 1) * PG,
					 i % 2 ? MMK_PT_RW : MMK_PT_READ,
					 i % 3 == 0),
				 0);
	assert_true(mmk_hosted_live_frames() > f0);
	assert_true(mmk_hosted_live_objs() > o0);
	mmk_aspace_destroy(&t);
	assert_int_equal(mmk_hosted_live_frames(), f0);
	assert_int_equal(mmk_hosted_live_objs(), o0);
}

static void copy_mappings_shares_the_kernel_half(void **state)
{
	(void)state;
	struct mmk_aspace k, u;
	const uint64_t KB = 0xffff800000000000ull;
	assert_int_equal(mmk_aspace_create(&k, KB, 512 * MMK_GIB,
					   MMK_PT_X86_64_4L, 0, fa),
			 0);
	assert_int_equal(
		mmk_aspace_create(&u, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa), 0);
	assert_int_equal(mmk_aspace_map_alloc(&k, KB, 4 * PG,
					      MMK_PT_RW | MMK_PT_GLOBAL, true),
			 0);
	assert_int_equal(mmk_aspace_write_kernel(&k, KB + 5, "kernel", 6), 0);
	assert_int_equal(mmk_aspace_copy_mappings_from(&u, &k), 0);
	mmk_paddr_t a, b;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&k), KB, &a, NULL, NULL),
			 0);
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&u), KB, &b, NULL, NULL),
			 0);
	assert_int_equal(a.v, b.v);
	/* later kernel mappings under a shared slot show through */
	assert_int_equal(
		mmk_aspace_map_alloc(&k, KB + 64 * PG, PG, MMK_PT_RW, true), 0);
	assert_int_equal(
		mmk_pt_query(mmk_aspace_pt(&u), KB + 64 * PG, NULL, NULL, NULL),
		0);
	/* ... and the kernel's unmaps too; the user side cannot edit them */
	assert_int_equal(mmk_aspace_unmap(&k, KB, 128 * PG), 0);
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&u), KB, NULL, NULL, NULL),
			 MMK_ENOENT);
	/* overlapping ranges are refused */
	assert_int_equal(mmk_aspace_copy_mappings_from(&u, &u), MMK_ERANGE);
	/* borrowers first */
	mmk_aspace_destroy(&u);
	mmk_aspace_destroy(&k);
}

/* ------------------------------------------- the PORTING.md backend */

/*
 * The worked example of docs/PORTING.md, "Adding your own backend",
 * compiled and run: a window onto device memory (a frame buffer), mapped
 * one page at a time on first touch.
 */
static int window_populate(struct mmk_aspace_op *op,
			   const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end)
{
	uint64_t pa = a->offset + (start - a->start);
	/* all or nothing by itself */
	return mmk_pt_map_region(
		mmk_aspace_pt(op->as), start, mmk_pa(pa), end - start,
		mmk_backend_page_flags(op->as, a->flags), 0, op->gather);
}

static int window_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	/* device memory: no frame of ours, nothing to put if we lose */
	out->pa = mmk_pa(f->area->offset + (f->page - f->area->start));
	out->flags = f->prot;
	return 0;
}

/* zap and protect stay NULL: the defaults unmap (putting nothing, the
 * frames are the device's) and re-protect the mapped pages. */
static const struct mmk_backend window_backend = {
	.name = "window",
	.props = MMK_BACKEND_SHARED | MMK_BACKEND_SHOW_OFFSET,
	.populate = window_populate,
	.fault = window_fault,
};

static void porting_guide_backend_maps_its_window_on_demand(void **state)
{
	(void)state;
	const uint64_t fb = 0xfd000000; /* device memory: no frames */
	assert_int_equal(mmk_aspace_map(&as, BASE, 16 * PG,
					MMK_PT_RW | MMK_PT_MT_WC, false,
					&window_backend, fb, NULL),
			 0);
	assert_false(mapped(BASE + 5 * PG));
	assert_true(mmk_aspace_handle_page_fault(&as, BASE + 5 * PG + 8,
						 MMK_ACCESS_WRITE));
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 5 * PG, &pa,
				      NULL, NULL),
			 0);
	assert_int_equal(pa.v, fb + 5 * PG);
	assert_int_equal(pte_flags(BASE + 5 * PG), MMK_PT_RW | MMK_PT_MT_WC);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 16 * PG, MMK_ACCESS_READ), 0);
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(&as), BASE + 15 * PG, &pa,
				      NULL, NULL),
			 0);
	assert_int_equal(pa.v, fb + 15 * PG);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_protect(&as, BASE + 4 * PG, 2 * PG,
					    MMK_PT_READ | MMK_PT_MT_WC),
			 0);
	assert_true(mmk_hosted_flushed(BASE + 4 * PG));
	assert_int_equal(mmk_aspace_area_count(&as), 3);
	struct lines d = {0};
	assert_int_equal(mmk_aspace_dump_maps(&as, take_line, &d), 0);
	assert_string_equal(d.l[1],
			    "40004000-40006000 r--s fd004000 00:00 0 window");
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 16 * PG), 0);
	assert_false(mapped(BASE + 5 * PG));
}

/* The flush recorded for page @va, or -1 if none covers exactly it. */
static long flush_of_page(mmk_vaddr_t va)
{
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		if (f.kind == MMK_HOSTED_FLUSH_RANGE && f.start == va &&
		    f.end == va + PG)
			return (long)i;
	}
	return -1;
}

/*
 * loongarch64 may cache the invalid half of an entry pair: a fault that
 * maps a page flushes that page (and only it) where the space is active,
 * both through the core's install (anonymous memory) and through a
 * backend's own map (shared memory, mmk_backend_fault_map); the flush
 * is issued without a TLB gather on the stack (docs/STACK.md).
 */
static void loongarch64_fault_flushes_the_page_it_maps(void **state)
{
	(void)state;
	struct mmk_aspace la;
	assert_int_equal(
		mmk_aspace_create(&la, BASE, SPACE, MMK_PT_LA64_4K_4L, 0, fa),
		0);
	mmk_aspace_activate(&la);
	assert_true(la.map_flushes);
	assert_int_equal(
		mmk_aspace_map_alloc(&la, BASE, 2 * MMK_MIB, MMK_PT_RW, false),
		0);
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 4 * PG, 12, &o), 0);
	assert_int_equal(mmk_aspace_map_shared(&la, BASE + 4 * MMK_MIB, 4 * PG,
					       MMK_PT_RW, o, 0),
			 0);

	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_fault(&la, BASE + PG + 8, MMK_ACCESS_WRITE),
			 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_true(flush_of_page(BASE + PG) == 0);

	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_fault(&la, BASE + 4 * MMK_MIB + 2 * PG,
					  MMK_ACCESS_READ),
			 0);
	assert_int_equal(mmk_hosted_flush_count(), 1);
	assert_true(flush_of_page(BASE + 4 * MMK_MIB + 2 * PG) == 0);

	/* a second fault on a present page maps and flushes nothing */
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_fault(&la, BASE + PG, MMK_ACCESS_READ), 0);
	assert_int_equal(mmk_hosted_flush_count(), 0);

	/* inactive: the map flushes nowhere */
	mmk_aspace_deactivate(&la);
	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_fault(&la, BASE + 3 * PG, MMK_ACCESS_WRITE),
			 0);
	assert_true(flush_of_page(BASE + 3 * PG) < 0);
	assert_true(mapped_in(&la, BASE + 3 * PG));

	/* a fork shares the leaf tables: the child's maps into them unshare
	 * them first (a gather, out of line), through both paths */
	struct mmk_aspace child;
	assert_int_equal(mmk_aspace_create(&child, BASE, SPACE,
					   MMK_PT_LA64_4K_4L, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_clone(&la, &child), 0);
	assert_true(atomic_load(&child.pt.nshared) != 0);
	assert_int_equal(mmk_aspace_fault(&child, BASE + 4 * MMK_MIB + 3 * PG,
					  MMK_ACCESS_WRITE),
			 0);
	assert_true(atomic_load(&child.pt.nshared) != 0); /* still */
	assert_int_equal(
		mmk_aspace_fault(&child, BASE + 2 * PG, MMK_ACCESS_WRITE), 0);
	assert_true(mapped_in(&child, BASE + 2 * PG));
	assert_true(mapped_in(&child, BASE + 4 * MMK_MIB + 3 * PG));
	assert_false(mapped_in(&la, BASE + 2 * PG));
	assert_false(mapped_in(&la, BASE + 4 * MMK_MIB + 3 * PG));
	mmk_aspace_destroy(&child);
	mmk_shm_put(o);
	mmk_aspace_destroy(&la);
}

/* Whether a recorded flush covering @va names @asid (@other: names
 * another one). */
static bool flush_names(mmk_vaddr_t va, uint32_t asid, bool other)
{
	for (size_t i = 0; i < mmk_hosted_flush_count(); i++) {
		struct mmk_hosted_flush f;
		mmk_hosted_flush_get(i, &f);
		bool covers = f.kind != MMK_HOSTED_FLUSH_RANGE ||
			      (f.start <= va && va < f.end);
		if (covers && (f.asid == asid) != other)
			return true;
	}
	return false;
}

/*
 * With ASIDs allocated, those flushes name the ASID the space runs with,
 * not its fixed one (0): the core's install, a backend's own map
 * (mmk_backend_fault_map), a forced access bringing a page in
 * (mmk_aspace_access_forced) and a forked child's maps into the leaf
 * tables it shares (the gathered paths).  The loongarch64 demo kernel's
 * TLB kept the invalid entry of a MAP_SHARED page when the flush named
 * ASID 0.
 */
static void loongarch64_fault_flushes_name_the_spaces_asid(void **state)
{
	(void)state;
	mmk_aspace_deactivate(&as);
	assert_int_equal(mmk_tlb_asid_init(8, 1), 0);
	struct mmk_aspace la, child;
	assert_int_equal(
		mmk_aspace_create(&la, BASE, SPACE, MMK_PT_LA64_4K_4L, 0, fa),
		0);
	mmk_aspace_activate(&la);
	uint32_t asid = mmk_tlb_ctx_asid(&la.tlb);
	assert_true(asid != 0);
	assert_int_equal(
		mmk_aspace_map_alloc(&la, BASE, 2 * MMK_MIB, MMK_PT_RW, false),
		0);
	struct mmk_shm *o;
	assert_int_equal(mmk_shm_create(fa, 4 * PG, 12, &o), 0);
	mmk_vaddr_t sh = BASE + 4 * MMK_MIB;
	assert_int_equal(
		mmk_aspace_map_shared(&la, sh, 4 * PG, MMK_PT_RW, o, 0), 0);

	mmk_hosted_flush_reset();
	assert_int_equal(mmk_aspace_fault(&la, BASE + PG, MMK_ACCESS_WRITE), 0);
	assert_int_equal(mmk_aspace_fault(&la, sh + PG, MMK_ACCESS_WRITE), 0);
	uint64_t word = 0; /* a forced read brings the page in */
	assert_int_equal(
		mmk_aspace_access_forced(&la, BASE + 5 * PG, &word, 8, false),
		0);
	for (mmk_vaddr_t va = BASE + PG; va <= BASE + 5 * PG; va += 4 * PG) {
		assert_true(flush_names(va, asid, false));
		assert_false(flush_names(va, asid, true));
	}
	assert_true(flush_names(sh + PG, asid, false));
	assert_false(flush_names(sh + PG, asid, true));

	assert_int_equal(mmk_aspace_create(&child, BASE, SPACE,
					   MMK_PT_LA64_4K_4L, 0, fa),
			 0);
	assert_int_equal(mmk_aspace_clone(&la, &child), 0);
	mmk_aspace_deactivate(&la);
	mmk_aspace_activate(&child);
	uint32_t casid = mmk_tlb_ctx_asid(&child.tlb);
	assert_true(casid != 0 && casid != asid);
	assert_true(atomic_load(&child.pt.nshared) != 0);
	mmk_hosted_flush_reset();
	assert_int_equal(
		mmk_aspace_fault(&child, BASE + 2 * PG, MMK_ACCESS_WRITE), 0);
	assert_int_equal(
		mmk_aspace_fault(&child, sh + 2 * PG, MMK_ACCESS_WRITE), 0);
	assert_true(flush_names(BASE + 2 * PG, casid, false));
	assert_true(flush_names(sh + 2 * PG, casid, false));
	assert_false(flush_names(BASE + 2 * PG, casid, true));
	assert_false(flush_names(sh + 2 * PG, casid, true));

	mmk_aspace_deactivate(&child);
	mmk_aspace_destroy(&child);
	mmk_shm_put(o);
	mmk_aspace_destroy(&la);
	assert_int_equal(mmk_tlb_asid_init(0, 1), 0);
	mmk_aspace_activate(&as);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			lazy_area_maps_a_zeroed_page_on_first_touch_only, setup,
			teardown),
		cmocka_unit_test_setup_teardown(real_faults_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			read_write_cross_pages_and_fault_lazily, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			string_copy_stops_at_the_terminator_and_faults_lazily,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			linear_maps_at_once_with_memory_types, setup, teardown),
		cmocka_unit_test_setup_teardown(
			linear_huge_pages_split_on_partial_unmap_and_protect,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			populate_fills_holes_and_needs_areas_everywhere, setup,
			teardown),
		cmocka_unit_test_setup_teardown(areas_merge_split_find_and_dump,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dump_looks_like_proc_maps,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			bad_input_is_refused_and_changes_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			unmap_and_protect_flush_exactly_what_lost_permissions,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			space_active_nowhere_is_never_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			large_unmap_flushes_once_in_full, setup, teardown),
		cmocka_unit_test_setup_teardown(
			every_operation_is_all_or_nothing_under_allocation_failure,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			unmap_across_two_huge_pages_keeps_the_outside, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			huge_pages_split_correctly_on_every_format, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			upper_half_spaces_work_on_every_format, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			destroy_returns_every_frame_and_object, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			copy_mappings_shares_the_kernel_half, setup, teardown),
		cmocka_unit_test_setup_teardown(
			porting_guide_backend_maps_its_window_on_demand, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			loongarch64_fault_flushes_the_page_it_maps, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			loongarch64_fault_flushes_name_the_spaces_asid, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
