/* SPDX-License-Identifier: MIT */
/*
 * Faults that stop one process: a child writes to a read-only page, a
 * child jumps into non-executable memory, a child reads kernel memory
 * (mapped, but not for user mode), a child runs a trapping instruction;
 * each is killed by the kernel (which prints why) while this process
 * goes on.  W^X: a mapping asking
 * for write and execute is refused, by mmap and by mprotect.
 */
#include "ulib.h"

static void write_ro(void *p)
{
	*(volatile int *)p = 1;
}

static void jump_nx(void *p)
{
	((void (*)(void))p)();
}

static void read_kernel(void *p)
{
	(void)*(volatile long *)p;
}

static void trap(void *p)
{
	(void)p;
	__builtin_trap(); /* an instruction that traps: not a page fault */
}

static const char *yes(int status)
{
	return USTATUS_WAS_KILLED(status) ? "yes" : "no";
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	unsigned long pg = u_pagesz;
	long ro = u_anon(pg, UPROT_READ);
	long rw = u_anon(pg, UPROT_READ | UPROT_WRITE);
	if (ro < 0 || rw < 0) {
		uprintf("user fault: FAIL - mmap %ld %ld\n", ro, rw);
		return 1;
	}
	((volatile char *)rw)[0] = 0; /* populated: the fault is on NX */
	int s1 = u_run_child(write_ro, (void *)ro);
	int s2 = u_run_child(jump_nx, (void *)rw);
	int s3 = u_run_child(read_kernel, (void *)u_stat(USTAT_KERNEL_VA));
	int s4 = u_run_child(trap, 0);
	long wx = u_anon(pg, UPROT_READ | UPROT_WRITE | UPROT_EXEC);
	long mp = u_mprotect((void *)rw, pg, UPROT_WRITE | UPROT_EXEC);
	long rx = u_mprotect((void *)rw, pg, UPROT_READ | UPROT_EXEC);
	int ok = USTATUS_WAS_KILLED(s1) && USTATUS_WAS_KILLED(s2) &&
		 USTATUS_WAS_KILLED(s3) && USTATUS_WAS_KILLED(s4) &&
		 wx == -UE_ACCES && mp == -UE_ACCES && rx == 0;
	uprintf("user fault: %s - children killed: write to read-only %s, "
		"jump to no-exec %s, read of kernel memory %s, trap "
		"instruction %s; W^X: mmap(W|X) %ld, mprotect(W|X) %ld, "
		"mprotect(R|X) %ld; this process goes on\n",
		ok ? "ok" : "FAIL", yes(s1), yes(s2), yes(s3), yes(s4), wx, mp,
		rx);
	return !ok;
}
