/* SPDX-License-Identifier: MIT */
/*
 * madvise (Linux's mm/madvise.c).  Linux walks the areas of the range,
 * applies the advice to each and answers ENOMEM at the end if it met a
 * hole; so does this file.  MADV_POPULATE_* fault the range in up to the
 * first hole (ENOMEM) or area they may not populate (EINVAL).
 */
#include "sys_internal.h"

#include <mmkit/pager.h>
#include <mmkit/shm.h>

static bool advice_known(int64_t adv)
{
	switch (adv) {
	case MMK_SYS_MADV_NORMAL:
	case MMK_SYS_MADV_WILLNEED:
	case MMK_SYS_MADV_DONTNEED:
	case MMK_SYS_MADV_FREE:
	case MMK_SYS_MADV_REMOVE:
	case MMK_SYS_MADV_DONTFORK:
	case MMK_SYS_MADV_DOFORK:
	case MMK_SYS_MADV_POPULATE_READ:
	case MMK_SYS_MADV_POPULATE_WRITE:
		return true;
	default:
		/* RANDOM, SEQUENTIAL, HUGEPAGE, COLD, PAGEOUT, ...: Linux
		 * implements them, mmkit does not; refused as unknown. */
		return false;
	}
}

static uint32_t fork_flags(uint32_t old, void *arg)
{
	return *(const bool *)arg ? old | MMK_SYS_VM_DONTCOPY
				  : old & ~(uint32_t)MMK_SYS_VM_DONTCOPY;
}

/* The next area of a space over [off, end) of one object: the part of it
 * there. */
struct obj_part {
	void *obj;
	uint64_t off, end;
	mmk_vaddr_t va, area_end;
	uint64_t len;
};

static int next_obj_part(const struct mmk_aspace_area *a, void *arg)
{
	struct obj_part *u = arg;
	if (a->backend != &mmk_backend_shared || a->priv != u->obj)
		return 0;
	uint64_t lo = MMK_MAX(u->off, a->offset);
	uint64_t hi = MMK_MIN(u->end, a->offset + (a->end - a->start));
	if (lo >= hi)
		return 0;
	u->va = a->start + (lo - a->offset);
	u->len = hi - lo;
	u->area_end = a->end;
	return 1;
}

/*
 * madvise_remove: punch [s, e) out of the object or file behind a shared
 * writable-capable area (private anonymous memory has none: EINVAL; a
 * private or read-only file mapping: EACCES).  The pages go from this
 * space first, then from the object; later reads see zeros.  Files: no
 * pager call punches holes, so Linux's answer for a file system without
 * fallocate (EOPNOTSUPP).
 */
static int64_t madv_remove(struct mmk_sys_mm *mm,
			   const struct mmk_aspace_area *a, mmk_vaddr_t s,
			   mmk_vaddr_t e)
{
	if (a->flags & MMK_SYS_VM_LOCKED)
		return SYS_ERR(EINVAL);
	bool shm = a->backend == &mmk_backend_shared;
	if (!shm && a->backend != &mmk_backend_file_shared &&
	    a->backend != &mmk_backend_file_private)
		return SYS_ERR(EINVAL); /* no file behind it */
	if (!(a->flags & MMK_SYS_VM_SHARED) ||
	    (a->flags & MMK_SYS_VM_NOMAYWRITE))
		return SYS_ERR(EACCES); /* vma_is_shared_maywrite */
	if (!shm)
		return SYS_ERR(EOPNOTSUPP);
	/* unmap_mapping_range: every area of this space over the punched
	 * part of the object loses its pages there (a duplicate by mremap,
	 * what MREMAP_DONTUNMAP left), so the pages can go */
	struct obj_part u = {a->priv, a->offset + (s - a->start), 0, 0, 0, 0};
	u.end = u.off + (e - s);
	for (mmk_vaddr_t cur = 0;
	     mmk_aspace_foreach_area(mm->as, cur, next_obj_part, &u) == 1;
	     cur = u.area_end)
		if (mmk_aspace_zap(mm->as, u.va, u.len))
			return SYS_ERR(ENOMEM);
	int err = mmk_shm_punch(a->priv, u.off, e - s);
	return err ? sys_fail(err) : 0;
}

