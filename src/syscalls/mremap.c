/* SPDX-License-Identifier: MIT */
/*
 * mremap (Linux's mm/mremap.c): shrink, grow in place, move (the
 * page-table entries move, mmk_aspace_move), MREMAP_FIXED and
 * MREMAP_DONTUNMAP, with Linux's checks in Linux's order.
 */
#include "sys_internal.h"

#include <mmkit/pager.h>
#include <mmkit/shm.h>

#define MAYMOVE	  MMK_SYS_MREMAP_MAYMOVE
#define FIXED	  MMK_SYS_MREMAP_FIXED
#define DONTUNMAP MMK_SYS_MREMAP_DONTUNMAP

/*
 * check_prep_vma (Linux 6.16 on): the source area is looked up, and every
 * check on it made, before anything changes.  @will_map: the call expands
 * or moves.  @old_len is the length the area must hold.
 */
static int64_t check_area(struct mmk_sys_mm *mm, uint64_t addr,
			  uint64_t old_len, uint64_t new_len, uint64_t flags,
			  bool will_map, struct mmk_aspace_area *a)
{
	if (!mmk_aspace_find_area(mm->as, addr, a))
		return SYS_ERR(EFAULT);
	if (!will_map)
		return 0;
	bool pfnmap = !(a->backend->props & MMK_BACKEND_OWNS_FRAMES);
	/* old_len 0 "duplicates" a shared mapping (a second area over the
	 * same object or file); of a private one it would be a fresh one */
	if (!old_len && !(a->flags & MMK_SYS_VM_SHARED))
		return SYS_ERR(EINVAL);
	if ((flags & DONTUNMAP) && pfnmap)
		return SYS_ERR(EINVAL);
	/* The part a shrink unmaps may cross area boundaries. */
	if (MMK_MIN(old_len, new_len) > a->end - addr)
		return SYS_ERR(EFAULT); /* across an area boundary */
	if (new_len <= old_len)
		return 0;
	uint64_t pgoff = (a->offset + (addr - a->start)) >> mm->as->page_shift;
	if (pgoff + (new_len >> mm->as->page_shift) < pgoff)
		return SYS_ERR(EINVAL);
	if (pfnmap)
		return SYS_ERR(EFAULT);
	/* The grown part of a shared or file area maps the object or file
	 * further on (its size unchanged: past the end a fault fails, as
	 * Linux's SIGBUS); areas of other backends (the kernel's own) are
	 * not extended. */
	if (a->backend != &mmk_backend_alloc &&
	    a->backend != &mmk_backend_shared &&
	    a->backend != &mmk_backend_file_shared &&
	    a->backend != &mmk_backend_file_private)
		return SYS_ERR(ENOMEM);
	if (!mmk__sys_lock_ok(mm, a->flags, new_len - old_len))
		return SYS_ERR(EAGAIN);
	return 0;
}

/* Drop the lock attributes of the old range (DONTUNMAP). */
static uint32_t unlock_flags(uint32_t old, void *arg)
{
	(void)arg;
	return old & ~(uint32_t)MMK_SYS_VM_LOCKED_MASK;
}

/* move_vma: [addr, addr + old_len) of @a to new_addr, new_len long. */
static int64_t move(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
		    uint64_t addr, uint64_t old_len, uint64_t new_len,
		    uint64_t new_addr, uint64_t flags)
{
	struct mmk_aspace *as = mm->as;
	if (mmk__sys_map_count(mm) + 3 >= mm->max_map_count)
		return SYS_ERR(ENOMEM);
	uint64_t tail = new_len - old_len; /* grown part: a fresh extension */
	uint64_t off = a->offset + (addr - a->start);
	int err = 0;
	if (tail) { /* the grown part's area holds its own reference */
		(void)mmk__sys_hold(a);
		err = mmk_aspace_map(as, new_addr + old_len, tail, a->flags,
				     false, a->backend, off + old_len, a->priv);
		if (err)
			mmk__sys_unhold(a);
	}
	if (!err && old_len) { /* old_len 0: a duplicate, nothing moves */
		err = mmk_aspace_move(as, addr, old_len, new_addr,
				      (flags & DONTUNMAP) ? MMK_ASPACE_MOVE_KEEP
							  : 0);
		if (err && tail) /* a whole area: its removal cannot fail */
			(void)mmk_aspace_unmap(as, new_addr + old_len, tail);
	}
	if (err)
		return sys_fail(err);
	/* Linux clears the lock of the whole old area, not only of the part
	 * that moved (move_vma does not split it for DONTUNMAP). */
	struct mmk_aspace_area old;
	if ((flags & DONTUNMAP) && mmk_aspace_find_area(as, addr, &old))
		(void)mmk__sys_update(mm, old.start, old.end, unlock_flags,
				      NULL);
	if ((a->flags & MMK_SYS_VM_LOCKED) && tail)
		(void)mmk__sys_populate(mm, new_addr + old_len,
					new_addr + new_len, true);
	return (int64_t)new_addr;
}

