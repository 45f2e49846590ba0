/* SPDX-License-Identifier: MIT */
/*
 * riscv64: the user registers a trap from U-mode saves (demo/common/
 * uproc.h).  Layout known to start.S: x0..x31 at 8 * i (x[0] unused),
 * the user pc (sepc) at 256.
 */
#ifndef MMKIT_DEMO_RISCV64_ARCH_UCTX_H
#define MMKIT_DEMO_RISCV64_ARCH_UCTX_H

#include <stdint.h>

#define ARCH_UART_GETC 1 /* arch_uart_getc: the QMP build's pauses */

struct arch_uctx {
	uint64_t x[32];
	uint64_t pc;
};

#endif
