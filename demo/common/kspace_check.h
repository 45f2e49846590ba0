/* SPDX-License-Identifier: MIT */
/* The kernel-space check (kspace_check.c). */
#ifndef MMKIT_DEMO_KSPACE_CHECK_H
#define MMKIT_DEMO_KSPACE_CHECK_H

#include "checks.h"

/**
 * Where the arch defines DEMO_KSPACE (riscv64, aarch64): build the kernel space
 * with mmk_kspace_init, run on a user space sharing its half, ioremap the
 * UART and print through it, vmalloc / vfree on the real MMU, then go
 * back to @kpt and tear it all down.  Prints "check kspace: ok - ...";
 * elsewhere prints nothing.  NULL unless it failed.
 */
const char *demo_check_kspace(struct mmk_pt *kpt, uint64_t page_size);

#ifdef DEMO_KSPACE
/** Send UART output to @va from now on (0: the identity address). */
void arch_uart_remap(uint64_t va);
#endif

#endif
