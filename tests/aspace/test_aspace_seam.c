/* SPDX-License-Identifier: MIT */
/*
 * The seam between areas, backends and the page table:
 *  - unmap and protect whose two edges fall in different areas of
 *    different backends, huge pages and not, with every allocation of the
 *    call failed in turn: nothing changes (areas, leaves, reference counts,
 *    live frames and objects, table pages); the call that succeeds does
 *    exactly its job, and a later unmap inside each piece works;
 *  - a write fault on a present read-only page ends (an error, or the
 *    backend's replacement page), never loops;
 *  - an area keeps the protection it was given while its pages are mapped
 *    with what the format can express.
 *
 * The layout, on every 4 KiB format (B = BASE, M = MiB, P = 4 KiB page):
 *
 *   B+1M    B+1M+16P   B+4M      B+8M    B+8M+64P   B+10M     B+14M B+14M+16P
 *   | alloc  |         | linear   |window |          | linear   | alloc |
 *   | popul. |         | 2x 2 MiB |popul. |          | 2x 2 MiB | lazy  |
 */
#include "aspace_test.h"

#include <mmkit/backend.h>

#define BASE  0x40000000ull
#define SPACE (64 * MMK_MIB)
#define PG    4096ull
#define M     MMK_MIB
#define NPG   (16 * M / PG) /* pages checked, from BASE */

static struct mmk_frames *fa;
static struct mmk_aspace as;
static struct as_snap s0, s1;
static mmk_paddr_t lin1, lin2; /* 4 MiB each, 2 MiB aligned */

static int setup(void **state)
{
	(void)state;
	mmk_hosted_init(0);
	mmk_hosted_fail_off();
	mmk_hosted_log_reset(true);
	fa = mmk_hosted_frames_new();
	assert_int_equal(mmk_frame_alloc(fa, 10, 0, &lin1), 0);
	assert_int_equal(mmk_frame_alloc(fa, 10, 0, &lin2), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_true(mmk_frame_free(fa, lin1) >= 0);
	assert_true(mmk_frame_free(fa, lin2) >= 0);
	mmk_hosted_fail_off();
	assert_int_equal(mmk_hosted_live_frames(), 0);
	assert_int_equal(mmk_hosted_live_objs(), 0);
	mmk_hosted_frames_destroy(fa);
	return 0;
}

/* ------------------------------------------- a backend with private data */

/*
 * "window": device memory mapped at once, each area object owning a
 * private record (an object allocation), so splitting an area can fail
 * and releasing it must happen exactly once.
 */
struct wpriv {
	uint64_t magic;
};

static long wprivs; /* records alive */

static struct wpriv *wpriv_new(void)
{
	struct wpriv *p = mmk_hal_obj_alloc(sizeof(*p), 8);
	if (p) {
		p->magic = 0x77;
		wprivs++;
	}
	return p;
}

static int w_populate(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		      mmk_vaddr_t start, mmk_vaddr_t end)
{
	uint64_t pa = a->offset + (start - a->start);
	return mmk_pt_map_region(
		mmk_aspace_pt(op->as), start, mmk_pa(pa), end - start,
		mmk_backend_page_flags(op->as, a->flags), 0, op->gather);
}

static int w_split(const struct mmk_mset_area *orig,
		   struct mmk_mset_area *piece)
{
	(void)orig;
	struct wpriv *p = wpriv_new();
	if (!p)
		return MMK_ENOMEM;
	piece->priv = p;
	return 0;
}

static void w_release(const struct mmk_mset_area *a)
{
	struct wpriv *p = a->priv;
	assert_int_equal(p->magic, 0x77);
	p->magic = 0;
	mmk_hal_obj_free(p, sizeof(*p));
	wprivs--;
}

static const struct mmk_backend window = {
	.name = "window",
	.props = MMK_BACKEND_SHARED | MMK_BACKEND_SHOW_OFFSET,
	.populate = w_populate,
	.split = w_split,
	.release = w_release,
};

/* ------------------------------------------------------------ layout */

static int build_layout(enum mmk_pt_format_id id)
{
	int err = mmk_aspace_create(&as, BASE, SPACE, id, 0, fa);
	if (err)
		return err;
	mmk_aspace_activate(&as);
	struct wpriv *p = wpriv_new();
	assert_non_null(p);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 1 * M, 16 * PG,
					      MMK_PT_RW, true),
			 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 4 * M, lin1, 4 * M,
					       MMK_PT_RW),
			 0);
	assert_int_equal(mmk_aspace_map(&as, BASE + 8 * M, 64 * PG, MMK_PT_RW,
					true, &window, 0xfd000000ull, p),
			 0);
	assert_int_equal(mmk_aspace_map_linear(&as, BASE + 10 * M, lin2, 4 * M,
					       MMK_PT_RW),
			 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + 14 * M, 16 * PG,
					      MMK_PT_RW, false),
			 0);
	for (int i = 0; i < 16; i += 3)
		assert_int_equal(mmk_aspace_fault(&as, BASE + 14 * M + i * PG,
						  MMK_ACCESS_WRITE),
				 0);
	uint64_t psz;
	assert_int_equal(mmk_pt_query(&as.pt, BASE + 5 * M, NULL, NULL, &psz),
			 0);
	assert_int_equal(psz, 2 * M);
	return 0;
}

