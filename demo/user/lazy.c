/* SPDX-License-Identifier: MIT */
/*
 * Lazy allocation: an anonymous mapping has no pages until touched; the
 * first write of each page faults once (mmkit maps a zeroed frame), a
 * second touch does not.  Pages read first get the shared zero page (one
 * fault), and their first write faults once more (a private copy).
 */
#include "ulib.h"

#define N 8

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	unsigned long pg = u_pagesz;
	long a = u_anon(N * pg, UPROT_READ | UPROT_WRITE);
	long r = u_anon(4 * pg, UPROT_READ | UPROT_WRITE);
	if (a < 0 || r < 0) {
		uprintf("user lazy: FAIL - mmap %ld %ld\n", a, r);
		return 1;
	}
	volatile char *p = (volatile char *)a, *q = (volatile char *)r;
	long f0 = u_stat(USTAT_FAULTS);
	for (int i = 0; i < N; i++)
		p[i * pg] = (char)(i + 1);
	long f1 = u_stat(USTAT_FAULTS);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		p[i * pg + 1] = 1;
		bad |= p[i * pg] != (char)(i + 1);
	}
	long f2 = u_stat(USTAT_FAULTS);
	int zeros = 0;
	for (int i = 0; i < 4; i++)
		zeros += q[i * pg + 5] == 0;
	long f3 = u_stat(USTAT_FAULTS);
	for (int i = 0; i < 4; i++)
		q[i * pg + 5] = 7;
	long f4 = u_stat(USTAT_FAULTS);
	for (int i = 0; i < 4; i++)
		bad |= q[i * pg + 5] != 7;
	long f5 = u_stat(USTAT_FAULTS);
	/* madvise(DONTNEED): the pages go; they read 0 and fault again */
	long md = u_madvise((void *)a, 2 * pg, UMADV_DONTNEED);
	long f6 = u_stat(USTAT_FAULTS);
	int gone = p[0] == 0 && p[pg] == 0 && p[2 * pg] == 3;
	long f7 = u_stat(USTAT_FAULTS);
	int mok = md == 0 && gone && f7 - f6 == 2;
	long w = f1 - f0, w2 = f2 - f1, rd = f3 - f2, cw = f4 - f3,
	     again = f5 - f4;
	if (bad || zeros != 4 || w != N || w2 || rd != 4 || cw != 4 || again)
		uprintf("user lazy: FAIL - faults %ld then %ld; read %ld, "
			"write "
			"%ld, then %ld; zeros %d, data %s\n",
			w, w2, rd, cw, again, zeros, bad ? "wrong" : "right");
	else
		uprintf("user lazy: ok - %d pages written: faults %ld then "
			"%ld; "
			"4 pages read first: faults %ld (zero page), first "
			"write %ld (own copy), then %ld\n",
			N, w, w2, rd, cw, again);
	uprintf("user lazy: %s - madvise(DONTNEED) of 2 written pages %ld: "
		"they read 0 again (faults %ld), the third kept its data\n",
		mok ? "ok" : "FAIL", md, f7 - f6);
	return bad || zeros != 4 || w != N || w2 || rd != 4 || cw != 4 ||
	       again || !mok;
}
