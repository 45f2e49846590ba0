/* SPDX-License-Identifier: MIT */
/*
 * mmkit — the memory system calls with Linux's semantics: one call per
 * system call, for a kernel's syscall table to call with the process's
 * context (struct mmk_sys_mm) and the raw arguments.
 *
 *   syscall table entry          mmkit
 *   mmap(a, len, prot, fl, fd, off)   mmk_sys_mmap(mm, a, len, prot, fl, fd,
 * off) munmap / mprotect / mremap / madvise / mlock / mlock2 / munlock /
 *   mlockall / munlockall / mincore / msync / brk   mmk_sys_<name>(mm, ...)
 *
 * Every call returns what Linux's returns to user space: a result >= 0
 * (an address for mmap, mremap and brk, else 0), or -errno with Linux's
 * number (MMK_SYS_E*, below) for Linux's reason, checked in Linux's
 * order.  The numbers are Linux's generic ones, the same on x86_64,
 * riscv64, aarch64 and loongarch64.  The core is freestanding, so the
 * constants are mmkit's own (no <sys/mman.h>).
 *
 * Private and shared anonymous memory are complete; files are mapped
 * (MAP_PRIVATE and MAP_SHARED, through the pager) once mm->shared gives a
 * way from a descriptor to its struct mmk_file; without it a descriptor
 * fails with -EBADF (no file table here).  Shared and file areas behave
 * as Linux's: mremap grows them (the object or file keeps its size: a
 * fault past its end is MMK_ERANGE, Linux's SIGBUS), moves them (also
 * with MREMAP_DONTUNMAP: the old range still maps the object) and, with
 * old_len 0, duplicates a shared one; mincore counts a shared page while
 * its object holds it; MAP_POPULATE and mlock read shared areas in;
 * MADV_REMOVE frees a range of shared anonymous memory (reads see zeros
 * after; -EINVAL for private memory, -EACCES for private or read-only
 * file mappings, -EOPNOTSUPP for shared files: no pager call punches
 * holes); MADV_FREE is for private anonymous memory only.  A MAP_SHARED
 * area of a file opened without write access cannot be made writable
 * (mprotect: -EACCES, Linux's cleared VM_MAYWRITE).  msync(MS_SYNC)
 * writes shared file areas back (mmk_aspace_sync); MS_ASYNC does
 * nothing, as Linux since 2.6.19; MS_INVALIDATE only checks for locked
 * areas (-EBUSY): the mapped pages are the cache's, there is nothing
 * stale to drop.
 *
 * Flags: bits Linux itself ignores in mmap (unknown MAP_* bits with
 * MAP_PRIVATE, unknown PROT_* bits) are ignored as Linux ignores them;
 * flags Linux implements and mmkit does not (MAP_HUGETLB, MAP_32BIT,
 * MAP_SYNC, madvise advice other than those listed) are refused with
 * Linux's error for a flag it does not know (-EINVAL, -EOPNOTSUPP for
 * MAP_SHARED_VALIDATE), never silently ignored.
 *
 * Where Linux is not all or nothing mmkit is where it can be cheaply:
 * mprotect, mlock and munlock over a range with a hole fail with -ENOMEM
 * having changed nothing (Linux changes the areas before the hole first).
 * MAP_FIXED over existing areas of any kind replaces them in one call: a
 * failure (-ENOMEM) leaves the old mapping as it was.
 * madvise, mincore and msync keep Linux's "do what is mapped, then say
 * -ENOMEM", which changes nothing anyone can rely on.  mremap with
 * MREMAP_FIXED unmaps the target first, as Linux does.
 *
 * Locking: the calls of one process are serialized by the caller (Linux's
 * mmap_lock, taken for writing around each call); page faults and the
 * address space's own callers may run meanwhile (each mmk_aspace_* call
 * takes the space's lock).
 */
#ifndef MMKIT_SYSCALLS_H
#define MMKIT_SYSCALLS_H

#include <mmkit/aspace.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- Linux's numbers */
#define MMK_SYS_EPERM	   1
#define MMK_SYS_ENOENT	   2
#define MMK_SYS_EINTR	   4
#define MMK_SYS_EBADF	   9
#define MMK_SYS_EAGAIN	   11
#define MMK_SYS_ENOMEM	   12
#define MMK_SYS_EACCES	   13
#define MMK_SYS_EFAULT	   14
#define MMK_SYS_EBUSY	   16
#define MMK_SYS_EEXIST	   17
#define MMK_SYS_ENODEV	   19
#define MMK_SYS_EINVAL	   22
#define MMK_SYS_EOVERFLOW  75
#define MMK_SYS_EOPNOTSUPP 95

#define MMK_SYS_PROT_NONE      0x0
#define MMK_SYS_PROT_READ      0x1
#define MMK_SYS_PROT_WRITE     0x2
#define MMK_SYS_PROT_EXEC      0x4
#define MMK_SYS_PROT_SEM       0x8
#define MMK_SYS_PROT_GROWSDOWN 0x01000000
#define MMK_SYS_PROT_GROWSUP   0x02000000

