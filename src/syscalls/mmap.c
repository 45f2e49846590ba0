/* SPDX-License-Identifier: MIT */
/*
 * mmap and munmap (Linux's mm/mmap.c, mm/vma.c): argument checks in
 * Linux's order, the placement of new areas (get_unmapped_area), and the
 * seam where MAP_SHARED and files plug in.
 */
#include "sys_internal.h"

#include <mmkit/pager.h>
#include <mmkit/shm.h>

/* vm_start_gap: the lowest address a mapping ending here may reach up to
 * (the guard gap below a MAP_GROWSDOWN area). */
static mmk_vaddr_t start_gap(const struct mmk_sys_mm *mm,
			     const struct mmk_aspace_area *a)
{
	if (!(a->flags & MMK_SYS_VM_GROWSDOWN))
		return a->start;
	return a->start > mm->stack_guard_gap ? a->start - mm->stack_guard_gap
					      : 0;
}

/* Is [addr, addr + len) free, the guard gap of the area above kept? */
static bool hint_free(struct mmk_sys_mm *mm, mmk_vaddr_t addr, uint64_t len)
{
	struct mmk_aspace *as = mm->as;
	if (addr < as->base || addr > as->end || len > as->end - addr)
		return false;
	struct mmk_aspace_area a;
	return !mmk__sys_next_area(mm, addr, &a) ||
	       addr + len <= start_gap(mm, &a);
}

/* Top down below @hi: the highest fit whose end keeps the guard gap of
 * the area above it. */
static int search_down(struct mmk_sys_mm *mm, uint64_t len, mmk_vaddr_t lo,
		       mmk_vaddr_t hi, mmk_vaddr_t *out)
{
	for (;;) {
		mmk_vaddr_t x;
		int err = mmk_aspace_find_free_area_down(mm->as, hi, len, lo,
							 hi, 0, &x);
		if (err)
			return err;
		struct mmk_aspace_area a;
		if (!mmk__sys_next_area(mm, x, &a) ||
		    x + len <= start_gap(mm, &a)) {
			*out = x;
			return 0;
		}
		hi = start_gap(mm, &a); /* below the gap, and search again */
		if (hi < lo + len)
			return MMK_ENOMEM;
	}
}

static int search_up(struct mmk_sys_mm *mm, uint64_t len, mmk_vaddr_t lo,
		     mmk_vaddr_t hi, mmk_vaddr_t *out)
{
	for (;;) {
		mmk_vaddr_t x;
		int err = mmk_aspace_find_free_area(mm->as, lo, len, lo, hi, 0,
						    &x);
		if (err)
			return err;
		struct mmk_aspace_area a;
		if (!mmk__sys_next_area(mm, x, &a) ||
		    x + len <= start_gap(mm, &a)) {
			*out = x;
			return 0;
		}
		lo = a.end; /* past that area, and search again */
	}
}

int64_t mmk__sys_get_area(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			  bool fixed)
{
	uint64_t page = sys_page(mm);
	if (len > mm->task_size)
		return SYS_ERR(ENOMEM);
	if (!fixed) {
		if (len > mm->task_size - mm->mmap_min_addr)
			return SYS_ERR(ENOMEM);
		addr &= ~(page - 1);
		if (addr && addr >= mm->mmap_min_addr &&
		    addr <= mm->task_size - len && hint_free(mm, addr, len))
			return (int64_t)addr;
		mmk_vaddr_t lo = MMK_MAX(page, mm->mmap_min_addr), x;
		int err = search_down(mm, len, lo, mm->mmap_base, &x);
		if (err)
			err = search_up(mm, len, mm->unmapped_base,
					mm->task_size, &x);
		if (err)
			return SYS_ERR(ENOMEM);
		addr = x;
	}
	if (addr > mm->task_size - len)
		return SYS_ERR(ENOMEM);
	if (addr & (page - 1))
		return SYS_ERR(EINVAL);
	return (int64_t)addr;
}

/* calc_vm_flag_bits and the accounting of private writable memory. */
static uint32_t area_flags(struct mmk_sys_mm *mm, uint64_t prot, uint64_t flags)
{
	uint32_t f = mmk__sys_prot(mm, prot) | mm->def_flags;
	if (flags & MMK_SYS_MAP_GROWSDOWN)
		f |= MMK_SYS_VM_GROWSDOWN;
	if (flags & MMK_SYS_MAP_LOCKED)
		f |= MMK_SYS_VM_LOCKED;
	if (flags & MMK_SYS_MAP_NORESERVE)
		f |= MMK_SYS_VM_NORESERVE;
	else if (f & MMK_PT_WRITE)
		f |= MMK_SYS_VM_ACCOUNT; /* accountable_mapping */
	return f;
}

/* The private anonymous area, placed: MAP_FIXED replaces what is there
 * in one call; otherwise the range is free. */