/* The translation of every page of the first 16 MiB. */
struct page {
	int mapped;
	uint64_t pa;
	uint32_t flags;
};
static struct page before[NPG], after[NPG];

static void read_pages(struct page *pg)
{
	for (unsigned i = 0; i < NPG; i++) {
		mmk_paddr_t pa;
		uint32_t f;
		pg[i].mapped =
			mmk_pt_query(&as.pt, BASE + i * PG, &pa, &f, NULL) == 0;
		pg[i].pa = pg[i].mapped ? pa.v : 0;
		pg[i].flags = pg[i].mapped
				      ? f & ~(MMK_PT_ACCESSED | MMK_PT_DIRTY)
				      : 0;
	}
}

/* Exactly the pages of [s, e) changed, each as the call says. */
static void check_done(mmk_vaddr_t s, mmk_vaddr_t e, bool unmap,
		       const char *what)
{
	read_pages(after);
	uint32_t ro = mmk_backend_page_flags(&as, MMK_PT_READ);
	for (unsigned i = 0; i < NPG; i++) {
		mmk_vaddr_t va = BASE + i * PG;
		bool in = va >= s && va < e;
		if (!in || (!unmap && !before[i].mapped)) {
			if (after[i].mapped != before[i].mapped ||
			    after[i].pa != before[i].pa ||
			    after[i].flags != before[i].flags)
				fail_msg("%s: page %#llx outside changed", what,
					 (unsigned long long)va);
		} else if (unmap ? after[i].mapped
				 : (after[i].pa != before[i].pa ||
				    after[i].flags != ro)) {
			fail_msg("%s: page %#llx inside not done", what,
				 (unsigned long long)va);
		}
	}
	assert_int_equal(mmk_mset_check(&as.areas), 0);
}

/* Every area part can still be unmapped page by page at its edges: the
 * symptom of the old cut bit was an unmap failing after clearing. */
static int unmap_edges(const struct mmk_aspace_area *a, void *arg)
{
	(void)arg;
	assert_int_equal(a->flags & ~MMK_ASPACE_FLAGS, 0);
	return 0;
}

struct range {
	const char *name;
	mmk_vaddr_t start, end;
};

static const struct range ranges[] = {
	{"alloc..linear huge", BASE + 1 * M + 5 * PG, BASE + 5 * M},
	{"linear huge..window", BASE + 5 * M + 3 * PG, BASE + 8 * M + 9 * PG},
	{"huge..other linear's huge", BASE + 7 * M, BASE + 11 * M + PG},
	{"window..linear huge", BASE + 8 * M + 9 * PG, BASE + 13 * M},
	{"alloc..lazy alloc", BASE + 1 * M + 5 * PG, BASE + 14 * M + 7 * PG},
	{"inside one huge", BASE + 4 * M + 2 * PG, BASE + 4 * M + 4 * PG},
	{"window middle", BASE + 8 * M + 3 * PG, BASE + 8 * M + 5 * PG},
};

