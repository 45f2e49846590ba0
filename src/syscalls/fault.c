/* SPDX-License-Identifier: MIT */
/*
 * The page-fault entry of a process with Linux's stack growth: a fault
 * just below a MAP_GROWSDOWN area extends that area down to the faulting
 * page (Linux's expand_downwards), then the fault goes to the address
 * space.  Kernel copies to and from user memory fault the same way.
 */
#include "sys_internal.h"

int mmk_sys_expand_stack(struct mmk_sys_mm *mm, uint64_t addr)
{
	struct mmk_aspace_area a, prev;
	addr &= ~(sys_page(mm) - 1);
	if (!mmk__sys_next_area(mm, addr, &a) || a.start <= addr)
		return a.start <= addr && a.end > addr ? 0 : MMK_EFAULT;
	if (!(a.flags & MMK_SYS_VM_GROWSDOWN))
		return MMK_EFAULT;
	if (addr < mm->mmap_min_addr)
		return MMK_EFAULT;
	/* The guard gap to an accessible area below that does not grow. */
	struct mmk_aspace_area p;
	bool have = false;
	for (mmk_vaddr_t cur = 0;
	     mmk__sys_next_area(mm, cur, &prev) && prev.end <= addr;
	     cur = prev.end) {
		p = prev;
		have = true;
	}
	if (have && !(p.flags & MMK_SYS_VM_GROWSDOWN) &&
	    (p.flags & MMK_PT_RWX) && addr - p.end < mm->stack_guard_gap)
		return MMK_ENOMEM;
	uint64_t grow = a.start - addr;
	/* acct_stack_growth: a locked stack grows within RLIMIT_MEMLOCK */
	if (!mmk__sys_lock_ok(mm, a.flags, grow))
		return MMK_ENOMEM;
	return mmk_aspace_map(mm->as, addr, grow, a.flags, false, a.backend,
			      a.offset - grow, a.priv);
}

int mmk_sys_fault(struct mmk_sys_mm *mm, uint64_t addr, uint32_t access)
{
	int err = mmk_sys_expand_stack(mm, addr);
	if (err && err != MMK_EFAULT)
		return err;
	return mmk_aspace_fault(mm->as, addr, access);
}
