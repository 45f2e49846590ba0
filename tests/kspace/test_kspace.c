/* SPDX-License-Identifier: MIT */
/*
 * The kernel space on every compiled-in format: the platform's
 * description checked before anything is built, section rights, huge
 * pages in the linear map, the kernel half in user spaces made before and
 * after a new kernel mapping, the mapper's re-entry and flush handles,
 * ioremap / vmalloc / vmap with a failure injected at every allocation,
 * and nothing left after teardown.
 *
 * Layout used (default windows of mmk_kspace_config_default):
 *
 *   kbase + pa          linear map: RAM 1 GiB at 0x40000000 (huge pages),
 *                       a device page at 0x10000800 (unaligned: rounded)
 *   kbase + half/4      the image: text 64 KiB, rodata 32 KiB, data 32 KiB
 *   kbase + half/2 ...  vmalloc window, ioremap window
 */
#include "aspace_test.h"

#include <mmkit/backend.h>
#include <mmkit/kspace.h>

#include "kspace_fixture.h"

static struct as_snap snap_a, snap_b;

/* The standard description of format @id into cfg. */
static bool describe(int id)
{
	struct mmk_pt_info info;
	if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info))
		return false;
	assert_int_equal(mmk_kspace_config_default(
				 &cfg, (enum mmk_pt_format_id)id, 0, fa),
			 0);
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
	return true;
}

static const char *fmt_name(int id)
{
	struct mmk_pt_info info;
	mmk_pt_format_info((enum mmk_pt_format_id)id, &info);
	return info.name;
}

/* Live frames and objects, the reserve and the kernel set's spare
 * nodes (caches, not leaks) left out. */
static long live_frames(void)
{
	return mmk_hosted_live_frames() - mmk_kspace_reserve_pages();
}

static void ks_snapshot(struct as_snap *s)
{
	as_snapshot(mmk_kspace(), fa, s);
	s->live_frames -= mmk_kspace_reserve_pages();
}

static void up(int id)
{
	assert_true(describe(id));
	int err = mmk_kspace_init(&cfg);
	if (err)
		fail_msg("%s: init %d", fmt_name(id), err);
}

static void down(void)
{
	assert_int_equal(mmk_kspace_destroy(), 0);
	assert_null(mmk_kspace());
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
}

#define FOR_EACH_FORMAT(id)                                                    \
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++)                       \
		if (describe(id))

/* ------------------------------------------------------- validation */
static void expect_refused(int id, int want, const char *what)
{
	int err = mmk_kspace_init(&cfg);
	if (err != want)
		fail_msg("%s: %s: got %d, want %d", fmt_name(id), what, err,
			 want);
	assert_null(mmk_kspace());
	assert_int_equal(mmk_hosted_live_frames(), base_frames);
	assert_int_equal(mmk_hosted_live_objs(), base_objs);
	assert_true(describe(id));
}

static void test_bad_descriptions_build_nothing(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		struct mmk_pt_info info;
		mmk_pt_format_info((enum mmk_pt_format_id)id, &info);
		regions[0].flags = MMK_KREGION_WRITE | MMK_KREGION_EXECUTE;
		expect_refused(id, MMK_EINVAL, "W+X region");
		regions[0].flags = 0;
		expect_refused(id, MMK_EINVAL, "region without rights");
		regions[1].flags |= MMK_KREGION_UNCACHED;
		expect_refused(id, MMK_EINVAL, "DEVICE and UNCACHED");
		regions[1].flags |= 1u << 7;
		expect_refused(id, MMK_EINVAL, "unknown region flag");
		regions[1].size = 0;
		expect_refused(id, MMK_EWRAP, "empty region");
		regions[1].start = mmk_pa(UINT64_MAX - 0xfff);
		regions[1].size = 0x2000;
		expect_refused(id, MMK_EWRAP, "wrapping region");
		regions[1].start = mmk_pa(RAM_PA + MMK_GIB - 0x800);
		expect_refused(id, MMK_EEXIST,
			       "regions overlapping once rounded");
		regions[1].start = mmk_pa((uint64_t)1 << info.pa_bits);
		expect_refused(id, MMK_ERANGE, "pa beyond the format");
		sections[1].va += 0x100;
		expect_refused(id, MMK_EALIGN, "unaligned section");
		sections[2].va = sections[1].va;
		expect_refused(id, MMK_EEXIST, "sections overlapping");
		sections[0].va = kbase() + RAM_PA + MMK_MIB;
		expect_refused(id, MMK_EEXIST, "section over the linear map");
		sections[0].va = (uint64_t)1 << info.page_shift;
		expect_refused(id, MMK_ERANGE, "section in the user half");
		cfg.io_base = cfg.vmalloc_base + MMK_MIB;
		expect_refused(id, MMK_EEXIST, "windows overlapping");
		cfg.io_size += 1;
		expect_refused(id, MMK_EALIGN, "unaligned window");
		cfg.linear_offset = 0;
		expect_refused(id, MMK_ERANGE, "linear map in the user half");

		/* and a good one builds, once */
		up(id);
		assert_int_equal(mmk_kspace_init(&cfg), MMK_EBUSY);
		down();
	}
}

