/* SPDX-License-Identifier: MIT */
/*
 * Page faults and access to a space's memory from the kernel.  Everything
 * here runs with the space's lock held *shared*: faults on different pages
 * (and copies) proceed in parallel; the page table's compare-and-swap
 * installs settle two CPUs faulting the same page.
 *
 * The fault path is one decision tree over struct mmk_fault, reading the
 * page's entry once (mmk_pt_lookup):
 *
 *   addr outside the space, or in no area ........... MMK_EFAULT (real)
 *   the area's protection does not allow it ......... MMK_EACCES (real)
 *   entry present and allowing the access ........... 0 (another CPU was
 *                                                      first, stale TLB)
 *   no fault hook (linear) ........................... MMK_EFAULT
 *   absent: hook says what to map -> mmk__pt_map_private (CAS)
 *   present, lacking the access (copy-on-write): hook says what to map
 *                          -> mmk__pt_replace_private (CAS on the old entry)
 *   lost a race (EEXIST / EAGAIN), or a replace between break and make
 *   (a leaf with no access in an area allowing it): read the entry again
 *   a table missing on the way, or a leaf table a fork left shared:
 *   FAULT_PREPARE, and mmk__as_fault_locked makes the tables (and this
 *   space's own leaf table) from its small frame, then tries again
 *
 * Nothing under the hook allocates a table: the deepest calls (a table's
 * allocation, a shared table's copy) hang off the outermost, smallest
 * frame instead of under struct mmk_fault and the hook's frame, which
 * keeps a fault within 1 KiB of stack (docs/STACK.md).
 *
 * Files, in order: fault.c (this), the backend's fault hook
 * (src/backend/alloc.c), src/pt (mmk__pt_map_private /
 * mmk__pt_replace_private, pt.c; the engine, src/pt/engine/), the format.
 */
#include "aspace_internal.h"

/* Races lost in a row before the access is simply retried by the CPU
 * (returning 0 refaults if the page is still not there). */
#define FAULT_TRIES 4
/* fault_try's answer besides 0 and the errors: the page needs a table
 * made, or its leaf table made private, before anything can map it. */
#define FAULT_PREPARE 2

/* (Again) where @g flushes: the CPUs that may cache the space now. */
static void fault_gather_cpus(struct mmk_aspace *as, struct mmk_tlb_gather *g,
			      mmk_cpumask_t *cpus)
{
	mmk__as_snapshot_cpus(as, cpus);
	g->cpus = mmk_cpumask_empty(cpus) ? NULL : cpus;
}

/* A gather for a fault's flush: the CPUs the space may be cached on. */
static void fault_gather(struct mmk_aspace *as, struct mmk_tlb_gather *g,
			 mmk_cpumask_t *cpus)
{
	mmk_tlb_gather_init(g, NULL, as->asid);
	fault_gather_cpus(as, g, cpus);
	mmk_tlb_gather_track_asid(g, &as->tlb);
}

/* A replace, flushed.  Out of line: the gather is big and the common
 * fault needs none; nothing under this frame allocates or frees (the
 * replace never unshares, and the old frame is put by the caller, after
 * this frame is gone: docs/STACK.md). */
static __attribute__((noinline)) int
fault_replace_flushed(struct mmk_fault *f, struct mmk_fault_page *pg,
		      uint32_t flags)
{
	struct mmk_aspace *as = f->as;
	struct mmk_tlb_gather g;
	mmk_cpumask_t cpus;
	fault_gather(as, &g, &cpus);
	int err = mmk__pt_replace_private(&as->pt, &f->leaf, pg->pa, flags, &g);
	/* Where the space may be cached after the edit: a CPU that
	 * activated it since the first snapshot may have walked the old
	 * leaf, and the old frame is put after this flush. */
	fault_gather_cpus(as, &g, &cpus);
	mmk_tlb_gather_finish(&g);
	return err;
}

/* A replace of a present leaf, flushed, then the old frame put: after the
 * flush, and not through the gather, since the old frame is shared (that
 * is why it was copied) and another space's gather may be putting it at
 * this moment (a frame sits in one gather).  A leaf table a fork left
 * shared (or flagged: this space the last holder): FAULT_PREPARE (made
 * private, then the hook runs again and sees the copy). */
