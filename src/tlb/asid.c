/* SPDX-License-Identifier: MIT */
/*
 * mmkit — ASIDs with generations, and where a space is cached
 * (include/mmkit/tlb.h, "Where a space's translations may be cached").
 *
 * The allocator is Linux's arm64 scheme (arch/arm64/mm/context.c) in its
 * own words:
 *
 *   map[]        numbers taken in the current generation (bit 0 always:
 *                ASID 0 is the kernel's / no-ASID tag)
 *   slot[cpu]    the id this CPU runs with now; 0 right after a rollover
 *   kept[cpu]    the id this CPU ran with at the last rollover (if it has
 *                not switched since, it still does: that number stays
 *                with its space across the rollover)
 *   pending      CPUs that owe a full flush before loading a number of
 *                the new generation
 *
 * Fast path (no lock): the space's id is of the current generation and the
 * CPU's slot is non-zero; one compare-and-swap of the slot from its old
 * value to the space's id.  A rollover swaps every slot to 0 under the
 * lock, so a fast path racing with it fails its compare-and-swap and takes
 * the lock.
 *
 * Memory order: everything shared is atomic; the slow path's decisions
 * are made under the allocator's spinlock.
 */
#include <mmkit/log.h>
#include <mmkit/tlb.h>

#define ASID_SHIFT MMK_ASID_BITS_MAX
#define ASID_MASK  (((uint64_t)1 << ASID_SHIFT) - 1)
#define ASID_WORDS (((size_t)1 << MMK_ASID_BITS_MAX) / 64)

static struct {
	mmk_spinlock_t lock;
	unsigned bits; /* 0: off */
	unsigned ncpus;
	uint32_t hint;		  /* where the next search starts */
	MMK_ATOMIC(uint64_t) gen; /* current generation << ASID_SHIFT */
	MMK_ATOMIC(uint64_t) rollovers;
	uint64_t map[ASID_WORDS];
	MMK_ATOMIC(uint64_t) slot[MMK_CFG_MAX_CPUS];
	uint64_t kept[MMK_CFG_MAX_CPUS];
	mmk_cpumask_t pending; /* under the lock */
} asids;

static inline uint64_t id_gen(uint64_t id)
{
	return id & ~ASID_MASK;
}

static inline bool map_test_set(uint32_t a)
{
	uint64_t bit = (uint64_t)1 << (a % 64);
	bool was = (asids.map[a / 64] & bit) != 0;
	asids.map[a / 64] |= bit;
	return was;
}

int mmk_tlb_asid_init(unsigned bits, unsigned ncpus)
{
	if (bits > MMK_ASID_BITS_MAX || ncpus == 0 || ncpus > MMK_CFG_MAX_CPUS)
		return MMK_EINVAL;
	if (bits && ((uint64_t)1 << bits) - 1 <= ncpus)
		return MMK_EINVAL;
	__builtin_memset(&asids, 0, sizeof(asids));
	mmk_spin_init(&asids.lock);
	asids.bits = bits;
	asids.ncpus = ncpus;
	asids.hint = 1;
	asids.map[0] = 1; /* ASID 0 is never handed out */
	mmk_atomic_store(&asids.gen, (uint64_t)1 << ASID_SHIFT, MMK_MO_RELEASE);
	return 0;
}

unsigned mmk_tlb_asid_bits(void)
{
	return asids.bits;
}

uint64_t mmk_tlb_asid_rollovers(void)
{
	return mmk_atomic_load(&asids.rollovers, MMK_MO_RELAXED);
}

bool mmk_tlb_asid_flush_pending(unsigned cpu)
{
	unsigned long f = mmk_spin_lock(&asids.lock);
	bool p = mmk_cpumask_test(&asids.pending, cpu);
	mmk_spin_unlock(&asids.lock, f);
	return p;
}

bool mmk_tlb_asid_live(uint64_t id)
{
	return asids.bits == 0 ||
	       id_gen(id) == mmk_atomic_load(&asids.gen, MMK_MO_ACQUIRE);
}

/*
 * A new generation: every number free again but the ones CPUs run with
 * (kept, also for CPUs that have not switched since the last rollover),
 * and every CPU owes a flush.  Allocator lock held.
 */
