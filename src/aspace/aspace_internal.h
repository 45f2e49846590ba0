/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the files of src/aspace: the space's lock and the
 * life cycle of a writer's operation (batch, deferred frame puts).
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
#include <mmkit/log.h>

static inline _Atomic long *mmk__as_read_lock(struct mmk_aspace *as)
{
	_Atomic long *n = &as->readers[mmk_hal_cpu_id()].n;
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

/* Start a writer's operation (lock held): empty batch and put list. */
void mmk__op_begin(struct mmk_aspace_op *op, struct mmk_tlb_gather *b,
		   struct mmk_aspace *as);
/* Flush on the CPUs where @as is active (none: no flush), free unhooked
 * tables, then put the deferred frames.  Lock still held. */
void mmk__op_finish(struct mmk_aspace_op *op);

static inline const struct mmk_backend *
mmk__backend_of(const struct mmk_mset_area *a)
{
	/* struct mmk_backend starts with its struct mmk_mset_ops */
	return (const struct mmk_backend *)(const void *)a->ops;
}

static inline uint64_t mmk__area_page_size(const struct mmk_aspace *as,
					   const struct mmk_mset_area *a)
{
	const struct mmk_backend *b = mmk__backend_of(a);
	return b->page_size ? b->page_size(as, a) : as->page_size;
}

/* The fault path with the lock held shared (fault.c). */
int mmk__as_fault_locked(struct mmk_aspace *as, mmk_vaddr_t addr,
			 uint32_t access);
/* can_access_range with the lock held (either way). */
bool mmk__as_can_access_locked(struct mmk_aspace *as, mmk_vaddr_t start,
			       uint64_t size, uint32_t access);

#endif /* MMK_ASPACE_INTERNAL_H */
