/* SPDX-License-Identifier: MIT */
/* The kernel-like test project's own declarations. */
#ifndef KM_H
#define KM_H

#include <mmkit/frame.h>
#include <mmkit/hal.h>
#include <mmkit/pt.h>

#define KM_RAM_PA   0x80000000ull
#define KM_RAM_SIZE (4u << 20)

extern unsigned char km_ram[KM_RAM_SIZE];
void km_hal_init(void);

#endif