static int do_op(const struct range *r, bool unmap)
{
	return unmap ? mmk_aspace_unmap(&as, r->start, r->end - r->start)
		     : mmk_aspace_protect(&as, r->start, r->end - r->start,
					  MMK_PT_READ);
}

static void sweep_range(enum mmk_pt_format_id id, const char *fmt,
			const struct range *r, bool unmap, long *nfail)
{
	for (int site = MMK_FAIL_FRAME; site <= MMK_FAIL_OBJ; site++) {
		for (long n = 1;; n++) {
			assert_int_equal(build_layout(id), 0);
			as_snapshot(&as, fa, &s0);
			long w0 = wprivs;
			read_pages(before);
			mmk_hosted_fail_nth((enum mmk_failsite)site, n);
			int err = do_op(r, unmap);
			mmk_hosted_fail_off();
			char what[160];
			snprintf(what, sizeof(what), "%s %s %s site %d n %ld",
				 fmt, unmap ? "unmap" : "protect", r->name,
				 site, n);
			if (err == 0) {
				check_done(r->start, r->end, unmap, what);
				mmk_aspace_foreach_area(&as, 0, unmap_edges,
							NULL);
				/* later edits inside every piece work */
				for (mmk_vaddr_t x = r->start; x < r->end;
				     x += M)
					assert_int_equal(
						mmk_aspace_unmap(&as, x, PG),
						0);
				mmk_aspace_destroy(&as);
				assert_int_equal(wprivs, 0);
				break;
			}
			if (err != MMK_ENOMEM)
				fail_msg("%s: %s", what, mmk_strerror(err));
			as_snapshot(&as, fa, &s1);
			as_snap_equal(&s0, &s1, what);
			assert_int_equal(wprivs, w0);
			assert_int_equal(mmk_mset_check(&as.areas), 0);
			mmk_aspace_destroy(&as);
			assert_int_equal(wprivs, 0);
			(*nfail)++;
			assert_true(n < 1000);
		}
	}
}

static void edges_in_different_backends_are_all_or_nothing(void **state)
{
	(void)state;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (!as_format_4k(id, &info))
			continue;
		long nfail = 0;
		for (size_t i = 0; i < MMK_ARRAY_SIZE(ranges); i++)
			for (int u = 0; u <= 1; u++)
				sweep_range((enum mmk_pt_format_id)id,
					    info.name, &ranges[i], u, &nfail);
		print_message("%-16s %ld injected failures, each undone\n",
			      info.name, nfail);
		assert_true(nfail > 0);
	}
}

/*
 * The case that broke the old edge cutting: an alloc area followed by a
 * linear area mapped with a 2 MiB page; a protect whose start splits the
 * alloc area and whose end falls inside the huge page; the second object
 * allocation fails.  ENOMEM, nothing changed, and a later unmap inside
 * the linear area works and removes its pages.
 */
static void protect_splitting_alloc_and_cutting_huge_fails_cleanly(void **st)
{
	(void)st;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (!as_format_4k(id, &info))
			continue;
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		assert_int_equal(mmk_aspace_map_alloc(&as,
						      BASE + 2 * M - 8 * PG,
						      8 * PG, MMK_PT_RW, true),
				 0);
		assert_int_equal(mmk_aspace_map_linear(&as, BASE + 2 * M, lin1,
						       2 * M, MMK_PT_RW),
				 0);
		as_snapshot(&as, fa, &s0);
		mmk_hosted_fail_nth(MMK_FAIL_OBJ, 2);
		int err = mmk_aspace_protect(&as, BASE + 2 * M - 4 * PG, M,
					     MMK_PT_READ);
		mmk_hosted_fail_off();
		if (err == MMK_ENOMEM) {
			as_snapshot(&as, fa, &s1);
			as_snap_equal(&s0, &s1, info.name);
		} else {
			assert_int_equal(err, 0); /* fewer than 2 objects */
		}
		struct mmk_aspace_area a;
		assert_true(mmk_aspace_find_area(&as, BASE + 2 * M + PG, &a));
		assert_int_equal(a.flags & ~MMK_ASPACE_FLAGS, 0);
		assert_int_equal(mmk_aspace_unmap(&as, BASE + 2 * M + PG, PG),
				 0);
		assert_int_equal(mmk_pt_query(&as.pt, BASE + 2 * M + PG, NULL,
					      NULL, NULL),
				 MMK_ENOENT);
		assert_false(
			mmk_aspace_find_area(&as, BASE + 2 * M + PG, NULL));
		assert_int_equal(mmk_pt_query(&as.pt, BASE + 2 * M + 2 * PG,
					      NULL, NULL, NULL),
				 0);
		mmk_aspace_destroy(&as);
	}
}

