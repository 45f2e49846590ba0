/* SPDX-License-Identifier: MIT */
/*
 * The file backends: areas over a kernel's file through its pager
 * (include/mmkit/pager.h).  offset is the file offset of the area's start
 * and priv the struct mmk_file, on which every area holds one reference
 * (a split piece and a fork's copy take their own).
 *
 *   fault on          private                     shared
 *   absent, read      cache page, read-only       cache page, read-only
 *                     + fault-around               + fault-around
 *   absent, write     a copy of it, writable      set_dirty, cache page
 *                                                 writable
 *   read-only, write  copy on write (or take      set_dirty, the same
 *                     over a page only we hold:   page made writable
 *                     mmk_backend_cow_fault)
 *
 * Both keep a page read-only until it is written.  Protect: a private
 * area's cache pages stay read-only (mmk_backend_protect_private: they
 * are never ours alone), a shared area's pages all become read-only (the
 * next write marks them dirty again).  Shared areas write back on unmap
 * (the zap) and on mmk_aspace_sync (the sync hook).
 */
#include <mmkit/log.h>
#include <mmkit/pager.h>

#include <stdatomic.h>

/* Atomics of a public struct (MMK_ATOMIC): C11 operations on them. */
#define FILE_REFS(f) ((_Atomic long *)&(f)->refs)

void mmk_file_init(struct mmk_file *file, const struct mmk_pager_ops *ops,
		   struct mmk_frames *frames, unsigned page_shift)
{
	file->ops = ops;
	file->frames = frames;
	file->page_shift = page_shift;
	file->around = MMK_FILE_AROUND_DEFAULT;
	atomic_init(FILE_REFS(file), 1);
}

void mmk_file_get(struct mmk_file *file)
{
	long old = atomic_fetch_add_explicit(FILE_REFS(file), 1,
					     memory_order_relaxed);
	MMK_ASSERT(old > 0);
	(void)old;
}

void mmk_file_put(struct mmk_file *file)
{
	if (atomic_fetch_sub_explicit(FILE_REFS(file), 1,
				      memory_order_acq_rel) == 1 &&
	    file->ops->release)
		file->ops->release(file);
}

/* ------------------------------------------------------------ helpers */
static struct mmk_file *file_of(const struct mmk_mset_area *a)
{
	return a->priv;
}

/* The file page of @va in @a. */
static uint64_t page_index(const struct mmk_mset_area *a, unsigned shift,
			   mmk_vaddr_t va)
{
	return (a->offset + (va - a->start)) >> shift;
}

/*
 * The flags of a page of protection @prot that must not be written yet:
 * the format's rights without WRITE, READ kept (a write-only area of a
 * format where WRITE implies READ), and never no access at all while the
 * area allows some (the fault path's rule).
 */
static uint32_t ro_flags(const struct mmk_aspace *as, uint32_t prot)
{
	uint32_t fit = mmk_backend_page_flags(as, prot);
	uint32_t ro = fit & ~(uint32_t)MMK_PT_WRITE;
	if ((fit & MMK_PT_RWX) && !(ro & MMK_PT_RWX))
		ro |= MMK_PT_READ;
	return ro;
}

static void put_page(struct mmk_file *file, mmk_paddr_t pa)
{
	int r = mmk_frame_put(file->frames, pa);
	MMK_ASSERT(r == 0); /* the cache or a leaf still holds it */
	(void)r;
}

/*
 * Fault-around for read fault @f: the other pages of its aligned window
 * of file->around pages, inside the area, that the pager has in memory
 * and that nothing maps yet, mapped read-only (@flags) with the same
 * compare-and-swap the core installs a fault's page with.  Best effort:
 * it allocates nothing (mmk__pt_map_cursor_private) and stops where the
 * page's leaf table is missing or shared; every neighbour lies in that
 * table, which the core then makes for f's own page, so the next fault
 * in the window maps them.  The fault stays all or nothing.
 */
