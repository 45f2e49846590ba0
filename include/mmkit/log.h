/* SPDX-License-Identifier: MIT */
/*
 * mmkit — logging and assertions.
 *
 * mmk_log formats a line itself (no libc) and hands it to mmk_hal_log.
 * Supported conversions: %s %c %d %i %u %x %p %% with the length modifiers
 * l and ll (and z for size_t); %#x adds 0x; a field width with 0 padding.
 *
 * Three levels of assertion (after mimalloc): MMK_ASSERT is always on and
 * guards against misuse that would corrupt memory; MMK_ASSERT_INTERNAL is
 * on in debug builds (MMK_CFG_DEBUG); MMK_ASSERT_EXPENSIVE only in test
 * builds that also define MMK_CFG_EXPENSIVE_CHECKS.
 */
#ifndef MMKIT_LOG_H
#define MMKIT_LOG_H

#include <mmkit/hal.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

void mmk_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** Format into @buf (always NUL-terminated); returns the length written. */
size_t mmk_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
size_t mmk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/** Log the failed condition and stop (calls __builtin_trap). */
MMK_NORETURN void mmk_panic(const char *file, int line, const char *what);

#define MMK_ASSERT(c)                                                          \
	do {                                                                   \
		if (MMK_UNLIKELY(!(c)))                                        \
			mmk_panic(__FILE__, __LINE__, #c);                     \
	} while (0)

#if MMK_CFG_DEBUG
#define MMK_ASSERT_INTERNAL(c) MMK_ASSERT(c)
#else
#define MMK_ASSERT_INTERNAL(c) ((void)0)
#endif

#if MMK_CFG_DEBUG && MMK_CFG_EXPENSIVE_CHECKS
#define MMK_ASSERT_EXPENSIVE(c) MMK_ASSERT(c)
#else
#define MMK_ASSERT_EXPENSIVE(c) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_LOG_H */
