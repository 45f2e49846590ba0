/* SPDX-License-Identifier: MIT */
/*
 * What every backend may use: frames for pages, page flags fitted to the
 * format, and the default zap.  Runs under the space's lock, held as the
 * calling hook says (backend.h); never calls the address-space layer.
 */
#include <mmkit/backend.h>
#include <mmkit/log.h>

#include "lib/bits.h"

int mmk_backend_alloc_page(struct mmk_aspace *as, mmk_paddr_t *pa)
{
	return mmk_frame_alloc(as->frames, as->page_shift - MMK_PAGE_SHIFT,
			       MMK_FRAME_ZERO, pa);
}

int mmk_backend_free_page(struct mmk_aspace *as, mmk_paddr_t pa)
{
	return mmk_frame_free(as->frames, pa);
}

static bool is_zero_page(struct mmk_aspace *as, mmk_paddr_t pa);

/*
 * A gather links the frames it will put through their own metadata, so a
 * frame may sit in one gather only.  A frame another table still maps
 * (count > 1: a fork's copy-on-write, the zero page) may be put by that
 * space's gather at the same time, so it never goes into one: this
 * space's stale translations of it are flushed at once, then the
 * reference is dropped (never the last at that moment, or the one that
 * is comes after every other holder's flush).  A frame with count 1 is
 * ours alone: nobody else can take a reference (that needs this space's
 * lock, for its fork), so the gather may hold it.
 */
static bool put_now(struct mmk_aspace *as, mmk_paddr_t pa)
{
	return is_zero_page(as, pa) || mmk_frame_refcount(as->frames, pa) > 1;
}

/* Before a put at once: where the space may be cached now, after the
 * edits (a CPU that activated it since the operation began may have
 * walked the entries just cleared), into the mask the gather flushes. */
static void refresh_cpus(struct mmk_aspace_op *op);

static void put_direct(struct mmk_aspace *as, mmk_paddr_t pa)
{
	int r = mmk_frame_put(as->frames, pa);
	MMK_ASSERT(r >= 0);
}

void mmk_backend_put(struct mmk_aspace_op *op, mmk_paddr_t pa)
{
	if (put_now(op->as, pa)) {
		refresh_cpus(op);
		mmk_tlb_gather_flush(op->gather);
		put_direct(op->as, pa);
		return;
	}
	mmk_tlb_gather_put(op->gather, op->as->frames, pa);
}

/* mmk_pt_unmap_fn: every page of the run goes back after the flush
 * (shared ones after a flush of the run, at once; see put_now). */
static void put_run(void *ctx, const struct mmk_pt_leaf *run)
{
	struct mmk_aspace_op *op = ctx;
	bool flushed = false;
	for (uint64_t off = 0; off < run->size; off += run->page_size) {
		mmk_paddr_t pa = mmk_pa_add(run->pa, off);
		if (!put_now(op->as, pa)) {
			mmk_tlb_gather_put(op->gather, op->as->frames, pa);
			continue;
		}
		if (!flushed && !is_zero_page(op->as, pa)) {
			refresh_cpus(op);
			mmk__tlb_flush_range_now(op->gather, run->va,
						 run->va + run->size);
		}
		flushed |= !is_zero_page(op->as, pa);
		put_direct(op->as, pa);
	}
}

void mmk_backend_zap_pages(struct mmk_aspace_op *op, mmk_vaddr_t start,
			   mmk_vaddr_t end, bool put)
{
	int err = mmk_pt_unmap_region(&op->as->pt, start, end - start,
				      op->gather, put ? put_run : NULL, op);
	MMK_ASSERT(err == 0); /* no huge page straddles an edge */
}

/* ------------------------------------------------- private memory */

/* Frame order of a block of @size bytes (a page size of the format). */
static unsigned order_of(uint64_t size)
{
	return (unsigned)mmk__ctz64(size) - MMK_PAGE_SHIFT;
}

