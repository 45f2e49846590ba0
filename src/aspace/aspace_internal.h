/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the files of src/aspace: the space's lock, the life
 * cycle of an exclusive operation, argument checks and area helpers.
 *
 * The lock.  Readers (page faults, read/write, queries) each count
 * themselves on their own CPU's cache line, so two CPUs faulting in one
 * space write no common line.  A writer takes the writers' spinlock, raises
 * `writer`, then waits until the sum of all reader counts is zero.
 *
 *   reader:  n[cpu] += 1 (seq_cst); if writer: n[cpu] -= 1, wait, retry
 *   writer:  writer = 1 (seq_cst); wait until sum(n[*]) == 0
 *
 * Both sides store then load with seq_cst, so at least one sees the other
 * (Dekker): a reader that saw writer == 0 is counted by the writer's scan.
 * A reader decrements the very counter it incremented (atomically), so a
 * thread that moves to another CPU inside the lock is still fine: the
 * writer only trusts the sum.  Writers are preferred: a raised flag turns
 * new readers away.
 */
#ifndef MMK_ASPACE_INTERNAL_H
#define MMK_ASPACE_INTERNAL_H

#include <mmkit/aspace.h>
#include <mmkit/backend.h>
#include <mmkit/log.h>

/** The head "start-end perms offset" of @a's /proc/PID/maps line into
 *  @buf (query.c); the length written. */
size_t mmk__area_maps_head(char *buf, size_t size,
			   const struct mmk_mset_area *a);

/* ------------------------------------------------------------- lock */
void mmk__as_raise_reader_top(struct mmk_aspace *as, uint32_t cpu);

static inline _Atomic long *mmk__as_read_lock(struct mmk_aspace *as)
{
	uint32_t cpu = mmk_hal_cpu_id();
	/* seq_cst: the bound is in the order the writer's scan is, so a
	 * bound already raised by another CPU is seen by that scan too */
	if (MMK_UNLIKELY(cpu >= atomic_load_explicit(&as->reader_top,
						     memory_order_seq_cst)))
		mmk__as_raise_reader_top(as, cpu);
	_Atomic long *n = &as->readers[cpu].n;
	for (;;) {
		atomic_fetch_add_explicit(n, 1, memory_order_seq_cst);
		if (MMK_LIKELY(!atomic_load_explicit(&as->writer,
						     memory_order_seq_cst)))
			return n;
		atomic_fetch_sub_explicit(n, 1, memory_order_release);
		while (atomic_load_explicit(&as->writer, memory_order_acquire))
			mmk_hal_cpu_relax();
	}
}

static inline void mmk__as_read_unlock(_Atomic long *n)
{
	atomic_fetch_sub_explicit(n, 1, memory_order_release);
}

void mmk__as_write_lock(struct mmk_aspace *as);
void mmk__as_write_unlock(struct mmk_aspace *as);

/* -------------------------------------------------- operation life */
/*
 * Every changing call: check, mmk__op_begin (takes the exclusive lock,
 * empty gather), prepare what may fail, commit what cannot, mmk__op_end
 * (flush where the space is active, then put the gathered frames, then
 * unlock).  One pair, so no call forgets a step.
 */
struct mmk__aspace_work *mmk__op_begin(struct mmk_aspace *as);
void mmk__op_end(struct mmk_aspace *as);

/* The CPUs that may cache @as's entries, now (seq_cst: after the caller's
 * edits): the flush targets. */
void mmk__as_snapshot_cpus(const struct mmk_aspace *as, mmk_cpumask_t *out);

/* ------------------------------------------------------------ checks */
int mmk__as_check_range(const struct mmk_aspace *as, mmk_vaddr_t start,
			uint64_t size);
int mmk__as_check_prot(const struct mmk_aspace *as, uint32_t prot);

static inline int mmk__as_check_access(uint32_t access)
{
	return access == 0 || (access & ~MMK_PT_RWX) ? MMK_EINVAL : 0;
}

/* The READ/WRITE/EXEC rights pages of protection @prot really give. */
static inline uint32_t mmk__as_rights(const struct mmk_aspace *as,
				      uint32_t prot)
{
	return mmk_backend_page_flags(as, prot) & MMK_PT_RWX;
}

