/* SPDX-License-Identifier: MIT */
/*
 * loongarch64: the user registers a trap from PLV3 saves (demo/common/
 * uproc.h).  Layout known to start.S: r0..r31 at 8 * i (r[0] unused),
 * the user pc (ERA) at 256.
 */
#ifndef MMKIT_DEMO_LOONGARCH64_ARCH_UCTX_H
#define MMKIT_DEMO_LOONGARCH64_ARCH_UCTX_H

#include <stdint.h>

struct arch_uctx {
	uint64_t r[32];
	uint64_t pc;
};

#endif