/* ------------------------------------------------ faults on present pages */

/*
 * "rdonly": its pages are mapped read-only inside a writable area (as a
 * copy-on-write backend maps shared pages) and it has no way to upgrade
 * them: its fault hook refuses present faults.  "nohook": the same pages
 * from populate, no fault hook at all.
 */
static mmk_paddr_t shared_pa; /* one frame every rdonly page maps */
static long present_faults;

static int ro_populate(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		       mmk_vaddr_t start, mmk_vaddr_t end)
{
	(void)a;
	for (mmk_vaddr_t va = start; va < end; va += PG) {
		int err = mmk_pt_map(mmk_aspace_pt(op->as), va, shared_pa, PG,
				     MMK_PT_READ, op->gather);
		assert_int_equal(err, 0);
	}
	return 0;
}

static int ro_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	if (f->present) {
		present_faults++;
		return MMK_EFAULT;
	}
	out->pa = shared_pa;
	out->flags = MMK_PT_READ; /* less than the area allows */
	return 0;
}

static const struct mmk_backend rdonly = {
	.name = "rdonly",
	.fault = ro_fault,
};
static const struct mmk_backend nohook = {
	.name = "nohook",
	.populate = ro_populate,
};

/*
 * "cow": read faults map the shared frame read-only; a write fault on it
 * gets a private copy, installed by the core with mmk_pt_replace.
 */
static int cow_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	if (!f->present) {
		out->pa = shared_pa;
		out->flags = f->prot & ~MMK_PT_WRITE;
		return 0;
	}
	present_faults++;
	int err = mmk_backend_alloc_page(f->as, &out->pa);
	if (err)
		return err;
	memcpy(mmk_phys_to_virt(out->pa), mmk_phys_to_virt(f->leaf.pa), PG);
	out->flags = f->prot;
	out->owned = true;
	return 0;
}

static const struct mmk_backend cow = {
	.name = "cow",
	.props = MMK_BACKEND_OWNS_FRAMES,
	.fault = cow_fault,
};

