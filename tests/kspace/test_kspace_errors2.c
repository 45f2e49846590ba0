/* SPDX-License-Identifier: MIT */
/*
 * The kernel space's documented errors (kspace.h), each provoked and the
 * kernel space checked to be as it was (aspace_test.h's snapshot of
 * mmk_kspace(): areas, every leaf, reference counts, live frames and
 * objects, table pages; the per-CPU reserve left out).  docs/ERRORS.md
 * names the test of each (function, code) pair.
 *
 * The description is test_kspace.c's: x86_64 4-level (and riscv64 Sv39,
 * which cannot encode memory types, for MMK_ENOTSUP), default windows,
 * RAM 1 GiB at 0x40000000 in the linear map, an image of three sections.
 */
#include "aspace_test.h"

#include <mmkit/backend.h>
#include <mmkit/kspace.h>

#include "kspace_fixture.h"

static struct as_snap s0, s1;

#define X86 MMK_PT_X86_64_4L
#define RV  MMK_PT_RISCV_SV39

/* Free kernel addresses nothing maps (between the image and the
 * windows). */
static mmk_vaddr_t free_va(void)
{
	return kbase() + half / 4 + half / 8;
}

static void describe(enum mmk_pt_format_id id)
{
	struct mmk_pt_info info;
	assert_int_equal(mmk_pt_format_info(id, &info), 0);
	assert_int_equal(mmk_kspace_config_default(&cfg, id, 0, fa), 0);
	half = info.high_start ? 0 - info.high_start
			       : (uint64_t)1 << info.va_bits;
	regions[0] = (struct mmk_kspace_region){
		mmk_pa(RAM_PA), MMK_GIB, MMK_KREGION_READ | MMK_KREGION_WRITE,
		"ram"};
	regions[1] = (struct mmk_kspace_region){
		mmk_pa(DEV_PA), 0x1000,
		MMK_KREGION_READ | MMK_KREGION_WRITE | MMK_KREGION_DEVICE,
		"uart"};
	sections[0] = (struct mmk_kspace_section){
		img_va(), mmk_pa(IMG_PA), 64 * MMK_KIB, MMK_KSECT_TEXT, "text"};
	sections[1] = (struct mmk_kspace_section){
		img_va() + 64 * MMK_KIB, mmk_pa(IMG_PA + 64 * MMK_KIB),
		32 * MMK_KIB, MMK_KSECT_RODATA, "rodata"};
	sections[2] = (struct mmk_kspace_section){
		img_va() + 96 * MMK_KIB, mmk_pa(IMG_PA + 96 * MMK_KIB),
		32 * MMK_KIB, MMK_KSECT_DATA, "data"};
	cfg.regions = regions;
	cfg.nregions = 2;
	cfg.sections = sections;
	cfg.nsections = 3;
}

static void up_with(enum mmk_pt_format_id id, bool mt_fallback, bool windows)
{
	describe(id);
	cfg.mt_fallback = mt_fallback;
	if (!windows)
		cfg.io_size = cfg.vmalloc_size = 0;
	assert_int_equal(mmk_kspace_init(&cfg), 0);
}

static void up(void)
{
	up_with(X86, false, true);
}

static void down(void)
{
	assert_int_equal(mmk_kspace_destroy(), 0);
	assert_null(mmk_kspace());
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
}

static void ks_snapshot(struct as_snap *s)
{
	as_snapshot(mmk_kspace(), fa, s);
	s->live_frames -= mmk_kspace_reserve_pages();
}