static void asid_rollover(void)
{
	uint64_t gen = mmk_atomic_load(&asids.gen, MMK_MO_RELAXED);
	mmk_atomic_store(&asids.gen, gen + ((uint64_t)1 << ASID_SHIFT),
			 MMK_MO_RELEASE);
	mmk_atomic_fetch_add(&asids.rollovers, 1, MMK_MO_RELAXED);
	__builtin_memset(asids.map, 0, sizeof(asids.map));
	asids.map[0] = 1;
	for (unsigned c = 0; c < asids.ncpus; c++) {
		uint64_t id = atomic_exchange_explicit(&asids.slot[c], 0,
						       memory_order_acq_rel);
		if (id == 0)
			id = asids.kept[c]; /* no switch since the last one */
		asids.kept[c] = id;
		if (id)
			map_test_set((uint32_t)(id & ASID_MASK));
		mmk_cpumask_set(&asids.pending, c);
	}
	asids.hint = 1;
}

/* If some CPU kept @id across a rollover, it stays the space's number:
 * rename the kept copies to the new generation, and add those CPUs to
 * @who (they still run with it) when given.  Allocator lock held. */
static bool asid_was_kept(uint64_t id, uint64_t newid, mmk_cpumask_t *who)
{
	bool hit = false;
	for (unsigned c = 0; c < asids.ncpus; c++)
		if (asids.kept[c] == id) {
			asids.kept[c] = newid;
			hit = true;
			if (who)
				mmk_cpumask_set(who, c);
		}
	return hit;
}

static uint32_t asid_find_free(void)
{
	uint32_t n = (uint32_t)1 << asids.bits;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = (asids.hint + i) & (n - 1);
		if (!(asids.map[a / 64] & ((uint64_t)1 << (a % 64))))
			return a;
	}
	return 0;
}

/*
 * A number of the current generation for a context whose id (@id) is of
 * an old one, or 0.  Keeps the old number when it can (kept by a CPU, or
 * still free), else takes a free one, rolling over when there is none.
 * @kept gets the CPUs that still run with the old number.  Allocator lock
 * held.
 */
static uint64_t asid_new(uint64_t id, mmk_cpumask_t *kept)
{
	uint64_t gen = mmk_atomic_load(&asids.gen, MMK_MO_RELAXED);
	uint32_t a = (uint32_t)(id & ASID_MASK);
	if (a) {
		if (asid_was_kept(id, gen | a, kept))
			return gen | a;
		if (!map_test_set(a))
			return gen | a;
	}
	a = asid_find_free();
	if (a == 0) {
		asid_rollover();
		gen = mmk_atomic_load(&asids.gen, MMK_MO_RELAXED);
		a = asid_find_free();
		MMK_ASSERT(a != 0); /* more numbers than CPUs (init) */
	}
	map_test_set(a);
	asids.hint = a + 1;
	return gen | a;
}

/* ------------------------------------------------------------ contexts */

void mmk_tlb_ctx_init(struct mmk_tlb_ctx *c)
{
	__builtin_memset(c, 0, sizeof(*c));
	c->fixed = asids.bits == 0;
	mmk_atomic_init(&c->id, 0);
}

void mmk_tlb_ctx_set_fixed(struct mmk_tlb_ctx *c, uint32_t asid)
{
	mmk_tlb_ctx_release(c);
	c->fixed = true;
	mmk_atomic_store(&c->id, asid, MMK_MO_RELAXED);
}

static inline void mask_set(mmk_cpumask_t *m, unsigned cpu)
{
	__atomic_fetch_or(&m->bits[cpu / 64], (uint64_t)1 << (cpu % 64),
			  __ATOMIC_SEQ_CST);
}

static inline void mask_clear(mmk_cpumask_t *m, unsigned cpu)
{
	__atomic_fetch_and(&m->bits[cpu / 64], ~((uint64_t)1 << (cpu % 64)),
			   __ATOMIC_SEQ_CST);
}

/*
 * Targets of a space whose id is of an old generation: entries under that
 * number are unreachable on every CPU except those that run the space and
 * those that still run with its number (kept): every other CPU flushes
 * before it loads any number of the current generation (tlb.h).  So the
 * cached mask shrinks to those.  Allocator lock: kept[] is read under it.
 */
