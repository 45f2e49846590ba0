/* SPDX-License-Identifier: MIT */
/*
 * mmkit — aarch64 paging modes (registration, see src/pt/formats.h), and
 * the register values a kernel programs to match the encoding.
 */
#ifndef MMK_ARCH_AARCH64_PT_H
#define MMK_ARCH_AARCH64_PT_H

#include "pt/format.h"

/* TTBR0 (lower half) descriptors; MMK_PT_OPT_HIGH_HALF switches a table to
 * the matching TTBR1 descriptor at create. */
extern const struct mmk__pt_format mmk__pt_aarch64_39;
extern const struct mmk__pt_format mmk__pt_aarch64_48;
extern const struct mmk__pt_format mmk__pt_aarch64_39_high;
extern const struct mmk__pt_format mmk__pt_aarch64_48_high;

#define MMK_PT_FORMATS_AARCH64                                                 \
	[MMK_PT_AARCH64_39] = &mmk__pt_aarch64_39,                             \
	[MMK_PT_AARCH64_48] = &mmk__pt_aarch64_48,

/*
 * MAIR_EL1 as the format assumes it.  AttrIndx (descriptor bits 4:2) is the
 * MMK_PT_MT_* value itself, so each memory type reads back exactly:
 *
 *   index  byte  Arm memory type                   MMK_PT_MT_*
 *   0      0xFF  Normal, inner/outer WB RW-alloc   NORMAL
 *   1      0x04  Device-nGnRE                      DEVICE (MMIO, as ioremap)
 *   2      0x00  Device-nGnRnE                     UNCACHED (strongly ordered)
 *   3      0x44  Normal inner/outer non-cacheable  WC (gathering allowed)
 */
#define MMK_AARCH64_MAIR_EL1 0x440004ffull

/* Fields of TCR_EL1 for the half a table serves (4 KiB granule, inner
 * shareable, inner/outer write-back walks).  The kernel ORs in IPS, AS,
 * A1, TBI and EPD for the half it leaves unused. */
#define MMK_AARCH64_TCR_T0(va_bits)                                            \
	((uint64_t)(64 - (va_bits)) | 1ull << 8 | 1ull << 10 | 3ull << 12 |    \
	 0ull << 14)
#define MMK_AARCH64_TCR_T1(va_bits)                                            \
	((uint64_t)(64 - (va_bits)) << 16 | 1ull << 24 | 1ull << 26 |          \
	 3ull << 28 | 2ull << 30)

#endif