/* @call returns @code and the kernel space is as it was. */
#define FAILS(code, call)                                                      \
	do {                                                                   \
		ks_snapshot(&s0);                                              \
		assert_int_equal((call), (code));                              \
		mmk_hosted_fail_off();                                         \
		ks_snapshot(&s1);                                              \
		as_snap_equal(&s0, &s1, #call);                                \
	} while (0)

/* The same with every frame allocation failing (no reserve). */
#define FAILS_NOMEM(call)                                                      \
	do {                                                                   \
		mmk_kspace_set_reserve(0);                                     \
		ks_snapshot(&s0);                                              \
		mmk_hosted_fail_after(MMK_FAIL_FRAME, 0);                      \
		assert_int_equal((call), MMK_ENOMEM);                          \
		mmk_hosted_fail_off();                                         \
		ks_snapshot(&s1);                                              \
		as_snap_equal(&s0, &s1, #call);                                \
		mmk_kspace_set_reserve(MMK_CFG_KSPACE_RESERVE);                \
	} while (0)

/* ------------------------------------------- before init, config, init */
static void calls_without_a_kernel_space_are_refused(void **state)
{
	(void)state;
	struct mmk_aspace u;
	mmk_vaddr_t va = 0;
	mmk_paddr_t fr = mmk_pa(RAM_PA);
	assert_null(mmk_kspace());
	assert_int_equal(mmk_kspace_destroy(), MMK_ENOENT);
	assert_int_equal(mmk_kspace_user_create(&u, 0x10000, MMK_GIB),
			 MMK_ENOENT);
	assert_int_equal(mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, &va),
			 MMK_ENOENT);
	assert_int_equal(mmk_iounmap(0), MMK_ENOENT);
	assert_int_equal(mmk_vmalloc(4096, &va), MMK_ENOENT);
	assert_int_equal(mmk_vmap(&fr, 1, MMK_PT_RW, &va), MMK_ENOENT);
	assert_int_equal(mmk_vfree(0), MMK_ENOENT);
	struct mmk_kmapper m = {0};
	assert_int_equal(mmk_kmapper_query(&m, 0, NULL, NULL), MMK_ENOENT);
	assert_int_equal(va, 0);
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
}

static void config_default_and_init_errors(void **state)
{
	(void)state;
	struct mmk_kspace_config c;
	memset(&c, 0x5a, sizeof(c));
	struct mmk_kspace_config c0 = c;
	assert_int_equal(mmk_kspace_config_default(NULL, X86, 0, fa),
			 MMK_EINVAL);
	assert_int_equal(
		mmk_kspace_config_default(&c, MMK_PT_FORMAT_COUNT, 0, fa),
		MMK_EINVAL);
	assert_int_equal(mmk_kspace_config_default(
				 &c, (enum mmk_pt_format_id) - 1, 0, fa),
			 MMK_EINVAL);
	assert_memory_equal(&c, &c0, sizeof(c));
	/* a format the build left out: what mmk_pt_format_info says */
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) ==
		    MMK_ENOTSUP) {
			assert_int_equal(
				mmk_kspace_config_default(
					&c, (enum mmk_pt_format_id)id, 0, fa),
				MMK_ENOTSUP);
			assert_memory_equal(&c, &c0, sizeof(c));
			describe(X86);
			cfg.format = (enum mmk_pt_format_id)id;
			assert_int_equal(mmk_kspace_init(&cfg), MMK_ENOTSUP);
			assert_null(mmk_kspace());
		}
	}
	/* init: no description, a format that does not exist */
	assert_int_equal(mmk_kspace_init(NULL), MMK_EINVAL);
	describe(X86);
	cfg.format = MMK_PT_FORMAT_COUNT;
	assert_int_equal(mmk_kspace_init(&cfg), MMK_EINVAL);
	assert_null(mmk_kspace());
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
	/* init: a second one */
	up();
	FAILS(MMK_EBUSY, mmk_kspace_init(&cfg));
	/* destroy while a user space lives */
	struct mmk_aspace u;
	assert_int_equal(mmk_kspace_user_create(&u, 0x10000, MMK_GIB), 0);
	FAILS(MMK_EBUSY, mmk_kspace_destroy());
	mmk_kspace_user_destroy(&u);
	down();
}

