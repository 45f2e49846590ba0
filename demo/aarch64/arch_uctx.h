/* SPDX-License-Identifier: MIT */
/*
 * aarch64: the user registers a trap from EL0 saves (demo/common/uproc.h).
 * The layout is the first part of start.S's trap frame: x0..x30 at 8 * i,
 * SP_EL0 at 248, the user pc (ELR_EL1) at 256, PSTATE (SPSR_EL1) at 264.
 */
#ifndef MMKIT_DEMO_AARCH64_ARCH_UCTX_H
#define MMKIT_DEMO_AARCH64_ARCH_UCTX_H

#include <stdint.h>

/* 16-bit ASIDs: cortex-a72 has them (ID_AA64MMFR0_EL1.ASIDBits) and
 * arch.c sets TCR_EL1.AS. */
#define ARCH_ASID_BITS 16

struct arch_uctx {
	uint64_t x[31];
	uint64_t sp;	 /* SP_EL0 */
	uint64_t pc;	 /* ELR_EL1: where the process goes on */
	uint64_t pstate; /* SPSR_EL1 (only NZCV is kept on return) */
};

#endif
