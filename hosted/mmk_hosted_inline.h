/* SPDX-License-Identifier: MIT */
/*
 * The hosted HAL's CPU and interrupt hooks as static inline functions
 * (MMK_CFG_HAL_INLINE), as a kernel would give them: the benchmark's build
 * of the core uses this, the test build the out-of-line ones in hosted.c
 * (the same behaviour).  User space has no interrupts to mask.
 */
#ifndef MMK_HOSTED_INLINE_H
#define MMK_HOSTED_INLINE_H

/* Local-exec: the core is linked into the program, as in a kernel.
 * __thread, not _Thread_local: C++ reads it too (see mmk_hosted.h). */
extern __thread int mmk_hosted_cpu
	__attribute__((tls_model("local-exec"))); /* -1 until registered */
unsigned mmk_hosted_register_cpu(void);
void mmk_hosted_relax(void);
__attribute__((noreturn, cold)) void mmk_hosted_not_a_cpu(void);

/*
 * As a kernel's per-CPU read: the thread must be a CPU already
 * (mmk_hosted_init or mmk_hosted_register_cpu), else it stops.  No lazy
 * registration here: a call that returns would make every fast path
 * around it save registers.
 */
static inline unsigned mmk_hal_cpu_id(void)
{
	unsigned c = (unsigned)mmk_hosted_cpu;
	if (__builtin_expect(c >= MMK_CFG_MAX_CPUS, 0))
		mmk_hosted_not_a_cpu();
	return c;
}

static inline unsigned long mmk_hal_irq_save(void)
{
	return 0;
}

static inline void mmk_hal_irq_restore(unsigned long flags)
{
	(void)flags;
}

static inline void mmk_hal_cpu_relax(void)
{
	mmk_hosted_relax();
}

#endif