/* A kernel still on its identity map builds the space without switching;
 * the boot CPU is a flush target all the same. */
static void test_no_switch_keeps_the_root_but_flushes_here(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		uint32_t asid;
		/* a root of the kernel's own, not the kernel space's */
		mmk_hal_write_root(mmk_pa(0x1234000), 0, 0);
		mmk_paddr_t before = mmk_hosted_current_root(&asid);
		cfg.no_switch = true;
		assert_int_equal(mmk_kspace_init(&cfg), 0);
		assert_int_equal(mmk_hosted_current_root(&asid).v, before.v);
		assert_true(before.v != mmk_kspace_root().v);
		assert_true(mmk_aspace_is_active(mmk_kspace()));
		mmk_vaddr_t v;
		assert_int_equal(mmk_vmalloc(4096, &v), 0);
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_vfree(v), 0);
		assert_true(mmk_hosted_flushed(v));
		struct mmk_hosted_flush fl;
		assert_true(mmk_hosted_flush_count() > 0);
		mmk_hosted_flush_get(0, &fl);
		assert_true(mmk_cpumask_test(&fl.cpus, 0));
		down();
	}
}

/* --------------------------------------------------- rights, huge */
static void check_no_wx(void)
{
	struct mmk_aspace *ks = mmk_kspace();
	snap_a.nareas = snap_a.nleaves = 0;
	ks_snapshot(&snap_a);
	for (size_t i = 0; i < snap_a.nleaves; i++) {
		uint32_t f = snap_a.leaves[i].flags;
		assert_false((f & MMK_PT_WRITE) && (f & MMK_PT_EXEC));
		assert_true(f & MMK_PT_GLOBAL);
		assert_false(f & MMK_PT_USER);
	}
	(void)ks;
}

static void test_sections_get_their_rights(void **state)
{
	(void)state;
	static const uint32_t want[] = {MMK_PT_RX, MMK_PT_READ, MMK_PT_RW};
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace *ks = mmk_kspace();
		for (int s = 0; s < 3; s++) {
			mmk_paddr_t pa;
			uint32_t f;
			mmk_vaddr_t va = sections[s].va + 0x1000;
			assert_int_equal(mmk_pt_query(mmk_aspace_pt(ks), va,
						      &pa, &f, NULL),
					 0);
			assert_int_equal(pa.v, sections[s].pa.v + 0x1000);
			if ((f & MMK_PT_RWX) != want[s])
				fail_msg("%s: section %s flags %#x",
					 fmt_name(id), sections[s].name, f);
		}
		check_no_wx();
		/* the root the boot CPU runs on is the kernel's */
		uint32_t asid;
		assert_int_equal(mmk_hosted_current_root(&asid).v,
				 mmk_kspace_root().v);
		down();
	}
}