static int64_t map_private(struct mmk_sys_mm *mm, mmk_vaddr_t addr,
			   uint64_t len, uint32_t f, uint64_t flags)
{
	int err =
		(flags & MMK_SYS_MAP_FIXED)
			? mmk_aspace_map_replace(mm->as, addr, len, f,
						 &mmk_backend_alloc, addr, NULL)
			: mmk_aspace_map_alloc(mm->as, addr, len, f, false);
	if (err)
		return sys_fail(err);
	if ((f & MMK_SYS_VM_LOCKED) ||
	    (flags & (MMK_SYS_MAP_POPULATE | MMK_SYS_MAP_NONBLOCK)) ==
		    MMK_SYS_MAP_POPULATE)
		(void)mmk__sys_populate(mm, addr, addr + len, true);
	return (int64_t)addr;
}

/* A shared or file area at [addr, addr + len), free or (MAP_FIXED) to be
 * replaced: like the private case, whatever is there goes in the same
 * call as the new area comes (mmk_aspace_map_replace), all or nothing --
 * a failed MAP_FIXED leaves the old mapping as it was.  @file NULL: a
 * fresh shm object, whose creator's reference is dropped once the area
 * holds its own. */
static int64_t map_shared(struct mmk_sys_mm *mm, mmk_vaddr_t addr, uint64_t len,
			  uint32_t f, uint64_t flags, struct mmk_file *file,
			  uint64_t off, bool shared)
{
	struct mmk_aspace *as = mm->as;
	struct mmk_shm *shm = NULL;
	int err;
	if (!file) {
		err = mmk_shm_create(as->frames, len, as->page_shift, &shm);
		if (err)
			return sys_fail(err);
	}
	if (!(flags & MMK_SYS_MAP_FIXED)) {
		err = shm ? mmk_aspace_map_shared(as, addr, len, f, shm, 0)
			  : mmk_aspace_map_file(as, addr, len, f, file, off,
						shared ? MMK_MAP_FILE_SHARED
						       : 0);
	} else if (shm) {
		mmk_shm_get(shm); /* the area's */
		err = mmk_aspace_map_replace(as, addr, len, f,
					     &mmk_backend_shared, 0, shm);
		if (err)
			mmk_shm_put(shm);
	} else if (file->frames != as->frames ||
		   file->page_shift != as->page_shift) {
		err = MMK_EINVAL; /* as mmk_aspace_map_file */
	} else {
		mmk_file_get(file); /* the area's */
		err = mmk_aspace_map_replace(as, addr, len, f,
					     shared ? &mmk_backend_file_shared
						    : &mmk_backend_file_private,
					     off, file);
		if (err)
			mmk_file_put(file);
	}
	if (shm)
		mmk_shm_put(shm); /* the area holds the object now */
	if (err)
		return sys_fail(err);
	if ((f & MMK_SYS_VM_LOCKED) ||
	    (flags & (MMK_SYS_MAP_POPULATE | MMK_SYS_MAP_NONBLOCK)) ==
		    MMK_SYS_MAP_POPULATE)
		(void)mmk__sys_populate(mm, addr, addr + len, true);
	return (int64_t)addr;
}

/* do_mmap's checks of a file against the mapping's type and protection
 * (after placement, as in Linux): 0 or -errno. */
static int64_t file_ok(uint64_t prot, uint64_t flags, uint32_t fmode,
		       uint32_t *f)
{
	bool shared = (flags & MMK_SYS_MAP_TYPE) != MMK_SYS_MAP_PRIVATE;
	if (shared && (prot & MMK_SYS_PROT_WRITE) &&
	    !(fmode & MMK_SYS_FMODE_WRITE))
		return SYS_ERR(EACCES);
	if (!(fmode & MMK_SYS_FMODE_READ))
		return SYS_ERR(EACCES);
	if (shared && !(fmode & MMK_SYS_FMODE_WRITE))
		*f |= MMK_SYS_VM_NOMAYWRITE;
	if (shared) /* accountable_mapping: private only */
		*f = (*f & ~(uint32_t)MMK_SYS_VM_ACCOUNT) | MMK_SYS_VM_SHARED;
	return 0;
}