static void write_fault_on_present_read_only_page_ends(void **st)
{
	(void)st;
	assert_int_equal(mmk_frame_alloc(fa, 0, MMK_FRAME_ZERO, &shared_pa), 0);
	memset(mmk_phys_to_virt(shared_pa), 0x5a, PG);
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_aspace_activate(&as);
	assert_int_equal(mmk_aspace_map(&as, BASE, 4 * PG, MMK_PT_RW, false,
					&rdonly, 0, NULL),
			 0);
	assert_int_equal(mmk_aspace_map(&as, BASE + 8 * PG, 4 * PG, MMK_PT_RW,
					true, &nohook, 0, NULL),
			 0);
	/* a read maps the page read-only; the write that follows reaches
	 * the hook once with the page present and ends with its error */
	present_faults = 0;
	assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_READ), 0);
	uint32_t f;
	assert_int_equal(mmk_pt_query(&as.pt, BASE, NULL, &f, NULL), 0);
	assert_int_equal(f & MMK_PT_RWX, MMK_PT_READ);
	assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_WRITE),
			 MMK_EFAULT);
	assert_int_equal(present_faults, 1);
	/* no hook: a real fault at once */
	assert_int_equal(mmk_aspace_fault(&as, BASE + 8 * PG, MMK_ACCESS_WRITE),
			 MMK_EFAULT);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 8 * PG, MMK_ACCESS_READ),
			 0);
	/* the kernel's copy of such a page fails too, instead of looping */
	char c = 1;
	assert_int_equal(mmk_aspace_write_kernel(&as, BASE + 8 * PG, &c, 1),
			 MMK_EFAULT);

	/* copy on write through the core's leaf replace */
	assert_int_equal(mmk_aspace_map(&as, BASE + 16 * PG, 4 * PG,
					MMK_PT_RW | MMK_PT_USER, false, &cow, 0,
					NULL),
			 0);
	present_faults = 0;
	mmk_vaddr_t va = BASE + 17 * PG;
	assert_int_equal(mmk_aspace_fault(&as, va, MMK_ACCESS_READ), 0);
	mmk_paddr_t pa;
	assert_int_equal(mmk_pt_query(&as.pt, va, &pa, &f, NULL), 0);
	assert_int_equal(pa.v, shared_pa.v);
	assert_int_equal(f & MMK_PT_RWX, MMK_PT_READ);
	mmk_hosted_flush_reset();
	long frames = mmk_hosted_live_frames();
	assert_int_equal(mmk_aspace_fault(&as, va, MMK_ACCESS_WRITE), 0);
	assert_int_equal(present_faults, 1);
	assert_int_equal(mmk_pt_query(&as.pt, va, &pa, &f, NULL), 0);
	assert_true(pa.v != shared_pa.v);
	assert_int_equal(f & MMK_PT_RWX, MMK_PT_RW);
	assert_int_equal(mmk_hosted_live_frames(), frames + 1);
	/* the old read-only translation was flushed */
	assert_true(mmk_hosted_flushed(va));
	/* the copy has the shared page's contents */
	assert_int_equal(*(unsigned char *)mmk_phys_to_virt(pa), 0x5a);
	/* and a second write fault finds it sufficient: nothing happens */
	assert_int_equal(mmk_aspace_fault(&as, va, MMK_ACCESS_WRITE), 0);
	assert_int_equal(present_faults, 1);
	/* the kernel's write goes through the same path on another page */
	assert_int_equal(mmk_aspace_write(&as, va + PG, &c, 1), 0);
	assert_int_equal(present_faults, 2);
	/* the zap puts the two private copies, never the shared frame
	 * (no longer mapped there) */
	assert_int_equal(mmk_aspace_unmap(&as, BASE + 16 * PG, 4 * PG), 0);
	assert_int_equal(mmk_hosted_live_frames(), frames);
	mmk_aspace_destroy(&as);
	assert_int_equal(mmk_frame_refcount(fa, shared_pa), 1);
	assert_true(mmk_frame_free(fa, shared_pa) >= 0);
}

/* ------------------------------------- protection apart from page flags */

static void exec_only_area_keeps_its_protection(void **st)
{
	(void)st;
	for (int id = 0; id < MMK_PT_FORMAT_COUNT; id++) {
		struct mmk_pt_info info;
		if (mmk_pt_format_info((enum mmk_pt_format_id)id, &info) != 0)
			continue;
		uint64_t ps = (uint64_t)1 << info.page_shift;
		assert_int_equal(mmk_aspace_create(&as, BASE, SPACE,
						   (enum mmk_pt_format_id)id, 0,
						   fa),
				 0);
		uint32_t want = MMK_PT_EXEC | MMK_PT_USER;
		assert_int_equal(
			mmk_aspace_map_alloc(&as, BASE, 4 * ps, want, false),
			0);
		struct mmk_aspace_area a;
		assert_true(mmk_aspace_find_area(&as, BASE, &a));
		assert_int_equal(a.flags, want);
		/* the hardware decides what the page really allows */
		assert_int_equal(mmk_aspace_fault(&as, BASE, MMK_ACCESS_EXEC),
				 0);
		uint32_t f;
		assert_int_equal(mmk_pt_query(&as.pt, BASE, NULL, &f, NULL), 0);
		f &= MMK_PT_RWX | MMK_PT_USER;
		if (mmk_pt_can_express(&as.pt, want))
			assert_int_equal(f, want);
		else
			assert_int_equal(f, want | MMK_PT_READ);
		/* a write is refused on every format */
		assert_int_equal(
			mmk_aspace_fault(&as, BASE + ps, MMK_ACCESS_WRITE),
			MMK_EACCES);
		/* the dump says what was asked */
		char line[200] = "";
		struct lines l = {0};
		assert_int_equal(mmk_aspace_dump_maps(&as, take_line, &l), 0);
		snprintf(line, sizeof(line), "%s", l.l[0]);
		assert_non_null(strstr(line, " --xp "));
		mmk_aspace_destroy(&as);
	}
	/* x86_64 and aarch64 cannot express it; riscv64 and loongarch64 can */
	struct mmk_pt pt;
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_X86_64_4L, 0, fa), 0);
	assert_false(mmk_pt_can_express(&pt, MMK_PT_EXEC));
	mmk_pt_destroy(&pt);
	assert_int_equal(mmk_pt_create(&pt, MMK_PT_RISCV_SV39, 0, fa), 0);
	assert_true(mmk_pt_can_express(&pt, MMK_PT_EXEC));
	mmk_pt_destroy(&pt);
}