/* --------------------------------------------------------- user spaces */
static void user_create_errors_change_nothing(void **state)
{
	(void)state;
	up();
	struct mmk_aspace u;
	struct mmk_pt_info info;
	mmk_pt_info(mmk_aspace_pt(mmk_kspace()), &info);
	uint64_t low = info.low_end;
	FAILS(MMK_EINVAL, mmk_kspace_user_create(NULL, 0x10000, MMK_GIB));
	FAILS(MMK_EWRAP, mmk_kspace_user_create(&u, 0x10000, 0));
	FAILS(MMK_EWRAP, mmk_kspace_user_create(&u, 0x10000, -0x1000ull));
	FAILS(MMK_ERANGE, mmk_kspace_user_create(&u, low - 0x1000, 0x2000));
	FAILS(MMK_ERANGE, mmk_kspace_user_create(&u, kbase(), 0x1000));
	FAILS(MMK_EALIGN, mmk_kspace_user_create(&u, 0x10008, MMK_GIB));
	FAILS(MMK_EALIGN, mmk_kspace_user_create(&u, 0x10000, 0x1008));
	mmk_kspace_set_reserve(0);
	FAILS(MMK_ENOMEM, (mmk_hosted_fail_after(MMK_FAIL_FRAME, 0),
			   mmk_kspace_user_create(&u, 0x10000, MMK_GIB)));
	mmk_kspace_set_reserve(MMK_CFG_KSPACE_RESERVE);
	/* nothing left counted: destroy works */
	down();
}

/* ------------------------------------------------------------- mapper */
static void mapper_errors_change_nothing(void **state)
{
	(void)state;
	up();
	struct mmk_pt_info info;
	mmk_pt_info(mmk_aspace_pt(mmk_kspace()), &info);
	mmk_vaddr_t va = free_va();
	uint64_t ps = mmk_kspace()->page_size;
	struct mmk_kmapper m, inner;
	struct mmk_kflush fl;
	mmk_kmapper_lock(&m);
	FAILS(MMK_EWRAP,
	      mmk_kmapper_map(&m, va, mmk_pa(0x40000), 0, MMK_PT_RW, NULL));
	FAILS(MMK_EWRAP, mmk_kmapper_map(&m, -ps, mmk_pa(0x40000), 2 * ps,
					 MMK_PT_RW, NULL));
	FAILS(MMK_EWRAP,
	      mmk_kmapper_map(&m, va, mmk_pa(-ps), 2 * ps, MMK_PT_RW, NULL));
	FAILS(MMK_EALIGN,
	      mmk_kmapper_map(&m, va, mmk_pa(0x40008), 0x10, MMK_PT_RW, NULL));
	FAILS(MMK_EINVAL,
	      mmk_kmapper_map(&m, va, mmk_pa(0x40000), ps, MMK_PT_RWX, NULL));
	FAILS(MMK_EINVAL, mmk_kmapper_map(&m, va, mmk_pa(0x40000), ps,
					  MMK_PT_RW | MMK_PT_USER, NULL));
	FAILS(MMK_EINVAL,
	      mmk_kmapper_map(&m, va, mmk_pa(0x40000), ps, 0, NULL));
	/* the user half; a physical address beyond the format */
	FAILS(MMK_ERANGE, mmk_kmapper_map(&m, 0x10000, mmk_pa(0x40000), ps,
					  MMK_PT_RW, NULL));
	FAILS(MMK_ERANGE,
	      mmk_kmapper_map(&m, va, mmk_pa((uint64_t)1 << info.pa_bits), ps,
			      MMK_PT_RW, NULL));
	/* over the image */
	FAILS(MMK_EEXIST, mmk_kmapper_map(&m, sections[0].va, mmk_pa(IMG_PA),
					  ps, MMK_PT_READ, NULL));
	/* a fresh range needs table pages */
	FAILS_NOMEM(
		mmk_kmapper_map(&m, va, mmk_pa(0x40000), ps, MMK_PT_RW, NULL));
	/* query: nothing there */
	mmk_paddr_t pa = mmk_pa(0x1234);
	uint32_t f = 0x77;
	FAILS(MMK_ENOENT, mmk_kmapper_query(&m, va, &pa, &f));
	assert_int_equal(pa.v, 0x1234);
	/* unmap: cutting a 2 MiB page needs a table page */
	mmk_vaddr_t big = MMK_ALIGN_UP(va, 2 * MMK_MIB);
	assert_int_equal(mmk_kmapper_map(&m, big, mmk_pa(0x80000000ull),
					 2 * MMK_MIB, MMK_PT_RW, &fl),
			 0);
	mmk_kflush_ignore(&fl);
	uint64_t leaf;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(mmk_kspace()), big, NULL,
				      NULL, &leaf),
			 0);
	assert_int_equal(leaf, 2 * MMK_MIB);
	FAILS_NOMEM(mmk_kmapper_unmap(&m, big + ps, ps));
	/* a read-only view refuses every change, still answers queries */
	mmk_kmapper_lock(&inner);
	assert_true(mmk_kmapper_readonly(&inner));
	FAILS(MMK_EBUSY, mmk_kmapper_map(&inner, va, mmk_pa(0x40000), ps,
					 MMK_PT_RW, NULL));
	FAILS(MMK_EBUSY, mmk_kmapper_unmap(&inner, big, 2 * MMK_MIB));
	FAILS(MMK_ENOENT,
	      mmk_kmapper_query(&inner, big + 2 * MMK_MIB, NULL, NULL));
	mmk_vaddr_t out = 0;
	mmk_paddr_t fr = mmk_pa(RAM_PA);
	FAILS(MMK_EBUSY, mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, &out));
	FAILS(MMK_EBUSY, mmk_iounmap(big));
	FAILS(MMK_EBUSY, mmk_vmalloc(ps, &out));
	FAILS(MMK_EBUSY, mmk_vmap(&fr, 1, MMK_PT_RW, &out));
	FAILS(MMK_EBUSY, mmk_vfree(big));
	assert_int_equal(out, 0);
	mmk_kmapper_unlock(&inner);
	assert_int_equal(mmk_kmapper_unmap(&m, big, 2 * MMK_MIB), 0);
	mmk_kmapper_unlock(&m);
	down();
}