static int fault_replace(struct mmk_fault *f, struct mmk_fault_page *pg,
			 uint32_t flags)
{
	struct mmk_aspace *as = f->as;
	int err = fault_replace_flushed(f, pg, flags);
	if (MMK_UNLIKELY(err == MMK_EAGAIN) &&
	    atomic_load_explicit(&as->pt.nshared, memory_order_relaxed))
		return FAULT_PREPARE; /* maybe a shared leaf table */
	if (!err && pg->put_old) {
		int r = mmk_frame_put(as->frames, f->leaf.pa);
		MMK_ASSERT(r >= 0);
	}
	return err;
}

/* Install what the hook answered; 0, or MMK_EEXIST / MMK_EAGAIN (lost a
 * race: nothing changed), FAULT_PREPARE, or MMK_ENOMEM. */
static inline int fault_install(struct mmk_fault *f, struct mmk_fault_page *pg)
{
	struct mmk_aspace *as = f->as;
	uint32_t flags = mmk_backend_page_flags(as, pg->flags);
	if (f->present)
		return fault_replace(f, pg, flags);
	int err = mmk__pt_map_private(&as->pt, f->page, pg->pa, f->page_size,
				      flags, f->tables);
	if (MMK_LIKELY(!err)) {
		if (MMK_UNLIKELY(as->map_flushes))
			mmk__backend_map_flush(f, f->page, flags);
		return 0;
	}
	return err == MMK_EAGAIN ? FAULT_PREPARE : err;
}

/* The level of a leaf of @page_size. */
static inline unsigned fault_level(const struct mmk_aspace *as,
				   uint64_t page_size)
{
	unsigned l = 0;
	while (((uint64_t)1 << as->pt.shift[l]) < page_size)
		l++;
	return l;
}

/* One look at the page and at most FAULT_TRIES races: 0, an error, or
 * FAULT_PREPARE.  The maps
 * take their tables from @tables (NULL on the first try: none).  Out of line:
 * struct mmk_fault and the hook's frames are not under the reservation's
 * allocations. */
static __attribute__((noinline)) int fault_try(struct mmk_aspace *as,
					       mmk_vaddr_t addr,
					       uint32_t access,
					       struct mmk_pt_resv *tables)
{
	struct mmk_fault f; /* every field set below (no zeroing: hot path) */
	f.as = as;
	f.tables = tables;
	f.addr = addr;
	f.access = access;
	if (addr < as->base || addr >= as->end)
		return MMK_EFAULT;
	f.area = mmk_mset_find(&as->areas, addr);
	if (!f.area)
		return MMK_EFAULT;
	f.prot = f.area->flags;
	if ((mmk__as_rights(as, f.prot) & access) != access)
		return MMK_EACCES;
	const struct mmk_backend *b = mmk_backend_of(f.area);
	f.page_size = mmk__area_page_size(as, f.area, addr);
	f.page = MMK_ALIGN_DOWN(addr, f.page_size);
	for (unsigned tries = 0; tries < FAULT_TRIES; tries++) {
		int lerr = mmk_pt_lookup(&as->pt, addr, &f.leaf);
		f.present = lerr == 0;
		if (f.present && (f.leaf.flags & access) == access)
			return 0; /* another CPU was first, or a stale TLB */
		/* A leaf with no access at all in an area that allows this
		 * one is another CPU's replace between break and make
		 * (aarch64): look again.  (A PROT_NONE area never gets here:
		 * its rights refused the access above.) */
		if (f.present && !(f.leaf.flags & MMK_PT_RWX))
			continue;
		/* A write under a leaf table shared with another space (a
		 * fork): this space's own copy first, then look again, so the
		 * hook sees the copy and the true reference counts. */
		if (MMK_UNLIKELY(f.present && f.leaf.shared &&
				 (access & MMK_PT_WRITE)))
			return FAULT_PREPARE;
		if (!b->fault)
			return MMK_EFAULT; /* nobody can map it */
		/* Tables missing on the way: reserve them before the hook
		 * runs (it would only find out when it maps). */
		if (lerr == MMK_ENOENT && !tables && f.leaf.level &&
		    f.leaf.level > fault_level(as, f.page_size))
			return FAULT_PREPARE;
		struct mmk_fault_page pg;
		pg.owned = pg.put_old = false;
		int err = b->fault(&f, &pg);
		if (err == MMK_FAULT_RETRY)
			continue;
		if (err == MMK_EAGAIN)
			return FAULT_PREPARE; /* its own map needed a table */
		if (err)
			return err < 0 ? err : MMK_EINVAL;
		err = fault_install(&f, &pg);
		if (err && pg.owned) {
			int r = mmk_frame_put(as->frames, pg.pa);
			MMK_ASSERT(r >= 0); /* never visible to anyone */
		}
		if (err != MMK_EEXIST && err != MMK_EAGAIN)
			return err;
	}
	return 0;
}

