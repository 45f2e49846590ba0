/* SPDX-License-Identifier: MIT */
/*
 * mremap (Linux's mm/mremap.c): shrink, grow in place, move (the
 * page-table entries move, mmk_aspace_move), MREMAP_FIXED and
 * MREMAP_DONTUNMAP, with Linux's checks in Linux's order.
 */
#include "sys_internal.h"

#define MAYMOVE	  MMK_SYS_MREMAP_MAYMOVE
#define FIXED	  MMK_SYS_MREMAP_FIXED
#define DONTUNMAP MMK_SYS_MREMAP_DONTUNMAP

/* vma_to_resize: the area holding [addr, addr + old_len) in @a, or an
 * error. */
static int64_t to_resize(struct mmk_sys_mm *mm, uint64_t addr, uint64_t old_len,
			 uint64_t new_len, struct mmk_aspace_area *a)
{
	if (!mmk_aspace_find_area(mm->as, addr, a))
		return SYS_ERR(EFAULT);
	if (!old_len)
		return SYS_ERR(EINVAL); /* "duplicate" a private mapping */
	if (old_len > a->end - addr)
		return SYS_ERR(EFAULT); /* across an area boundary */
	if (new_len == old_len)
		return 0;
	if (!(a->backend->props & MMK_BACKEND_OWNS_FRAMES))
		return SYS_ERR(EFAULT); /* VM_PFNMAP */
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
	if (tail)
		err = mmk_aspace_map(as, new_addr + old_len, tail, a->flags,
				     false, a->backend, off + old_len, a->priv);
	if (!err) {
		err = mmk_aspace_move(as, addr, old_len, new_addr,
				      (flags & DONTUNMAP) ? MMK_ASPACE_MOVE_KEEP
							  : 0);
		if (err && tail) /* a whole area: its removal cannot fail */
			(void)mmk_aspace_unmap(as, new_addr + old_len, tail);
	}
	if (err)
		return sys_fail(err);
	if (flags & DONTUNMAP)
		(void)mmk__sys_update(mm, addr, addr + old_len, unlock_flags,
				      NULL);
	if ((a->flags & MMK_SYS_VM_LOCKED) && tail)
		(void)mmk__sys_populate(mm, new_addr + old_len,
					new_addr + new_len, true);
	return (int64_t)new_addr;
}

static int64_t remap_to(struct mmk_sys_mm *mm, uint64_t addr, uint64_t old_len,
			uint64_t new_addr, uint64_t new_len, uint64_t flags)
{
	if (!sys_aligned(mm, new_addr))
		return SYS_ERR(EINVAL);
	if (new_len > mm->task_size || new_addr > mm->task_size - new_len)
		return SYS_ERR(EINVAL);
	if (addr + old_len > new_addr && new_addr + new_len > addr)
		return SYS_ERR(EINVAL); /* overlap */
	int64_t r;
	if (flags & FIXED) {
		r = mmk__sys_unmap(mm, new_addr, new_addr + new_len);
		if (r)
			return r;
	}
	if (old_len > new_len) {
		r = mmk__sys_unmap(mm, addr + new_len, addr + old_len);
		if (r)
			return r;
		old_len = new_len;
	}
	struct mmk_aspace_area a;
	r = to_resize(mm, addr, old_len, new_len, &a);
	if (r)
		return r;
	r = mmk__sys_get_area(mm, new_addr, new_len, (flags & FIXED) != 0);
	if (r < 0)
		return r;
	return move(mm, &a, addr, old_len, new_len, (uint64_t)r, flags);
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
	int err = mmk_aspace_map(mm->as, a->end, delta, a->flags, false,
				 a->backend, a->offset + (a->end - a->start),
				 a->priv);
	if (err == MMK_ERANGE)
		return false; /* past the space: move instead */
	*ret = err ? SYS_ERR(ENOMEM) : 0;
	if (!err && (a->flags & MMK_SYS_VM_LOCKED))
		(void)mmk__sys_populate(mm, a->end, end, true);
	return true;
}

int64_t mmk_sys_mremap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t old_len,
		       uint64_t new_len, uint64_t flags, uint64_t new_addr)
{
	if (flags & ~(uint64_t)(MAYMOVE | FIXED | DONTUNMAP))
		return SYS_ERR(EINVAL);
	if ((flags & FIXED) && !(flags & MAYMOVE))
		return SYS_ERR(EINVAL);
	if ((flags & DONTUNMAP) && (!(flags & MAYMOVE) || old_len != new_len))
		return SYS_ERR(EINVAL);
	if (!sys_aligned(mm, addr))
		return SYS_ERR(EINVAL);
	old_len = sys_page_align(mm, old_len);
	new_len = sys_page_align(mm, new_len);
	if (!new_len)
		return SYS_ERR(EINVAL);
	if (flags & (FIXED | DONTUNMAP))
		return remap_to(mm, addr, old_len, new_addr, new_len, flags);
	if (old_len >= new_len) { /* shrink (holes are fine, as Linux) */
		if (old_len == new_len)
			return (int64_t)addr;
		if (addr + new_len > mm->task_size ||
		    old_len - new_len > mm->task_size - (addr + new_len))
			return SYS_ERR(EINVAL);
		int64_t r = mmk__sys_unmap(mm, addr + new_len, addr + old_len);
		return r ? r : (int64_t)addr;
	}
	struct mmk_aspace_area a;
	int64_t r = to_resize(mm, addr, old_len, new_len, &a);
	if (r)
		return r;
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
