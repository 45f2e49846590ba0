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

#include <mmkit/hal.h>
#include <stdatomic.h>

typedef struct {
	_Atomic uint32_t next;
	_Atomic uint32_t owner;
} mmk_spinlock_t;

#define MMK_SPINLOCK_INIT                                                      \
	{                                                                      \
		0, 0                                                           \
	}

static inline void mmk_spin_init(mmk_spinlock_t *l)
{
	atomic_init(&l->next, 0);
	atomic_init(&l->owner, 0);
}

/** Take @l without touching interrupts (caller has them off already). */
static inline void mmk_spin_lock_noirq(mmk_spinlock_t *l)
{
	uint32_t me =
		atomic_fetch_add_explicit(&l->next, 1, memory_order_relaxed);
	while (atomic_load_explicit(&l->owner, memory_order_acquire) != me)
		mmk_hal_cpu_relax();
}

static inline void mmk_spin_unlock_noirq(mmk_spinlock_t *l)
{
	uint32_t o = atomic_load_explicit(&l->owner, memory_order_relaxed);
	atomic_store_explicit(&l->owner, o + 1, memory_order_release);
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
	_Atomic uint32_t state;
} mmk_rwlock_t;

#define MMK_RW_WRITER  0x80000000u
#define MMK_RW_WAITING 0x40000000u
#define MMK_RW_READERS 0x3fffffffu

static inline void mmk_rw_init(mmk_rwlock_t *l)
{
	atomic_init(&l->state, 0);
}

static inline void mmk_rw_read_lock(mmk_rwlock_t *l)
{
	for (;;) {
		uint32_t s =
			atomic_load_explicit(&l->state, memory_order_relaxed);
		if (!(s & (MMK_RW_WRITER | MMK_RW_WAITING)) &&
		    atomic_compare_exchange_weak_explicit(&l->state, &s, s + 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		mmk_hal_cpu_relax();
	}
}

static inline void mmk_rw_read_unlock(mmk_rwlock_t *l)
{
	atomic_fetch_sub_explicit(&l->state, 1, memory_order_release);
}

static inline void mmk_rw_write_lock(mmk_rwlock_t *l)
{
	for (;;) {
		uint32_t s =
			atomic_load_explicit(&l->state, memory_order_relaxed);
		if ((s & ~MMK_RW_WAITING) == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &l->state, &s, MMK_RW_WRITER,
				    memory_order_acquire, memory_order_relaxed))
				return;
			continue;
		}
		if (!(s & MMK_RW_WAITING))
			atomic_fetch_or_explicit(&l->state, MMK_RW_WAITING,
						 memory_order_relaxed);
		mmk_hal_cpu_relax();
	}
}

static inline void mmk_rw_write_unlock(mmk_rwlock_t *l)
{
	atomic_store_explicit(&l->state, 0, memory_order_release);
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

#endif /* MMKIT_LOCK_H */
