/* SPDX-License-Identifier: MIT */
/*
 * mmkit — locks.  Spinning locks built on C11 atomics (part of the
 * freestanding set), with interrupts disabled through the HAL while held,
 * so the same lock is safe against a page fault or an interrupt handler on
 * the same CPU.
 *
 * mmk_spinlock_t: a ticket lock (FIFO, fair under contention).
 * mmk_rwlock_t:   readers share, a writer excludes everyone; writers take
 *                 priority so that a stream of faults cannot starve a map.
 */
#ifndef MMKIT_LOCK_H
#define MMKIT_LOCK_H

#include <mmkit/atomic.h>
#include <mmkit/hal.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	MMK_ATOMIC(uint32_t) next;
	MMK_ATOMIC(uint32_t) owner;
} mmk_spinlock_t;

#define MMK_SPINLOCK_INIT                                                      \
	{                                                                      \
		0, 0                                                           \
	}

static inline void mmk_spin_init(mmk_spinlock_t *l)
{
	mmk_atomic_init(&l->next, 0);
	mmk_atomic_init(&l->owner, 0);
}

/** Take @l without touching interrupts (caller has them off already). */
static inline void mmk_spin_lock_noirq(mmk_spinlock_t *l)
{
	uint32_t me = mmk_atomic_fetch_add(&l->next, 1, MMK_MO_RELAXED);
	while (mmk_atomic_load(&l->owner, MMK_MO_ACQUIRE) != me)
		mmk_hal_cpu_relax();
}

static inline void mmk_spin_unlock_noirq(mmk_spinlock_t *l)
{
	uint32_t o = mmk_atomic_load(&l->owner, MMK_MO_RELAXED);
	mmk_atomic_store(&l->owner, o + 1, MMK_MO_RELEASE);
}

/** Disable interrupts, take @l; returns the interrupt state to restore. */
static inline unsigned long mmk_spin_lock(mmk_spinlock_t *l)
{
	unsigned long f = mmk_hal_irq_save();
	mmk_spin_lock_noirq(l);
	return f;
}

static inline void mmk_spin_unlock(mmk_spinlock_t *l, unsigned long f)
{
	mmk_spin_unlock_noirq(l);
	mmk_hal_irq_restore(f);
}

/*
 * Reader-writer lock.  state: bit 31 = writer holds, bit 30 = writer
 * waiting, bits 29..0 = reader count.
 */
typedef struct {
	MMK_ATOMIC(uint32_t) state;
} mmk_rwlock_t;

#define MMK_RW_WRITER  0x80000000u
#define MMK_RW_WAITING 0x40000000u
#define MMK_RW_READERS 0x3fffffffu

static inline void mmk_rw_init(mmk_rwlock_t *l)
{
	mmk_atomic_init(&l->state, 0);
}

static inline void mmk_rw_read_lock(mmk_rwlock_t *l)
{
	for (;;) {
		uint32_t s = mmk_atomic_load(&l->state, MMK_MO_RELAXED);
		if (!(s & (MMK_RW_WRITER | MMK_RW_WAITING)) &&
		    mmk_atomic_cas_weak(&l->state, &s, s + 1, MMK_MO_ACQUIRE,
					MMK_MO_RELAXED))
			return;
		mmk_hal_cpu_relax();
	}
}

static inline void mmk_rw_read_unlock(mmk_rwlock_t *l)
{
	mmk_atomic_fetch_sub(&l->state, 1, MMK_MO_RELEASE);
}

static inline void mmk_rw_write_lock(mmk_rwlock_t *l)
{
	for (;;) {
		uint32_t s = mmk_atomic_load(&l->state, MMK_MO_RELAXED);
		if ((s & ~MMK_RW_WAITING) == 0) {
			if (mmk_atomic_cas_weak(&l->state, &s, MMK_RW_WRITER,
						MMK_MO_ACQUIRE, MMK_MO_RELAXED))
				return;
			continue;
		}
		if (!(s & MMK_RW_WAITING))
			mmk_atomic_fetch_or(&l->state, MMK_RW_WAITING,
					    MMK_MO_RELAXED);
		mmk_hal_cpu_relax();
	}
}

static inline void mmk_rw_write_unlock(mmk_rwlock_t *l)
{
	mmk_atomic_store(&l->state, 0, MMK_MO_RELEASE);
}

/* CPU masks. */
static inline void mmk_cpumask_clear(mmk_cpumask_t *m)
{
	for (size_t i = 0; i < MMK_ARRAY_SIZE(m->bits); i++)
		m->bits[i] = 0;
}

static inline void mmk_cpumask_set(mmk_cpumask_t *m, unsigned cpu)
{
	m->bits[cpu / 64] |= (uint64_t)1 << (cpu % 64);
}

static inline bool mmk_cpumask_test(const mmk_cpumask_t *m, unsigned cpu)
{
	return (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static inline bool mmk_cpumask_empty(const mmk_cpumask_t *m)
{
	for (size_t i = 0; i < MMK_ARRAY_SIZE(m->bits); i++)
		if (m->bits[i])
			return false;
	return true;
}

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_LOCK_H */