static void fault_around(const struct mmk_fault *f, struct mmk_file *file,
			 uint32_t flags)
{
	uint64_t n = MMK_MIN(file->around, MMK_FILE_AROUND_MAX);
	/* Not where the TLB may cache invalid entries: every neighbour would
	 * cost a flush (and the fault path a gather on its stack). */
	if (n < 2 || !MMK_IS_POW2(n) || f->as->map_flushes)
		return;
	const struct mmk_mset_area *a = f->area;
	uint64_t span = n * f->page_size;
	mmk_vaddr_t lo = MMK_ALIGN_DOWN(f->page, span);
	mmk_vaddr_t hi = lo + span;
	lo = MMK_MAX(lo, a->start);
	hi = MMK_MIN(hi, a->end); /* also if lo + span wrapped: hi <= end */
	if (hi < lo)
		hi = a->end;
	struct mmk_pt_cursor c;
	mmk_pt_cursor_init(&c, &f->as->pt);
	uint64_t idx = page_index(a, file->page_shift, lo);
	for (mmk_vaddr_t va = lo; va < hi; va += f->page_size, idx++) {
		mmk_paddr_t pa;
		if (va == f->page ||
		    file->ops->get_page(file, idx, MMK_PAGER_CACHED, &pa))
			continue;
		int err = mmk__pt_map_cursor_private(
			&c, va, pa, mmk_backend_page_flags(f->as, flags),
			f->tables);
		if (err) {
			put_page(file, pa);
			if (err != MMK_EEXIST)
				return;
		}
	}
}

/* A fresh frame of the space holding a copy of the page at @src. */
static int copy_page(struct mmk_aspace *as, mmk_paddr_t src, mmk_paddr_t *dst)
{
	int err = mmk_frame_alloc(as->frames, as->page_shift - MMK_PAGE_SHIFT,
				  0, dst);
	if (!err)
		__builtin_memcpy(mmk_phys_to_virt(*dst), mmk_phys_to_virt(src),
				 as->page_size);
	return err;
}

/* ------------------------------------------------------- populate */
/* Pages are got and mapped up to this many at a time, their addresses in
 * the operation's scratch memory. */
#define POP_CHUNK 64

struct pop_chunk {
	mmk_vaddr_t start;
	unsigned shift;
	mmk_paddr_t *pa;
};

static mmk_paddr_t pop_pa(void *ctx, mmk_vaddr_t va)
{
	struct pop_chunk *c = ctx;
	return c->pa[(va - c->start) >> c->shift];
}

static void file_zap_pages(struct mmk_aspace_op *op,
			   const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end, bool shared);

/*
 * Fill [start, end), where nothing is mapped, with the file's pages, read
 * in as needed, read-only (a write still faults: copy on write, or
 * set_dirty), chunk after chunk.  On failure the chunk's references go
 * back and the chunks before it are unmapped again: nothing mapped.
 */
static int file_populate(struct mmk_aspace_op *op,
			 const struct mmk_mset_area *a, mmk_vaddr_t start,
			 mmk_vaddr_t end)
{
	struct mmk_aspace *as = op->as;
	struct mmk_file *file = file_of(a);
	uint32_t flags = mmk_backend_page_flags(as, ro_flags(as, a->flags));
	MMK_STATIC_ASSERT(MMK__AS_SCRATCH >= POP_CHUNK * sizeof(mmk_paddr_t),
			  "a chunk fits the operation's scratch");
	struct pop_chunk c = {.shift = as->page_shift, .pa = op->scratch};
	for (mmk_vaddr_t va = start; va < end;) {
		uint64_t n = MMK_MIN((end - va) >> c.shift, POP_CHUNK);
		uint64_t got = 0, idx = page_index(a, file->page_shift, va);
		int err = 0;
		c.start = va;
		for (; got < n; got++) {
			err = file->ops->get_page(file, idx + got, 0,
						  &c.pa[got]);
			if (err)
				break;
		}
		if (!err)
			err = mmk_pt_map_region_fn(&as->pt, va, n << c.shift,
						   flags, 0, pop_pa, &c,
						   op->gather);
		if (err) {
			for (uint64_t i = 0; i < got; i++)
				put_page(file, c.pa[i]);
			if (va > start)
				file_zap_pages(op, a, start, va,
					       mmk_backend_of(a)->props &
						       MMK_BACKEND_SHARED);
			return err < 0 ? err : MMK_EINVAL;
		}
		va += n << c.shift;
	}
	return 0;
}