/* do_mmap after the descriptor is resolved (@file NULL: anonymous). */
static int64_t do_mmap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
		       uint64_t prot, uint64_t flags, struct mmk_file *file,
		       uint32_t fmode, uint64_t off)
{
	uint64_t page = sys_page(mm);
	bool anon = (flags & MMK_SYS_MAP_ANONYMOUS) != 0;
	/* Implemented by Linux, not (yet) by mmkit: refused, not ignored. */
	if (flags & (MMK_SYS_MAP_HUGETLB | MMK_SYS_MAP_32BIT))
		return SYS_ERR(EINVAL);
	if (!len)
		return SYS_ERR(EINVAL);
	if (flags & MMK_SYS_MAP_FIXED_NOREPLACE)
		flags |= MMK_SYS_MAP_FIXED;
	if (!(flags & MMK_SYS_MAP_FIXED)) { /* round_hint_to_min */
		addr &= ~(page - 1);
		if (addr && addr < mm->mmap_min_addr)
			addr = sys_page_align(mm, mm->mmap_min_addr);
	}
	len = sys_page_align(mm, len);
	if (!len)
		return SYS_ERR(ENOMEM);
	if ((off >> 12) + (len >> 12) < (off >> 12))
		return SYS_ERR(EOVERFLOW);
	if (mmk__sys_map_count(mm) > mm->max_map_count)
		return SYS_ERR(ENOMEM);
	int64_t at = mmk__sys_get_area(mm, addr, len,
				       (flags & MMK_SYS_MAP_FIXED) != 0);
	if (at < 0)
		return at;
	addr = (uint64_t)at;
	struct mmk_aspace_area a;
	if ((flags & MMK_SYS_MAP_FIXED_NOREPLACE) &&
	    mmk__sys_next_area(mm, addr, &a) && a.start < addr + len)
		return SYS_ERR(EEXIST);
	uint32_t f = area_flags(mm, prot, flags);
	if ((flags & MMK_SYS_MAP_LOCKED) && !mm->cap_ipc_lock &&
	    mm->memlock_limit == 0)
		return SYS_ERR(EPERM); /* can_do_mlock */
	if (!mmk__sys_lock_ok(mm, f, len))
		return SYS_ERR(EAGAIN);
	uint64_t type = flags & MMK_SYS_MAP_TYPE;
	switch (type) {
	case MMK_SYS_MAP_SHARED:
		if (anon && (f & MMK_SYS_VM_GROWSDOWN))
			return SYS_ERR(EINVAL);
		break;
	case MMK_SYS_MAP_SHARED_VALIDATE:
		if (anon)
			return SYS_ERR(EINVAL); /* not a type for anonymous */
		break;
	case MMK_SYS_MAP_PRIVATE:
		if (anon)
			return map_private(mm, addr, len, f, flags);
		break;
	default:
		return SYS_ERR(EINVAL);
	}
	if (anon) /* shared anonymous: not accounted, as shmem's */
		return map_shared(mm, addr, len,
				  (f & ~(uint32_t)MMK_SYS_VM_ACCOUNT) |
					  MMK_SYS_VM_SHARED,
				  flags, NULL, 0, true);
	int64_t r = file_ok(prot, flags, fmode, &f);
	if (r)
		return r;
	return map_shared(mm, addr, len, f, flags, file, off,
			  type != MMK_SYS_MAP_PRIVATE);
}

int64_t mmk_sys_mmap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
		     uint64_t prot, uint64_t flags, int fd, uint64_t off)
{
	if (off & (sys_page(mm) - 1))
		return SYS_ERR(EINVAL);
	if (flags & MMK_SYS_MAP_ANONYMOUS)
		return do_mmap(mm, addr, len, prot, flags, NULL, 0, off);
	/* ksys_mmap_pgoff: the descriptor first (fget: EBADF). */
	if (!mm->shared || !mm->shared->get_file)
		return SYS_ERR(EBADF); /* no file table behind this layer */
	struct mmk_file *file = NULL;
	uint32_t fmode = 0;
	int err = mm->shared->get_file(mm, fd, &file, &fmode);
	if (err)
		return err < 0 ? err : SYS_ERR(EBADF);
	if (!file)
		return SYS_ERR(ENODEV); /* no f_op->mmap */
	int64_t r = do_mmap(mm, addr, len, prot, flags, file, fmode, off);
	mmk_file_put(file); /* each area holds its own */
	return r;
}

/* do_vmi_munmap after the checks: the part inside the space goes. */
int64_t mmk__sys_unmap(struct mmk_sys_mm *mm, mmk_vaddr_t start,
		       mmk_vaddr_t end)
{
	struct mmk_aspace *as = mm->as;
	start = MMK_MAX(start, as->base);
	end = MMK_MIN(end, as->end);
	if (start >= end)
		return 0;
	struct mmk_aspace_area a;
	if (mmk__sys_next_area(mm, start, &a) && a.start < start &&
	    a.end > end && mmk__sys_map_count(mm) >= mm->max_map_count)
		return SYS_ERR(ENOMEM); /* a split past the limit */
	int err = mmk_aspace_unmap(as, start, end - start);
	return err ? sys_fail(err) : 0;
}

int64_t mmk_sys_munmap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len)
{
	if (!sys_aligned(mm, addr) || addr > mm->task_size ||
	    len > mm->task_size - addr)
		return SYS_ERR(EINVAL);
	len = sys_page_align(mm, len);
	if (!len)
		return SYS_ERR(EINVAL);
	return mmk__sys_unmap(mm, addr, addr + len);
}
