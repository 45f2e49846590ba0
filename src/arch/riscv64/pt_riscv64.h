/* SPDX-License-Identifier: MIT */
/* mmkit — riscv64 paging modes (registration, see src/pt/formats.h). */
#ifndef MMK_ARCH_RISCV64_PT_H
#define MMK_ARCH_RISCV64_PT_H

#include "pt/format.h"

extern const struct mmk__pt_format mmk__pt_riscv_sv39;
extern const struct mmk__pt_format mmk__pt_riscv_sv48;
extern const struct mmk__pt_format mmk__pt_riscv_sv57;

#define MMK_PT_FORMATS_RISCV64                                                 \
	[MMK_PT_RISCV_SV39] = &mmk__pt_riscv_sv39,                             \
	[MMK_PT_RISCV_SV48] = &mmk__pt_riscv_sv48,                             \
	[MMK_PT_RISCV_SV57] = &mmk__pt_riscv_sv57,

#endif