#define MMK_SYS_MAP_SHARED	    0x01
#define MMK_SYS_MAP_PRIVATE	    0x02
#define MMK_SYS_MAP_SHARED_VALIDATE 0x03
#define MMK_SYS_MAP_TYPE	    0x0f
#define MMK_SYS_MAP_FIXED	    0x10
#define MMK_SYS_MAP_ANONYMOUS	    0x20
#define MMK_SYS_MAP_32BIT	    0x40 /* x86_64 only */
#define MMK_SYS_MAP_GROWSDOWN	    0x100
#define MMK_SYS_MAP_DENYWRITE	    0x800
#define MMK_SYS_MAP_EXECUTABLE	    0x1000
#define MMK_SYS_MAP_LOCKED	    0x2000
#define MMK_SYS_MAP_NORESERVE	    0x4000
#define MMK_SYS_MAP_POPULATE	    0x8000
#define MMK_SYS_MAP_NONBLOCK	    0x10000
#define MMK_SYS_MAP_STACK	    0x20000
#define MMK_SYS_MAP_HUGETLB	    0x40000
#define MMK_SYS_MAP_SYNC	    0x80000
#define MMK_SYS_MAP_FIXED_NOREPLACE 0x100000
#define MMK_SYS_MAP_UNINITIALIZED   0x4000000

#define MMK_SYS_MREMAP_MAYMOVE	 1
#define MMK_SYS_MREMAP_FIXED	 2
#define MMK_SYS_MREMAP_DONTUNMAP 4

#define MMK_SYS_MADV_NORMAL	    0
#define MMK_SYS_MADV_RANDOM	    1
#define MMK_SYS_MADV_SEQUENTIAL	    2
#define MMK_SYS_MADV_WILLNEED	    3
#define MMK_SYS_MADV_DONTNEED	    4
#define MMK_SYS_MADV_FREE	    8
#define MMK_SYS_MADV_REMOVE	    9
#define MMK_SYS_MADV_DONTFORK	    10
#define MMK_SYS_MADV_DOFORK	    11
#define MMK_SYS_MADV_POPULATE_READ  22
#define MMK_SYS_MADV_POPULATE_WRITE 23

#define MMK_SYS_MS_ASYNC      1
#define MMK_SYS_MS_INVALIDATE 2
#define MMK_SYS_MS_SYNC	      4

#define MMK_SYS_MCL_CURRENT 1
#define MMK_SYS_MCL_FUTURE  2
#define MMK_SYS_MCL_ONFAULT 4

#define MMK_SYS_MLOCK_ONFAULT 1

/* --------------------------------------------- area attributes */
/*
 * Linux's vm_flags an area carries besides its protection, kept as
 * address-space area attributes (MMK_ASPACE_ATTR): they split and merge
 * areas exactly as they split and merge Linux's vmas.
 */
#define MMK_SYS_VM_LOCKED      MMK_ASPACE_ATTR(1) /* mlock */
#define MMK_SYS_VM_LOCKONFAULT MMK_ASPACE_ATTR(2) /* mlock2(ONFAULT) */
#define MMK_SYS_VM_GROWSDOWN   MMK_ASPACE_ATTR(3) /* MAP_GROWSDOWN */
#define MMK_SYS_VM_NORESERVE   MMK_ASPACE_ATTR(4) /* MAP_NORESERVE */
#define MMK_SYS_VM_ACCOUNT     MMK_ASPACE_ATTR(5) /* private writable, charged */
#define MMK_SYS_VM_NOMAYWRITE  MMK_ASPACE_ATTR(6) /* !VM_MAYWRITE: ro file */
#define MMK_SYS_VM_SHARED      MMK_ASPACE_ATTR(7) /* MAP_SHARED: never charged */
#define MMK_SYS_VM_DONTCOPY    MMK_ASPACE_DONTFORK /* madvise(DONTFORK) */
#define MMK_SYS_VM_LOCKED_MASK (MMK_SYS_VM_LOCKED | MMK_SYS_VM_LOCKONFAULT)

/* -------------------------------------------- the process context */
struct mmk_sys_mm;

struct mmk_file;

/** What a file descriptor was opened for (Linux's FMODE_READ/WRITE). */
#define MMK_SYS_FMODE_READ  0x1u
#define MMK_SYS_FMODE_WRITE 0x2u

/**
 * How the kernel's file table plugs into mmap.  MAP_SHARED|MAP_ANONYMOUS
 * needs nothing from it (a fresh shm object per mapping, from the
 * space's frames); file mappings need @get_file.
 *
 * @get_file resolves @fd (called once per mmap of a file, before any
 * other check but the offset's, under the caller's serialization): 0
 * with *@file holding a new reference (mmk_sys_mmap puts it when done;
 * each area takes its own) and *@fmode its MMK_SYS_FMODE_* bits, or
 * -EBADF (no such descriptor).  *@file NULL with 0: a file that cannot
 * be mapped (no pager: mmap fails with -ENODEV).
 */
