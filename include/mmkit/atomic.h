/* SPDX-License-Identifier: MIT */
/*
 * mmkit — atomics that C11 and C++ headers both accept.
 *
 * Public structs declare their atomic fields with MMK_ATOMIC(T), T an
 * integer type of 1, 2, 4 or 8 bytes:
 *  - in C it is C11's `_Atomic T` (<stdatomic.h>, part of the freestanding
 *    set), and the core uses the atomic_* functions on it as usual;
 *  - in C++ it is a plain T aligned to its size, which is what `_Atomic T`
 *    is for these sizes on every ABI mmkit supports (tests/cxx checks size
 *    and offset of every field against the C compiler's).  C++ code touches
 *    such fields only through the mmk_atomic_* operations below, which are
 *    the GCC/clang __atomic builtins there.
 *
 * The operations take a pointer to an MMK_ATOMIC field and one of the
 * MMK_MO_* orders.  In C they expand to exactly the <stdatomic.h> calls, so
 * inline code written with them compiles to what it did before.
 */
#ifndef MMKIT_ATOMIC_H
#define MMKIT_ATOMIC_H

#include <mmkit/types.h>
#ifndef __cplusplus
#include <stdatomic.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus

#define MMK_ATOMIC(T) alignas(sizeof(T)) T

#define MMK_MO_RELAXED __ATOMIC_RELAXED
#define MMK_MO_ACQUIRE __ATOMIC_ACQUIRE
#define MMK_MO_RELEASE __ATOMIC_RELEASE
#define MMK_MO_ACQ_REL __ATOMIC_ACQ_REL
#define MMK_MO_SEQ_CST __ATOMIC_SEQ_CST

#define mmk_atomic_init(p, v)	       __atomic_store_n(p, v, __ATOMIC_RELAXED)
#define mmk_atomic_load(p, mo)	       __atomic_load_n(p, mo)
#define mmk_atomic_store(p, v, mo)     __atomic_store_n(p, v, mo)
#define mmk_atomic_fetch_add(p, v, mo) __atomic_fetch_add(p, v, mo)
#define mmk_atomic_fetch_sub(p, v, mo) __atomic_fetch_sub(p, v, mo)
#define mmk_atomic_fetch_or(p, v, mo)  __atomic_fetch_or(p, v, mo)
#define mmk_atomic_fetch_and(p, v, mo) __atomic_fetch_and(p, v, mo)
/* Weak compare-and-swap: *@exp is updated on failure, as in C11. */
#define mmk_atomic_cas_weak(p, exp, v, mo_ok, mo_fail)                         \
	__atomic_compare_exchange_n(p, exp, v, true, mo_ok, mo_fail)

#else /* C11 */

#define MMK_ATOMIC(T) _Atomic T

#define MMK_MO_RELAXED memory_order_relaxed
#define MMK_MO_ACQUIRE memory_order_acquire
#define MMK_MO_RELEASE memory_order_release
#define MMK_MO_ACQ_REL memory_order_acq_rel
#define MMK_MO_SEQ_CST memory_order_seq_cst

#define mmk_atomic_init(p, v)	       atomic_init(p, v)
#define mmk_atomic_load(p, mo)	       atomic_load_explicit(p, mo)
#define mmk_atomic_store(p, v, mo)     atomic_store_explicit(p, v, mo)
#define mmk_atomic_fetch_add(p, v, mo) atomic_fetch_add_explicit(p, v, mo)
#define mmk_atomic_fetch_sub(p, v, mo) atomic_fetch_sub_explicit(p, v, mo)
#define mmk_atomic_fetch_or(p, v, mo)  atomic_fetch_or_explicit(p, v, mo)
#define mmk_atomic_fetch_and(p, v, mo) atomic_fetch_and_explicit(p, v, mo)
#define mmk_atomic_cas_weak(p, exp, v, mo_ok, mo_fail)                         \
	atomic_compare_exchange_weak_explicit(p, exp, v, mo_ok, mo_fail)

#endif

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_ATOMIC_H */
