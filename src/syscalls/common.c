/* SPDX-License-Identifier: MIT */
/*
 * What the system calls share: the process context's defaults, walking
 * its areas, changing their flags area by area, populating.
 */
#include "sys_internal.h"

#include <mmkit/pager.h>
#include <mmkit/shm.h>

void mmk_sys_mm_init(struct mmk_sys_mm *mm, struct mmk_aspace *as)
{
	uint64_t page = as->page_size;
	mm->as = as;
	mm->task_size = as->end;
	mm->mmap_min_addr = MMK_MAX(as->base, (mmk_vaddr_t)64 * MMK_KIB);
	mm->mmap_base = as->end;
	mm->unmapped_base =
		MMK_ALIGN_DOWN(as->base + (as->end - as->base) / 3, page);
	mm->start_brk = mm->brk = 0;
	mm->stack_guard_gap = 256 * page;
	mm->max_map_count = 65530;
	mm->memlock_limit = 8 * MMK_MIB;
	mm->cap_ipc_lock = false;
	mm->def_flags = 0;
	mm->page_flags = MMK_PT_USER;
	mm->shared = NULL;
}

static int take_first(const struct mmk_aspace_area *a, void *arg)
{
	*(struct mmk_aspace_area *)arg = *a;
	return 1;
}

bool mmk__sys_next_area(struct mmk_sys_mm *mm, mmk_vaddr_t addr,
			struct mmk_aspace_area *out)
{
	out->start = out->end = 0; /* defined even when there is none */
	return mmk_aspace_foreach_area(mm->as, addr, take_first, out) == 1;
}

bool mmk__sys_covered(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end)
		if (!mmk__sys_next_area(mm, cur, &a) || a.start > cur)
			return false;
	return true;
}

size_t mmk__sys_map_count(struct mmk_sys_mm *mm)
{
	return mmk_aspace_area_count(mm->as);
}

struct locked_ctx {
	mmk_vaddr_t start, end;
	uint64_t n;
};

static int count_locked(const struct mmk_aspace_area *a, void *arg)
{
	struct locked_ctx *c = arg;
	if (a->start >= c->end)
		return 1;
	if (a->flags & MMK_SYS_VM_LOCKED)
		c->n += MMK_MIN(a->end, c->end) - MMK_MAX(a->start, c->start);
	return 0;
}

uint64_t mmk__sys_locked(struct mmk_sys_mm *mm, mmk_vaddr_t start,
			 mmk_vaddr_t end)
{
	struct locked_ctx c = {start, end, 0};
	(void)mmk_aspace_foreach_area(mm->as, start, count_locked, &c);
	return c.n;
}

bool mmk__sys_lock_ok(struct mmk_sys_mm *mm, uint32_t flags, uint64_t len)
{
	if (!(flags & MMK_SYS_VM_LOCKED) || mm->cap_ipc_lock)
		return true;
	uint64_t locked = mmk__sys_locked(mm, 0, UINT64_MAX) + len;
	return locked >= len && locked <= mm->memlock_limit;
}

uint32_t mmk__sys_prot(const struct mmk_sys_mm *mm, uint64_t prot)
{
	uint32_t f = mm->page_flags;
	if (prot & MMK_SYS_PROT_READ)
		f |= MMK_PT_READ;
	if (prot & MMK_SYS_PROT_WRITE)
		f |= MMK_PT_WRITE;
	if (prot & MMK_SYS_PROT_EXEC)
		f |= MMK_PT_EXEC;
	return f;
}

/* Would changing [s, e) of @a split it into more areas than allowed?
 * (Linux's split_vma: map_count >= max_map_count is ENOMEM.) */
static bool split_refused(struct mmk_sys_mm *mm,
			  const struct mmk_aspace_area *a, mmk_vaddr_t s,
			  mmk_vaddr_t e)
{
	return (s > a->start || e < a->end) &&
	       mmk__sys_map_count(mm) >= mm->max_map_count;
}

int mmk__sys_update(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end,
		    uint32_t (*fn)(uint32_t old, void *arg), void *arg)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end;) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			return 0;
		mmk_vaddr_t s = MMK_MAX(a.start, cur), e = MMK_MIN(a.end, end);
		uint32_t nf = fn(a.flags, arg);
		if (nf != a.flags) {
			if (split_refused(mm, &a, s, e))
				return MMK_ENOMEM;
			int err = mmk_aspace_protect(mm->as, s, e - s, nf);
			if (err)
				return err;
		}
		cur = e;
	}
	return 0;
}

/* Fault in [s, e) of @a by reading each page through the forced access
 * (write-only, exec-only and PROT_NONE areas: Linux's FOLL_FORCE read). */
static int populate_forced(struct mmk_sys_mm *mm, mmk_vaddr_t s, mmk_vaddr_t e)
{
	for (mmk_vaddr_t va = s; va < e; va += sys_page(mm)) {
		char c;
		int err = mmk_aspace_access_forced(mm->as, va, &c, 1, false);
		if (err)
			return err;
	}
	return 0;
}

int mmk__sys_fault_in(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
		      mmk_vaddr_t s, mmk_vaddr_t e, uint32_t access)
{
	if (a->backend->populate)
		return mmk_aspace_populate(mm->as, s, e - s, access);
	for (mmk_vaddr_t va = s; va < e; va += sys_page(mm)) {
		int err = mmk_aspace_fault(mm->as, va, access);
		if (err)
			return err;
	}
	return 0;
}

static int populate_part(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
			 mmk_vaddr_t s, mmk_vaddr_t e)
{
	if (!(a->backend->props & MMK_BACKEND_OWNS_FRAMES) ||
	    (a->flags & MMK_SYS_VM_LOCKONFAULT))
		return 0; /* VM_IO / VM_PFNMAP, or lock on fault */
	/* populate_vma_page_range: write faults in private writable areas
	 * only; shared ones are read in (their pages are the object's) */
	if ((a->flags & MMK_PT_WRITE) && !(a->flags & MMK_SYS_VM_SHARED))
		return mmk_aspace_populate(mm->as, s, e - s, MMK_ACCESS_WRITE);
	if (a->flags & MMK_PT_READ)
		return mmk__sys_fault_in(mm, a, s, e, MMK_ACCESS_READ);
	if (!(a->flags & MMK_PT_RWX))
		return MMK_EFAULT; /* PROT_NONE: not forced (vma_is_accessible)
				    */
	return populate_forced(mm, s, e);
}

int mmk__sys_populate(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end,
		      bool ignore)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end;) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			return 0;
		mmk_vaddr_t s = MMK_MAX(a.start, cur), e = MMK_MIN(a.end, end);
		int err = populate_part(mm, &a, s, e);
		if (err && !ignore)
			return err;
		cur = e;
	}
	return 0;
}

bool mmk__sys_hold(const struct mmk_aspace_area *a)
{
	if (a->backend == &mmk_backend_alloc)
		return true; /* nothing held */
	if (a->backend == &mmk_backend_shared) {
		mmk_shm_get(a->priv);
		return true;
	}
	if (a->backend == &mmk_backend_file_shared ||
	    a->backend == &mmk_backend_file_private) {
		mmk_file_get(a->priv);
		return true;
	}
	return false;
}

void mmk__sys_unhold(const struct mmk_aspace_area *a)
{
	if (a->backend == &mmk_backend_shared)
		mmk_shm_put(a->priv);
	else if (a->backend == &mmk_backend_file_shared ||
		 a->backend == &mmk_backend_file_private)
		mmk_file_put(a->priv);
}