int mmk_backend_zero_page(struct mmk_aspace *as, mmk_paddr_t *pa)
{
	uint64_t z = atomic_load_explicit(&as->zero_page, memory_order_acquire);
	if (MMK_LIKELY(z)) {
		*pa = mmk_pa(z & ~(uint64_t)1);
		return 0;
	}
	mmk_paddr_t p;
	int err = mmk_backend_alloc_page(as, &p);
	if (err)
		return err;
	/* Several CPUs may get here at once: one wins, the others give
	 * their page back (never seen by anyone) and use the winner's. */
	uint64_t want = p.v | 1;
	if (!atomic_compare_exchange_strong_explicit(&as->zero_page, &z, want,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		(void)mmk_backend_free_page(as, p);
		*pa = mmk_pa(z & ~(uint64_t)1);
		return 0;
	}
	*pa = p;
	return 0;
}

/* True if @pa is @as's zero page. */
static bool is_zero_page(struct mmk_aspace *as, mmk_paddr_t pa)
{
	uint64_t z = atomic_load_explicit(&as->zero_page, memory_order_acquire);
	return z && (z & ~(uint64_t)1) == pa.v;
}

/*
 * True if @pa's frame has no reference but ours: it may be written in
 * place.  An acquire load: the other holder's last reads of the frame
 * (its copy of it, a read through its mapping) come before its put, a
 * release, so they come before our writes too.
 */
static bool sole_owner(struct mmk_aspace *as, mmk_paddr_t pa)
{
	if (is_zero_page(as, pa))
		return false;
	struct mmk_frame *m = mmk_frame_meta(as->frames, pa);
	return m && atomic_load_explicit(&m->ref, memory_order_acquire) == 1;
}

int mmk_backend_cow_fault(const struct mmk_fault *f, struct mmk_fault_page *out)
{
	struct mmk_aspace *as = f->as;
	mmk_paddr_t old = f->leaf.pa;
	out->flags = f->prot;
	bool zero = is_zero_page(as, old);
	if (!zero && sole_owner(as, old)) {
		/* Ours alone: no other table maps it, none can start to
		 * (see backend.h), so write to it in place. */
		out->pa = old;
		out->owned = out->put_old = false;
		return 0;
	}
	int err = mmk_frame_alloc(as->frames, order_of(f->page_size),
				  zero ? MMK_FRAME_ZERO : 0, &out->pa);
	if (err)
		return err;
	if (!zero)
		__builtin_memcpy(mmk_phys_to_virt(out->pa),
				 mmk_phys_to_virt(old), f->page_size);
	out->owned = out->put_old = true;
	return 0;
}

int mmk_backend_anon_fault(const struct mmk_fault *f,
			   struct mmk_fault_page *out)
{
	struct mmk_aspace *as = f->as;
	if (f->present) {
		if (!(f->access & MMK_ACCESS_WRITE))
			return MMK_EFAULT; /* its pages keep the other rights */
		return mmk_backend_cow_fault(f, out);
	}
	uint32_t ro = f->prot & ~(uint32_t)MMK_PT_WRITE;
	uint32_t rights = mmk_backend_page_flags(as, ro) & MMK_PT_RWX;
	if (!(f->access & MMK_ACCESS_WRITE) &&
	    (rights & f->access) == f->access) {
		/* Never written: the zero page, read-only, one reference
		 * for the leaf (put by the core if another CPU is first). */
		int err = mmk_backend_zero_page(as, &out->pa);
		if (!err)
			err = mmk_frame_get(as->frames, out->pa);
		if (err)
			return err;
		out->flags = ro;
		out->owned = true;
		return 0;
	}
	int err = mmk_backend_alloc_page(as, &out->pa);
	if (err)
		return err;
	out->flags = f->prot;
	out->owned = true;
	return 0;
}

/*
 * protect_private walks the leaves in batches: runs of neighbouring
 * leaves that get the same flags, collected by mmk_pt_walk (which must
 * not see the table change under it), applied after the walk stops.
 * The batch lives in the operation's scratch memory (the write lock is
 * held; nothing else uses it during a protect or an unmap): 400 bytes
 * the stack of a system call cannot spare (docs/STACK.md).
 */
#define PROT_RUNS 16

struct prot_batch {
	struct mmk_aspace *as;
	uint32_t want; /* page flags of the new protection */
	unsigned n;
	mmk_vaddr_t next; /* where the walk stopped */
	struct {
		mmk_vaddr_t va, end;
		uint32_t flags;
	} run[PROT_RUNS];
};

/* The flags leaf @l gets: WRITE only if it has it, or its frame is ours
 * alone (not the zero page). */
static uint32_t private_flags(struct mmk_aspace *as, uint32_t want,
			      const struct mmk_pt_leaf *l)
{
	if (!(want & MMK_PT_WRITE) || (l->flags & MMK_PT_WRITE))
		return want;
	if (sole_owner(as, l->pa))
		return want;
	/* A page must keep some access while its area allows one (the
	 * fault path takes a leaf without any for a break-before-make in
	 * progress): a write-only area's shared page reads until written
	 * (formats that have write-only pages also have read-only ones). */
	uint32_t ro = want & ~(uint32_t)MMK_PT_WRITE;
	return ro & MMK_PT_RWX ? ro : ro | MMK_PT_READ;
}

static int prot_collect(void *ctx, const struct mmk_pt_leaf *l)
{
	struct prot_batch *b = ctx;
	uint32_t fl = private_flags(b->as, b->want, l);
	if (b->n && b->run[b->n - 1].end == l->va &&
	    b->run[b->n - 1].flags == fl) {
		b->run[b->n - 1].end = l->va + l->page_size;
		return 0;
	}
	if (b->n == PROT_RUNS) {
		b->next = l->va;
		return 1;
	}
	b->run[b->n].va = l->va;
	b->run[b->n].end = l->va + l->page_size;
	b->run[b->n].flags = fl;
	b->n++;
	return 0;
}

void mmk_backend_protect_private(struct mmk_aspace_op *op,
				 const struct mmk_mset_area *a,
				 mmk_vaddr_t start, mmk_vaddr_t end,
				 uint32_t prot)
{
	(void)a;
	uint32_t want = mmk_backend_page_flags(op->as, prot);
	if (!(want & MMK_PT_WRITE)) {
		/* nothing gets WRITE: every page the same flags, at once */
		int err = mmk_pt_protect_region(&op->as->pt, start, end - start,
						want, op->gather);
		MMK_ASSERT(err == 0); /* the edges were cut */
		return;
	}
	MMK_STATIC_ASSERT(MMK__AS_SCRATCH >= sizeof(struct prot_batch),
			  "the protect batch fits the scratch memory");
	MMK_ASSERT(op->scratch_size >= sizeof(struct prot_batch));
	struct prot_batch *b = op->scratch;
	b->as = op->as;
	b->want = want;
	mmk_vaddr_t at = start;
	while (at < end) {
		b->n = 0;
		int r = mmk_pt_walk(&op->as->pt, at, end - at, prot_collect, b);
		MMK_ASSERT(r >= 0);
		for (unsigned i = 0; i < b->n; i++) {
			int err = mmk_pt_protect_region(
				&op->as->pt, b->run[i].va,
				b->run[i].end - b->run[i].va, b->run[i].flags,
				op->gather);
			MMK_ASSERT(err == 0); /* whole leaves, flags fitted */
		}
		at = r > 0 ? b->next : end;
	}
}

/* The CPUs that may cache @as's entries now (after the caller's edits). */
static bool active_cpus(const struct mmk_aspace *as, mmk_cpumask_t *out)
{
	mmk_tlb_ctx_cached(&as->tlb, out);
	return !mmk_cpumask_empty(out);
}

/* The TLB may hold the invalid entry just mapped: flush it where active.
 * No gather (too big for the fault path's stack): a map records one
 * range and no puts.  Out of line, and after the map rather than around
 * it, so that this frame is not under the map's allocations; the common
 * case needs no flush. */
__attribute__((noinline)) void mmk__backend_map_flush(const struct mmk_fault *f,
						      mmk_vaddr_t va,
						      uint32_t flags)
{
	struct mmk_aspace *as = f->as;
	mmk_cpumask_t cpus;
	mmk__tlb_flush_one(active_cpus(as, &cpus) ? &cpus : NULL, as->asid,
			   &as->tlb, va, va + f->page_size,
			   (flags & MMK_PT_GLOBAL) != 0);
}

int mmk__backend_unshare(struct mmk_aspace *as, mmk_vaddr_t va)
{
	int r = mmk_pt_unshare(&as->pt, va, NULL);
	if (r <= 0)
		return r;
	/* after the switch: a CPU that activated the space since may
	 * have walked the old table */
	mmk_cpumask_t cpus;
	const mmk_cpumask_t *where = active_cpus(as, &cpus) ? &cpus : NULL;
	struct mmk_tlb_range rg;
	if (mmk_pt_unshare_flush(&as->pt, va, &rg))
		mmk__tlb_flush_asid(where, as->asid, &as->tlb);
	else
		mmk__tlb_flush_one(where, as->asid, &as->tlb, rg.start, rg.end,
				   false);
	return 0;
}

int mmk_backend_fault_map(const struct mmk_fault *f, struct mmk_pt_cursor *c,
			  mmk_vaddr_t va, mmk_paddr_t pa, uint32_t prot)
{
	struct mmk_aspace *as = f->as;
	uint32_t flags = mmk_backend_page_flags(as, prot);
	/* Never allocates (a table, a shared table's copy): the tables come
	 * from f->tables, or MMK_EAGAIN and the fault path reserves them
	 * (and unshares) from its outermost frame, then asks again. */
	int err = c ? mmk__pt_map_cursor_private(c, va, pa, flags, f->tables)
		    : mmk__pt_map_private(&as->pt, va, pa, f->page_size, flags,
					  f->tables);
	if (MMK_UNLIKELY(as->map_flushes) && !err)
		mmk__backend_map_flush(f, va, flags);
	return err;
}

static void refresh_cpus(struct mmk_aspace_op *op)
{
	/* Only the operation's own mask (a gather flushing nowhere, as a
	 * fork's child's, stays so). */
	if (op->gather->cpus == &op->cpus)
		(void)active_cpus(op->as, &op->cpus);
}

void mmk_backend_flush_now(struct mmk_aspace_op *op)
{
	/* A CPU that activated the space since the operation began may
	 * have cached an entry the edits changed: ask again (op->cpus is
	 * the mask the gather flushes; mmk__op_end asks once more). */
	if (op->gather->cpus == &op->cpus && active_cpus(op->as, &op->cpus))
		mmk_tlb_gather_flush(op->gather);
}