static void test_linear_map_uses_huge_pages(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_pt_info info;
		mmk_pt_format_info((enum mmk_pt_format_id)id, &info);
		uint64_t want = 0;
		for (unsigned s = 0; s < 64; s++)
			if ((info.page_sizes >> s & 1) &&
			    ((uint64_t)1 << s) <= MMK_GIB)
				want = (uint64_t)1 << s;
		struct mmk_pt *pt = mmk_aspace_pt(mmk_kspace());
		mmk_paddr_t pa;
		uint32_t f;
		uint64_t ps;
		mmk_vaddr_t va = kbase() + RAM_PA + 5 * MMK_MIB + 123;
		assert_int_equal(mmk_pt_query(pt, va, &pa, &f, &ps), 0);
		assert_int_equal(pa.v, RAM_PA + 5 * MMK_MIB + 123);
		if (ps != want)
			fail_msg("%s: page %#llx want %#llx", fmt_name(id),
				 (unsigned long long)ps,
				 (unsigned long long)want);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
		/* the device page: rounded outwards, device memory where
		 * the format has types */
		uint64_t psz = (uint64_t)1 << info.page_shift;
		mmk_vaddr_t dv = kbase() + MMK_ALIGN_DOWN(DEV_PA, psz);
		assert_int_equal(mmk_pt_query(pt, dv, &pa, &f, NULL), 0);
		assert_int_equal(pa.v, MMK_ALIGN_DOWN(DEV_PA, psz));
		assert_int_equal(mmk_pt_query(pt, kbase() + DEV_PA + 0x7ff,
					      NULL, NULL, NULL),
				 0);
		assert_int_equal(
			mmk_pt_query(pt,
				     kbase() +
					     MMK_ALIGN_UP(DEV_PA + 0x1000, psz),
				     NULL, NULL, NULL),
			MMK_ENOENT);
		if (!cfg.mt_fallback)
			assert_int_equal(f & MMK_PT_MT_MASK, MMK_PT_MT_DEVICE);
		down();
	}
}

/* ----------------------------------------------------- user spaces */
static void test_user_spaces_see_later_kernel_mappings(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace u1, u2;
		struct mmk_pt_info info;
		mmk_pt_format_info((enum mmk_pt_format_id)id, &info);
		uint64_t ps = (uint64_t)1 << info.page_shift;
		assert_int_equal(mmk_kspace_user_create(&u1, ps, 64 * MMK_MIB),
				 0);
		assert_int_equal(mmk_kspace_destroy(), MMK_EBUSY);
		/* a kernel mapping in a part of the half nothing used */
		mmk_vaddr_t va = kbase() + half / 4 + half / 8 + 0x234;
		struct mmk_kmapper m;
		struct mmk_kflush fl;
		mmk_kmapper_lock(&m);
		assert_false(mmk_kmapper_readonly(&m));
		assert_int_equal(mmk_kmapper_map(&m, va, mmk_pa(0x12340234),
						 3 * ps, MMK_PT_RW, &fl),
				 0);
		mmk_kflush_flush(&fl);
		mmk_kmapper_unlock(&m);
		assert_int_equal(mmk_kspace_user_create(&u2, ps, 64 * MMK_MIB),
				 0);
		struct mmk_aspace *us[2] = {&u1, &u2};
		for (int i = 0; i < 2; i++) {
			mmk_paddr_t pa;
			int err = mmk_pt_query(mmk_aspace_pt(us[i]), va, &pa,
					       NULL, NULL);
			if (mmk_kspace_shares_root()) {
				assert_int_equal(err, 0);
				assert_int_equal(pa.v, 0x12340234);
			} else {
				/* a second root: the user table has no
				 * kernel half at all */
				assert_true(err == MMK_ENONCANON ||
					    err == MMK_ENOENT);
			}
		}
		bool shared = mmk_kspace_shares_root();
		assert_true(shared == (!strcmp(info.arch, "x86_64") ||
				       !strcmp(info.arch, "riscv64")));
		/* vmalloc and ioremap ranges made now are seen too */
		mmk_vaddr_t vm, io;
		assert_int_equal(mmk_vmalloc(2 * ps, &vm), 0);
		assert_int_equal(
			mmk_ioremap(mmk_pa(0x10001000), 8, MMK_IO_DEVICE, &io),
			0);
		for (int i = 0; shared && i < 2; i++) {
			mmk_paddr_t kpa, upa;
			assert_int_equal(
				mmk_pt_query(mmk_aspace_pt(mmk_kspace()),
					     vm + ps, &kpa, NULL, NULL),
				0);
			assert_int_equal(mmk_pt_query(mmk_aspace_pt(us[i]),
						      vm + ps, &upa, NULL,
						      NULL),
					 0);
			assert_int_equal(kpa.v, upa.v);
			assert_int_equal(mmk_pt_query(mmk_aspace_pt(us[i]), io,
						      &upa, NULL, NULL),
					 0);
			assert_int_equal(upa.v, 0x10001000);
		}
		assert_int_equal(mmk_vfree(vm), 0);
		assert_int_equal(mmk_iounmap(io), 0);
		/* user mappings stay the user's */
		assert_int_equal(mmk_aspace_map_alloc(&u1, ps, ps,
						      MMK_PT_RW | MMK_PT_USER,
						      true),
				 0);
		assert_int_equal(
			mmk_pt_query(mmk_aspace_pt(&u2), ps, NULL, NULL, NULL),
			MMK_ENOENT);
		/* and a kernel unmap is seen everywhere */
		mmk_kmapper_lock(&m);
		assert_int_equal(mmk_kmapper_unmap(&m, va - 0x234, 3 * ps), 0);
		mmk_kmapper_unlock(&m);
		if (shared)
			for (int i = 0; i < 2; i++)
				assert_int_equal(
					mmk_pt_query(mmk_aspace_pt(us[i]), va,
						     NULL, NULL, NULL),
					MMK_ENOENT);
		mmk_kspace_user_destroy(&u1);
		mmk_kspace_user_destroy(&u2);
		assert_int_equal(
			mmk_kspace_user_create(&u1, 0, info.low_end + ps),
			MMK_ERANGE);
		down();
	}
}