/* A root-level leaf user tables hold copies of (riscv64 Sv39's 1 GiB
 * linear map): the mapper will not remove it. */
static void mapper_keeps_shared_root_leaves(void **state)
{
	(void)state;
	up_with(RV, true, true);
	assert_true(mmk_kspace_shares_root());
	struct mmk_kmapper m;
	uint64_t leaf;
	mmk_vaddr_t lin = cfg.linear_offset + RAM_PA;
	assert_int_equal(mmk_pt_query(mmk_aspace_pt(mmk_kspace()), lin, NULL,
				      NULL, &leaf),
			 0);
	mmk_kmapper_lock(&m);
	assert_int_equal(leaf, MMK_GIB);
	FAILS(MMK_EBUSY, mmk_kmapper_unmap(&m, lin, 0x1000));
	mmk_kmapper_unlock(&m);
	down();
}

/* A memory type the format cannot encode, without mt_fallback. */
static void memory_types_the_format_lacks_are_refused(void **state)
{
	(void)state;
	describe(RV);
	cfg.mt_fallback = false;
	regions[1].flags &= ~(uint32_t)MMK_KREGION_DEVICE;
	assert_int_equal(mmk_kspace_init(&cfg), 0);
	mmk_vaddr_t va = free_va(), out = 0;
	struct mmk_kmapper m;
	mmk_kmapper_lock(&m);
	FAILS(MMK_ENOTSUP, mmk_kmapper_map(&m, va, mmk_pa(0x40000), 0x1000,
					   MMK_PT_RW | MMK_PT_MT_DEVICE, NULL));
	mmk_kmapper_unlock(&m);
	FAILS(MMK_ENOTSUP, mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, &out));
	mmk_paddr_t fr;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &fr), 0);
	FAILS(MMK_ENOTSUP,
	      mmk_vmap(&fr, 1, MMK_PT_RW | MMK_PT_MT_UNCACHED, &out));
	assert_int_equal(mmk_frame_free(fa, fr), 0);
	assert_int_equal(out, 0);
	down();
}

