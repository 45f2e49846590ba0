/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the system calls (src/syscalls): page arithmetic,
 * walking a process's areas, the placement of new areas, populating as
 * Linux's __mm_populate.  Every helper runs under the caller's
 * serialization of the process's calls (syscalls.h, "Locking").
 */
#ifndef MMK_SYS_INTERNAL_H
#define MMK_SYS_INTERNAL_H

#include <mmkit/backend.h>
#include <mmkit/syscalls.h>

#define SYS_ERR(e) (-(int64_t)(MMK_SYS_##e))

static inline uint64_t sys_page(const struct mmk_sys_mm *mm)
{
	return mm->as->page_size;
}

static inline bool sys_aligned(const struct mmk_sys_mm *mm, uint64_t x)
{
	return (x & (sys_page(mm) - 1)) == 0;
}

/* PAGE_ALIGN: 0 when it wraps (Linux's callers test for that). */
static inline uint64_t sys_page_align(const struct mmk_sys_mm *mm, uint64_t x)
{
	return (x + sys_page(mm) - 1) & ~(sys_page(mm) - 1);
}

/* An mmkit error as a return value: -errno. */
static inline int64_t sys_fail(int mmk_err)
{
	return -(int64_t)mmk_sys_errno(mmk_err);
}

/* The first area ending above @addr; false if none. */
bool mmk__sys_next_area(struct mmk_sys_mm *mm, mmk_vaddr_t addr,
			struct mmk_aspace_area *out);

/* True if areas cover every byte of [start, end) (start < end). */
bool mmk__sys_covered(struct mmk_sys_mm *mm, mmk_vaddr_t start,
		      mmk_vaddr_t end);

/* Areas now (vmas: Linux's map_count). */
size_t mmk__sys_map_count(struct mmk_sys_mm *mm);

/* Bytes in areas with VM_LOCKED (mm->locked_vm), and those of them
 * inside [start, end). */
uint64_t mmk__sys_locked(struct mmk_sys_mm *mm, mmk_vaddr_t start,
			 mmk_vaddr_t end);

/* mlock_future_ok: may @len more bytes be locked (if @flags lock)? */
bool mmk__sys_lock_ok(struct mmk_sys_mm *mm, uint32_t flags, uint64_t len);

/* The area flags of PROT_* bits (unknown bits ignored, as mmap does). */
uint32_t mmk__sys_prot(const struct mmk_sys_mm *mm, uint64_t prot);

/*
 * Change the flags of every area part in [start, end) to @fn(old flags)
 * (one protect per area part that changes; neighbours merge).  Areas and
 * holes as they come; stops at the first error (Linux's per-vma fixup
 * loop).  @splits_ok: refuse with ENOMEM a split past max_map_count.
 */
int mmk__sys_update(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end,
		    uint32_t (*fn)(uint32_t old, void *arg), void *arg);

/*
 * get_unmapped_area: @addr itself for @fixed, else @addr if it is a
 * usable hint, else top down below mmap_base, then bottom up from
 * unmapped_base.  An address, or -errno (ENOMEM, EINVAL).
 */
int64_t mmk__sys_get_area(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			  bool fixed);

/* __mm_populate of [start, end): each area part faulted in as Linux's
 * populate_vma_page_range would (write faults where writable, forced
 * reads in write-only and exec-only areas, EFAULT at a PROT_NONE one;
 * LOCKONFAULT areas and non-private memory skipped).
 * Returns 0 or an mmkit error (@ignore: carry on past errors). */
int mmk__sys_populate(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end,
		      bool ignore);

/*
 * A new area over what @a maps (mremap's grown part, a duplicate): take
 * the reference on its object or file that mmk_aspace_map makes the new
 * area's (mmk__sys_unhold gives it back when the map fails).  False for a
 * backend whose areas cannot be extended by the system calls.
 */
bool mmk__sys_hold(const struct mmk_aspace_area *a);
void mmk__sys_unhold(const struct mmk_aspace_area *a);

/* Fault [s, e), part of area @a, in for @access: the backend's populate
 * where it has one, else page by page (shared anonymous memory).  0 or
 * the first page's error (MMK_ERANGE past the object: SIGBUS). */
int mmk__sys_fault_in(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
		      mmk_vaddr_t s, mmk_vaddr_t e, uint32_t access);

/* mincore's bytes for the @n pages from @start, all inside area @a: 1
 * where a page is mapped, or (shared memory, files) in the object or the
 * file's cache. */
void mmk__sys_resident(struct mmk_sys_mm *mm, const struct mmk_aspace_area *a,
		       mmk_vaddr_t start, uint64_t n, unsigned char *vec);

/* munmap's body (Linux's do_vmi_munmap), arguments unchecked. */
int64_t mmk__sys_unmap(struct mmk_sys_mm *mm, mmk_vaddr_t start,
		       mmk_vaddr_t end);

#endif /* MMK_SYS_INTERNAL_H */