/* ----------------------------------------------------------- mapper */
static void test_mapper_reentry_gives_a_readonly_view(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		mmk_vaddr_t va = img_va() + half / 16;
		struct mmk_kmapper outer, inner;
		struct mmk_kflush fl;
		mmk_kmapper_lock(&outer);
		assert_false(mmk_kmapper_readonly(&outer));
		/* an interrupt on this CPU takes the mapper again */
		mmk_kmapper_lock(&inner);
		assert_true(mmk_kmapper_readonly(&inner));
		assert_int_equal(mmk_kmapper_map(&inner, va, mmk_pa(0x40000),
						 0x10, MMK_PT_READ, &fl),
				 MMK_EBUSY);
		assert_int_equal(
			mmk_kmapper_unmap(&inner, sections[0].va, 0x1000),
			MMK_EBUSY);
		mmk_vaddr_t io;
		assert_int_equal(
			mmk_ioremap(mmk_pa(0x9000), 8, MMK_IO_DEVICE, &io),
			MMK_EBUSY);
		assert_int_equal(mmk_vmalloc(4096, &io), MMK_EBUSY);
		mmk_paddr_t pa;
		assert_int_equal(
			mmk_kmapper_query(&inner, sections[0].va, &pa, NULL),
			0);
		assert_int_equal(pa.v, IMG_PA);
		mmk_kmapper_unlock(&inner);
		/* the outer hold still maps */
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_kmapper_map(&outer, va + 0x10,
						 mmk_pa(0x40010), 0x10,
						 MMK_PT_READ, &fl),
				 0);
		mmk_kflush_flush(&fl);
		assert_true(mmk_hosted_flushed(va));
		assert_int_equal(
			mmk_kmapper_query(&outer, va + 0x18, &pa, NULL), 0);
		assert_int_equal(pa.v, 0x40018);
		assert_int_equal(mmk_kmapper_map(&outer, va, mmk_pa(0x40001),
						 0x10, MMK_PT_READ, NULL),
				 MMK_EALIGN);
		assert_int_equal(mmk_kmapper_map(&outer, va, mmk_pa(0x40000),
						 0x10, MMK_PT_RWX, NULL),
				 MMK_EINVAL);
		assert_int_equal(mmk_kmapper_map(&outer, va, mmk_pa(0x40000),
						 0x10, MMK_PT_READ, NULL),
				 MMK_EEXIST);
		mmk_kmapper_unlock(&outer);
		down();
	}
}