/* ------------------------------------------------ ioremap, vmalloc, vmap */
static void window_calls_errors_change_nothing(void **state)
{
	(void)state;
	up();
	struct mmk_pt_info info;
	mmk_pt_info(mmk_aspace_pt(mmk_kspace()), &info);
	uint64_t ps = mmk_kspace()->page_size;
	mmk_vaddr_t out = 0;
	mmk_paddr_t beyond = mmk_pa((uint64_t)1 << info.pa_bits);
	/* ioremap */
	FAILS(MMK_EINVAL, mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, NULL));
	FAILS(MMK_EINVAL,
	      mmk_ioremap(mmk_pa(DEV_PA), 8, (enum mmk_io_type)9, &out));
	FAILS(MMK_EWRAP, mmk_ioremap(mmk_pa(DEV_PA), 0, MMK_IO_DEVICE, &out));
	FAILS(MMK_EWRAP, mmk_ioremap(mmk_pa(-ps), 2 * ps, MMK_IO_DEVICE, &out));
	FAILS(MMK_ERANGE, mmk_ioremap(beyond, ps, MMK_IO_DEVICE, &out));
	FAILS(MMK_ENOMEM,
	      mmk_ioremap(mmk_pa(0), cfg.io_size, MMK_IO_DEVICE, &out));
	FAILS_NOMEM(mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, &out));
	FAILS(MMK_ENOENT, mmk_iounmap(free_va()));
	/* vmalloc */
	FAILS(MMK_EINVAL, mmk_vmalloc(ps, NULL));
	FAILS(MMK_EWRAP, mmk_vmalloc(0, &out));
	FAILS(MMK_EWRAP, mmk_vmalloc(-1ull, &out));
	FAILS(MMK_ENOMEM, mmk_vmalloc(cfg.vmalloc_size + ps, &out));
	FAILS_NOMEM(mmk_vmalloc(4 * ps, &out));
	FAILS(MMK_ENOENT, mmk_vfree(free_va()));
	/* vmap */
	mmk_paddr_t fr[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(mmk_frame_alloc(fa, 0, 0, &fr[i]), 0);
	mmk_paddr_t odd[2] = {fr[0], mmk_pa(fr[1].v + 8)};
	mmk_paddr_t far[2] = {fr[0], beyond};
	FAILS(MMK_EINVAL, mmk_vmap(NULL, 2, MMK_PT_RW, &out));
	FAILS(MMK_EINVAL, mmk_vmap(fr, 2, MMK_PT_RW, NULL));
	FAILS(MMK_EINVAL, mmk_vmap(fr, 0, MMK_PT_RW, &out));
	FAILS(MMK_EINVAL, mmk_vmap(fr, 2, MMK_PT_RWX, &out));
	FAILS(MMK_EINVAL, mmk_vmap(fr, 2, MMK_PT_RW | MMK_PT_USER, &out));
	FAILS(MMK_EALIGN, mmk_vmap(odd, 2, MMK_PT_RW, &out));
	FAILS(MMK_ERANGE, mmk_vmap(far, 2, MMK_PT_RW, &out));
	FAILS(MMK_ENOMEM, mmk_vmap(fr, (size_t)(cfg.vmalloc_size / ps) + 1,
				   MMK_PT_RW, &out));
	FAILS_NOMEM(mmk_vmap(fr, 2, MMK_PT_RW, &out));
	for (int i = 0; i < 2; i++)
		assert_int_equal(mmk_frame_refcount(fa, fr[i]), 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(mmk_frame_free(fa, fr[i]), 0);
	assert_int_equal(out, 0);
	down();
}

/* A kernel space built without windows. */
static void no_window_is_enotsup(void **state)
{
	(void)state;
	up_with(X86, false, false);
	mmk_vaddr_t out = 0;
	mmk_paddr_t fr;
	assert_int_equal(mmk_frame_alloc(fa, 0, 0, &fr), 0);
	FAILS(MMK_ENOTSUP, mmk_ioremap(mmk_pa(DEV_PA), 8, MMK_IO_DEVICE, &out));
	FAILS(MMK_ENOTSUP, mmk_vmalloc(4096, &out));
	FAILS(MMK_ENOTSUP, mmk_vmap(&fr, 1, MMK_PT_RW, &out));
	assert_int_equal(mmk_frame_free(fa, fr), 0);
	assert_int_equal(out, 0);
	down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			calls_without_a_kernel_space_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(config_default_and_init_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			user_create_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(mapper_errors_change_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(mapper_keeps_shared_root_leaves,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			memory_types_the_format_lacks_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			window_calls_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(no_window_is_enotsup, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
