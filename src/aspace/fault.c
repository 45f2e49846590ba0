/* SPDX-License-Identifier: MIT */
/*
 * Page faults and access to a space's memory from the kernel.  Everything
 * here runs with the space's lock held *shared*: faults on different pages
 * (and copies) proceed in parallel; the page table's compare-and-swap
 * installs settle two CPUs faulting the same page.
 *
 * The fault path is one decision tree over struct mmk_fault:
 *
 *   addr outside the space, or in no area ........... MMK_EFAULT (real)
 *   the area's flags do not allow the access ........ MMK_EACCES (real)
 *   backend has no fault hook (linear) ....
 *       page mapped and allowing the access ......... 0 (stale TLB)
 *       otherwise .................................... MMK_EFAULT
 *   backend fault hook (alloc): map the page ........ 0, or MMK_ENOMEM
 *       (a page another CPU mapped first counts as 0)
 */
#include "aspace_internal.h"

int mmk__as_fault_locked(struct mmk_aspace *as, mmk_vaddr_t addr,
			 uint32_t access)
{
	struct mmk_fault f = {.as = as, .addr = addr, .access = access};
	if (addr < as->base || addr >= as->end)
		return MMK_EFAULT;
	f.area = mmk_mset_find(&as->areas, addr);
	if (!f.area)
		return MMK_EFAULT;
	f.flags = f.area->flags;
	if ((f.flags & access) != access)
		return MMK_EACCES;
	const struct mmk_backend *b = mmk__backend_of(f.area);
	if (!b->fault) {
		uint32_t have;
		if (mmk_pt_query(&as->pt, addr, NULL, &have, NULL) == 0 &&
		    (have & access) == access)
			return 0;
		return MMK_EFAULT;
	}
	f.page_size = b->page_size ? b->page_size(as, f.area) : as->page_size;
	f.page = MMK_ALIGN_DOWN(addr, f.page_size);
	return b->fault(&f);
}

int mmk_aspace_fault(struct mmk_aspace *as, mmk_vaddr_t addr, uint32_t access)
{
	if (access == 0 || (access & ~MMK_PT_RWX))
		return MMK_EINVAL;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = mmk__as_fault_locked(as, addr, access);
	mmk__as_read_unlock(rl);
	return err;
}

bool mmk_aspace_handle_page_fault(struct mmk_aspace *as, mmk_vaddr_t addr,
				  uint32_t access)
{
	return mmk_aspace_fault(as, addr, access) == 0;
}

/*
 * Copy between @buf and the space, leaf by leaf: one walk per leaf, then a
 * memcpy through the kernel's view of the frame.  A missing page (lazy) or
 * one not allowing the access (a stale mapping cannot exist here: the area
 * was checked) goes through the fault path and is looked up again.
 */
static int copy_locked(struct mmk_aspace *as, mmk_vaddr_t va, char *buf,
		       size_t len, bool write)
{
	uint32_t access = write ? MMK_PT_WRITE : MMK_PT_READ;
	if (!mmk__as_can_access_locked(as, va, len, access))
		return MMK_EFAULT;
	while (len) {
		mmk_paddr_t pa;
		uint32_t fl;
		uint64_t psz;
		int err = mmk_pt_query(&as->pt, va, &pa, &fl, &psz);
		if (err || !(fl & access)) {
			err = mmk__as_fault_locked(as, va, access);
			if (err)
				return err == MMK_ENOMEM ? err : MMK_EFAULT;
			continue;
		}
		uint64_t left = psz - (va & (psz - 1));
		size_t n = left < len ? (size_t)left : len;
		void *p = mmk_phys_to_virt(pa);
		if (write)
			__builtin_memcpy(p, buf, n);
		else
			__builtin_memcpy(buf, p, n);
		buf += n;
		va += n;
		len -= n;
	}
	return 0;
}

int mmk_aspace_read(struct mmk_aspace *as, mmk_vaddr_t va, void *buf,
		    size_t len)
{
	if (len == 0)
		return 0;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = copy_locked(as, va, buf, len, false);
	mmk__as_read_unlock(rl);
	return err;
}

int mmk_aspace_write(struct mmk_aspace *as, mmk_vaddr_t va, const void *buf,
		     size_t len)
{
	if (len == 0)
		return 0;
	_Atomic long *rl = mmk__as_read_lock(as);
	int err = copy_locked(as, va, (char *)(uintptr_t)buf, len, true);
	mmk__as_read_unlock(rl);
	return err;
}