static void test_dropped_flush_handle_is_reported(void **state)
{
	(void)state;
	assert_true(describe(MMK_PT_X86_64_4L) || describe(0));
	assert_int_equal(mmk_kspace_init(&cfg), 0);
	mmk_vaddr_t va = img_va() + half / 16;
	struct mmk_kmapper m;
	struct mmk_kflush a, b;
	mmk_hosted_log_reset(true);
	mmk_kmapper_lock(&m);
	assert_int_equal(
		mmk_kmapper_map(&m, va, mmk_pa(0x7000), 0x1000, MMK_PT_RW, &a),
		0);
	mmk_kflush_ignore(&a);
	assert_int_equal(mmk_kspace_pending_flushes(), 0);
	mmk_kmapper_unlock(&m);
	assert_int_equal(mmk_hosted_log_errors(), 0);

	mmk_kmapper_lock(&m);
	assert_int_equal(mmk_kmapper_map(&m, va + 0x1000, mmk_pa(0x8000),
					 0x1000, MMK_PT_RW, &b),
			 0);
	assert_int_equal(mmk_kspace_pending_flushes(), 1);
	mmk_kmapper_unlock(&m); /* b neither flushed nor ignored */
	assert_int_equal(mmk_hosted_log_errors(), 1);
	assert_non_null(strstr(mmk_hosted_last_log(), "dropped"));
	/* resolving it late still balances the count, no second report */
	mmk_kflush_ignore(&b);
	assert_int_equal(mmk_kspace_pending_flushes(), 0);
	mmk_kmapper_lock(&m);
	mmk_kmapper_unlock(&m);
	assert_int_equal(mmk_hosted_log_errors(), 1);
	mmk_hosted_log_reset(true);
	down();
}

/* ------------------------------------------------------------ ioremap */
static void test_ioremap_maps_device_memory_with_a_guard(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace *ks = mmk_kspace();
		struct mmk_pt *pt = mmk_aspace_pt(ks);
		uint64_t ps = ks->page_size;
		mmk_vaddr_t a, b;
		assert_int_equal(mmk_ioremap(mmk_pa(0x10000008), 0x20,
					     MMK_IO_DEVICE, &a),
				 0);
		assert_true(a >= cfg.io_base && a < cfg.io_base + cfg.io_size);
		assert_int_equal(a & (ps - 1), 0x10000008 & (ps - 1));
		mmk_paddr_t pa;
		uint32_t f;
		assert_int_equal(mmk_pt_query(pt, a, &pa, &f, NULL), 0);
		assert_int_equal(pa.v, 0x10000008);
		assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
		if (!cfg.mt_fallback)
			assert_int_equal(f & MMK_PT_MT_MASK, MMK_PT_MT_DEVICE);
		/* the guard page after it: an area, nothing mapped */
		mmk_vaddr_t g = MMK_ALIGN_UP(a + 0x20, ps);
		struct mmk_aspace_area ar;
		assert_true(mmk_aspace_find_area(ks, g, &ar));
		assert_string_equal(ar.backend->name, "guard");
		assert_int_equal(mmk_pt_query(pt, g, NULL, NULL, NULL),
				 MMK_ENOENT);
		/* the same range again: a mapping of its own */
		assert_int_equal(
			mmk_ioremap(mmk_pa(0x10000008), 0x20, MMK_IO_WC, &b),
			0);
		assert_true(b != a);
		assert_int_equal(mmk_pt_query(pt, b, &pa, &f, NULL), 0);
		assert_int_equal(pa.v, 0x10000008);
		if (!cfg.mt_fallback)
			assert_int_equal(f & MMK_PT_MT_MASK, MMK_PT_MT_WC);
		assert_int_equal(mmk_iounmap(a + 4), 0);
		assert_int_equal(mmk_pt_query(pt, a, NULL, NULL, NULL),
				 MMK_ENOENT);
		assert_false(mmk_aspace_find_area(ks, g, &ar));
		assert_int_equal(mmk_iounmap(a), MMK_ENOENT);
		assert_int_equal(mmk_iounmap(sections[0].va), MMK_ENOENT);
		assert_int_equal(
			mmk_ioremap(mmk_pa(0x1000), 0, MMK_IO_DEVICE, &a),
			MMK_EWRAP);
		assert_int_equal(
			mmk_ioremap(mmk_pa(0x1000), 8, (enum mmk_io_type)7, &a),
			MMK_EINVAL);
		/* a large aligned BAR gets huge pages */
		assert_int_equal(mmk_ioremap(mmk_pa(8 * MMK_GIB), 64 * MMK_MIB,
					     MMK_IO_UNCACHED, &a),
				 0);
		uint64_t leaf;
		assert_int_equal(mmk_pt_query(pt, a, &pa, NULL, &leaf), 0);
		assert_int_equal(pa.v, 8 * MMK_GIB);
		assert_true(leaf > ps);
		assert_int_equal(mmk_iounmap(a), 0);
		assert_int_equal(mmk_iounmap(b), 0);
		down();
	}
}

