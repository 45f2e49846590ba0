/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the formats compiled into this build.
 *
 * Each architecture folder that holds a pt_<arch>.h registers its paging
 * modes by defining MMK_PT_FORMATS_<ARCH> as designated initialisers of
 * pt.c's table ("[MMK_PT_<ID>] = &descriptor,").  A folder that is absent
 * contributes nothing.  A kernel build picks any subset with
 * MMK_CFG_PT_<ARCH>=0/1 (X86_64, RISCV64, AARCH64, LOONGARCH64; each
 * defaults to 1) and compiles src/arch/<arch>/ for those set to 1; mmkit.mk
 * and cmake/mmkit-sources.cmake pass the zeros for it.  The older
 * MMK_CFG_PT_ONLY_<ARCH> still works: given for some architectures, the
 * others default to 0.
 */
#ifndef MMK_PT_FORMATS_H
#define MMK_PT_FORMATS_H

#if defined(MMK_CFG_PT_ONLY_X86_64) || defined(MMK_CFG_PT_ONLY_RISCV64) ||     \
	defined(MMK_CFG_PT_ONLY_AARCH64) ||                                    \
	defined(MMK_CFG_PT_ONLY_LOONGARCH64)
#define MMK__PT_ONLY 1
#else
#define MMK__PT_ONLY 0
#endif

#ifndef MMK_CFG_PT_X86_64
#if MMK__PT_ONLY && !defined(MMK_CFG_PT_ONLY_X86_64)
#define MMK_CFG_PT_X86_64 0
#else
#define MMK_CFG_PT_X86_64 1
#endif
#endif
#ifndef MMK_CFG_PT_RISCV64
#if MMK__PT_ONLY && !defined(MMK_CFG_PT_ONLY_RISCV64)
#define MMK_CFG_PT_RISCV64 0
#else
#define MMK_CFG_PT_RISCV64 1
#endif
#endif
#ifndef MMK_CFG_PT_AARCH64
#if MMK__PT_ONLY && !defined(MMK_CFG_PT_ONLY_AARCH64)
#define MMK_CFG_PT_AARCH64 0
#else
#define MMK_CFG_PT_AARCH64 1
#endif
#endif
#ifndef MMK_CFG_PT_LOONGARCH64
#if MMK__PT_ONLY && !defined(MMK_CFG_PT_ONLY_LOONGARCH64)
#define MMK_CFG_PT_LOONGARCH64 0
#else
#define MMK_CFG_PT_LOONGARCH64 1
#endif
#endif

#if MMK_CFG_PT_X86_64 && __has_include("arch/x86_64/pt_x86_64.h")
#include "arch/x86_64/pt_x86_64.h"
#endif
#if MMK_CFG_PT_RISCV64 && __has_include("arch/riscv64/pt_riscv64.h")
#include "arch/riscv64/pt_riscv64.h"
#endif
#if MMK_CFG_PT_AARCH64 && __has_include("arch/aarch64/pt_aarch64.h")
#include "arch/aarch64/pt_aarch64.h"
#endif
#if MMK_CFG_PT_LOONGARCH64 && __has_include("arch/loongarch64/pt_loongarch64.h")
#include "arch/loongarch64/pt_loongarch64.h"
#endif

#ifndef MMK_PT_FORMATS_X86_64
#define MMK_PT_FORMATS_X86_64
#endif
#ifndef MMK_PT_FORMATS_RISCV64
#define MMK_PT_FORMATS_RISCV64
#endif
#ifndef MMK_PT_FORMATS_AARCH64
#define MMK_PT_FORMATS_AARCH64
#endif
#ifndef MMK_PT_FORMATS_LOONGARCH64
#define MMK_PT_FORMATS_LOONGARCH64
#endif

#define MMK_PT_ALL_FORMATS                                                     \
	MMK_PT_FORMATS_X86_64 MMK_PT_FORMATS_RISCV64 MMK_PT_FORMATS_AARCH64    \
		MMK_PT_FORMATS_LOONGARCH64

#endif /* MMK_PT_FORMATS_H */