static void ctx_prune_stale(const struct mmk_tlb_ctx *c, uint64_t id,
			    mmk_cpumask_t *out)
{
	unsigned long f = mmk_spin_lock(&asids.lock);
	if (id_gen(id) != mmk_atomic_load(&asids.gen, MMK_MO_RELAXED)) {
		mmk_cpumask_t keep;
		for (size_t i = 0; i < MMK_ARRAY_SIZE(keep.bits); i++)
			keep.bits[i] = __atomic_load_n(&c->active.bits[i],
						       __ATOMIC_SEQ_CST);
		for (unsigned k = 0; k < asids.ncpus; k++)
			if (asids.kept[k] == id)
				mmk_cpumask_set(&keep, k);
		for (size_t i = 0; i < MMK_ARRAY_SIZE(keep.bits); i++)
			out->bits[i] &= keep.bits[i];
	}
	mmk_spin_unlock(&asids.lock, f);
}

void mmk_tlb_ctx_cached(const struct mmk_tlb_ctx *c, mmk_cpumask_t *out)
{
	atomic_thread_fence(memory_order_seq_cst);
	for (size_t i = 0; i < MMK_ARRAY_SIZE(out->bits); i++)
		out->bits[i] =
			__atomic_load_n(&c->cached.bits[i], __ATOMIC_SEQ_CST);
	if (c->fixed)
		return;
	uint64_t id = mmk_atomic_load(&c->id, MMK_MO_SEQ_CST);
	if (MMK_UNLIKELY(id != 0 &&
			 id_gen(id) !=
				 mmk_atomic_load(&asids.gen, MMK_MO_ACQUIRE)))
		ctx_prune_stale(c, id, out);
}

/*
 * A new generation's id means the entries cached under the old one are
 * unreachable (tlb.h): cached restarts from the CPUs that have the space
 * loaded now, and those that still run with its kept number (a CPU that
 * deactivated it since the rollover but has loaded nothing else).  An AND
 * then an OR, each with the active mask read anew: a CPU that activates
 * meanwhile sets active before cached, so it is either kept by the AND
 * or put back by the OR, never lost.
 */
static void ctx_restart_cached(struct mmk_tlb_ctx *c, const mmk_cpumask_t *kept)
{
	for (size_t i = 0; i < MMK_ARRAY_SIZE(c->cached.bits); i++) {
		uint64_t *w = &c->cached.bits[i];
		const uint64_t *act = &c->active.bits[i];
		__atomic_fetch_and(w,
				   __atomic_load_n(act, __ATOMIC_SEQ_CST) |
					   kept->bits[i],
				   __ATOMIC_SEQ_CST);
		__atomic_fetch_or(w,
				  __atomic_load_n(act, __ATOMIC_SEQ_CST) |
					  kept->bits[i],
				  __ATOMIC_SEQ_CST);
	}
}

/* The slow path of activate: allocator lock.  Returns the id to run with. */
static uint64_t ctx_switch_slow(struct mmk_tlb_ctx *c, unsigned cpu)
{
	unsigned long f = mmk_spin_lock(&asids.lock);
	uint64_t id = mmk_atomic_load(&c->id, MMK_MO_RELAXED);
	if (id_gen(id) != mmk_atomic_load(&asids.gen, MMK_MO_RELAXED)) {
		mmk_cpumask_t kept;
		mmk_cpumask_clear(&kept);
		id = asid_new(id, &kept);
		mmk_atomic_store(&c->id, id, MMK_MO_SEQ_CST);
		ctx_restart_cached(c, &kept);
	}
	bool flush = mmk_cpumask_test(&asids.pending, cpu);
	if (flush)
		asids.pending.bits[cpu / 64] &= ~((uint64_t)1 << (cpu % 64));
	mmk_atomic_store(&asids.slot[cpu], id, MMK_MO_RELEASE);
	mmk_spin_unlock(&asids.lock, f);
	if (flush)
		mmk_tlb_local_all(MMK_ASID_ALL); /* this CPU's rollover flush */
	return id;
}

