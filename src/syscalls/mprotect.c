/* SPDX-License-Identifier: MIT */
/*
 * mprotect (Linux's mm/mprotect.c, do_mprotect_pkey).  Linux changes the
 * areas one by one and stops with ENOMEM at a hole, leaving those before
 * it changed; mmkit checks the whole range first and changes nothing then
 * (the one place the differential test leaves out: a hole past the start).
 */
#include "sys_internal.h"

struct prot_ctx {
	uint32_t rwx;
};

/* The new flags of an area: protection replaced, attributes kept, and
 * private memory made writable is charged (VM_ACCOUNT), as mprotect_fixup. */
static uint32_t new_prot(uint32_t old, void *arg)
{
	const struct prot_ctx *c = arg;
	uint32_t nf = (old & ~(uint32_t)MMK_PT_RWX) | c->rwx;
	if ((c->rwx & MMK_PT_WRITE) &&
	    !(old & (MMK_SYS_VM_ACCOUNT | MMK_PT_WRITE | MMK_SYS_VM_NORESERVE |
		     MMK_SYS_VM_SHARED)))
		nf |= MMK_SYS_VM_ACCOUNT;
	return nf;
}

/* Does every area part of [start, end) get the same new flags?  Then one
 * call does it all (all or nothing, holes checked under its lock). */
static bool uniform(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end,
		    struct prot_ctx *c, uint32_t *nf)
{
	struct mmk_aspace_area a;
	bool first = true;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			break;
		uint32_t f = new_prot(a.flags, c);
		if (!first && f != *nf)
			return false;
		*nf = f;
		first = false;
	}
	return true;
}

/* Is some area part of [start, end) locked, private and not writable?
 * Made writable, it is faulted in for writing at once (mprotect_fixup: no
 * major fault on the first write to locked memory). */
static bool locked_ro(struct mmk_sys_mm *mm, mmk_vaddr_t start, mmk_vaddr_t end)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			return false;
		if ((a.flags & (MMK_SYS_VM_LOCKED | MMK_PT_WRITE)) ==
		    MMK_SYS_VM_LOCKED)
			return true;
	}
	return false;
}

/* Does some area of [start, end) refuse WRITE (a MAP_SHARED file opened
 * read-only: Linux's missing VM_MAYWRITE, EACCES)? */
static bool no_maywrite(struct mmk_sys_mm *mm, mmk_vaddr_t start,
			mmk_vaddr_t end)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			return false;
		if (a.flags & MMK_SYS_VM_NOMAYWRITE)
			return true;
	}
	return false;
}

/* Area by area, populating the locked read-only ones made writable. */
static int protect_populating(struct mmk_sys_mm *mm, mmk_vaddr_t start,
			      mmk_vaddr_t end, struct prot_ctx *c)
{
	struct mmk_aspace_area a;
	for (mmk_vaddr_t cur = start; cur < end; cur = a.end) {
		if (!mmk__sys_next_area(mm, cur, &a) || a.start >= end)
			return 0;
		mmk_vaddr_t s = MMK_MAX(a.start, cur), e = MMK_MIN(a.end, end);
		/* mprotect_fixup: private locked areas only (shared ones
		 * were populated when locked, reading) */
		bool pop = (a.flags & (MMK_SYS_VM_LOCKED | MMK_PT_WRITE |
				       MMK_SYS_VM_SHARED)) == MMK_SYS_VM_LOCKED;
		int err = mmk__sys_update(mm, s, e, new_prot, c);
		if (err)
			return err;
		if (pop)
			(void)mmk__sys_populate(mm, s, e, true);
		a.end = e;
	}
	return 0;
}

int64_t mmk_sys_mprotect(struct mmk_sys_mm *mm, uint64_t start, uint64_t len,
			 uint64_t prot)
{
	uint64_t grows = prot & (MMK_SYS_PROT_GROWSDOWN | MMK_SYS_PROT_GROWSUP);
	prot &= ~grows;
	if (grows == (MMK_SYS_PROT_GROWSDOWN | MMK_SYS_PROT_GROWSUP))
		return SYS_ERR(EINVAL);
	if (!sys_aligned(mm, start))
		return SYS_ERR(EINVAL);
	if (!len)
		return 0;
	len = sys_page_align(mm, len);
	uint64_t end = start + len;
	if (end <= start)
		return SYS_ERR(ENOMEM);
	if (prot & ~(uint64_t)(MMK_SYS_PROT_READ | MMK_SYS_PROT_WRITE |
			       MMK_SYS_PROT_EXEC | MMK_SYS_PROT_SEM))
		return SYS_ERR(EINVAL); /* arch_validate_prot */
	struct mmk_aspace_area a;
	if (!mmk__sys_next_area(mm, start, &a))
		return SYS_ERR(ENOMEM);
	if (grows & MMK_SYS_PROT_GROWSDOWN) {
		if (a.start >= end)
			return SYS_ERR(ENOMEM);
		start = a.start;
		if (!(a.flags & MMK_SYS_VM_GROWSDOWN))
			return SYS_ERR(EINVAL);
	} else {
		if (a.start > start)
			return SYS_ERR(ENOMEM);
		if (grows & MMK_SYS_PROT_GROWSUP)
			return SYS_ERR(EINVAL); /* no VM_GROWSUP areas */
	}
	if (!mmk__sys_covered(mm, start, end))
		return SYS_ERR(
			ENOMEM); /* Linux: after changing the part before */
	struct prot_ctx c = {mmk__sys_prot(mm, prot) & MMK_PT_RWX};
	if ((c.rwx & MMK_PT_WRITE) && no_maywrite(mm, start, end))
		return SYS_ERR(EACCES); /* Linux: after the areas before */
	uint32_t nf = 0;
	int err;
	if ((c.rwx & MMK_PT_WRITE) && locked_ro(mm, start, end))
		err = protect_populating(mm, start, end, &c);
	else if (uniform(mm, start, end, &c, &nf) &&
		 mmk__sys_map_count(mm) + 2 <= mm->max_map_count)
		err = mmk_aspace_protect_opts(mm->as, start, end - start, nf,
					      MMK_ASPACE_NO_HOLES);
	else
		err = mmk__sys_update(mm, start, end, new_prot, &c);
	return err ? sys_fail(err) : 0;
}
