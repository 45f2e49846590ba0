/* SPDX-License-Identifier: MIT */
/*
 * Faults that stop one process: a child writes to a read-only page, a
 * child jumps into non-executable memory; each is killed by the kernel
 * (which prints why) while this process goes on.  W^X: a mapping asking
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
	long wx = u_anon(pg, UPROT_READ | UPROT_WRITE | UPROT_EXEC);
	long mp = u_mprotect((void *)rw, pg, UPROT_WRITE | UPROT_EXEC);
	long rx = u_mprotect((void *)rw, pg, UPROT_READ | UPROT_EXEC);
	int ok = USTATUS_WAS_KILLED(s1) && USTATUS_WAS_KILLED(s2) &&
		 wx == -UE_ACCES && mp == -UE_ACCES && rx == 0;
	uprintf("user fault: %s - write to read-only: child %s; jump to "
		"no-exec: child %s; W^X: mmap(W|X) %ld, mprotect(W|X) %ld, "
		"mprotect(R|X) %ld; this process goes on\n",
		ok ? "ok" : "FAIL",
		USTATUS_WAS_KILLED(s1) ? "killed" : "not killed",
		USTATUS_WAS_KILLED(s2) ? "killed" : "not killed", wx, mp, rx);
	return !ok;
}