struct mmk_sys_shared_ops {
	int (*get_file)(struct mmk_sys_mm *mm, int fd, struct mmk_file **file,
			uint32_t *fmode);
};

/**
 * One process's memory-call state.  mmk_sys_mm_init fills Linux's
 * defaults for the space; a kernel then adjusts the fields it wants
 * (brk after loading the program, limits from its rlimits).
 */
struct mmk_sys_mm {
	struct mmk_aspace *as;
	/* Addresses a process may use are below task_size (TASK_SIZE) and
	 * at or above mmap_min_addr (vm.mmap_min_addr, for hints). */
	mmk_vaddr_t task_size, mmap_min_addr;
	/* Placement without a usable hint: top down below mmap_base, then
	 * bottom up from unmapped_base (TASK_UNMAPPED_BASE). */
	mmk_vaddr_t mmap_base, unmapped_base;
	/* The program break: [start_brk, brk) is the heap. */
	mmk_vaddr_t start_brk, brk;
	uint64_t stack_guard_gap; /* below MAP_GROWSDOWN areas (256 pages) */
	size_t max_map_count;	  /* vm.max_map_count (65530) */
	uint64_t memlock_limit;	  /* RLIMIT_MEMLOCK, bytes (8 MiB) */
	bool cap_ipc_lock;	  /* CAP_IPC_LOCK: no memlock limit */
	uint32_t def_flags;	  /* attributes of new areas (MCL_FUTURE) */
	uint32_t page_flags;	  /* added to every area (MMK_PT_USER) */
	const struct mmk_sys_shared_ops *shared;
};

/**
 * Linux's defaults over @as: task_size = the space's end, mmap_base the
 * same, unmapped_base a third of the way up, mmap_min_addr 64 KiB
 * (clipped to the space's base), the guard gap, map count and memlock
 * limits above, areas with MMK_PT_USER, break at 0 (set it).
 */
void mmk_sys_mm_init(struct mmk_sys_mm *mm, struct mmk_aspace *as);

/** The errno (positive) Linux gives where mmkit says @mmk_err (< 0). */
int mmk_sys_errno(int mmk_err);

/* ---------------------------------------------------- the calls */
int64_t mmk_sys_mmap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
		     uint64_t prot, uint64_t flags, int fd, uint64_t off);
int64_t mmk_sys_munmap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len);
int64_t mmk_sys_mprotect(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			 uint64_t prot);
int64_t mmk_sys_mremap(struct mmk_sys_mm *mm, uint64_t addr, uint64_t old_len,
		       uint64_t new_len, uint64_t flags, uint64_t new_addr);
int64_t mmk_sys_madvise(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			int64_t advice);
int64_t mmk_sys_mlock(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len);
int64_t mmk_sys_mlock2(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
		       uint64_t flags);
int64_t mmk_sys_munlock(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len);
int64_t mmk_sys_mlockall(struct mmk_sys_mm *mm, uint64_t flags);
int64_t mmk_sys_munlockall(struct mmk_sys_mm *mm);
/** @vec is a user address in the space (written as copy_to_user). */
int64_t mmk_sys_mincore(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
			uint64_t vec);
int64_t mmk_sys_msync(struct mmk_sys_mm *mm, uint64_t addr, uint64_t len,
		      uint64_t flags);
/** Returns the new break, or the old one when the change is refused. */
int64_t mmk_sys_brk(struct mmk_sys_mm *mm, uint64_t brk);

/* ------------------------------------------------------ faults */
/**
 * A page fault of the process at @addr for @access (MMK_ACCESS_*): a
 * fault just below a MAP_GROWSDOWN area first extends the area down to
 * the faulting page, as Linux grows stacks (refused, MMK_ENOMEM, within
 * stack_guard_gap of an accessible area below, or for a locked stack past
 * memlock_limit; no RLIMIT_STACK here),
 * then mmk_aspace_fault.  Its result: 0 or MMK_EFAULT / MMK_EACCES (a real
 * fault: SIGSEGV), MMK_ERANGE (past the end of the object or file behind
 * a shared or file area grown by mremap: SIGBUS), MMK_ENOMEM.  What a
 * kernel's fault handler calls for user addresses.
 */
int mmk_sys_fault(struct mmk_sys_mm *mm, uint64_t addr, uint32_t access);

/**
 * Only the stack growth of mmk_sys_fault (for a kernel's copy to or from
 * user memory before it calls mmk_aspace_read/write): 0 if @addr now lies
 * in an area, MMK_EFAULT if no growing area is above it, MMK_ENOMEM.
 */
int mmk_sys_expand_stack(struct mmk_sys_mm *mm, uint64_t addr);

#ifdef __cplusplus
}
#endif

#endif /* MMKIT_SYSCALLS_H */