/* --------------------------------------------------------- private */
static int private_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	bool write = f->access & MMK_ACCESS_WRITE;
	if (f->present)
		return write ? mmk_backend_cow_fault(f, out) : MMK_EFAULT;
	struct mmk_file *file = file_of(f->area);
	mmk_paddr_t pa;
	int err = file->ops->get_page(
		file, page_index(f->area, file->page_shift, f->page), 0, &pa);
	if (err)
		return err < 0 ? err : MMK_EINVAL;
	if (write) { /* the copy right away: the file page is never ours */
		err = copy_page(f->as, pa, &out->pa);
		put_page(file, pa);
		if (err)
			return err;
		out->flags = f->prot;
	} else {
		out->pa = pa;
		out->flags = ro_flags(f->as, f->prot);
		fault_around(f, file, out->flags);
	}
	out->owned = true;
	return 0;
}

/* ---------------------------------------------------------- shared */
static int shared_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	bool write = f->access & MMK_ACCESS_WRITE;
	struct mmk_file *file = file_of(f->area);
	mmk_vaddr_t va = f->present ? f->leaf.va : f->page;
	uint64_t idx = page_index(f->area, file->page_shift, va);
	if (f->present) { /* read-only until written: page_mkwrite */
		if (!write)
			return MMK_EFAULT;
		int err = file->ops->set_dirty(file, idx);
		if (err)
			return err < 0 ? err : MMK_EINVAL;
		out->pa = f->leaf.pa; /* the leaf keeps its reference */
		out->flags = f->prot;
		return 0;
	}
	mmk_paddr_t pa;
	int err = file->ops->get_page(file, idx, 0, &pa);
	if (err)
		return err < 0 ? err : MMK_EINVAL;
	if (write) {
		err = file->ops->set_dirty(file, idx);
		if (err) {
			put_page(file, pa);
			return err < 0 ? err : MMK_EINVAL;
		}
	}
	out->pa = pa;
	out->owned = true;
	if (write) {
		out->flags = f->prot;
	} else {
		out->flags = ro_flags(f->as, f->prot);
		fault_around(f, file, out->flags);
	}
	return 0;
}

/* Walk state for marking the pages mapped writable dirty again. */
struct redirty {
	const struct mmk_mset_area *a;
	struct mmk_file *file;
	bool any; /* a page was mapped writable */
};

static int redirty_leaf(void *ctx, const struct mmk_pt_leaf *l)
{
	struct redirty *r = ctx;
	if (!(l->flags & MMK_PT_WRITE))
		return 0;
	r->any = true;
	/* written since the last write-back; the pager accepted that page
	 * dirty once, so an error now changes nothing */
	(void)r->file->ops->set_dirty(
		r->file, page_index(r->a, r->file->page_shift, l->va));
	return 0;
}

static void redirty_range(struct mmk_aspace_op *op,
			  const struct mmk_mset_area *a, mmk_vaddr_t start,
			  mmk_vaddr_t end, struct redirty *r)
{
	r->a = a;
	r->file = file_of(a);
	r->any = false;
	int err = mmk_pt_walk(&op->as->pt, start, end - start, redirty_leaf, r);
	MMK_ASSERT(err == 0); /* the area's range passed every check */
	(void)err;
}

static int writeback_range(const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end)
{
	struct mmk_file *file = file_of(a);
	uint64_t first = page_index(a, file->page_shift, start);
	uint64_t last = page_index(a, file->page_shift, end - 1);
	return file->ops->writeback(file, first, last - first + 1);
}