/* ------------------------------------------------------------ vmalloc */
static void test_vmalloc_is_contiguous_over_scattered_frames(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace *ks = mmk_kspace();
		struct mmk_pt *pt = mmk_aspace_pt(ks);
		uint64_t ps = ks->page_size;
		long frames0 = live_frames(), tables0 = mmk_pt_table_pages(pt);
		mmk_vaddr_t v, w;
		assert_int_equal(mmk_vmalloc(64 * MMK_KIB + 1, &v), 0);
		assert_true(v >= cfg.vmalloc_base &&
			    v < cfg.vmalloc_base + cfg.vmalloc_size);
		uint64_t n = MMK_ALIGN_UP(64 * MMK_KIB + 1, ps) / ps;
		/* the data frames and the new tables, nothing else */
		assert_int_equal(
			live_frames() - frames0,
			(long)((n * ps +
				(uint64_t)(mmk_pt_table_pages(pt) - tables0) *
					ps) /
			       4096));
		char buf[64] = {0}, zero[64] = {0};
		for (uint64_t i = 0; i < n; i++) {
			uint32_t f;
			assert_int_equal(
				mmk_pt_query(pt, v + i * ps, NULL, &f, NULL),
				0);
			assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
		}
		assert_int_equal(mmk_pt_query(pt, v + n * ps, NULL, NULL, NULL),
				 MMK_ENOENT);
		assert_int_equal(mmk_aspace_read_kernel(ks, v + ps - 32, buf,
							sizeof(buf)),
				 0);
		assert_memory_equal(buf, zero, sizeof(buf));
		assert_int_equal(
			mmk_aspace_write_kernel(ks, v + ps - 8, "kspace!", 8),
			0);
		assert_int_equal(mmk_aspace_read_kernel(ks, v + ps - 8, buf, 8),
				 0);
		assert_string_equal(buf, "kspace!");
		assert_int_equal(mmk_vmalloc(ps, &w), 0);
		assert_true(w >= v + (n + 1) * ps || w + 2 * ps <= v);
		/* vfree: flushed, then every frame back */
		mmk_hosted_flush_reset();
		assert_int_equal(mmk_vfree(v + ps), MMK_ENOENT);
		assert_int_equal(mmk_vfree(v), 0);
		assert_true(mmk_hosted_flushed(v));
		assert_int_equal(mmk_vfree(v), MMK_ENOENT);
		assert_int_equal(mmk_vfree(w), 0);
		assert_int_equal(
			live_frames() - frames0,
			(long)((uint64_t)(mmk_pt_table_pages(pt) - tables0) *
			       ps / 4096));
		assert_int_equal(mmk_vmalloc(0, &v), MMK_EWRAP);
		assert_int_equal(mmk_vmalloc(cfg.vmalloc_size + ps, &v),
				 MMK_ENOMEM);
		down();
	}
}

static void test_vmap_leaves_the_frames_to_the_caller(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace *ks = mmk_kspace();
		uint64_t ps = ks->page_size;
		unsigned order = ks->page_shift - 12;
		mmk_paddr_t fr[3];
		for (int i = 0; i < 3; i++)
			assert_int_equal(mmk_frame_alloc(fa, order, 0, &fr[i]),
					 0);
		mmk_vaddr_t v;
		assert_int_equal(mmk_vmap(fr, 3, MMK_PT_READ, &v), 0);
		for (int i = 0; i < 3; i++) {
			mmk_paddr_t pa;
			uint32_t f;
			assert_int_equal(mmk_pt_query(mmk_aspace_pt(ks),
						      v + (uint64_t)i * ps + 5,
						      &pa, &f, NULL),
					 0);
			assert_int_equal(pa.v, fr[i].v + 5);
			assert_int_equal(f & MMK_PT_RWX, MMK_PT_READ);
		}
		assert_int_equal(mmk_vmap(fr, 3, MMK_PT_RWX, &v), MMK_EINVAL);
		mmk_paddr_t odd = mmk_pa(fr[0].v + 0x800);
		mmk_vaddr_t x;
		assert_int_equal(mmk_vmap(&odd, 1, MMK_PT_RW, &x), MMK_EALIGN);
		assert_int_equal(mmk_vmap(fr, 0, MMK_PT_RW, &x), MMK_EINVAL);
		assert_int_equal(mmk_vfree(v), 0);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(mmk_frame_refcount(fa, fr[i]), 1);
			assert_int_equal(mmk_frame_free(fa, fr[i]), 0);
		}
		down();
	}
}

