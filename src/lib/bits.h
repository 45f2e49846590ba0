/* SPDX-License-Identifier: MIT */
/*
 * mmkit — bit counts of 64-bit values without compiler helper libraries.
 *
 * __builtin_popcountll / ctzll / clzll compile to one instruction only where
 * the target has it; elsewhere GCC emits calls to libgcc (__popcountdi2 on
 * x86_64 without POPCNT, __ctzdi2 / __clzdi2 on riscv64 without Zbb), which
 * many kernels do not link.  These helpers use the builtin where the
 * instruction is known to exist and plain C everywhere else, so the core
 * needs nothing but the HAL and the four mem functions
 * (tools/check-freestanding.sh checks it with GCC and clang).
 *
 * Contract: ctz and clz take a non-zero value (as the builtins do); any
 * caller must test for zero first.  All are pure and usable anywhere.
 */
#ifndef MMK_LIB_BITS_H
#define MMK_LIB_BITS_H

#include <stdint.h>

/* Targets whose base ISA counts trailing / leading zeros in one or two
 * instructions (bsf/tzcnt, rbit+clz, ctz.d/clz.d, Zbb's ctz/clz). */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) ||        \
	defined(__loongarch__) || defined(__riscv_zbb)
#define MMK__HAVE_CTZ_INSN 1
#else
#define MMK__HAVE_CTZ_INSN 0
#endif

/* Targets with a scalar population count (x86 POPCNT, Zbb's cpop).
 * aarch64's is a SIMD instruction, unusable with -mgeneral-regs-only. */
#if defined(__POPCNT__) || defined(__riscv_zbb)
#define MMK__HAVE_POPCOUNT_INSN 1
#else
#define MMK__HAVE_POPCOUNT_INSN 0
#endif

/** Number of set bits in @x. */
static inline unsigned mmk__popcount64(uint64_t x)
{
#if MMK__HAVE_POPCOUNT_INSN
	return (unsigned)__builtin_popcountll(x);
#else
	/* Sum bits in pairs, nibbles, then bytes (Hacker's Delight 5-1). */
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	x += x >> 8;
	x += x >> 16;
	x += x >> 32;
	return (unsigned)(x & 0x7f);
#endif
}

/** Index of the lowest set bit of @x; @x must not be 0. */
static inline unsigned mmk__ctz64(uint64_t x)
{
#if MMK__HAVE_CTZ_INSN
	return (unsigned)__builtin_ctzll(x);
#else
	/* The lowest set bit alone, times a de Bruijn sequence: its top six
	 * bits are distinct for each of the 64 positions. */
	static const uint8_t pos[64] = {
		0,  1,	2,  53, 3,  7,	54, 27, 4,  38, 41, 8,	34, 55, 48, 28,
		62, 5,	39, 46, 44, 42, 22, 9,	24, 35, 59, 56, 49, 18, 29, 11,
		63, 52, 6,  26, 37, 40, 33, 47, 61, 45, 43, 21, 23, 58, 17, 10,
		51, 25, 36, 32, 60, 20, 57, 16, 50, 31, 19, 15, 30, 14, 13, 12,
	};
	return pos[((x & (0 - x)) * 0x022fdd63cc95386dull) >> 58];
#endif
}

/** Number of zero bits above the highest set bit of @x; @x must not be 0. */
static inline unsigned mmk__clz64(uint64_t x)
{
#if MMK__HAVE_CTZ_INSN
	return (unsigned)__builtin_clzll(x);
#else
	unsigned n = 0;
	for (unsigned s = 32; s; s >>= 1) { /* halve the window each step */
		if (!(x >> (64 - s))) {
			n += s;
			x <<= s;
		}
	}
	return n;
#endif
}

#endif /* MMK_LIB_BITS_H */