/*
 * Unmapping.  A cache page may be mapped twice in one space (two areas
 * over the same file offset), and a gather can hold a frame once only (it
 * threads them through their metadata), so the leaves' references on
 * cache pages do not go through the gather: they wait in the operation's
 * scratch memory and are put after a flush of the space, which the zap
 * does at once (and, when the scratch is full, a full flush first).  Not
 * before the flush: once the count is back to the cache's own the pager
 * may drop the page (pager.h), and no CPU may still reach it then.  The
 * file stays until the area goes, after this call.  A private copy has
 * no other holder: it goes through the gather as usual.
 */
#define ZAP_BATCH (MMK__AS_SCRATCH / sizeof(mmk_paddr_t))

struct zap_ctx {
	struct mmk_aspace_op *op;
	const struct mmk_mset_area *a;
	struct mmk_file *file;
	bool shared;	 /* every page is a cache page */
	unsigned n;	 /* cache pages waiting in op->scratch */
	mmk_paddr_t *pa; /* op->scratch */
};

/* The waiting cache pages go, the space flushed where it may be cached
 * (the caller has flushed). */
static void zap_put_batch(struct zap_ctx *z)
{
	for (unsigned i = 0; i < z->n; i++)
		put_page(z->file, z->pa[i]);
	z->n = 0;
}

/* A cache page's leaf reference, to put after the flush. */
static void zap_defer(struct zap_ctx *z, mmk_paddr_t pa)
{
	if (z->n == ZAP_BATCH) {
		/* the ranges of the waiting pages may not all be recorded
		 * yet (the current run's is not): everything */
		mmk_tlb_gather_all(z->op->gather, false);
		mmk_backend_flush_now(z->op);
		zap_put_batch(z);
	}
	z->pa[z->n++] = pa;
}

/* Is @pa the cache page of @idx?  (A probe: no I/O.) */
static bool is_cache_page(struct mmk_file *file, uint64_t idx, mmk_paddr_t pa)
{
	mmk_paddr_t c;
	if (file->ops->get_page(file, idx, MMK_PAGER_CACHED, &c))
		return false;
	put_page(file, c);
	return c.v == pa.v;
}

static void zap_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct zap_ctx *z = ctx;
	uint64_t idx = page_index(z->a, z->file->page_shift, run->va);
	for (uint64_t off = 0; off < run->size; off += run->page_size, idx++) {
		mmk_paddr_t pa = mmk_pa_add(run->pa, off);
		if (z->shared || is_cache_page(z->file, idx, pa))
			zap_defer(z, pa);
		else
			mmk_backend_put(z->op, pa);
	}
}

static void file_zap_pages(struct mmk_aspace_op *op,
			   const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end, bool shared)
{
	MMK_STATIC_ASSERT(MMK__AS_SCRATCH >= ZAP_BATCH * sizeof(mmk_paddr_t),
			  "a batch fits the operation's scratch");
	struct zap_ctx z = {op, a, file_of(a), shared, 0, op->scratch};
	int err = mmk_pt_unmap_region(&op->as->pt, start, end - start,
				      op->gather, zap_run, &z);
	MMK_ASSERT(err == 0); /* base pages only */
	(void)err;
	mmk_backend_flush_now(op);
	zap_put_batch(&z);
}

static void private_zap(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
			mmk_vaddr_t start, mmk_vaddr_t end)
{
	file_zap_pages(op, a, start, end, false);
}

/*
 * Unmap (or DONTNEED) of [start, end) of a shared area: the pages mapped
 * writable are dirty, the mappings go, the flush is done at once -- no
 * CPU may still write through a stale entry -- and then the range is
 * written back.  Must not fail: a write-back error leaves the pages dirty
 * with the pager.
 */
static void shared_zap(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		       mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct redirty r;
	redirty_range(op, a, start, end, &r);
	file_zap_pages(op, a, start, end, true);
	(void)writeback_range(a, start, end);
}