/* The advice on [s, e), part of area @a.  0 or an mmkit error. */
static int64_t advise_part(struct mmk_sys_mm *mm,
			   const struct mmk_aspace_area *a, mmk_vaddr_t s,
			   mmk_vaddr_t e, int64_t adv)
{
	bool priv = (a->backend->props & MMK_BACKEND_OWNS_FRAMES) != 0;
	bool dontfork = adv == MMK_SYS_MADV_DONTFORK;
	switch (adv) {
	case MMK_SYS_MADV_DONTNEED:
	case MMK_SYS_MADV_FREE:
		/* can_madv_lru_vma: not locked, not VM_PFNMAP.  FREE keeps
		 * the pages: the kernel may take them, mmkit never does. */
		if ((a->flags & MMK_SYS_VM_LOCKED) || !priv)
			return SYS_ERR(EINVAL);
		if (adv == MMK_SYS_MADV_FREE) /* vma_is_anonymous only */
			return a->backend == &mmk_backend_alloc
				       ? 0
				       : SYS_ERR(EINVAL);
		return mmk_aspace_zap(mm->as, s, e - s) ? SYS_ERR(ENOMEM) : 0;
	case MMK_SYS_MADV_REMOVE:
		return madv_remove(mm, a, s, e);
	case MMK_SYS_MADV_DONTFORK:
	case MMK_SYS_MADV_DOFORK: {
		int err = mmk__sys_update(mm, s, e, fork_flags, &dontfork);
		return err ? sys_fail(err) : 0;
	}
	default: /* NORMAL, WILLNEED (no swap to read back) */
		return 0;
	}
}

/* madvise_populate: up to the first hole or unfit area. */
static int64_t populate(struct mmk_sys_mm *mm, mmk_vaddr_t start,
			mmk_vaddr_t end, bool write)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start > cur)
			return SYS_ERR(ENOMEM);
		uint32_t need = write ? MMK_PT_WRITE : MMK_PT_READ;
		if (!(a.flags & need) ||
		    !(a.backend->props & MMK_BACKEND_OWNS_FRAMES))
			return SYS_ERR(EINVAL);
		mmk_vaddr_t e = MMK_MIN(a.end, end);
		int err = mmk__sys_fault_in(mm, &a, cur, e,
					    write ? MMK_ACCESS_WRITE
						  : MMK_ACCESS_READ);
		if (err == MMK_EACCES)
			return SYS_ERR(EINVAL);
		if (err == MMK_ERANGE || err == MMK_EFAULT)
			return SYS_ERR(EFAULT); /* SIGBUS: past the object */
		if (err)
			return SYS_ERR(ENOMEM);
	}
	return 0;
}

int64_t mmk_sys_madvise(struct mmk_sys_mm *mm, uint64_t start, uint64_t len_in,
			int64_t adv)
{
	if (!advice_known(adv))
		return SYS_ERR(EINVAL);
	if (!sys_aligned(mm, start))
		return SYS_ERR(EINVAL);
	uint64_t len = sys_page_align(mm, len_in);
	if (len_in && !len)
		return SYS_ERR(EINVAL);
	uint64_t end = start + len;
	if (end < start)
		return SYS_ERR(EINVAL);
	if (end == start)
		return 0;
	if (adv == MMK_SYS_MADV_POPULATE_READ ||
	    adv == MMK_SYS_MADV_POPULATE_WRITE)
		return populate(mm, start, end,
				adv == MMK_SYS_MADV_POPULATE_WRITE);
	int64_t unmapped = 0;
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end;) {
		if (!mmk__sys_next_area(mm, cur, &a))
			return SYS_ERR(ENOMEM);
		if (a.start > cur) {
			unmapped = SYS_ERR(ENOMEM);
			cur = a.start;
			if (cur >= end)
				break;
		}
		mmk_vaddr_t e = MMK_MIN(a.end, end);
		int64_t r = advise_part(mm, &a, cur, e, adv);
		if (r)
			return r;
		cur = e;
	}
	return unmapped;
}

/* ------------------------------------------------------------ mincore */
struct resident {
	mmk_vaddr_t start;
	unsigned shift;
	unsigned char *vec;
};

static int mark_resident(void *ctx, const struct mmk_pt_leaf *l)
{
	struct resident *r = ctx;
	mmk_vaddr_t s = MMK_MAX(l->va, r->start);
	for (mmk_vaddr_t va = s; va < l->va + l->size; va += 1ull << r->shift)
		r->vec[(va - r->start) >> r->shift] = 1;
	return 0;
}

/* Is page @va of @a in the object or file behind it (mincore_page: a
 * file area's page the cache holds, mapped here or not)? */
static bool in_cache(const struct mmk_aspace_area *a, mmk_vaddr_t va)
{
	uint64_t off = a->offset + (va - a->start);
	if (a->backend == &mmk_backend_shared)
		return mmk_shm_has_page(a->priv, off);
	if (a->backend != &mmk_backend_file_shared &&
	    a->backend != &mmk_backend_file_private)
		return false;
	struct mmk_file *f = a->priv;
	mmk_paddr_t pa;
	if (f->ops->get_page(f, off >> f->page_shift, MMK_PAGER_CACHED, &pa))
		return false;
	(void)mmk_frame_put(f->frames, pa);
	return true;
}

