/* SPDX-License-Identifier: MIT */
/*
 * What a freestanding C environment must provide (memset, memcpy, memmove,
 * memcmp), and the demo's console output.  no_builtin keeps clang from
 * turning these loops back into calls to themselves.
 */
#include "demo.h"

#include <stdarg.h>

#define NO_BUILTIN __attribute__((no_builtin))

NO_BUILTIN void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

NO_BUILTIN void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

NO_BUILTIN void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	if (dp < sp) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

NO_BUILTIN int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

void demo_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			arch_putc('\r');
		arch_putc(*s);
	}
}

void demo_printf(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	mmk_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	demo_puts(line);
}

_Noreturn void demo_fail(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	va_start(ap, fmt);
	mmk_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	demo_printf("mmkit demo: FAIL: %s\n", line);
	arch_exit(false);
}