/* msync: pages mapped writable become read-only (and dirty), flushed at
 * once, then the range is written back. */
static int shared_sync(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		       mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct redirty r;
	redirty_range(op, a, start, end, &r);
	if (r.any) {
		int err = mmk_pt_protect_region(&op->as->pt, start, end - start,
						ro_flags(op->as, a->flags),
						op->gather);
		MMK_ASSERT(err == 0); /* base pages only: no cut */
		(void)err;
		mmk_backend_flush_now(op);
	}
	return writeback_range(a, start, end);
}

/* ------------------------------------------------------------ both */
/* Every page read-only: a written one faults once more and is marked
 * dirty again before it gets WRITE back. */
static void file_protect(struct mmk_aspace_op *op,
			 const struct mmk_mset_area *a, mmk_vaddr_t start,
			 mmk_vaddr_t end, uint32_t prot)
{
	(void)a;
	int err = mmk_pt_protect_region(&op->as->pt, start, end - start,
					ro_flags(op->as, prot), op->gather);
	MMK_ASSERT(err == 0); /* base pages only: no cut */
	(void)err;
}

/* A shared area's pages mapped writable are dirty before they lose
 * WRITE: a sync or unmap later no longer sees them writable. */
static void shared_protect(struct mmk_aspace_op *op,
			   const struct mmk_mset_area *a, mmk_vaddr_t start,
			   mmk_vaddr_t end, uint32_t prot)
{
	struct redirty r;
	redirty_range(op, a, start, end, &r);
	file_protect(op, a, start, end, prot);
}

static enum mmk_clone_mode private_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_COW;
}

static enum mmk_clone_mode shared_clone(const struct mmk_mset_area *a)
{
	(void)a;
	return MMK_CLONE_SHARE;
}

static int file_hold(const struct mmk_mset_area *orig, struct mmk_mset_area *a)
{
	(void)orig;
	mmk_file_get(file_of(a));
	return 0;
}

static void file_release(const struct mmk_mset_area *a)
{
	mmk_file_put(file_of(a));
}

const struct mmk_backend mmk_backend_file_private = {
	.name = "file",
	.props = MMK_BACKEND_SHOW_OFFSET | MMK_BACKEND_OWNS_FRAMES,
	.populate = file_populate,
	.fault = private_fault,
	.zap = private_zap,
	.protect = mmk_backend_protect_private,
	.clone = private_clone,
	.dup = file_hold,
	.split = file_hold,
	.release = file_release,
};

const struct mmk_backend mmk_backend_file_shared = {
	.name = "file",
	.props = MMK_BACKEND_SHARED | MMK_BACKEND_SHOW_OFFSET |
		 MMK_BACKEND_OWNS_FRAMES,
	.populate = file_populate,
	.fault = shared_fault,
	.zap = shared_zap,
	.protect = shared_protect,
	.clone = shared_clone,
	.dup = file_hold,
	.split = file_hold,
	.release = file_release,
	.sync = shared_sync,
};

int mmk_aspace_map_file(struct mmk_aspace *as, mmk_vaddr_t start, uint64_t size,
			uint32_t prot, struct mmk_file *file, uint64_t offset,
			unsigned flags)
{
	if (size == 0 || start + size < start || offset + size < offset)
		return MMK_EWRAP;
	if ((start | size | offset) & (as->page_size - 1))
		return MMK_EALIGN;
	if (!file || (flags & ~MMK_MAP_FILE_SHARED) ||
	    file->frames != as->frames || file->page_shift != as->page_shift)
		return MMK_EINVAL;
	const struct mmk_backend *b = flags & MMK_MAP_FILE_SHARED
					      ? &mmk_backend_file_shared
					      : &mmk_backend_file_private;
	/* The area's reference; see mmk_aspace_map_shared. */
	mmk_file_get(file);
	int err = mmk_aspace_map(as, start, size, prot, false, b, offset, file);
	if (err)
		mmk_file_put(file);
	return err;
}