/* mremap_to: MREMAP_FIXED (the target unmapped first) or DONTUNMAP. */
static int64_t remap_to(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
			uint64_t addr, uint64_t old_len, uint64_t new_addr,
			uint64_t new_len, uint64_t flags)
{
	int64_t r;
	struct mmk_aspace_area now;
	if (flags & FIXED) {
		r = mmk__sys_unmap(mm, new_addr, new_addr + new_len);
		if (r)
			return r;
		/* the unmap may have cut or removed the source area (old_len
		 * 0: the target may hold addr): look it up again, as Linux */
		if (!mmk_aspace_find_area(mm->as, addr, &now))
			return SYS_ERR(EFAULT);
		a = &now;
	}
	if (old_len > new_len) {
		r = mmk__sys_unmap(mm, addr + new_len, addr + old_len);
		if (r)
			return r;
		old_len = new_len;
	}
	r = mmk__sys_get_area(mm, new_addr, new_len, (flags & FIXED) != 0);
	if (r < 0)
		return r;
	return move(mm, a, addr, old_len, new_len, (uint64_t)r, flags);
}

/* vma_expandable + the expansion: [a.end, a.end + delta) joins @a. */
static bool grow_in_place(struct mmk_sys_mm *mm,
			  const struct mmk_aspace_area *a, uint64_t delta,
			  int64_t *ret)
{
	mmk_vaddr_t end = a->end + delta;
	struct mmk_aspace_area n;
	if (end < a->end || end > mm->task_size ||
	    (mmk__sys_next_area(mm, a->end, &n) && n.start < end))
		return false;
	(void)mmk__sys_hold(a); /* the new part's reference (it merges) */
	int err = mmk_aspace_map(mm->as, a->end, delta, a->flags, false,
				 a->backend, a->offset + (a->end - a->start),
				 a->priv);
	if (err)
		mmk__sys_unhold(a);
	if (err == MMK_ERANGE)
		return false; /* past the space: move instead */
	*ret = err ? SYS_ERR(ENOMEM) : 0;
	if (!err && (a->flags & MMK_SYS_VM_LOCKED))
		(void)mmk__sys_populate(mm, a->end, end, true);
	return true;
}

/*
 * remap_move (Linux 6.17 on): MREMAP_FIXED without a change of length
 * moves every area of [addr, addr + len) (no hole at its start), each to
 * the same offset from new_addr, keeping the holes between them.
 */
static int64_t remap_move(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			  uint64_t new_addr, uint64_t flags)
{
	uint64_t end = addr + len;
	int64_t res = SYS_ERR(EFAULT);
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = addr; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			break;
		if (cur == addr && a.start > addr)
			return SYS_ERR(EFAULT); /* a hole at the start */
		uint64_t s = MMK_MAX(a.start, cur), n = MMK_MIN(end, a.end) - s;
		uint64_t to = new_addr + (s - addr);
		int64_t r = check_area(mm, s, n, n, flags, true, &a);
		if (!r)
			r = remap_to(mm, &a, s, n, to, n, flags);
		if (r < 0)
			return r;
		if (cur == addr)
			res = r;
	}
	return res;
}

/* check_mremap_params: the arguments alone. */
static int64_t check_params(struct mmk_sys_mm *mm, uint64_t addr,
			    uint64_t old_len, uint64_t new_len, uint64_t flags,
			    uint64_t new_addr)
{
	if (flags & ~(uint64_t)(MAYMOVE | FIXED | DONTUNMAP))
		return SYS_ERR(EINVAL);
	if (!sys_aligned(mm, addr) || !new_len)
		return SYS_ERR(EINVAL);
	if (!(flags & (FIXED | DONTUNMAP)))
		return 0;
	if (!sys_aligned(mm, new_addr) || !(flags & MAYMOVE))
		return SYS_ERR(EINVAL);
	if ((flags & DONTUNMAP) && old_len != new_len)
		return SYS_ERR(EINVAL);
	if (new_len > mm->task_size || new_addr > mm->task_size - new_len)
		return SYS_ERR(EINVAL);
	if (addr + old_len > new_addr && new_addr + new_len > addr)
		return SYS_ERR(EINVAL); /* overlap */
	if (mmk__sys_map_count(mm) + 2 >= mm->max_map_count - 3)
		return SYS_ERR(ENOMEM);
	return 0;
}

int64_t mmk_sys_mremap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t old_len,
		       uint64_t new_len, uint64_t flags, uint64_t new_addr)
{
	old_len = sys_page_align(mm, old_len);
	new_len = sys_page_align(mm, new_len);
	int64_t r = check_params(mm, addr, old_len, new_len, flags, new_addr);
	if (r)
		return r;
	if ((flags & FIXED) && old_len == new_len)
		return remap_move(mm, addr, old_len, new_addr, flags);
	bool to = (flags & (FIXED | DONTUNMAP)) != 0;
	struct mmk_aspace_area a;
	r = check_area(mm, addr, old_len, new_len, flags,
		       to || new_len > old_len, &a);
	if (r)
		return r;
	if (to)
		return remap_to(mm, &a, addr, old_len, new_addr, new_len,
				flags);
	if (old_len >= new_len) { /* shrink, or nothing to do */
		if (old_len > new_len) {
			r = mmk__sys_unmap(mm, addr + new_len, addr + old_len);
			if (r)
				return r;
		}
		return (int64_t)addr;
	}
	if (old_len == a.end - addr &&
	    grow_in_place(mm, &a, new_len - old_len, &r))
		return r ? r : (int64_t)addr;
	if (!(flags & MAYMOVE))
		return SYS_ERR(ENOMEM);
	r = mmk__sys_get_area(mm, 0, new_len, false);
	if (r < 0)
		return r;
	return move(mm, &a, addr, old_len, new_len, (uint64_t)r, flags);
}
