/* SPDX-License-Identifier: MIT */
/*
 * The hosted HAL's CPU and interrupt hooks as static inline functions
 * (MMK_CFG_HAL_INLINE), as a kernel would give them: the benchmark's build
 * of the core uses this, the test build the out-of-line ones in hosted.c
 * (the same behaviour).  User space has no interrupts to mask.
 */
#ifndef MMK_HOSTED_INLINE_H
#define MMK_HOSTED_INLINE_H

extern __thread int mmk_hosted_cpu; /* -1 until registered (see mmk_hosted.h) */
unsigned mmk_hosted_register_cpu(void);
void mmk_hosted_relax(void);

static inline unsigned mmk_hal_cpu_id(void)
{
	int c = mmk_hosted_cpu;
	return __builtin_expect(c >= 0, 1) ? (unsigned)c
					   : mmk_hosted_register_cpu();
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
