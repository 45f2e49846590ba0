/* SPDX-License-Identifier: MIT */
/*
 * mremap moving a populated region keeps its contents; munmap makes a
 * later access fault (a child is killed); brk grows and shrinks (pages
 * given back come again zeroed); the kernel reads write()'s buffer
 * through the address space: a bad pointer is -EFAULT, not a crash.
 */
#include "ulib.h"

static void touch(void *p)
{
	(void)*(volatile long *)p;
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	unsigned long pg = u_pagesz;
	int ok = 1;

	/* mremap: 4 populated pages, a neighbour right after them, then
	 * grow to 8 pages: they must move */
	long a = u_anon(4 * pg, UPROT_READ | UPROT_WRITE);
	long nb = a < 0 ? a
			: u_mmap((void *)(a + 4 * pg), pg, UPROT_READ,
				 UMAP_PRIVATE | UMAP_ANONYMOUS | UMAP_FIXED, -1,
				 0);
	if (a < 0 || nb != a + 4 * (long)pg) {
		uprintf("user mem: FAIL - mmap %ld %ld\n", a, nb);
		return 1;
	}
	for (int i = 0; i < 4; i++)
		((volatile long *)a)[i * pg / sizeof(long) + 3] = 0x5a00 + i;
	long m = u_mremap((void *)a, 4 * pg, 8 * pg, UMREMAP_MAYMOVE, 0);
	int kept = 0;
	if (m > 0 && m != a)
		for (int i = 0; i < 4; i++)
			kept += ((volatile long *)
					 m)[i * pg / sizeof(long) + 3] ==
				0x5a00 + i;
	ok &= m > 0 && m != a && kept == 4;
	uprintf("user mem: %s - mremap moved 4 populated pages %#lx -> %#lx "
		"(grown to 8), %d of 4 kept their contents\n",
		m > 0 && m != a && kept == 4 ? "ok" : "FAIL", a, m, kept);

	/* munmap: the page goes, a later access faults */
	long u = u_anon(pg, UPROT_READ | UPROT_WRITE);
	((volatile long *)u)[0] = 1;
	long un = u_munmap((void *)u, pg);
	int st = u_run_child(touch, (void *)u);
	ok &= un == 0 && USTATUS_WAS_KILLED(st);
	uprintf("user mem: %s - munmap %ld, then a read of %#lx: child %s\n",
		un == 0 && USTATUS_WAS_KILLED(st) ? "ok" : "FAIL", un, u,
		USTATUS_WAS_KILLED(st) ? "killed" : "not killed");

	/* brk: grow 3 pages, write the last, shrink to 1, grow again */
	long b0 = u_brk(0);
	long b1 = u_brk(b0 + 3 * pg);
	((volatile char *)b0)[0] = 11;
	((volatile char *)b0)[2 * pg] = 13;
	long b2 = u_brk(b0 + pg);
	long b3 = u_brk(b0 + 3 * pg);
	int zero = ((volatile char *)b0)[2 * pg] == 0;
	int kept0 = ((volatile char *)b0)[0] == 11;
	int bok = b1 == b0 + 3 * (long)pg && b2 == b0 + (long)pg &&
		  b3 == b0 + 3 * (long)pg && zero && kept0;
	ok &= bok;
	uprintf("user mem: %s - brk %#lx: +3 pages %#lx, shrunk to %#lx, "
		"grown again %#lx: first page kept, third page zero again\n",
		bok ? "ok" : "FAIL", b0, b1, b2, b3);

	/* write(): the kernel copies through the address space */
	long k = u_write(1, (const void *)u_stat(USTAT_KERNEL_VA), 16);
	long n = u_write(1, (const void *)u, 16); /* unmapped */
	long z = u_write(1, (const void *)b0, 0);
	int wok = k == -UE_FAULT && n == -UE_FAULT && z == 0;
	ok &= wok;
	uprintf("user mem: %s - write() of a kernel address %ld, of an "
		"unmapped one %ld (EFAULT), of 0 bytes %ld\n",
		wok ? "ok" : "FAIL", k, n, z);
	return !ok;
}
