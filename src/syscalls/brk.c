/* SPDX-License-Identifier: MIT */
/*
 * brk (Linux's mm/mmap.c): the heap [start_brk, brk) grows and shrinks at
 * its top; a refused change returns the old break, as Linux's does.  The
 * heap is an alloc area that merges with the one below it, so it stays one
 * area however often it grows.
 */
#include "sys_internal.h"

int64_t mmk_sys_brk(struct mmk_sys_mm *mm, uint64_t brk)
{
	uint64_t old = mm->brk;
	if (brk < mm->start_brk)
		return (int64_t)old;
	uint64_t newbrk = sys_page_align(mm, brk);
	uint64_t oldbrk = sys_page_align(mm, old);
	if (newbrk == oldbrk) {
		mm->brk = brk;
		return (int64_t)brk;
	}
	if (brk <= old) { /* always allow shrinking */
		if (mmk__sys_unmap(mm, newbrk, oldbrk))
			return (int64_t)old;
		mm->brk = brk;
		return (int64_t)brk;
	}
	if (!newbrk || newbrk > mm->task_size ||
	    !mmk__sys_lock_ok(mm, mm->def_flags, newbrk - oldbrk))
		return (int64_t)old; /* check_brk_limits */
	struct mmk_aspace_area next;
	if (mmk__sys_next_area(mm, oldbrk, &next)) {
		mmk_vaddr_t gap = next.start;
		if (next.flags & MMK_SYS_VM_GROWSDOWN)
			gap = gap > mm->stack_guard_gap
				      ? gap - mm->stack_guard_gap
				      : 0;
		if (newbrk + sys_page(mm) > gap)
			return (int64_t)old;
	}
	if (mmk__sys_map_count(mm) > mm->max_map_count)
		return (int64_t)old;
	uint32_t f =
		mm->page_flags | MMK_PT_RW | MMK_SYS_VM_ACCOUNT | mm->def_flags;
	if (mmk_aspace_map_alloc(mm->as, oldbrk, newbrk - oldbrk, f, false))
		return (int64_t)old;
	mm->brk = brk;
	if (mm->def_flags & MMK_SYS_VM_LOCKED)
		(void)mmk__sys_populate(mm, oldbrk, newbrk, true);
	return (int64_t)brk;
}