void mmk__sys_resident(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
		       mmk_vaddr_t start, uint64_t n, unsigned char *vec)
{
	unsigned shift = mm->as->page_shift;
	__builtin_memset(vec, 0, n);
	struct resident r = {start, shift, vec};
	(void)mmk_aspace_walk_pages(mm->as, start, n << shift, mark_resident,
				    &r);
	if (!(a->backend->props & MMK_BACKEND_SHOW_OFFSET))
		return; /* anonymous: what is mapped */
	for (uint64_t i = 0; i < n; i++)
		if (!vec[i] && in_cache(a, start + (i << shift)))
			vec[i] = 1;
}

#define MINCORE_CHUNK 256 /* bytes of vec per copy to user memory */

/* copy_to_user: page by page, so the bytes before a bad page are written
 * as Linux writes them. */
static int copy_out(struct mmk_sys_mm *mm, uint64_t va, const uint8_t *buf,
		    uint64_t n)
{
	while (n) {
		uint64_t k = sys_page(mm) - (va & (sys_page(mm) - 1));
		k = MMK_MIN(k, n);
		(void)mmk_sys_expand_stack(mm, va);
		if (mmk_aspace_write(mm->as, va, buf, k))
			return MMK_EFAULT;
		va += k;
		buf += k;
		n -= k;
	}
	return 0;
}

int64_t mmk_sys_mincore(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
			uint64_t vec)
{
	if (!sys_aligned(mm, start))
		return SYS_ERR(EINVAL);
	if (start > mm->task_size || len > mm->task_size - start)
		return SYS_ERR(ENOMEM); /* access_ok */
	unsigned shift = mm->as->page_shift;
	uint64_t pages = (len >> shift) + ((len & (sys_page(mm) - 1)) != 0);
	if (vec > mm->task_size || pages > mm->task_size - vec)
		return SYS_ERR(EFAULT);
	unsigned char buf[MINCORE_CHUNK];
	while (pages) {
		struct mmk_aspace_area a;
		if (!mmk__sys_next_area(mm, start, &a) || a.start > start)
			return SYS_ERR(ENOMEM);
		/* one area at a time, as Linux copies out vma by vma (what a
		 * copy faults in shows in the next chunk's bytes) */
		uint64_t n = MMK_MIN(pages, (uint64_t)MINCORE_CHUNK);
		n = MMK_MIN(n, (a.end - start) >> shift);
		mmk__sys_resident(mm, &a, start, n, buf);
		if (copy_out(mm, vec, buf, n))
			return SYS_ERR(EFAULT);
		pages -= n;
		start += n << shift;
		vec += n;
	}
	return 0;
}

/* -------------------------------------------------------------- msync */
int64_t mmk_sys_msync(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
		      uint64_t flags)
{
	if (flags & ~(uint64_t)(MMK_SYS_MS_ASYNC | MMK_SYS_MS_INVALIDATE |
				MMK_SYS_MS_SYNC))
		return SYS_ERR(EINVAL);
	if (!sys_aligned(mm, start))
		return SYS_ERR(EINVAL);
	if ((flags & MMK_SYS_MS_ASYNC) && (flags & MMK_SYS_MS_SYNC))
		return SYS_ERR(EINVAL);
	len = (len + sys_page(mm) - 1) & ~(sys_page(mm) - 1);
	uint64_t end = start + len;
	if (end < start)
		return SYS_ERR(ENOMEM);
	if (end == start)
		return 0;
	int64_t unmapped = 0;
	struct mmk_aspace_area a;
	for (;;) {
		if (!mmk__sys_next_area(mm, start, &a))
			return SYS_ERR(ENOMEM);
		if (start < a.start) {
			if (flags == MMK_SYS_MS_ASYNC)
				return SYS_ERR(ENOMEM);
			start = a.start;
			if (start >= end)
				return SYS_ERR(ENOMEM);
			unmapped = SYS_ERR(ENOMEM);
		}
		if ((flags & MMK_SYS_MS_INVALIDATE) &&
		    (a.flags & MMK_SYS_VM_LOCKED))
			return SYS_ERR(EBUSY);
		/* vfs_fsync_range of shared file areas (MS_SYNC only: MS_ASYNC
		 * is a no-op in Linux); anonymous memory has no file. */
		mmk_vaddr_t s = start, e = MMK_MIN(a.end, end);
		start = a.end;
		if ((flags & MMK_SYS_MS_SYNC) &&
		    a.backend == &mmk_backend_file_shared) {
			int err = mmk_aspace_sync(mm->as, s, e - s);
			if (err)
				return sys_fail(err);
		}
		if (start >= end)
			return unmapped;
	}
}