uint32_t mmk_tlb_ctx_activate(struct mmk_tlb_ctx *c)
{
	unsigned cpu = mmk_hal_cpu_id();
	/* In both masks before the number is read and the root written: a
	 * writer that edits after this point flushes here too.  The RMW on
	 * active orders this CPU's later walks after it (seq_cst); cached
	 * is often still set from the last time (ASIDs), which a load sees. */
	mask_set(&c->active, cpu);
	if (!((__atomic_load_n(&c->cached.bits[cpu / 64], __ATOMIC_RELAXED) >>
	       (cpu % 64)) &
	      1))
		mask_set(&c->cached, cpu);
	if (c->fixed)
		return mmk_tlb_ctx_asid(c);
	uint64_t id = mmk_atomic_load(&c->id, MMK_MO_SEQ_CST);
	uint64_t old = mmk_atomic_load(&asids.slot[cpu], MMK_MO_RELAXED);
	if (MMK_LIKELY(old != 0 &&
		       id_gen(id) ==
			       mmk_atomic_load(&asids.gen, MMK_MO_RELAXED) &&
		       atomic_compare_exchange_strong_explicit(
			       &asids.slot[cpu], &old, id, memory_order_relaxed,
			       memory_order_relaxed)))
		return (uint32_t)(id & ASID_MASK);
	return (uint32_t)(ctx_switch_slow(c, cpu) & ASID_MASK);
}

void mmk_tlb_ctx_deactivate(struct mmk_tlb_ctx *c)
{
	unsigned cpu = mmk_hal_cpu_id();
	mask_clear(&c->active, cpu);
	if (!c->fixed)
		return; /* still cached here, under its own number */
	/* One fixed number for many spaces: what this CPU holds of this one
	 * must go before it loads another (and a flush sent later finds
	 * nothing here to do). */
	mmk_tlb_local_all(mmk_tlb_ctx_asid(c));
	mask_clear(&c->cached, cpu);
}

void mmk_tlb_ctx_release(struct mmk_tlb_ctx *c)
{
	if (c->fixed)
		return;
	uint64_t id = mmk_atomic_load(&c->id, MMK_MO_RELAXED);
	if (id == 0)
		return;
	/* Whatever is left under the number goes before anyone reuses it. */
	mmk_cpumask_t cpus;
	mmk_tlb_ctx_cached(c, &cpus);
	struct mmk_tlb_flush fl;
	fl.asid = (uint32_t)(id & ASID_MASK);
	fl.all = true;
	fl.global = false;
	fl.nranges = 0;
	fl.range = NULL;
	mmk_tlb_shootdown(&cpus, &fl);
	unsigned long f = mmk_spin_lock(&asids.lock);
	uint32_t a = (uint32_t)(id & ASID_MASK);
	if (id_gen(id) == mmk_atomic_load(&asids.gen, MMK_MO_RELAXED) &&
	    !asid_was_kept(id, id, NULL))
		asids.map[a / 64] &= ~((uint64_t)1 << (a % 64));
	mmk_spin_unlock(&asids.lock, f);
	mmk_atomic_store(&c->id, 0, MMK_MO_RELAXED);
	mmk_cpumask_clear(&c->cached);
}

/* ------------------------------------------------------------ flushing */

void mmk_tlb_shootdown(const mmk_cpumask_t *cpus, const struct mmk_tlb_flush *f)
{
	if (mmk_cpumask_empty(cpus))
		return;
#if MMK_CFG_HAL_TLB_SHOOTDOWN
	mmk_hal_tlb_shootdown(cpus, f);
#else
	if (f->all) {
		mmk_hal_tlb_flush_all(cpus, f->asid);
		return;
	}
	for (unsigned i = 0; i < f->nranges; i++)
		mmk_hal_tlb_flush_range(cpus, f->asid, f->range[i].start,
					f->range[i].end, f->global);
#endif
}

void mmk_tlb_local_all(uint32_t asid)
{
#if MMK_CFG_HAL_TLB_SHOOTDOWN
	mmk_hal_tlb_local_all(asid);
#else
	mmk_cpumask_t me;
	mmk_cpumask_clear(&me);
	mmk_cpumask_set(&me, mmk_hal_cpu_id());
	mmk_hal_tlb_flush_all(&me, asid);
#endif
}