int mmk__as_fault_prepare(struct mmk_aspace *as, struct mmk_pt_resv *tables,
			  mmk_vaddr_t page, uint64_t page_size)
{
	int err = 0;
	if (atomic_load_explicit(&as->pt.nshared, memory_order_relaxed))
		err = mmk__backend_unshare(as, page); /* invisible if kept */
	if (!err)
		err = mmk__pt_reserve_fault(&as->pt, tables, page, page_size);
	return err;
}

/* The page size of the hook at @addr, whose area the first try found.
 * Out of line: nothing of it stays on the stack under the second try. */
__attribute__((noinline)) static uint64_t fault_page_size(struct mmk_aspace *as,
							  mmk_vaddr_t addr)
{
	return mmk__area_page_size(as, mmk_mset_find(&as->areas, addr), addr);
}

/*
 * Reserve, then commit (after a first try that said FAULT_PREPARE): the
 * space's own copy of a leaf table a fork left
 * shared, the tables reserved, all from this small frame, and the try
 * again, its maps taking the reserved tables.  So a fault that fails on
 * its own page has hooked no new table, and no allocation of a table is
 * under the hook.
 */
__attribute__((noinline)) static int
fault_prepared(struct mmk_aspace *as, mmk_vaddr_t addr, uint32_t access)
{
	uint64_t page_size = fault_page_size(as, addr);
	struct mmk_pt_resv tables = MMK__PT_RESV_EMPTY(&as->pt);
	int err = mmk__as_fault_prepare(
		as, &tables, MMK_ALIGN_DOWN(addr, page_size), page_size);
	/* Once: nothing shares a table again or unhooks one under the
	 * shared lock, so the second try finds what it needs. */
	if (!err)
		err = fault_try(as, addr, access, &tables);
	if (MMK_UNLIKELY(tables.n))
		mmk_pt_resv_release(&tables);  /* what the maps did not take */
	return err == FAULT_PREPARE ? 0 : err; /* 0: the CPU retries */
}

/* The first try needs no reservation (nearly every fault). */
int mmk__as_fault_locked(struct mmk_aspace *as, mmk_vaddr_t addr,
			 uint32_t access)
{
	int err = fault_try(as, addr, access, NULL);
	if (MMK_LIKELY(err != FAULT_PREPARE))
		return err;
	return fault_prepared(as, addr, access);
}

int mmk_aspace_fault(struct mmk_aspace *as, mmk_vaddr_t addr, uint32_t access)
{
	int err = mmk__as_check_access(access);
	if (err)
		return err;
	_Atomic long *rl = mmk__as_read_lock(as);
	err = mmk__as_fault_locked(as, addr, access);
	mmk__as_read_unlock(rl);
	return err;
}

bool mmk_aspace_handle_page_fault(struct mmk_aspace *as, mmk_vaddr_t addr,
				  uint32_t access)
{
	return mmk_aspace_fault(as, addr, access) == 0;
}