/* ------------------------------------------------------ two CPUs */
#include <pthread.h>

static void *second_cpu(void *arg)
{
	(void)arg;
	mmk_hosted_register_cpu();
	mmk_kspace_init_secondary();
	for (int i = 0; i < 300; i++) {
		mmk_vaddr_t va;
		assert_int_equal(mmk_ioremap(mmk_pa(0x10000000 + 0x1000 * i),
					     0x100, MMK_IO_DEVICE, &va),
				 0);
		assert_int_equal(mmk_iounmap(va), 0);
	}
	mmk_aspace_deactivate(mmk_kspace());
	return NULL;
}

static void test_two_cpus_share_the_mapper(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		long frames0 = live_frames();
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, second_cpu, NULL),
				 0);
		/* a different CPU waits for the mapper, never gets a
		 * read-only view */
		for (int i = 0; i < 300; i++) {
			mmk_vaddr_t va;
			assert_int_equal(mmk_vmalloc(3 * 4096, &va), 0);
			assert_int_equal(mmk_vfree(va), 0);
		}
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(mmk_aspace_area_count(mmk_kspace()),
				 2 + 3); /* regions, sections */
		assert_true(live_frames() - frames0 <= 16);
		down();
	}
}

/* ------------------------------------------------- failure injection */
static long fail_runs; /* failing runs seen, to prove the loop ran */

typedef int (*op_fn)(void *arg);
typedef void (*undo_fn)(void *arg);

/*
 * Fail the n-th allocation at @site for n = 1, 2, ... until the call
 * succeeds without an injected failure: every failing run must return
 * MMK_ENOMEM and leave the kernel space exactly as it was.
 */
static void fail_everywhere(const char *what, op_fn op, undo_fn undo, void *arg)
{
	for (int site = 0; site < 2; site++) {
		for (long n = 1;; n++) {
			ks_snapshot(&snap_a);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = op(arg);
			long injected =
				mmk_hosted_injected((enum mmk_failsite)site);
			mmk_hosted_fail_off();
			if (err == 0) {
				undo(arg);
				ks_snapshot(&snap_b);
				as_snap_equal(&snap_a, &snap_b, what);
				if (!injected)
					break;
				continue;
			}
			if (err != MMK_ENOMEM)
				fail_msg("%s: site %d n %ld: %d", what, site, n,
					 err);
			assert_true(injected > 0);
			fail_runs++;
			ks_snapshot(&snap_b);
			as_snap_equal(&snap_a, &snap_b, what);
			assert_true(n < 10000);
		}
	}
}

struct op_arg {
	mmk_vaddr_t va;
	uint64_t size;
	mmk_paddr_t fr[4];
};

static int op_ioremap(void *arg)
{
	struct op_arg *o = arg;
	return mmk_ioremap(mmk_pa(0x20000100), o->size, MMK_IO_DEVICE, &o->va);
}

static void undo_iounmap(void *arg)
{
	struct op_arg *o = arg;
	assert_int_equal(mmk_iounmap(o->va), 0);
}

static int op_vmalloc(void *arg)
{
	struct op_arg *o = arg;
	return mmk_vmalloc(o->size, &o->va);
}

static int op_vmap(void *arg)
{
	struct op_arg *o = arg;
	return mmk_vmap(o->fr, 4, MMK_PT_RW, &o->va);
}

static void undo_vfree(void *arg)
{
	struct op_arg *o = arg;
	assert_int_equal(mmk_vfree(o->va), 0);
}

