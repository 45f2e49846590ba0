/* SPDX-License-Identifier: MIT */
/*
 * The user programs' runtime (ulib.c): no libc, the system calls of
 * demo/common/usyscall.h through the arch's stub (demo/<arch>/usys.h),
 * and a printf that writes whole lines.
 */
#ifndef MMKIT_DEMO_ULIB_H
#define MMKIT_DEMO_ULIB_H

#include "usyscall.h"
#include "usys.h"

typedef unsigned long size_t;

/* The base page (AT_PAGESZ from the loader's auxv). */
extern unsigned long u_pagesz;

static inline long u_write(int fd, const void *b, unsigned long n)
{
	return usys(USYS_WRITE, fd, (long)b, (long)n, 0, 0, 0);
}
__attribute__((noreturn)) void u_exit(int code);
static inline long u_wait(int *status)
{
	return usys(USYS_WAIT, (long)status, 0, 0, 0, 0, 0);
}
static inline long u_fork(void)
{
	return usys(USYS_FORK, 0, 0, 0, 0, 0, 0);
}
static inline long u_getpid(void)
{
	return usys(USYS_GETPID, 0, 0, 0, 0, 0, 0);
}
static inline long u_yield(void)
{
	return usys(USYS_YIELD, 0, 0, 0, 0, 0, 0);
}
static inline long u_mmap(void *a, unsigned long len, int prot, int flags,
			  int fd, long off)
{
	return usys(USYS_MMAP, (long)a, (long)len, prot, flags, fd, off);
}
static inline long u_munmap(void *a, unsigned long len)
{
	return usys(USYS_MUNMAP, (long)a, (long)len, 0, 0, 0, 0);
}
static inline long u_mprotect(void *a, unsigned long len, int prot)
{
	return usys(USYS_MPROTECT, (long)a, (long)len, prot, 0, 0, 0);
}
static inline long u_mremap(void *a, unsigned long old, unsigned long len,
			    int flags, void *new_addr)
{
	return usys(USYS_MREMAP, (long)a, (long)old, (long)len, flags,
		    (long)new_addr, 0);
}
static inline long u_brk(unsigned long a)
{
	return usys(USYS_BRK, (long)a, 0, 0, 0, 0, 0);
}
static inline long u_madvise(void *a, unsigned long len, int advice)
{
	return usys(USYS_MADVISE, (long)a, (long)len, advice, 0, 0, 0);
}
static inline long u_stat(int what)
{
	return usys(USYS_STAT, what, 0, 0, 0, 0, 0);
}

/* An anonymous private mapping (or a negative errno). */
static inline long u_anon(unsigned long len, int prot)
{
	return u_mmap(0, len, prot, UMAP_PRIVATE | UMAP_ANONYMOUS, -1, 0);
}

/* %d %u %x %s %c %p, with l / ll; one write per line. */
void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fork a child that runs @fn(arg) and exits 0 if it returns; the parent
 * waits for it and gets its wait() status. */
int u_run_child(void (*fn)(void *), void *arg);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

int main(int argc, char **argv);

#endif
