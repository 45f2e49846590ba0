/* SPDX-License-Identifier: MIT */
/*
 * The kernel's forced access to a space's memory (Linux's FOLL_FORCE:
 * ptrace's PEEK/POKE, /proc/PID/mem, core dumps): the area's protection is
 * not asked, only that an area holds every byte.  Runs with the lock held
 * shared, like the ordinary copies in fault.c, and installs pages with the
 * same compare-and-swap calls, so it races faults safely.
 *
 *   byte in no area ..................................... MMK_EFAULT
 *   page not there: the backend's fault hook, as a read, whatever the
 *                   protection (a PROT_NONE page is mapped without access)
 *   read ................................ copy through phys_to_virt
 *   write, page writable ........................ copy in place
 *   write, page read-only, private memory:
 *       frame mapped only here (count 1) ....... copy in place (the page
 *                                                stays read-only)
 *       frame shared (copy-on-write) .............. a copy replaces it
 *   write, page read-only, shared memory ................ MMK_EFAULT
 *
 * What is left for the fork issue: a copy-on-write area's fault hook may
 * map a shared frame for a read fault here; the copy above breaks it for a
 * forced write as Linux's FOLL_COW does.  Huge leaves are written in place
 * only (a forced copy of a shared huge page: MMK_EFAULT).
 */
#include "aspace_internal.h"

/* Flush for a map on formats that cache invalid entries, or a replace;
 * the old frame (if @put) goes after the flush. */
static __attribute__((noinline)) int
forced_install(struct mmk_aspace *as, const struct mmk_pt_leaf *old,
	       mmk_vaddr_t page, uint64_t psize, mmk_paddr_t pa, uint32_t flags,
	       bool put)
{
	struct mmk_tlb_gather g;
	mmk_cpumask_t cpus;
	mmk__as_snapshot_cpus(as, &cpus);
	mmk_tlb_gather_init(&g, mmk_cpumask_empty(&cpus) ? NULL : &cpus,
			    as->asid);
	mmk_tlb_gather_track_asid(&g, &as->tlb);
	int err = old ? mmk_pt_replace(&as->pt, old, pa, flags, &g)
		      : mmk_pt_map(&as->pt, page, pa, psize, flags, &g);
	if (!err && put)
		mmk_tlb_gather_put(&g, as->frames, old->pa);
	mmk_tlb_gather_finish(&g);
	return err;
}

/* Bring the page at @va of @a in through its fault hook, as a read whose
 * protection is not checked; the hook's own maps take their tables from
 * @tables.  0 (look again), or an error. */
static int forced_fault_try(struct mmk_aspace *as,
			    const struct mmk_mset_area *a, mmk_vaddr_t va,
			    struct mmk_pt_resv *tables)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	if (!b->fault)
		return MMK_EFAULT;
	struct mmk_fault f;
	f.as = as;
	f.tables = tables;
	f.area = a;
	f.addr = va;
	f.page_size = mmk__area_page_size(as, a, va);
	f.page = MMK_ALIGN_DOWN(va, f.page_size);
	f.access = MMK_ACCESS_READ;
	f.prot = a->flags;
	f.present = false;
	struct mmk_fault_page pg = {.owned = false, .put_old = false};
	int err = b->fault(&f, &pg);
	if (err == MMK_FAULT_RETRY)
		return 0;
	if (err == MMK_EAGAIN) { /* its map needed a table: reserve, again */
		err = mmk__as_fault_prepare(as, tables, f.page, f.page_size);
		return err ? err : MMK_EAGAIN;
	}
	if (err)
		return err < 0 ? err : MMK_EINVAL;
	uint32_t flags = mmk_backend_page_flags(as, pg.flags);
	err = as->map_flushes ? forced_install(as, NULL, f.page, f.page_size,
					       pg.pa, flags, false)
			      : mmk_pt_map(&as->pt, f.page, pg.pa, f.page_size,
					   flags, NULL);
	if (err && pg.owned) {
		int r = mmk_frame_put(as->frames, pg.pa);
		MMK_ASSERT(r >= 0); /* never visible to anyone */
	}
	return err == MMK_EEXIST ? 0 : err; /* another CPU was first */
}

/* forced_fault_try, again with the tables its hook asked for reserved
 * (reserve, then commit, as the fault path). */
static int forced_fault(struct mmk_aspace *as, const struct mmk_mset_area *a,
			mmk_vaddr_t va)
{
	struct mmk_pt_resv tables;
	mmk_pt_resv_init(&tables, &as->pt);
	int err = forced_fault_try(as, a, va, &tables);
	if (err == MMK_EAGAIN)
		err = forced_fault_try(as, a, va, &tables);
	if (tables.n)
		mmk_pt_resv_release(&tables);
	return err == MMK_EAGAIN ? 0 : err; /* look again */
}

/* Make the read-only private leaf @lf writable by this call: 0 if its
 * frame is ours alone (write in place), else replace it by a copy; 1
 * means look again (a race, or the copy is in). */
static int forced_unshare(struct mmk_aspace *as, const struct mmk_pt_leaf *lf)
{
	if (mmk_frame_refcount(as->frames, lf->pa) == 1)
		return 0;
	if (lf->page_size != as->page_size)
		return MMK_EFAULT;
	mmk_paddr_t pa;
	int err = mmk_backend_alloc_page(as, &pa);
	if (err)
		return err;
	__builtin_memcpy(mmk_phys_to_virt(pa), mmk_phys_to_virt(lf->pa),
			 lf->page_size);
	uint32_t flags =
		lf->flags & ~(uint32_t)(MMK_PT_ACCESSED | MMK_PT_DIRTY);
	err = forced_install(as, lf, lf->va, lf->page_size, pa, flags, true);
	if (err) {
		(void)mmk_backend_free_page(as, pa);
		return err == MMK_EAGAIN ? 1 : err;
	}
	return 1;
}

static int forced_locked(struct mmk_aspace *as, mmk_vaddr_t va, char *buf,
			 size_t len, bool write)
{
	if (!mmk_mset_covers(&as->areas, va, len))
		return MMK_EFAULT;
	unsigned tries = 0;
	while (len) {
		if (tries++ == 4)
			return MMK_EFAULT; /* nothing usable after faults */
		const struct mmk_mset_area *a = mmk_mset_find(&as->areas, va);
		struct mmk_pt_leaf lf;
		if (mmk_pt_lookup(&as->pt, va, &lf)) {
			int err = forced_fault(as, a, va);
			if (err)
				return err;
			continue;
		}
		if (write && !(lf.flags & MMK_PT_WRITE)) {
			if (!(mmk_backend_of(a)->props &
			      MMK_BACKEND_OWNS_FRAMES))
				return MMK_EFAULT; /* shared: Linux refuses */
			int r = forced_unshare(as, &lf);
			if (r < 0)
				return r;
			if (r > 0)
				continue;
		}
		tries = 0;
		size_t n = mmk__as_copy_in_leaf(&lf, va, buf, len, write);
		buf += n;
		va += n;
		len -= n;
	}
	return 0;
}

int mmk_aspace_access_forced(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
			     size_t len, bool write)
{
	if (len == 0)
		return 0;
	if (!buf)
		return MMK_EINVAL;
	if (va + len < va)
		return MMK_EFAULT;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = forced_locked(as, va, buf, len, write);
	mmk__as_read_unlock(rl);
	return err;
}