/* A stack with a guard gap below it: made once, never split. */
static void guard_gap_needs_no_split(void **st)
{
	(void)st;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	assert_int_equal(mmk_aspace_map_guard(&as, BASE, PG), 0);
	assert_int_equal(mmk_aspace_map_alloc(&as, BASE + PG, 8 * PG,
					      MMK_PT_RW | MMK_PT_USER, false),
			 0);
	assert_int_equal(mmk_aspace_area_count(&as), 2);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 8, MMK_ACCESS_READ),
			 MMK_EACCES);
	assert_int_equal(mmk_aspace_fault(&as, BASE + PG, MMK_ACCESS_WRITE), 0);
	char c = 0;
	assert_int_equal(mmk_aspace_read_kernel(&as, BASE, &c, 1), MMK_EFAULT);
	assert_int_equal(
		mmk_aspace_populate(&as, BASE, 9 * PG, MMK_ACCESS_READ),
		MMK_EACCES);
	/* with every allocation failing, the stack still faults in */
	mmk_hosted_fail_after(MMK_FAIL_OBJ, 0);
	assert_int_equal(mmk_aspace_fault(&as, BASE + 2 * PG, MMK_ACCESS_WRITE),
			 0);
	mmk_hosted_fail_off();
	struct lines l = {0};
	assert_int_equal(mmk_aspace_dump_maps(&as, take_line, &l), 0);
	assert_string_equal(l.l[0], "40000000-40001000 ---p 00000000 00:00 0 "
				    "guard");
	assert_int_equal(mmk_aspace_unmap(&as, BASE, 9 * PG), 0);
	assert_int_equal(mmk_aspace_area_count(&as), 0);
	mmk_aspace_destroy(&as);
}

/* Bad addresses given to the backend helpers are errors, not a stop. */
static void backend_free_page_refuses_bad_addresses(void **st)
{
	(void)st;
	assert_int_equal(
		mmk_aspace_create(&as, BASE, SPACE, MMK_PT_X86_64_4L, 0, fa),
		0);
	mmk_paddr_t pa;
	assert_int_equal(mmk_backend_alloc_page(&as, &pa), 0);
	assert_int_equal(mmk_backend_free_page(&as, mmk_pa_add(pa, 8)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_backend_free_page(&as, mmk_pa(0x1000)),
			 MMK_EBADFREE);
	assert_int_equal(mmk_backend_free_page(&as, pa), 0);
	assert_int_equal(mmk_backend_free_page(&as, pa), MMK_EDOUBLEFREE);
	mmk_aspace_destroy(&as);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			edges_in_different_backends_are_all_or_nothing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			protect_splitting_alloc_and_cutting_huge_fails_cleanly,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			write_fault_on_present_read_only_page_ends, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			exec_only_area_keeps_its_protection, setup, teardown),
		cmocka_unit_test_setup_teardown(guard_gap_needs_no_split, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			backend_free_page_refuses_bad_addresses, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