/*
 * Copy between @buf and the space, leaf by leaf: one lookup per leaf, then
 * a memcpy through the kernel's view of the frame.  A missing page (lazy)
 * or one not allowing the access (copy-on-write) goes through the fault
 * path and is looked up again; a fault that maps nothing usable (a hook
 * that gives up, or a lost race) twice in a row on one page is EFAULT.
 * @need is the rights every byte's area must give: READ or WRITE, plus
 * USER for the user copies.
 */
/* Copy what the leaf at @va holds of [va, va + len): the bytes copied, or
 * 0 if nothing is mapped there that allows the access.  Out of line, so
 * that its leaf is not on the stack under the fault (docs/STACK.md). */
static __attribute__((noinline)) size_t copy_leaf(struct mmk_aspace *as,
						  mmk_vaddr_t va, char *buf,
						  size_t len, bool write)
{
	uint32_t access = write ? MMK_PT_WRITE : MMK_PT_READ;
	struct mmk_pt_leaf lf;
	if (mmk_pt_lookup(&as->pt, va, &lf) != 0 || !(lf.flags & access))
		return 0;
	return mmk__as_copy_in_leaf(&lf, va, buf, len, write);
}

/* Inline into its callers: the fault below is then one frame nearer the
 * entry point (docs/STACK.md). */
static inline __attribute__((always_inline)) int
copy_locked(struct mmk_aspace *as, mmk_vaddr_t va, char *buf, size_t len,
	    bool write, uint32_t need)
{
	uint32_t access = write ? MMK_PT_WRITE : MMK_PT_READ;
	if (!mmk__as_can_access_locked(as, va, len, access, need))
		return MMK_EFAULT;
	unsigned refaults = 0;
	while (len) {
		size_t n = copy_leaf(as, va, buf, len, write);
		if (!n) {
			if (refaults++ == 2)
				return MMK_EFAULT;
			int err = mmk__as_fault_locked(as, va, access);
			if (err)
				return err == MMK_ENOMEM ? err : MMK_EFAULT;
			continue;
		}
		refaults = 0;
		buf += n;
		va += n;
		len -= n;
	}
	return 0;
}

static int copy(struct mmk_aspace *as, mmk_vaddr_t va, void *buf, size_t len,
		bool write, uint32_t need)
{
	if (len == 0)
		return 0;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = copy_locked(as, va, buf, len, write, need);
	mmk__as_read_unlock(rl);
	return err;
}

int mmk_aspace_read(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
		    size_t len)
{
	return copy(as, va, buf, len, false, MMK_PT_USER);
}

int mmk_aspace_write(struct mmk_aspace *as, mmk_vaddr_t va, const void *buf,
		     size_t len)
{
	return copy(as, va, (char *)(uintptr_t)buf, len, true, MMK_PT_USER);
}

int mmk_aspace_read_kernel(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
			   size_t len)
{
	return copy(as, va, buf, len, false, 0);
}

int mmk_aspace_write_kernel(struct mmk_aspace *as, mmk_vaddr_t va,
			    const void *buf, size_t len)
{
	return copy(as, va, (char *)(uintptr_t)buf, len, true, 0);
}

/*
 * strncpy_from_user: page by page, each page's area checked (USER, READ)
 * only when the copy reaches it, so a string that ends before a bad page
 * is fine, as on Linux.
 */
int mmk_aspace_read_string(struct mmk_aspace *as, mmk_vaddr_t va, char *buf,
			   size_t size, size_t *len)
{
	if (!buf || !len || size == 0)
		return MMK_EINVAL;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = MMK_ERANGE;
	size_t done = 0;
	while (done < size) {
		mmk_vaddr_t at = va + done;
		if (at < va) {
			err = MMK_EFAULT; /* wrapped past the top */
			break;
		}
		uint64_t left = as->page_size - (at & (as->page_size - 1));
		size_t n = left < size - done ? (size_t)left : size - done;
		err = copy_locked(as, at, buf + done, n, false, MMK_PT_USER);
		if (err)
			break;
		size_t k = 0;
		while (k < n && buf[done + k]) /* no memchr: freestanding */
			k++;
		if (k < n) {
			*len = done + k;
			err = 0;
			break;
		}
		done += n;
		err = MMK_ERANGE;
	}
	mmk__as_read_unlock(rl);
	return err;
}
