/* SPDX-License-Identifier: MIT */
/*
 * The demo kernels' system calls: numbers and constants shared by the
 * kernel (demo/common/uproc.c) and the user programs (demo/user/).  The
 * numbers are the demo's own; the memory calls take Linux's arguments and
 * flags (their values are Linux's, the same as mmkit's MMK_SYS_*) and
 * return what Linux returns (>= 0, or -errno with Linux's numbers).
 *
 * Plain C with no includes: the user side has no libc.
 */
#ifndef MMKIT_DEMO_USYSCALL_H
#define MMKIT_DEMO_USYSCALL_H

/* ------------------------------------------------------------ numbers */
#define USYS_WRITE    1	 /* write(fd 1 or 2, buf, len) -> len */
#define USYS_EXIT     2	 /* exit(code): never returns */
#define USYS_WAIT     3	 /* wait(&status or 0) -> pid of a child that ended */
#define USYS_FORK     4	 /* fork() -> child's pid (parent), 0 (child) */
#define USYS_GETPID   5	 /* getpid() -> pid */
#define USYS_YIELD    6	 /* yield(): let the other processes run */
#define USYS_MMAP     7	 /* mmap(addr, len, prot, flags, fd, off) */
#define USYS_MUNMAP   8	 /* munmap(addr, len) */
#define USYS_MPROTECT 9	 /* mprotect(addr, len, prot) */
#define USYS_MREMAP   10 /* mremap(addr, old, new, flags, new_addr) */
#define USYS_BRK      11 /* brk(addr) -> the new (or unchanged) break */
#define USYS_MADVISE  12 /* madvise(addr, len, advice) */
#define USYS_STAT     13 /* stat(USTAT_*) -> a figure of the kernel's */
#define USYS_NCALLS   14

/* USYS_STAT's argument: what figure. */
#define USTAT_FAULTS	   1 /* page faults of the caller mmkit resolved */
#define USTAT_FORK_WRITES  2 /* entries the caller's last fork wrote (user) */
#define USTAT_FORK_SHARED  3 /* leaf tables that fork shared, not copied */
#define USTAT_FORK_LEAVES  4 /* user leaves the child got in that fork */
#define USTAT_FRAMES_FREE  5 /* free frames in the kernel's allocator */
#define USTAT_KERNEL_VA	   6 /* an address of the kernel's data (mapped) */
#define USTAT_FORK_KWRITES 7 /* and in the kernel's identity range */

/* wait()'s status: exited with code c: c << 8; killed by the kernel after
 * a fault it could not resolve: USTATUS_KILLED (as SIGSEGV). */
#define USTATUS_KILLED	      11
#define USTATUS_EXITED(s)     (((s)&0x7f) == 0)
#define USTATUS_CODE(s)	      (((s) >> 8) & 0xff)
#define USTATUS_WAS_KILLED(s) (((s)&0x7f) == USTATUS_KILLED)

/* ------------------------------------------- Linux's values (errno) */
#define UE_PERM	 1
#define UE_NOMEM 12
#define UE_ACCES 13
#define UE_FAULT 14
#define UE_CHILD 10
#define UE_INVAL 22
#define UE_BADF	 9
#define UE_NOSYS 38

#define UPROT_NONE  0x0
#define UPROT_READ  0x1
#define UPROT_WRITE 0x2
#define UPROT_EXEC  0x4

#define UMAP_SHARED    0x01
#define UMAP_PRIVATE   0x02
#define UMAP_FIXED     0x10
#define UMAP_ANONYMOUS 0x20
#define UMAP_POPULATE  0x8000

#define UMREMAP_MAYMOVE 1
#define UMREMAP_FIXED	2

#define UMADV_DONTNEED 4

#endif /* MMKIT_DEMO_USYSCALL_H */