/* ------------------------------------------------------- areas */
/* The page size a fault at @addr in @a maps (the backend's page_size). */
static inline uint64_t mmk__area_page_size(const struct mmk_aspace *as,
					   const struct mmk_mset_area *a,
					   mmk_vaddr_t addr)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	return b->page_size ? b->page_size(as, a, addr) : as->page_size;
}

/* Release the privs of t's dead areas and free the objects. */
void mmk__as_bury(struct mmk_aspace *as, struct mmk_mset_txn *t);
/* Undo the split hooks run on t's pieces, then abort t. */
void mmk__as_abort(struct mmk_aspace *as, struct mmk_mset_txn *t,
		   unsigned nsplit);
/* Run the split hooks of t's pieces; on failure undo and abort t. */
int mmk__as_split_pieces(struct mmk_aspace *as, struct mmk_mset_txn *t);

/* Zap [start, end) of @a through its backend (exclusive). */
void mmk__as_zap(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		 mmk_vaddr_t start, mmk_vaddr_t end);

/* Reserve / commit the cut of a huge page straddling @x (none at the
 * space's own edges, which no leaf crosses).  Exclusive. */
static inline int mmk__as_reserve_cut(struct mmk_aspace *as,
				      struct mmk_pt_resv *r, mmk_vaddr_t x)
{
	if (x <= as->base || x >= as->end)
		return 0;
	return mmk_pt_reserve_cut(&as->pt, r, x);
}

static inline void mmk__as_cut(struct mmk_aspace_op *op, struct mmk_pt_resv *r,
			       mmk_vaddr_t x)
{
	if (x > op->as->base && x < op->as->end)
		mmk_pt_cut(&op->as->pt, r, x, op->gather);
}

/* Reserve the cuts at both edges of [start, end) into @r (initialised
 * here); on failure @r is released.  Exclusive. */
static inline int mmk__as_reserve_edges(struct mmk_aspace *as,
					struct mmk_pt_resv *r,
					mmk_vaddr_t start, mmk_vaddr_t end)
{
	mmk_pt_resv_init(r, &as->pt);
	int err = mmk__as_reserve_cut(as, r, start);
	if (!err)
		err = mmk__as_reserve_cut(as, r, end);
	if (err)
		mmk_pt_resv_release(r);
	return err;
}

/* Copy between @buf and the memory of the leaf @lf from @va (inside it)
 * on, at most @len bytes, through the kernel's view of the frame; returns
 * the bytes copied (to the leaf's end at most). */
static inline size_t mmk__as_copy_in_leaf(const struct mmk_pt_leaf *lf,
					  mmk_vaddr_t va, char *buf, size_t len,
					  bool write)
{
	uint64_t off = va - lf->va;
	uint64_t left = lf->page_size - off;
	size_t n = left < len ? (size_t)left : len;
	void *p = mmk_phys_to_virt(mmk_pa_add(lf->pa, off));
	if (write)
		__builtin_memcpy(p, buf, n);
	else
		__builtin_memcpy(buf, p, n);
	return n;
}

/* The fault path with the lock held shared (fault.c). */
int mmk__as_fault_locked(struct mmk_aspace *as, mmk_vaddr_t addr,
			 uint32_t access);

/* What a fault's map could not do without allocating (FAULT_PREPARE in
 * fault.c): the space's own copy of a leaf table a fork left shared, and
 * the tables a leaf of @page_size at @page lacks, added to @tables.  0 or
 * MMK_ENOMEM. */
int mmk__as_fault_prepare(struct mmk_aspace *as, struct mmk_pt_resv *tables,
			  mmk_vaddr_t page, uint64_t page_size);
/* can_access_range with the lock held (either way); every area must also
 * carry the bits of @need (MMK_PT_USER for user copies). */
bool mmk__as_can_access_locked(struct mmk_aspace *as, mmk_vaddr_t start,
			       uint64_t size, uint32_t access, uint32_t need);

#endif /* MMK_ASPACE_INTERNAL_H */
