/* SPDX-License-Identifier: MIT */
/* mmkit — x86_64 paging modes (registration, see src/pt/formats.h). */
#ifndef MMK_ARCH_X86_64_PT_H
#define MMK_ARCH_X86_64_PT_H

#include "pt/format.h"

extern const struct mmk__pt_format mmk__pt_x86_64_4l;
extern const struct mmk__pt_format mmk__pt_x86_64_5l;

#define MMK_PT_FORMATS_X86_64                                                  \
	[MMK_PT_X86_64_4L] = &mmk__pt_x86_64_4l,                               \
	[MMK_PT_X86_64_5L] = &mmk__pt_x86_64_5l,

#endif
