/* SPDX-License-Identifier: MIT */
/*
 * The writer's side of a space: the exclusive lock, the life cycle of one
 * changing call, the checks every call makes, and the area helpers the
 * calls share (split hooks, releasing dead areas, zapping).
 *
 * Every changing call has the same shape (STYLE: check, then prepare what
 * may fail, then commit what cannot):
 *
 *   check arguments                         -> error, nothing touched
 *   mmk__op_begin    lock, empty gather (the working state lives in the
 *                    space, struct mmk__aspace_work: small stacks)
 *   prepare          mmk_mset_prepare_*, backend split hooks,
 *                    mmk_pt_reserve_* -- any failure: undo, abort, end
 *   commit           mmk_pt_cut, backend zap/protect/populate,
 *                    mmk_mset_commit, release the dead areas
 *   mmk__op_end      flush where active, put the gathered frames, unlock
 */
#include "aspace_internal.h"

/* ------------------------------------------------------------- lock */

/* Once per CPU and space: the bound only grows, a CAS loop to the max. */
void mmk__as_raise_reader_top(struct mmk_aspace *as, uint32_t cpu)
{
	uint32_t top =
		atomic_load_explicit(&as->reader_top, memory_order_seq_cst);
	while (top <= cpu &&
	       !atomic_compare_exchange_weak_explicit(
		       &as->reader_top, &top, cpu + 1, memory_order_seq_cst,
		       memory_order_seq_cst))
		;
}

/*
 * The readers are counted per CPU (a fault touches only its own line);
 * the writer raises its flag, then waits for every count to drop.  Only
 * the CPUs that ever read are scanned (reader_top): a space used on few
 * CPUs pays for those, not for MMK_CFG_MAX_CPUS lines, on every mmap.
 */
void mmk__as_write_lock(struct mmk_aspace *as)
{
	mmk_spin_lock_noirq(&as->wlock);
	atomic_store_explicit(&as->writer, 1, memory_order_seq_cst);
	for (;;) {
		long sum = 0;
		uint32_t top = atomic_load_explicit(&as->reader_top,
						    memory_order_seq_cst);
		for (unsigned c = 0; c < top; c++)
			sum += atomic_load_explicit(&as->readers[c].n,
						    memory_order_seq_cst);
		if (sum == 0)
			return;
		mmk_hal_cpu_relax();
	}
}

void mmk__as_write_unlock(struct mmk_aspace *as)
{
	atomic_store_explicit(&as->writer, 0, memory_order_release);
	mmk_spin_unlock_noirq(&as->wlock);
}

/* ------------------------------------------------------ operations */

void mmk__as_snapshot_cpus(const struct mmk_aspace *as, mmk_cpumask_t *out)
{
	mmk_tlb_ctx_cached(&as->tlb, out);
}

struct mmk__aspace_work *mmk__op_begin(struct mmk_aspace *as)
{
	mmk__as_write_lock(as);
	struct mmk__aspace_work *w = &as->work;
	w->op.as = as;
	w->op.gather = &w->gather;
	w->op.scratch = w->scratch;
	w->op.scratch_size = sizeof(w->scratch);
	/* A snapshot now serves break-before-make flushes during the edits;
	 * the one taken at the end (after the edits) decides the real flush. */
	mmk__as_snapshot_cpus(as, &w->op.cpus);
	mmk_tlb_gather_init(&w->gather, &w->op.cpus, as->asid);
	mmk_tlb_gather_track_asid(&w->gather, &as->tlb);
	return w;
}

void mmk__op_end(struct mmk_aspace *as)
{
	struct mmk__aspace_work *w = &as->work;
	/* A CPU that activates the space after this snapshot loads the
	 * edited entries fresh; one that may cache them is in it (cached,
	 * not only active: under ASIDs a CPU that switched away still may). */
	mmk__as_snapshot_cpus(as, &w->op.cpus);
	if (mmk_cpumask_empty(&w->op.cpus))
		w->gather.cpus = NULL; /* active nowhere: no flush */
	/* Unhook (done), flush, and only then free. */
	mmk_tlb_gather_finish(&w->gather);
	mmk__as_write_unlock(as);
}

/* ------------------------------------------------------- checks */

int mmk__as_check_range(const struct mmk_aspace *as, mmk_vaddr_t start,
			uint64_t size)
{
	if (size == 0 || start + size < start)
		return MMK_EWRAP;
	if ((start | size) & (as->page_size - 1))
		return MMK_EALIGN;
	if (start < as->base || start + size > as->end)
		return MMK_ERANGE;
	return 0;
}

int mmk__as_check_prot(const struct mmk_aspace *as, uint32_t prot)
{
	if (prot & ~MMK_ASPACE_FLAGS)
		return MMK_EINVAL;
	/* The format maps it, exactly or as the superset its hardware
	 * forces (EXEC alone as READ|EXEC); memory types it has not got are
	 * refused. */
	uint32_t have;
	return mmk_pt_fit_flags(&as->pt, prot & ~(uint32_t)MMK_ASPACE_ATTRS,
				&have);
}

/* ------------------------------------------------- area helpers */

void mmk__as_bury(struct mmk_aspace *as, struct mmk_mset_txn *t)
{
	while (t->dead) {
		struct mmk_mset_area *a = t->dead;
		t->dead = a->link;
		const struct mmk_backend *b = mmk_backend_of(a);
		if (b && b->release)
			b->release(a);
		mmk_mset_area_free(&as->areas, a);
	}
}

void mmk__as_abort(struct mmk_aspace *as, struct mmk_mset_txn *t,
		   unsigned nsplit)
{
	for (unsigned i = 0; i < nsplit; i++) {
		const struct mmk_backend *b = mmk_backend_of(t->piece[i]);
		if (b->split && b->release)
			b->release(t->piece[i]);
	}
	mmk_mset_abort(&as->areas, t);
}

int mmk__as_split_pieces(struct mmk_aspace *as, struct mmk_mset_txn *t)
{
	for (unsigned i = 0; i < t->npieces; i++) {
		const struct mmk_backend *b = mmk_backend_of(t->orig[i]);
		int err = b->split ? b->split(t->orig[i], t->piece[i]) : 0;
		if (err) {
			mmk__as_abort(as, t, i);
			return err < 0 ? err : MMK_EINVAL;
		}
	}
	return 0;
}

void mmk__as_zap(struct mmk_aspace_op *op, const struct mmk_mset_area *a,
		 mmk_vaddr_t start, mmk_vaddr_t end)
{
	const struct mmk_backend *b = mmk_backend_of(a);
	if (b->zap)
		b->zap(op, a, start, end);
	else
		mmk_backend_zap_pages(op, start, end,
				      b->props & MMK_BACKEND_OWNS_FRAMES);
}
