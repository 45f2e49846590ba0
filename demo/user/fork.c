/* SPDX-License-Identifier: MIT */
/*
 * fork with copy on write: after fork, parent and child each see only
 * their own writes to private memory (the copy happens at the first
 * write: one fault, the next write none), both see writes to MAP_SHARED
 * memory; fork's cost is the table entries it wrote.  A populated 4 MiB
 * region holds at least one whole leaf table's span (2 MiB with 4 KiB
 * pages): mmkit's fork may share that table with the child instead of
 * copying it.
 */
#include "ulib.h"

#define NPRIV 16

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	unsigned long pg = u_pagesz;
	long a = u_anon(NPRIV * pg, UPROT_READ | UPROT_WRITE);
	long s = u_mmap(0, pg, UPROT_READ | UPROT_WRITE,
			UMAP_SHARED | UMAP_ANONYMOUS, -1, 0);
	if (a < 0 || s < 0) {
		uprintf("user fork: FAIL - mmap %ld %ld\n", a, s);
		return 1;
	}
	unsigned long big_len = 4ul << 20;
	long big = u_mmap(0, big_len, UPROT_READ | UPROT_WRITE,
			  UMAP_PRIVATE | UMAP_ANONYMOUS | UMAP_POPULATE, -1, 0);
	if (big < 0) {
		uprintf("user fork: FAIL - mmap 4 MiB %ld\n", big);
		return 1;
	}
	volatile long *priv = (volatile long *)a, *shared = (volatile long *)s;
	volatile long *bp = (volatile long *)big;
	for (int i = 0; i < NPRIV; i++)
		priv[i * pg / sizeof(long)] = 100 + i;
	shared[0] = 1;
	bp[0] = 7;
	long me = u_getpid();
	long pid = u_fork();
	if (pid < 0) {
		uprintf("user fork: FAIL - fork %ld\n", pid);
		return 1;
	}
	if (pid == 0) {
		/* the parent wrote 200 before it waited: not seen here */
		long seen = priv[0];
		long f0 = u_stat(USTAT_FAULTS);
		priv[0] = 300;
		long f1 = u_stat(USTAT_FAULTS);
		priv[1] = 301;
		long f2 = u_stat(USTAT_FAULTS);
		shared[0] = 2;
		long f3 = u_stat(USTAT_FAULTS);
		bp[big_len / sizeof(long) - 1] = 9; /* in the last leaf table */
		long f4 = u_stat(USTAT_FAULTS);
		int ok = seen == 100 && u_getpid() != me && f1 - f0 == 1 &&
			 f2 - f1 == 0 && f3 - f2 == 0 && priv[0] == 300 &&
			 f4 - f3 == 1 && bp[0] == 7;
		uprintf("user fork child: %s - sees %ld (not the parent's "
			"200); first write faults %ld (copy), next %ld; "
			"MAP_SHARED write faults %ld; a write in the 4 MiB "
			"region faults %ld\n",
			ok ? "ok" : "FAIL", seen, f1 - f0, f2 - f1, f3 - f2,
			f4 - f3);
		u_exit(ok ? 0 : 1);
	}
	long f0 = u_stat(USTAT_FAULTS);
	priv[0] = 200;
	long f1 = u_stat(USTAT_FAULTS);
	priv[0] = 201;
	long f2 = u_stat(USTAT_FAULTS);
	int st = -1;
	long w = u_wait(&st);
	long mine = priv[0], sh = shared[0];
	long writes = u_stat(USTAT_FORK_WRITES);
	long kwrites = u_stat(USTAT_FORK_KWRITES);
	long leaves = u_stat(USTAT_FORK_LEAVES);
	long tshared = u_stat(USTAT_FORK_SHARED);
	int ok = w == pid && USTATUS_EXITED(st) && USTATUS_CODE(st) == 0 &&
		 mine == 201 && sh == 2 && f1 - f0 == 1 && f2 - f1 == 0 &&
		 priv[pg / sizeof(long)] == 101 && writes > 0 &&
		 bp[big_len / sizeof(long) - 1] == 0;
	uprintf("user fork: %s - fork wrote %ld table entries for %ld user "
		"pages (%ld leaf tables shared, not copied) and %ld for the "
		"kernel's identity map; parent's first write faults %ld "
		"(copy), "
		"next %ld; keeps %ld, sees the child's MAP_SHARED %ld; child "
		"status %#x\n",
		ok ? "ok" : "FAIL", writes, leaves, tshared, kwrites, f1 - f0,
		f2 - f1, mine, sh, st);
	return !ok;
}
