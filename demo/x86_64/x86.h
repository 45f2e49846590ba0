/* SPDX-License-Identifier: MIT */
/* x86_64 demo kernel: what arch.c, user.c and start.S share. */
#ifndef MMKIT_DEMO_X86_64_X86_H
#define MMKIT_DEMO_X86_64_X86_H

#include "demo.h"

/* The frame trap_common (start.S) builds: the GPRs it pushes, the vector
 * and error code of the stub, what the CPU pushed. */
struct x86_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx,
		rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* The vector start.S's syscall entry gives its frame. */
#define X86_VEC_SYSCALL 0x100

void x86_trap(struct x86_frame *tf);

/** A trap from ring 3 (user.c): never returns. */
_Noreturn void x86_user_trap(const struct x86_frame *tf,
			     const struct demo_fault *f);

/** The names x86_trap gives the exception vectors. */
const char *x86_vector_name(uint64_t vector);

#endif
