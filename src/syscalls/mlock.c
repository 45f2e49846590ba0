/* SPDX-License-Identifier: MIT */
/*
 * mlock, mlock2, munlock, mlockall, munlockall (Linux's mm/mlock.c).
 * Locking is an area attribute (VM_LOCKED, VM_LOCKONFAULT) and a populate;
 * mmkit never pages anything out, so locked memory simply stays.  A range
 * with a hole fails with ENOMEM before anything changes (Linux locks the
 * areas before the hole first).
 */
#include "sys_internal.h"

static uint32_t lock_flags(uint32_t old, void *arg)
{
	return (old & ~(uint32_t)MMK_SYS_VM_LOCKED_MASK) | *(uint32_t *)arg;
}

static bool can_do_mlock(const struct mmk_sys_mm *mm)
{
	return mm->memlock_limit != 0 || mm->cap_ipc_lock;
}

/* apply_vma_lock_flags over [start, start + len) (aligned). */
static int apply(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
		 uint32_t flags)
{
	uint64_t end = start + len;
	if (end < start)
		return MMK_EINVAL;
	if (end == start)
		return 0;
	if (!mmk__sys_covered(mm, start, end))
		return MMK_ENOMEM;
	return mmk__sys_update(mm, start, end, lock_flags, &flags);
}

static int64_t do_mlock(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
			uint32_t flags)
{
	if (!can_do_mlock(mm))
		return SYS_ERR(EPERM);
	uint64_t page = sys_page(mm);
	uint64_t off = start & (page - 1);
	len = sys_page_align(mm, len + off);
	start -= off;
	if (!mm->cap_ipc_lock) {
		uint64_t locked = mmk__sys_locked(mm, 0, UINT64_MAX) + len;
		if (locked > mm->memlock_limit)
			locked -= mmk__sys_locked(mm, start, start + len);
		if (locked > mm->memlock_limit)
			return SYS_ERR(ENOMEM);
	}
	int err = apply(mm, start, len, flags);
	if (err)
		return err == MMK_EINVAL ? SYS_ERR(EINVAL) : SYS_ERR(ENOMEM);
	/* __mlock_posix_error_return: EFAULT -> ENOMEM, ENOMEM -> EAGAIN */
	err = mmk__sys_populate(mm, start, start + len, false);
	if (err)
		return err == MMK_ENOMEM ? SYS_ERR(EAGAIN) : SYS_ERR(ENOMEM);
	return 0;
}

int64_t mmk_sys_mlock(struct mmk_sys_mm *mm, uint64_t start, uint64_t len)
{
	return do_mlock(mm, start, len, MMK_SYS_VM_LOCKED);
}

int64_t mmk_sys_mlock2(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
		       uint64_t flags)
{
	if (flags & ~(uint64_t)MMK_SYS_MLOCK_ONFAULT)
		return SYS_ERR(EINVAL);
	uint32_t f = MMK_SYS_VM_LOCKED;
	if (flags & MMK_SYS_MLOCK_ONFAULT)
		f |= MMK_SYS_VM_LOCKONFAULT;
	return do_mlock(mm, start, len, f);
}

int64_t mmk_sys_munlock(struct mmk_sys_mm *mm, uint64_t start, uint64_t len)
{
	uint64_t off = start & (sys_page(mm) - 1);
	len = sys_page_align(mm, len + off);
	start -= off;
	int err = apply(mm, start, len, 0);
	if (err)
		return err == MMK_EINVAL ? SYS_ERR(EINVAL) : SYS_ERR(ENOMEM);
	return 0;
}

/* apply_mlockall_flags: the future default, then every area (errors on
 * single areas are ignored, as Linux ignores them). */
static void apply_all(struct mmk_sys_mm *mm, uint64_t flags)
{
	uint32_t to = 0;
	mm->def_flags &= ~(uint32_t)MMK_SYS_VM_LOCKED_MASK;
	if (flags & MMK_SYS_MCL_FUTURE) {
		mm->def_flags |= MMK_SYS_VM_LOCKED;
		if (flags & MMK_SYS_MCL_ONFAULT)
			mm->def_flags |= MMK_SYS_VM_LOCKONFAULT;
		if (!(flags & MMK_SYS_MCL_CURRENT))
			return;
	}
	if (flags & MMK_SYS_MCL_CURRENT) {
		to = MMK_SYS_VM_LOCKED;
		if (flags & MMK_SYS_MCL_ONFAULT)
			to |= MMK_SYS_VM_LOCKONFAULT;
	}
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = 0; mmk__sys_next_area(mm, cur, &a); cur = a.end)
		(void)mmk__sys_update(mm, a.start, a.end, lock_flags, &to);
}

int64_t mmk_sys_mlockall(struct mmk_sys_mm *mm, uint64_t flags)
{
	if (!flags ||
	    (flags & ~(uint64_t)(MMK_SYS_MCL_CURRENT | MMK_SYS_MCL_FUTURE |
				 MMK_SYS_MCL_ONFAULT)) ||
	    flags == MMK_SYS_MCL_ONFAULT)
		return SYS_ERR(EINVAL);
	if (!can_do_mlock(mm))
		return SYS_ERR(EPERM);
	struct mmk_aspace *as = mm->as;
	uint64_t total = 0;
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = 0; mmk__sys_next_area(mm, cur, &a); cur = a.end)
		total += a.end - a.start;
	if ((flags & MMK_SYS_MCL_CURRENT) && !mm->cap_ipc_lock &&
	    total > mm->memlock_limit)
		return SYS_ERR(ENOMEM);
	apply_all(mm, flags);
	if (flags & MMK_SYS_MCL_CURRENT)
		(void)mmk__sys_populate(mm, as->base, as->end, true);
	return 0;
}

int64_t mmk_sys_munlockall(struct mmk_sys_mm *mm)
{
	apply_all(mm, 0);
	return 0;
}