static int op_map(void *arg)
{
	struct op_arg *o = arg;
	struct mmk_kmapper m;
	mmk_kmapper_lock(&m);
	int err = mmk_kmapper_map(&m, o->va, mmk_pa(0x30000000), o->size,
				  MMK_PT_RW, NULL);
	mmk_kmapper_unlock(&m);
	return err;
}

static void undo_unmap(void *arg)
{
	struct op_arg *o = arg;
	struct mmk_kmapper m;
	mmk_kmapper_lock(&m);
	assert_int_equal(mmk_kmapper_unmap(&m, o->va, o->size), 0);
	mmk_kmapper_unlock(&m);
}

static struct mmk_aspace user;

static int op_user(void *arg)
{
	(void)arg;
	return mmk_kspace_user_create(&user, 0x10000, MMK_GIB);
}

static void undo_user(void *arg)
{
	(void)arg;
	mmk_kspace_user_destroy(&user);
}

static void test_failures_anywhere_change_nothing(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		up(id);
		struct mmk_aspace *ks = mmk_kspace();
		uint64_t ps = ks->page_size;
		for (int reserve = 0; reserve < 2; reserve++) {
			/* without a reserve every table page is an
			 * allocation of the call itself */
			mmk_kspace_set_reserve(reserve ? 4 : 0);
			struct op_arg o = {.size = 3 * ps + 0x80};
			fail_everywhere("ioremap", op_ioremap, undo_iounmap,
					&o);
			o.size = 64 * MMK_KIB;
			fail_everywhere("vmalloc", op_vmalloc, undo_vfree, &o);
			for (int i = 0; i < 4; i++)
				assert_int_equal(
					mmk_frame_alloc(fa, ks->page_shift - 12,
							0, &o.fr[i]),
					0);
			fail_everywhere("vmap", op_vmap, undo_vfree, &o);
			for (int i = 0; i < 4; i++)
				assert_int_equal(mmk_frame_free(fa, o.fr[i]),
						 0);
			o.va = img_va() + half / 16 - 3 * ps;
			o.size = 8 * ps + 2 * MMK_MIB;
			fail_everywhere("mapper map", op_map, undo_unmap, &o);
			fail_everywhere("user space", op_user, undo_user, &o);
		}
		mmk_kspace_set_reserve(MMK_CFG_KSPACE_RESERVE);
		down();
	}
	/* every call above allocates at least once at each site */
	assert_true(fail_runs >= 10);
	print_message("%ld failing runs\n", fail_runs);
}

static void test_init_failures_build_nothing(void **state)
{
	(void)state;
	FOR_EACH_FORMAT(id)
	{
		for (int site = 0; site < 2; site++) {
			for (long n = 1;; n++) {
				mmk_hosted_fail_nth((enum mmk_failsite)site, n);
				int err = mmk_kspace_init(&cfg);
				long injected = mmk_hosted_injected(
					(enum mmk_failsite)site);
				mmk_hosted_fail_off();
				if (err == 0) {
					down();
					if (!injected)
						break;
					continue;
				}
				assert_int_equal(err, MMK_ENOMEM);
				assert_null(mmk_kspace());
				assert_int_equal(mmk_hosted_live_frames(),
						 base_frames);
				assert_int_equal(mmk_hosted_live_objs(),
						 base_objs);
				assert_true(n < 100000);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		cmocka_unit_test_setup_teardown(
			test_bad_descriptions_build_nothing, setup, teardown),
		T(test_sections_get_their_rights),
		T(test_no_switch_keeps_the_root_but_flushes_here),
		T(test_linear_map_uses_huge_pages),
		cmocka_unit_test_setup_teardown(
			test_user_spaces_see_later_kernel_mappings, setup,
			teardown),
		T(test_mapper_reentry_gives_a_readonly_view),
		T(test_dropped_flush_handle_is_reported),
		T(test_ioremap_maps_device_memory_with_a_guard),
		T(test_vmalloc_is_contiguous_over_scattered_frames),
		T(test_vmap_leaves_the_frames_to_the_caller),
		T(test_two_cpus_share_the_mapper),
		T(test_failures_anywhere_change_nothing),
		cmocka_unit_test_setup_teardown(
			test_init_failures_build_nothing, setup, teardown),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
